// Tokenization through Hugging Face `tokenizers`, checked against ids that Hugging Face's Python
// stack produced (transformers 5.17 / tokenizers 0.23.2 / sentence-transformers 6.0.1 on the GPU
// machine: scripts/gpu/tokenizer_fixture.py and scripts/gpu/hf_fixtures.py), and the
// sentence-transformers settings layered on top (do_lower_case, truncation, prompt length).
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { bertTokenizerJson } from '../../scripts/make-tokenizer.js';
import { stsSentences } from '../../scripts/gpu/prepare.js';
import { loadModelFolder } from '../../src/model/folder.js';
import { unpack } from '../../src/tokenize/packed.js';
import { Tokenizer } from '../../src/tokenize/tokenizer.js';
import { tempDir, cleanupTemp } from '../foundation/helpers.js';

const FIX = join(process.cwd(), 'test/fixtures');
const MINILM = sharedData('tokenizers', 'all-MiniLM-L6-v2');
const STS = sharedData('sts');

describe('tokenize/tokenizer: ids equal Hugging Face tokenizers', function () {
  this.timeout(120_000);
  after(cleanupTemp);

  it('the generated bert-base-uncased tokenizer.json: every single text and every pair of the fixture, the two pairs the hand-written WordPiece got wrong included', async () => {
    const inputs = JSON.parse(readFileSync(join(FIX, 'tokenizer/inputs.json'), 'utf8')) as { pairMaxLength: number; singles: string[]; pairs: Array<[string, string]> };
    const expected = JSON.parse(readFileSync(join(FIX, 'tokenizer/expected.json'), 'utf8')) as {
      singles: Array<number[] | null>;
      pairs: Array<{ ids: number[]; typeIds: number[] }>;
    };
    const file = join(tempDir('tok'), 'tokenizer.json');
    writeFileSync(file, JSON.stringify(bertTokenizerJson()));
    const tok = new Tokenizer({ file });
    const singles = inputs.singles.map((s, i) => [s, expected.singles[i]] as const).filter(([, w]) => w !== null);
    expect(singles.length).to.be.greaterThan(650);
    const got = await tok.encodeBatch(singles.map(([s]) => s), undefined, 1 << 20);
    singles.forEach(([s, want], i) => expect(got[i].ids, `text ${i}: ${JSON.stringify(s).slice(0, 80)}`).to.deep.equal(want));
    const pairs = await tok.encodeBatch(inputs.pairs.map((p) => p[0]), inputs.pairs.map((p) => p[1]), inputs.pairMaxLength);
    inputs.pairs.forEach((_, i) => {
      expect(pairs[i].ids, `pair ${i}`).to.deep.equal(expected.pairs[i].ids);
      expect(pairs[i].typeIds, `pair ${i}`).to.deep.equal(expected.pairs[i].typeIds);
    });
    // Pairs 213 and 237 (both texts over budget) were the hand-written tokenizer's two misses.
    for (const i of [213, 237]) expect(pairs[i].truncated).to.equal(true);
  });

  it('the real all-MiniLM-L6-v2 tokenizer.json on every STS 2012–2016 sentence (max_seq_length 256) and sentence pair (max 40) as sentence-transformers tokenizes them', async function () {
    if (!existsSync(MINILM) || !existsSync(STS)) this.skip();
    const ref = JSON.parse(gunzipSync(readFileSync(join(FIX, 'hf/minilm-sts-ids.json.gz'))).toString('utf8')) as {
      sentences: number; sha256_of_sentences: string; singles: number[][]; pairs: number[][]; single_max_length: number; pair_max_length: number;
    };
    const sents = stsSentences(STS);
    expect(sents.length).to.equal(ref.sentences);
    expect(createHash('sha256').update(sents.join('\n'), 'utf8').digest('hex')).to.equal(ref.sha256_of_sentences);
    const folder = loadModelFolder(withWeights(MINILM)); // the real configs: max_seq_length 256
    expect(folder.maxLength).to.equal(ref.single_max_length);
    const tok = new Tokenizer(folder.tokenizer);
    const got = await tok.encodeBatch(sents, undefined, folder.maxLength);
    let truncated = 0;
    got.forEach((e, i) => {
      expect(e.ids, `sentence ${i}`).to.deep.equal(ref.singles[i]);
      if (e.truncated) truncated++;
    });
    const firsts = sents.filter((_, i) => i % 2 === 0);
    const seconds = sents.filter((_, i) => i % 2 === 1);
    const pairs = await tok.encodeBatch(firsts, seconds, ref.pair_max_length);
    pairs.forEach((e, i) => expect(e.ids, `pair ${i}`).to.deep.equal(ref.pairs[i]));
    expect(pairs.filter((p) => p.truncated).length).to.be.greaterThan(100); // truncation really exercised
    expect(truncated).to.be.at.least(0);
    // The worker's fast path (encodePacked) writes the same ids, type ids and flags.
    const packedSingles = unpack(await tok.encodePacked(sents, undefined, folder.maxLength));
    expect(packedSingles.n).to.equal(sents.length);
    sents.forEach((_, i) => {
      const ids = Array.from(packedSingles.ids.subarray(packedSingles.offsets[i], packedSingles.offsets[i + 1]));
      if (ids.length !== ref.singles[i].length || ids.some((v, k) => v !== ref.singles[i][k])) expect(ids, `packed sentence ${i}`).to.deep.equal(ref.singles[i]);
      expect(packedSingles.truncated[i], `packed sentence ${i}`).to.equal(got[i].truncated ? 1 : 0);
    });
    expect(packedSingles.typeIds.every((t) => t === 0)).to.equal(true);
    const packedPairs = unpack(await tok.encodePacked(firsts, seconds, ref.pair_max_length));
    pairs.forEach((e, i) => {
      const from = packedPairs.offsets[i];
      const to = packedPairs.offsets[i + 1];
      expect(Array.from(packedPairs.ids.subarray(from, to)), `packed pair ${i}`).to.deep.equal(ref.pairs[i]);
      expect(Array.from(packedPairs.typeIds.subarray(from, to)), `packed pair ${i}`).to.deep.equal(e.typeIds);
      expect(packedPairs.truncated[i], `packed pair ${i}`).to.equal(e.truncated ? 1 : 0);
    });
    expect(packedPairs.typeIds.some((t) => t === 1), 'pairs carry segment ids').to.equal(true);
  });

  it('qwen3-lm: the Qwen3-Reranker prompts (chat template, special tokens in the text) give the ids transformers gave', async () => {
    const dir = join(FIX, 'hf/qwen3-lm');
    const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as {
      instruction: string; prefix: string; suffix: string; rows: Array<{ query: string; document: string; input_ids: number[] }>;
    };
    const tok = new Tokenizer({ file: join(dir, 'tokenizer.json') });
    const texts = ref.rows.map((r) => `${ref.prefix}<Instruct>: ${ref.instruction}\n<Query>: ${r.query}\n<Document>: ${r.document}${ref.suffix}`);
    const got = await tok.encodeBatch(texts, undefined, 1 << 20);
    got.forEach((e, i) => expect(e.ids, `row ${i}`).to.deep.equal(ref.rows[i].input_ids));
  });

  for (const name of readdirSync(join(FIX, 'hf')).filter((d) => existsSync(join(FIX, 'hf', d, 'reference.json')) && d !== 'qwen3-lm')) {
    it(`${name}: the ids sentence-transformers fed the model (its tokenizer.json, max length from the folder)`, async () => {
      const dir = join(FIX, 'hf', name);
      const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as {
        texts?: string[]; pairs?: Array<[string, string]>; input_ids: number[][]; max_seq_length?: number; max_length?: number;
      };
      const cfg = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) as { model_max_length: number };
      const maxLength = ref.max_seq_length ?? ref.max_length ?? cfg.model_max_length;
      const tok = new Tokenizer({ file: join(dir, 'tokenizer.json') });
      const got = ref.pairs
        ? await tok.encodeBatch(ref.pairs.map((p) => p[0]), ref.pairs.map((p) => p[1]), maxLength)
        : await tok.encodeBatch(ref.texts!, undefined, maxLength);
      expect(got.map((e) => e.ids)).to.deep.equal(ref.input_ids);
      expect(got.some((e) => e.truncated), 'a text over the max length is in the fixture').to.equal(true);
    });
  }

  it('do_lower_case puts a Lowercase normalizer first, as sentence-transformers does: an uncased vocabulary with lowercase:false in tokenizer.json', async function () {
    if (!existsSync(MINILM)) this.skip();
    const json = JSON.parse(readFileSync(join(MINILM, 'tokenizer.json'), 'utf8'));
    json.normalizer = { ...json.normalizer, lowercase: false };
    const file = join(tempDir('lower'), 'tokenizer.json');
    writeFileSync(file, JSON.stringify(json));
    const text = 'The capital of France is Paris.';
    // Expected value from the issue, as sentence-transformers + bert-base-uncased vocabulary give it.
    expect((await new Tokenizer({ file, lowercase: true }).encode(text)).ids).to.deep.equal([101, 1996, 3007, 1997, 2605, 2003, 3000, 1012, 102]);
    const cased = (await new Tokenizer({ file }).encode(text)).ids;
    expect(cased.filter((id) => id === 100).length, '"The", "France", "Paris" are [UNK] without it').to.equal(3);
  });

  it('truncation_side left keeps the end of the text; right (the default) its start', async () => {
    const file = join(tempDir('side'), 'tokenizer.json');
    writeFileSync(file, JSON.stringify(bertTokenizerJson()));
    const full = (await new Tokenizer({ file }).encode('one two three four five six')).ids;
    const right = (await new Tokenizer({ file }).encode('one two three four five six', undefined, 5)).ids;
    const left = (await new Tokenizer({ file, truncationSide: 'left' }).encode('one two three four five six', undefined, 5)).ids;
    expect(right).to.deep.equal([...full.slice(0, 4), full[full.length - 1]]);
    expect(left).to.deep.equal([full[0], ...full.slice(full.length - 4)]);
  });

  it('truncated flags are exact for byte-level BPE (Qwen3) as for WordPiece: set when cut, not when the text fits exactly, in encodeBatch and the packed path', async () => {
    for (const file of [join(FIX, 'hf/qwen3-emb/tokenizer.json'), join(FIX, 'hf/bert-dense-st/tokenizer.json')]) {
      const t = new Tokenizer({ file });
      const texts = ['a b c d e f g h i j k l m n o p q r s t u v w x y z', 'one', 'the quick brown fox'];
      const full = await Promise.all(texts.map(async (x) => (await t.encode(x)).ids.length));
      for (const max of [full[0] - 1, full[0], full[2], full[2] - 1]) {
        const want = full.map((n) => n > max);
        const batch = await t.encodeBatch(texts, undefined, max);
        expect(batch.map((e) => e.truncated), `${file} max ${max}`).to.deep.equal(want);
        expect(batch.map((e) => e.ids.length), `${file} max ${max}`).to.deep.equal(full.map((n) => Math.min(n, max)));
        const packed = unpack(await t.encodePacked(texts, undefined, max));
        expect(Array.from(packed.truncated, (x) => x === 1), `${file} packed, max ${max}`).to.deep.equal(want);
        const pairs = await t.encodeBatch(texts, texts, max);
        const fullPairs = await Promise.all(texts.map(async (x) => (await t.encode(x, x)).ids.length));
        expect(pairs.map((e) => e.truncated), `${file} pairs, max ${max}`).to.deep.equal(fullPairs.map((n) => n > max));
      }
    }
  });

  it("promptLength is sentence-transformers' prompt_length: the prompt's ids less a trailing special token", async () => {
    const file = join(tempDir('prompt'), 'tokenizer.json');
    writeFileSync(file, JSON.stringify(bertTokenizerJson()));
    const tok = new Tokenizer({ file });
    const ids = (await tok.encode('query: ')).ids; // [CLS] query : [SEP]
    expect(ids.length).to.equal(4);
    expect(await tok.promptLength('query: ')).to.equal(3);
    // A tokenizer without a trailing special (Qwen3-style with no post-processor) keeps every token.
    const q = JSON.parse(readFileSync(join(FIX, 'hf/qwen3-emb/tokenizer.json'), 'utf8'));
    q.post_processor = null;
    const qf = join(tempDir('prompt-q'), 'tokenizer.json');
    writeFileSync(qf, JSON.stringify(q));
    const qt = new Tokenizer({ file: qf });
    expect(await qt.promptLength('Instruct: x\nQuery:')).to.equal((await qt.encode('Instruct: x\nQuery:')).ids.length);
  });

  it('a tokenizer.json the library refuses is a ModelFolderError naming the file', () => {
    const file = join(tempDir('bad'), 'tokenizer.json');
    writeFileSync(file, JSON.stringify({ ...bertTokenizerJson(), model: { type: 'NoSuchModel' } }));
    expect(() => new Tokenizer({ file })).to.throw(new RegExp(`${file}.*tokenizers cannot load it`));
  });
});

/** The real MiniLM config files with generated random weights of its shape (no weights exist here). */
function withWeights(dir: string): string {
  return realMiniLmModel(dir);
}

import { realMiniLmModel } from './real-minilm.js';
import { sharedData } from '../shared-data.js';
