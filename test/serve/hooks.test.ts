// The engine hooks the server stands on: Encoder.tokenize / embedTokens and CrossEncoder.
// tokenizePairs / scoreTokens give exactly encode / predict, and Runtime.runTokenized refuses bad
// sequences (empty, too long, ids outside the vocabulary) before any work.
import { expect } from 'chai';
import { CrossEncoder } from '../../src/cross-encoder.js';
import { Encoder } from '../../src/encoder.js';
import { InputError, SequenceTooLongError } from '../../src/errors.js';
import type { TokenizedChunk } from '../../src/tokenize/packed.js';
import { expectReject, maxAbs, tinyCrossEncoder, tinyEncoderCls } from '../foundation/helpers.js';

function seqs(list: number[][]): TokenizedChunk {
  const offsets = new Int32Array(list.length + 1);
  list.forEach((s, i) => (offsets[i + 1] = offsets[i] + s.length));
  return { n: list.length, offsets, ids: Int32Array.from(list.flat()), typeIds: new Int32Array(offsets[list.length]), truncated: new Int32Array(list.length) };
}

describe('serve: engine hooks (tokenize, embedTokens, scoreTokens)', function () {
  this.timeout(60_000);
  let enc: Encoder;
  let ce: CrossEncoder;
  before(async () => {
    [enc, ce] = await Promise.all([
      Encoder.create({ model: tinyEncoderCls(), device: 'cpu', tokenizerThreads: 1 }),
      CrossEncoder.create({ model: tinyCrossEncoder(), device: 'cpu', tokenizerThreads: 1 }),
    ]);
  });
  after(async () => Promise.all([enc?.close(), ce?.close()]));

  it('embedTokens(tokenize(texts, prompt)) equals encode(texts, prompt); truncation is flagged', async () => {
    const texts = ['a short one', 'word '.repeat(300), ''];
    const t = await enc.tokenize(texts, { promptType: 'query' });
    expect(Array.from(t.chunk.truncated)).to.deep.equal([0, 1, 0]);
    expect(t.chunk.offsets[2] - t.chunk.offsets[1]).to.equal(enc.maxLength);
    const got = await enc.embedTokens(t.chunk, new Int32Array(texts.length).fill(t.poolSkip));
    const want = await enc.encode(texts, { promptType: 'query' });
    for (let i = 0; i < texts.length; i++) expect(maxAbs(got.subarray(i * 64, (i + 1) * 64), want[i]), `row ${i}`).to.be.at.most(1e-5);
    const short = await enc.tokenize(['word '.repeat(300)], {}, 10);
    expect(short.chunk.offsets[1]).to.equal(10);
  });

  it('scoreTokens(tokenizePairs(pairs)) equals predict(pairs), with either activation', async () => {
    const pairs: Array<[string, string]> = [['q one', 'doc one'], ['q two', 'word '.repeat(300)]];
    const c = await ce.tokenizePairs(pairs);
    expect(Array.from(c.truncated)).to.deep.equal([0, 1]);
    const got = await ce.scoreTokens(c);
    const want = await ce.scoreMatrix(pairs);
    expect(maxAbs(got, want)).to.be.at.most(1e-5);
    const logits = await ce.scoreTokens(c, 'identity');
    for (let i = 0; i < 2; i++) expect(Math.abs(1 / (1 + Math.exp(-logits[i])) - want[i])).to.be.at.most(1e-5);
  });

  it('runTokenized refuses an empty sequence, an over-long one and ids outside the vocabulary, before running', async () => {
    const batches: number[] = [];
    const onBatch = (n: number) => batches.push(n);
    await expectReject(enc.embedTokens(seqs([[101, 102], []]), undefined, onBatch), InputError, /sequence 1 is empty/);
    await expectReject(enc.embedTokens(seqs([Array(enc.maxLength + 1).fill(1000)]), undefined, onBatch), SequenceTooLongError, /129 tokens/);
    await expectReject(enc.embedTokens(seqs([[101, enc.vocabSize, 102]]), undefined, onBatch), InputError, /outside the vocabulary \[0, 30522\)/);
    await expectReject(enc.embedTokens(seqs([[101, -3, 102]]), undefined, onBatch), InputError, /token id -3/);
    expect(batches, 'nothing ran').to.deep.equal([]);
    await enc.embedTokens(seqs([[101, 2000, 102], [101, 102]]), undefined, onBatch);
    expect(batches).to.deep.equal([2]);
  });
});
