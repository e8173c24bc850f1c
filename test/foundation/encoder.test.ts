// The Encoder API on the real CPU engine (onnxruntime in a Piscina worker thread, tokenization in
// a Piscina pool) with a tiny generated model: ordering, batching invariance, prompts as mteb's
// vLLM wrapper builds them, bad input, truncation, scale, option errors and crash recovery.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CpuEngine } from '../../src/backends/cpu/engine.js';
import { Coordinator } from '../../src/core/coordinator.js';
import { probeCuda } from '../../src/core/runtime.js';
import { Encoder, lookupPromptName, type EncoderOptions } from '../../src/encoder.js';
import { InputError, SequenceTooLongError, UnsupportedOptionError } from '../../src/errors.js';
import { loadModelFolder } from '../../src/model/folder.js';
import { CrossEncoder } from '../../src/cross-encoder.js';
import { allFinite, expectReject, expectThrow, maxAbs, norm, tinyCrossEncoder, tinyEncoder, tinyEncoderCls, within } from './helpers.js';

const TOL = 1e-5;

/** Special token ids as tokenizer.json declares them. */
function specialIds(dir: string): { cls: number; sep: number } {
  const tj = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as { added_tokens: Array<{ id: number; content: string }> };
  const get = (c: string) => tj.added_tokens.find((t) => t.content === c)!.id;
  return { cls: get('[CLS]'), sep: get('[SEP]') };
}

