// The CrossEncoder API on the real CPU engine with a tiny generated BertForSequenceClassification.
import { expect } from 'chai';
import { CrossEncoder, type CrossEncoderOptions } from '../../src/cross-encoder.js';
import { InputError } from '../../src/errors.js';
import { applyActivation } from '../../src/pooling.js';
import { allFinite, expectReject, expectThrow, maxAbs, tinyCrossEncoder, tinyEncoder } from './helpers.js';

const TOL = 1e-5;

describe('foundation: CrossEncoder on the CPU', function () {
  this.timeout(60_000);
  const opened: CrossEncoder[] = [];
  async function open(opts: Partial<CrossEncoderOptions> = {}): Promise<CrossEncoder> {
    const c = await CrossEncoder.create({ model: tinyCrossEncoder(), device: 'cpu', tokenizerThreads: 2, ...opts });
    opened.push(c);
    return c;
  }
  let ce: CrossEncoder;
  let raw: CrossEncoder;
  before(async () => {
    [ce, raw] = await Promise.all([open(), open({ activation: 'identity' })]);
  });
  after(async () => {
    await Promise.all(opened.map((c) => c.close()));
  });

  const pairs: Array<[string, string]> = [
    ['what is the capital of france', 'paris is the capital of france'],
    ['what is the capital of france', 'bananas are yellow'],
    ['how do vaccines work', 'vaccines train the immune system'],
    ['', 'empty query'],
    ['long document', 'word '.repeat(400)],
  ];

  it('predict returns one sigmoid score in (0, 1) per pair, equal to sigmoid of the raw logits', async () => {
    expect(ce.numLabels).to.equal(1);
    expect(ce.device).to.equal('cpu');
    const s = await ce.scoreMatrix(pairs);
    const logits = await raw.scoreMatrix(pairs);
    expect(s.length).to.equal(pairs.length);
    for (const v of s) expect(v > 0 && v < 1, `score ${v}`).to.equal(true);
    expect(allFinite(logits)).to.equal(true);
    expect(maxAbs(s, applyActivation(Float32Array.from(logits), 'sigmoid'))).to.be.at.most(1e-6);
    // Raw logits are not already squashed: they are not all the scores.
    expect(maxAbs(s, logits)).to.be.above(1e-3);
    expect(ce.lastTruncated).to.equal(1);
  });

  it('scores depend on the pair and not on the other pairs of the call', async () => {
    const all = await raw.scoreMatrix(pairs);
    for (let i = 0; i < pairs.length; i++) {
      const alone = await raw.scoreMatrix([pairs[i]]);
      expect(Math.abs(alone[0] - all[i]), `pair ${i}`).to.be.at.most(TOL);
    }
    expect(Math.abs(all[0] - all[1])).to.be.above(1e-4);
    // The order inside a pair matters (segment ids differ).
    const swapped = await raw.scoreMatrix([[pairs[0][1], pairs[0][0]]]);
    expect(Math.abs(swapped[0] - all[0])).to.be.above(1e-5);
  });

  it('rank(query, docs) equals predict of the (query, doc) pairs', async () => {
    const q = 'what is the capital of france';
    const docs = ['paris is the capital of france', 'bananas are yellow', 'berlin is in germany', ''];
    const r = await ce.rank(q, docs);
    const p = await ce.scoreMatrix(docs.map((d) => [q, d] as [string, string]));
    expect(maxAbs(r, p)).to.be.at.most(TOL);
    expect(r.length).to.equal(docs.length);
  });

  it('queryPrefix and documentPrefix change the scores, as prefixing by hand does', async () => {
    const pre = await open({ queryPrefix: 'query: ', documentPrefix: 'passage: ' });
    const base = pairs.slice(0, 3);
    const withPrefix = await pre.scoreMatrix(base);
    const byHand = await ce.scoreMatrix(base.map(([q, d]) => [`query: ${q}`, `passage: ${d}`] as [string, string]));
    const plain = await ce.scoreMatrix(base);
    expect(maxAbs(withPrefix, byHand)).to.be.at.most(TOL);
    expect(maxAbs(withPrefix, plain)).to.be.above(1e-5);
  });

  it('many pairs in one call come back in order', async () => {
    const many: Array<[string, string]> = Array.from({ length: 1500 }, (_, i) => [`query ${i % 17}`, `document number ${i} ${'x'.repeat(i % 9)}`]);
    const s = await ce.scoreMatrix(many);
    for (const i of [0, 1, 777, 1499]) expect(Math.abs(s[i] - (await ce.scoreMatrix([many[i]]))[0]), `pair ${i}`).to.be.at.most(TOL);
  });

  it('bad pairs are InputErrors naming the index; the pool keeps working', async () => {
    await expectReject(ce.scoreMatrix('nope' as never), InputError, /pairs must be an array/);
    await expectReject(ce.scoreMatrix([['a', 'b'], ['only one']] as never), InputError, /pairs\[1\]/);
    await expectReject(ce.scoreMatrix([['a', 3]] as never), InputError, /pairs\[0\]\[1\]/, /number/);
    await expectReject(ce.rank('q', ['a', null] as never), InputError, /documents\[1\]/);
    await expectReject(ce.rank(5 as never, ['a']), InputError, /query/);
    expect((await ce.scoreMatrix([pairs[0]])).length).to.equal(1);
    expect((await ce.scoreMatrix([])).length).to.equal(0);
  });

  it('an embedding model given to CrossEncoder, or a bad activation, is a clear error', async () => {
    await expectReject(CrossEncoder.create({ model: tinyEncoder(), device: 'cpu' }), InputError, /is an embedding model \(BertModel\)/, /use Encoder for it/);
    expectThrow(() => new CrossEncoder({ model: tinyCrossEncoder(), device: 'cpu', activation: 'softmax' as never }), InputError, /activation "softmax"/);
  });

  it('a crash mid-run is recovered with the same scores', async () => {
    const many: Array<[string, string]> = Array.from({ length: 600 }, (_, i) => [`q ${i % 5}`, `doc ${i}`]);
    const base = await ce.scoreMatrix(many);
    const crashy = await open({ maxNumSeqs: 8, faultInjection: { crashAfterBatches: 3 } });
    const got = await crashy.scoreMatrix(many);
    expect(maxAbs(got, base)).to.be.at.most(TOL);
  });
});