describe('foundation: Encoder on the CPU', function () {
  this.timeout(120_000);
  let enc: Encoder;
  const opened: Encoder[] = [];
  async function open(opts: Partial<EncoderOptions> = {}): Promise<Encoder> {
    const e = await Encoder.create({ model: tinyEncoder(), device: 'cpu', tokenizerThreads: 2, ...opts });
    opened.push(e);
    return e;
  }

  before(async () => {
    enc = await open();
  });
  after(async () => {
    await Promise.all(opened.map((e) => e.close()));
  });

  async function one(text: string, e: Encoder = enc, o: Parameters<Encoder['encode']>[1] = {}): Promise<Float32Array> {
    const [row] = await e.encode([text], o);
    return Float32Array.from(row);
  }

  describe('encode', () => {
    it('after close every call throws "is closed" (a second close does nothing); a CrossEncoder the same', async () => {
      const e = await Encoder.create({ model: tinyEncoder(), device: 'cpu', tokenizerThreads: 1 });
      expect(await e.encode(['x'])).to.have.length(1);
      await e.close();
      await e.close();
      await expectReject(e.encode(['x']), Error, /Encoder is closed/);
      await expectReject(e.embedMatrix(['x']), Error, /Encoder is closed/);
      const ce = await CrossEncoder.create({ model: tinyCrossEncoder(), device: 'cpu', tokenizerThreads: 1 });
      await ce.close();
      await expectReject(ce.predict([['q', 'd']]), Error, /CrossEncoder is closed/);
    });

    it('reports its device, dtype, dim and max length', () => {
      expect(enc.device).to.equal('cpu');
      expect(enc.dtype).to.equal('float32');
      expect(enc.dim).to.equal(64);
      expect(enc.maxLength).to.equal(128);
      expect(enc.similarityFn).to.equal('cosine');
    });

    it('returns one unit-norm row per text, in input order', async () => {
      const texts = ['the cat sat on the mat', 'a completely different sentence about stocks', 'x', 'the cat sat on the mat', 'hello world'];
      const rows = await enc.encode(texts);
      expect(rows).to.have.length(texts.length);
      for (const [i, r] of rows.entries()) {
        expect(r.length).to.equal(64);
        expect(allFinite(r)).to.equal(true);
        expect(Math.abs(norm(r) - 1), `row ${i} norm`).to.be.below(1e-5);
      }
      for (const [i, t] of texts.entries()) expect(maxAbs(rows[i], await one(t)), `row ${i} vs alone`).to.be.at.most(TOL);
      expect(maxAbs(rows[0], rows[3])).to.be.at.most(TOL);
      expect(maxAbs(rows[0], rows[1])).to.be.above(1e-3);
      expect(maxAbs(rows[1], rows[4])).to.be.above(1e-3);
      const m = await enc.embedMatrix(texts);
      expect(m.length).to.equal(texts.length * 64);
      expect(maxAbs(m.subarray(64, 128), rows[1])).to.be.at.most(TOL);
    });

    it('a text gives the same vector alone and inside a big call', async () => {
      const texts = Array.from({ length: 3000 }, (_, i) => `sentence ${i} ${'word '.repeat(i % 40)}end`);
      const probe = 'the quick brown fox jumps over the lazy dog';
      texts[1777] = probe;
      const rows = await enc.encode(texts);
      expect(maxAbs(rows[1777], await one(probe))).to.be.at.most(TOL);
      expect(maxAbs(rows[2999], await one(texts[2999]))).to.be.at.most(TOL);
    });

    it('an empty list gives an empty result', async () => {
      expect(await enc.encode([])).to.deep.equal([]);
    });
  });

  describe('prompts (mteb VllmEncoderWrapper semantics)', () => {
    const dict = { 'STS12-query': 'A ', STS12: 'B ', 'Retrieval-query': 'C ', Retrieval: 'D ', query: 'E ', document: 'F ' };

    it('lookupPromptName follows task-promptType, task, taskType-promptType, taskType, promptType', () => {
      expect(lookupPromptName(dict, { taskName: 'STS12', taskType: 'Retrieval', promptType: 'query' })).to.equal('STS12-query');
      expect(lookupPromptName(dict, { taskName: 'STS12', taskType: 'Retrieval', promptType: 'document' })).to.equal('STS12');
      expect(lookupPromptName(dict, { taskName: 'Other', taskType: 'Retrieval', promptType: 'query' })).to.equal('Retrieval-query');
      expect(lookupPromptName(dict, { taskName: 'Other', taskType: 'Retrieval', promptType: 'document' })).to.equal('Retrieval');
      expect(lookupPromptName(dict, { taskName: 'Other', taskType: 'Clustering', promptType: 'document' })).to.equal('document');
      expect(lookupPromptName(dict, { taskName: 'Other', taskType: 'Clustering' })).to.equal(undefined);
      expect(lookupPromptName(dict, {})).to.equal(undefined);
    });

    it('promptFor uses a promptDict in that order; an explicit prompt wins', async () => {
      const e = await open({ promptDict: dict });
      expect(e.promptFor({ taskName: 'STS12', taskType: 'Retrieval', promptType: 'query' })).to.equal('A ');
      expect(e.promptFor({ taskName: 'STS12', taskType: 'Retrieval', promptType: 'document' })).to.equal('B ');
      expect(e.promptFor({ taskName: 'Other', taskType: 'Retrieval', promptType: 'query' })).to.equal('C ');
      expect(e.promptFor({ taskName: 'Other', taskType: 'Retrieval' })).to.equal('D ');
      expect(e.promptFor({ taskName: 'Other', taskType: 'Clustering', promptType: 'query' })).to.equal('E ');
      expect(e.promptFor({ taskName: 'Other', taskType: 'Clustering' })).to.equal('');
      expect(e.promptFor({ taskName: 'STS12', promptType: 'query', prompt: 'explicit: ' })).to.equal('explicit: ');
      expect(e.promptFor({ taskName: 'STS12', prompt: '' })).to.equal('');
      // A promptDict replaces the model's prompts ("query: " is the model's own query prompt).
      expect(e.promptFor({ promptType: 'query' })).to.equal('E ');
    });

    it('the model\'s own prompts are used by default', async () => {
      expect(enc.promptFor({ promptType: 'query' })).to.equal('query: ');
      expect(enc.promptFor({ promptType: 'document' })).to.equal('passage: ');
      expect(enc.promptFor({ taskName: 'Anything' })).to.equal('');
      const cls = await open({ model: tinyEncoderCls() });
      expect(cls.promptFor({ taskName: 'Banking77', promptType: 'query' })).to.equal('classify: ');
      expect(cls.promptFor({ taskName: 'Other', promptType: 'query' })).to.equal('q: ');
    });

    it('a prompt changes the embedding, and equals prefixing the text by hand', async () => {
      const t = 'how do magnets work';
      const plain = await one(t);
      const q = await one(t, enc, { promptType: 'query' });
      const d = await one(t, enc, { promptType: 'document' });
      expect(maxAbs(q, plain)).to.be.above(1e-3);
      expect(maxAbs(q, d)).to.be.above(1e-3);
      expect(maxAbs(q, await one(`query: ${t}`))).to.be.at.most(TOL);
      expect(maxAbs(d, await one(`passage: ${t}`))).to.be.at.most(TOL);
      expect(maxAbs(await one(t, enc, { promptType: 'query', prompt: 'zz ' }), await one(`zz ${t}`))).to.be.at.most(TOL);
    });

    it('useInstructions with a template string', async () => {
      const e = await open({ promptDict: { Retrieval: 'Find relevant passages', SciFact: 'Verify the claim' }, useInstructions: true, instructionTemplate: 'Instruct: {instruction}\nQuery: ' });
      expect(e.promptFor({ taskName: 'SciFact', taskType: 'Retrieval', promptType: 'query' })).to.equal('Instruct: Verify the claim\nQuery: ');
      expect(e.promptFor({ taskName: 'NFCorpus', taskType: 'Retrieval', promptType: 'query' })).to.equal('Instruct: Find relevant passages\nQuery: ');
      // The task's own instruction when the dict has nothing; none at all → no prompt.
      expect(e.promptFor({ taskName: 'X', taskType: 'STS', taskPrompt: 'Retrieve similar text' })).to.equal('Instruct: Retrieve similar text\nQuery: ');
      expect(e.promptFor({ taskName: 'X', taskType: 'STS', promptType: 'document', taskPrompt: { query: 'Q-side', document: 'D-side' } })).to.equal('Instruct: D-side\nQuery: ');
      expect(e.promptFor({ taskName: 'X', taskType: 'STS' })).to.equal('');
      // Documents are instructed too by default.
      expect(e.promptFor({ taskName: 'SciFact', promptType: 'document' })).to.equal('Instruct: Verify the claim\nQuery: ');
      const t = 'claim text';
      expect(maxAbs(await one(t, e, { taskName: 'SciFact', promptType: 'query' }), await one(`Instruct: Verify the claim\nQuery: ${t}`))).to.be.at.most(TOL);
    });

    it('useInstructions with a template function, and applyInstructionToDocuments=false', async () => {
      const calls: Array<[string, string | undefined]> = [];
      const e = await open({
        promptDict: { SciFact: 'Verify the claim' },
        useInstructions: true,
        applyInstructionToDocuments: false,
        instructionTemplate: (instruction, promptType) => {
          calls.push([instruction, promptType]);
          return `<${promptType}|${instruction}> `;
        },
      });
      expect(e.promptFor({ taskName: 'SciFact', promptType: 'query' })).to.equal('<query|Verify the claim> ');
      expect(calls).to.deep.include(['Verify the claim', 'query']);
      expect(e.promptFor({ taskName: 'SciFact', promptType: 'document' })).to.equal('');
      const t = 'a document';
      expect(maxAbs(await one(t, e, { taskName: 'SciFact', promptType: 'document' }), await one(t))).to.be.at.most(TOL);
      expect(maxAbs(await one(t, e, { taskName: 'SciFact', promptType: 'query' }), await one(`<query|Verify the claim> ${t}`))).to.be.at.most(TOL);
    });

    it('invalid instruction settings are rejected before anything starts', () => {
      expectThrow(() => new Encoder({ model: tinyEncoder(), device: 'cpu', useInstructions: true }), InputError, /instructionTemplate/);
      expectThrow(() => new Encoder({ model: tinyEncoder(), device: 'cpu', useInstructions: true, instructionTemplate: 'no placeholder' }), InputError, /\{instruction\}/);
    });
  });

  describe('bad and unusual input', () => {
    it('non-arrays and non-string items are InputErrors naming the index; the pool keeps working', async () => {
      await expectReject(enc.encode('just a string' as unknown as string[]), InputError, /texts must be an array/, /string/);
      await expectReject(enc.encode(null as unknown as string[]), InputError, /texts must be an array/, /null/);
      await expectReject(enc.encode(['ok', 42] as unknown as string[]), InputError, /texts\[1\]/, /number/);
      await expectReject(enc.encode(['ok', 'fine', null] as unknown as string[]), InputError, /texts\[2\]/, /null/);
      await expectReject(enc.encode([['nested']] as unknown as string[]), InputError, /texts\[0\]/, /array/);
      await expectReject(enc.encode(['a', undefined] as unknown as string[]), InputError, /texts\[1\]/, /undefined/);
      const rows = await enc.encode(['still works', 'after bad input']);
      expect(rows).to.have.length(2);
      expect(maxAbs(rows[0], await one('still works'))).to.be.at.most(TOL);
    });

    it('an empty string embeds as [CLS][SEP] (finite, unit norm)', async () => {
      const dir = tinyEncoder();
      const { cls, sep } = specialIds(dir);
      const engine = await CpuEngine.create(loadModelFolder(dir));
      try {
        const direct = await engine.embed({ ids: Int32Array.from([cls, sep]), typeIds: new Int32Array(2), cuSeqlens: Int32Array.from([0, 2]) });
        const [empty, other] = await enc.encode(['', 'not empty']);
        expect(allFinite(empty)).to.equal(true);
        expect(Math.abs(norm(empty) - 1)).to.be.below(1e-5);
        expect(maxAbs(empty, direct)).to.be.at.most(TOL);
        expect(maxAbs(other, direct)).to.be.above(1e-3);
        // Whitespace only is the same empty sequence.
        expect(maxAbs(await one(' \t\n '), direct)).to.be.at.most(TOL);
      } finally {
        await engine.close();
      }
    });

    it('lone surrogates and other odd code points are accepted (finite result)', async () => {
      const texts = ['\uD800', 'abc\uDC00def', '\uDBFF\uDFFF', 'emoji 🧪 and \u0000 nul', '\uFFFF\uFFFE'];
      const rows = await enc.encode(texts);
      for (const [i, r] of rows.entries()) expect(allFinite(r), `text ${i}`).to.equal(true);
    });

    it('a 1 MB text is cut to the max length, counted in lastTruncated, and equals its first tokens', async () => {
      const big = 'the cat sat '.repeat(Math.ceil((1 << 20) / 12));
      expect(big.length).to.be.at.least(1 << 20);
      const words = big.split(' ').filter(Boolean);
      const head = words.slice(0, enc.maxLength - 2).join(' ');
      const rows = await enc.encode(['short one', big, 'another short one']);
      expect(enc.lastTruncated).to.equal(1);
      expect(allFinite(rows[1])).to.equal(true);
      const headRow = await one(head);
      expect(enc.lastTruncated, 'exactly max length is not truncated').to.equal(0);
      expect(maxAbs(rows[1], headRow)).to.be.at.most(TOL);
      // One token more than fits is truncated, to the same result.
      const over = words.slice(0, enc.maxLength - 1).join(' ');
      expect(maxAbs(await one(over), headRow)).to.be.at.most(TOL);
      expect(enc.lastTruncated).to.equal(1);
    });

    it('maxModelLen lowers the truncation length', async () => {
      const e = await open({ maxModelLen: 16 });
      expect(e.maxLength).to.equal(16);
      const words = Array.from({ length: 40 }, (_, i) => ['alpha', 'beta', 'gamma', 'delta'][i % 4]);
      const [cut] = await e.encode([words.join(' ')]);
      expect(e.lastTruncated).to.equal(1);
      expect(maxAbs(cut, (await e.encode([words.slice(0, 14).join(' ')]))[0])).to.be.at.most(TOL);
      expect(maxAbs(cut, await one(words.slice(0, 14).join(' ')))).to.be.at.most(TOL);
    });

    it('truncate: false → SequenceTooLongError naming the input; the encoder still works after', async () => {
      const e = await open({ truncate: false });
      const long = 'word '.repeat(500);
      const err = await expectReject(e.encode(['fine', long]), SequenceTooLongError, /input 1/, /128/);
      expect(err.index).to.equal(1);
      expect(err).to.be.instanceOf(InputError);
      const rows = await e.encode(['fine', 'also fine']);
      expect(maxAbs(rows[0], await one('fine'))).to.be.at.most(TOL);
    });

    it('truncate: false deep inside a large call rejects without hanging, and the encoder recovers', async () => {
      const e = await open({ truncate: false, maxNumSeqs: 16 });
      // Past the scheduler's window, so batches are queued behind the running one when the
      // over-long input is reached.
      const texts = Array.from({ length: 12_000 }, (_, i) => `short text ${i}`);
      texts[11_000] = 'word '.repeat(400);
      const err = await within(
        expectReject(e.encode(texts), SequenceTooLongError, /input 11000/),
        30_000,
        'encode with an over-long input',
      );
      expect(err.index).to.equal(11_000);
      const rows = await within(e.encode(texts.slice(0, 300)), 30_000, 'encode after the failure');
      expect(maxAbs(rows[299], await one(texts[299]))).to.be.at.most(TOL);
    });
  });

  describe('fast tokenizer path (EMBEDRANK_FAST_TOKENIZE=1)', () => {
    const saved = process.env.EMBEDRANK_FAST_TOKENIZE;
    afterEach(() => {
      if (saved === undefined) delete process.env.EMBEDRANK_FAST_TOKENIZE;
      else process.env.EMBEDRANK_FAST_TOKENIZE = saved;
    });

    it('repeated texts (tokenized once) give every input its own row, equal to the default path', async () => {
      const texts = Array.from({ length: 3000 }, (_, i) => `text ${i % 700} ${i % 3 === 0 ? 'with a few more words in it' : ''}`);
      texts.push('word '.repeat(400), texts[5], 'word '.repeat(400));
      const want = await enc.embedMatrix(texts);
      process.env.EMBEDRANK_FAST_TOKENIZE = '1';
      const e = await open();
      const got = await e.embedMatrix(texts);
      expect(got.length).to.equal(want.length);
      expect(allFinite(got)).to.equal(true);
      expect(maxAbs(got, want)).to.be.at.most(TOL);
      expect(e.lastTruncated, 'both copies of the over-long text counted').to.equal(enc.lastTruncated);
      expect(e.lastTruncated).to.equal(2);
    });

    it('truncate: false names the first over-long input even when it repeats earlier text', async () => {
      process.env.EMBEDRANK_FAST_TOKENIZE = '1';
      const e = await open({ truncate: false, maxNumSeqs: 16 });
      const long = 'word '.repeat(400);
      const texts = Array.from({ length: 600 }, (_, i) => `short ${i % 50}`);
      texts[420] = long;
      texts[590] = long;
      const err = await within(expectReject(e.encode(texts), SequenceTooLongError, /input 420/), 30_000, 'encode with an over-long input');
      expect(err.index).to.equal(420);
    });
  });

  describe('scale', () => {
    it('100,000 short texts in one call complete quickly and in order', async function () {
      const n = 100_000;
      const texts = Array.from({ length: n }, (_, i) => `item ${i} says ${i % 7 === 0 ? 'something longer than the others' : 'hi'}`);
      const t0 = Date.now();
      const m = await enc.embedMatrix(texts);
      const secs = (Date.now() - t0) / 1000;
      expect(m.length).to.equal(n * 64);
      // Assembled on the assembly thread and moved here: the caller's own, transferable buffer.
      expect(m.buffer).to.be.instanceOf(ArrayBuffer);
      expect(secs, `${n} texts took ${secs.toFixed(1)} s`).to.be.below(60);
      for (const i of [0, 1, 7, 4242, 50_000, 77_777, n - 1]) {
        expect(maxAbs(m.subarray(i * 64, (i + 1) * 64), await one(texts[i])), `row ${i}`).to.be.at.most(TOL);
      }
      for (let i = 0; i < n; i += 997) expect(Math.abs(norm(m.subarray(i * 64, (i + 1) * 64)) - 1), `row ${i}`).to.be.below(1e-5);
      console.log(`      (100,000 texts encoded in ${secs.toFixed(1)} s)`);
    });
  });

  describe('options that cannot be honoured', () => {
    const model = () => tinyEncoder();
    it('dtype float16 / bfloat16 on the CPU', async () => {
      await expectReject(Encoder.create({ model: model(), device: 'cpu', dtype: 'float16' }), UnsupportedOptionError, /float16/, /CPU/);
      await expectReject(Encoder.create({ model: model(), device: 'cpu', dtype: 'half' }), UnsupportedOptionError, /half/);
      await expectReject(Encoder.create({ model: model(), device: 'cpu', dtype: 'bfloat16' }), UnsupportedOptionError, /bfloat16/);
      await expectReject(Encoder.create({ model: model(), device: 'cpu', dtype: 'fp8' as never }), InputError, /fp8/);
    });

    it('tensor or data parallelism on the CPU', async () => {
      await expectReject(Encoder.create({ model: model(), device: 'cpu', tensorParallelSize: 2 }), UnsupportedOptionError, /tensorParallelSize/, /cuda/);
      await expectReject(Encoder.create({ model: model(), device: 'cpu', dataParallelSize: 2 }), UnsupportedOptionError, /dataParallelSize/);
      await expectReject(Encoder.create({ model: model(), device: 'cpu', tensorParallelSize: 0 }), InputError, /tensorParallelSize/);
    });

    it('maxModelLen above the model\'s positions; maxNumBatchedTokens below the max length; bad maxNumSeqs', async () => {
      await expectReject(Encoder.create({ model: model(), device: 'cpu', maxModelLen: 1000 }), InputError, /maxModelLen 1000/, /128 position/);
      await expectReject(Encoder.create({ model: model(), device: 'cpu', maxNumBatchedTokens: 100 }), InputError, /maxNumBatchedTokens \(100\)/, /128/);
      await expectReject(Encoder.create({ model: model(), device: 'cpu', maxModelLen: 64, maxNumBatchedTokens: 63 }), InputError, /maxNumBatchedTokens \(63\)/, /64/);
      await expectReject(Encoder.create({ model: model(), device: 'cpu', maxNumSeqs: 0 }), InputError, /maxNumSeqs/);
      await expectReject(Encoder.create({ model: model(), device: 'cpu', maxModelLen: 1 }), InputError, /maxModelLen/);
    });

    it('device "cuda" without a usable GPU is a clear error; unknown devices are rejected', async function () {
      await expectReject(Encoder.create({ model: model(), device: 'tpu' as never }), InputError, /device "tpu"/);
      const probe = await probeCuda();
      if (probe.available) this.skip();
      await expectReject(Encoder.create({ model: model(), device: 'cuda' }), UnsupportedOptionError, /device "cuda"/, /CUDA is unavailable/);
    });

    it('a cross-encoder folder given to Encoder is a clear error', async () => {
      await expectReject(Encoder.create({ model: tinyCrossEncoder(), device: 'cpu' }), InputError, /cross-encoder/, /BertForSequenceClassification/, /use CrossEncoder/);
    });

    it('a missing model is a clear error; a rejected create leaves nothing to close', async () => {
      await expectReject(Encoder.create({ model: '/nonexistent/model/dir', device: 'cpu' }), Error, /nonexistent/);
      const e = new Encoder({ model: '', device: 'cpu' });
      await expectReject(e.ready(), InputError, /options.model/);
      expect(() => e.dim).to.throw(/not loaded/);
      await e.close(); // resolves although loading failed
      expect(() => e.dim).to.throw(/is closed/);
    });
  });

  describe('crash recovery', () => {
    it('a worker thread that dies mid-run is replaced and the result is the same as without', async () => {
      const texts = Array.from({ length: 2000 }, (_, i) => `crash test text ${i} ${'z'.repeat(i % 13)}`);
      const baseline = await enc.embedMatrix(texts);
      const e = await open({ maxNumSeqs: 16, faultInjection: { crashAfterBatches: 2 } });
      const rt = (e as unknown as { runtime: { replicas: Array<{ pools: unknown[] }>; coordinator: Coordinator } }).runtime;
      const poolBefore = rt.replicas[0].pools[0];
      const got = await within(e.embedMatrix(texts), 60_000, 'encode with a crash');
      expect(rt.replicas[0].pools[0], 'the crashed worker was replaced').to.not.equal(poolBefore);
      expect(maxAbs(got, baseline)).to.be.at.most(TOL);
      // And it keeps working.
      expect(maxAbs((await e.encode([texts[5]]))[0], baseline.subarray(5 * 64, 6 * 64))).to.be.at.most(TOL);
    });
  });
});
