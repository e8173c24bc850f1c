// Qwen3 on CUDA without a GPU: CudaDecoderEngine, the runtime and the CLI against a stand-in addon
// whose forwardDecoder is a real paged-KV decoder in float64 JavaScript (paged-decoder-stand-in.ts),
// so the host side's block tables, slot mappings, positions, chunking, prefix-cache reuse and
// eviction decide the numbers. Checked against Hugging Face's outputs (the fixtures'
// reference.json: SentenceTransformer.encode, Qwen3-Reranker P(yes) from transformers' logits),
// the CPU engine and the float64 reference. What the kernels compute is test/gpu/qwen3-cuda.gpu.ts's job.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { agreeOnBlocks, CudaDecoderEngine } from '../../src/backends/cuda/decoder-engine.js';
import type { CudaEngineOptions } from '../../src/backends/cuda/engine.js';
import type { TokenBatch } from '../../src/backends/engine.js';
import { CrossEncoder } from '../../src/cross-encoder.js';
import { Encoder } from '../../src/encoder.js';
import { InputError, UnsupportedOptionError } from '../../src/errors.js';
import { parsePyJson } from '../../src/eval/index.js';
import { prefixSharingOrder } from '../../src/kv/schedule.js';
import { loadModelFolder } from '../../src/model/folder.js';
import { QWEN3_RERANKER_OVERRIDES } from '../../src/models/qwen3-reranker.js';
import { defaultTokenizerThreads } from '../../src/tokenize/threads.js';
import { decoderEmbedF64, decoderScoreLogitsF64, loadDecoderF64 } from '../../src/reference/decoder-f64.js';
import { maxAbsDiff, useStandInAddon } from './helpers.js';
import { PAGED_DECODER_STAND_IN, type PagedDecoderStandIn } from './paged-decoder-stand-in.js';

const HF = 'test/fixtures/hf';
const EMB = join(HF, 'qwen3-emb');
const LM = join(HF, 'qwen3-lm');
const TOL = 1e-5;
/** Two runs of the float64 stand-in that differ only in schedule round to the same float32. */
const SAME = 1e-6;
const MiB = 1 << 20;

interface EmbRef { texts: string[]; input_ids: number[][]; embeddings: number[][] }
interface LmRef { instruction: string; rows: Array<{ query: string; document: string; input_ids: number[]; p_yes: number }> }
const json = <T>(f: string) => JSON.parse(readFileSync(f, 'utf8')) as T;
const embRef = json<EmbRef>(join(EMB, 'reference.json'));
const lmRef = json<LmRef>(join(LM, 'reference.json'));
/** The reranker rows that fit the fixture's 256 positions. */
const lmRows = lmRef.rows.filter((r) => r.input_ids.length <= 256);
const rerankerOpts = { model: LM, device: 'cuda' as const, hfOverrides: { ...QWEN3_RERANKER_OVERRIDES }, maxModelLen: 256, instruction: lmRef.instruction };

function batchOf(rows: number[][]): TokenBatch {
  const cu = [0];
  for (const r of rows) cu.push(cu[cu.length - 1] + r.length);
  return { ids: Int32Array.from(rows.flat()), cuSeqlens: Int32Array.from(cu) };
}

function engineOpts(o: Partial<CudaEngineOptions> = {}): CudaEngineOptions {
  return { dtype: 'float32', device: 0, rank: 0, worldSize: 1, maxTokens: 4096, maxSeqs: 64, slots: 1, ...o };
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

/** Longest common prefix of two token sequences. */
function lcp(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/**
 * The prefix cache's lookups and hits for sequences run in one batch from an empty cache, from
 * first principles: sequences go in prefixSharingOrder; sequence s looks up ⌊(len − 1)/B⌋ full
 * blocks (never its last token) and hits the first ⌊p/B⌋ of them, p its longest common prefix with
 * any sequence before it (a block is cached when an earlier sequence had the same tokens up to its end).
 */
function expectedPrefixHits(seqs: number[][], B: number): { queries: number; hits: number } {
  const order = prefixSharingOrder(seqs);
  let queries = 0;
  let hits = 0;
  order.forEach((s, k) => {
    const lookup = Math.floor((seqs[s].length - 1) / B);
    const shared = Math.max(0, ...order.slice(0, k).map((r) => lcp(seqs[s], seqs[r])));
    queries += lookup;
    hits += Math.min(lookup, Math.floor(shared / B));
  });
  return { queries, hits };
}

describe('cpu/qwen3-cuda-glue: CudaDecoderEngine against a paged float64 decoder (stand-in addon)', function () {
  this.timeout(300_000);
  const addon = useStandInAddon<PagedDecoderStandIn>(PAGED_DECODER_STAND_IN);
  const lastModel = () => addon().log.models[addon().log.models.length - 1];

  it('describes the decoder per rank (arch 1; query heads, KV heads split or replicated, FFN width), uploads the plan and the reranker head as F32, sizes the KV pool by gpu_memory_utilization', async () => {
    const total = 64 * MiB;
    const free = 63 * MiB;
    for (const [dir, over] of [[EMB, undefined], [LM, QWEN3_RERANKER_OVERRIDES]] as const) {
      const f = loadModelFolder(dir, { hfOverrides: over ? { ...over } : undefined });
      const d = f.dims;
      for (const world of [1, 2, 4]) {
        for (const [dtype, bytes] of [['float32', 4], ['bfloat16', 2]] as const) {
          const e = await CudaDecoderEngine.create(f, engineOpts({ dtype, rank: world - 1, worldSize: world, ncclIds: world > 1 ? [new Uint8Array(128)] : undefined, blockSize: 8, maxModelLen: 100, gpuMemoryUtilization: 0.5 }));
          const m = lastModel();
          // world 4 > 2 KV heads: each rank holds one replicated KV head (vLLM's QKVParallelLinear).
          const kvHeads = world <= 2 ? 2 / world : 1;
          expect(m.cfg).to.include({ arch: 1, heads: d.heads / world, kvHeads, headDim: 32, intermediate: d.intermediate / world, hidden: 64, layers: 2, vocab: 2001, ropeTheta: 1e6, eps: 1e-6, blockSize: 8, maxBlocksPerSeq: 13, numLabels: f.kind === 'cross-encoder' ? 1 : 0, dtype: dtype === 'float32' ? 0 : 2 });
          // The stand-in refuses allocateKvCache unless every contract weight came with its size.
          if (f.kind === 'cross-encoder') expect(m.weights.get('head.cls.w')).to.deep.equal({ bytes: 4 * 64, code: 0 });
          const perBlock = 2 * 2 * kvHeads * 32 * 8 * bytes;
          const want = Math.floor((total * 0.5 - (total - free)) / perBlock);
          expect([m.numBlocks, e.numBlocks, e.kvCacheStats().numBlocks]).to.deep.equal([want, want, want]);
          await e.close();
          expect(m.destroyed).to.equal(true);
        }
      }
    }
  });

  it('tensor-parallel ranks agree on the smallest pool (every rank must run the same steps)', () => {
    const shared = new Int32Array(new SharedArrayBuffer(4 * 3));
    // Rank 1 already posted 700 blocks; rank 0 has 900 and takes 700.
    shared[0] = 1;
    shared[2] = 700;
    expect(agreeOnBlocks(shared, 0, 2, 900)).to.equal(700);
    expect(Array.from(shared)).to.deep.equal([2, 900, 700]);
    // A rank that failed to load posts −1: the others stop waiting at once and fail too.
    const three = new Int32Array(new SharedArrayBuffer(4 * 4));
    agreeOnBlocks(three, 2, 3, -1, false);
    expect(agreeOnBlocks(three, 0, 3, 500)).to.equal(-1);
  });

  it(`embeddings = SentenceTransformer.encode (≤ ${TOL}); a step budget below the longest input (chunked prefill) gives the same rows in more steps`, async () => {
    const f = loadModelFolder(EMB);
    const whole = await CudaDecoderEngine.create(f, engineOpts({ maxModelLen: 120 }));
    const b = batchOf(embRef.input_ids);
    const a = await whole.embed(b);
    const steps = lastModel().steps;
    embRef.embeddings.forEach((row, i) => expect(maxAbsDiff(a, row, i * 64), `text ${i}`).to.be.at.most(TOL));
    expect(steps).to.have.length(1);
    await whole.close();
    const chunked = await CudaDecoderEngine.create(f, engineOpts({ maxModelLen: 120, maxTokens: 50, maxSeqs: 3, enablePrefixCaching: false }));
    const c = await chunked.embed(b);
    expect(maxAbsDiff(c, a)).to.be.at.most(SAME);
    const cs = lastModel().steps;
    expect(Math.max(...cs.map((s) => s.T))).to.be.at.most(50);
    expect(Math.max(...cs.map((s) => s.n))).to.be.at.most(3);
    const total = embRef.input_ids.reduce((s, x) => s + x.length, 0);
    expect(cs.reduce((s, x) => s + x.T, 0)).to.equal(total); // every token computed once, no prefix cache
    // Some step opens with a sequence continuing from an earlier step's chunk (its KV read from the cache).
    expect(cs.some((s) => s.positions[0] > 0)).to.equal(true);
    expect(chunked.kvCacheStats()).to.deep.include({ queries: 0, hits: 0, computedTokens: total, cachedTokens: 0 });
    await chunked.close();
  });

  it('reranker logits = the float64 reference; prefix hits counted exactly; the second identical batch reuses every lookup-able block', async () => {
    const f = loadModelFolder(LM, { hfOverrides: { ...QWEN3_RERANKER_OVERRIDES } });
    const m = loadDecoderF64(f);
    const seqs = lmRows.slice(0, 6).map((r) => r.input_ids);
    const e = await CudaDecoderEngine.create(f, engineOpts({ maxModelLen: 256, blockSize: 16 }));
    const z = await e.score(batchOf(seqs), 'identity');
    seqs.forEach((s, i) => expect(Math.abs(z[i] - decoderScoreLogitsF64(m, s)[0]), `pair ${i}`).to.be.at.most(TOL));
    const want = expectedPrefixHits(seqs, 16);
    const s1 = e.kvCacheStats();
    expect([s1.queries, s1.hits]).to.deep.equal([want.queries, want.hits]);
    expect(s1.hits).to.be.greaterThan(0); // the system line and instruction are shared by every pair
    expect(s1.cachedTokens).to.equal(16 * s1.hits);
    expect(s1.computedTokens + s1.cachedTokens).to.equal(seqs.reduce((a, s) => a + s.length, 0));
    const again = await e.score(batchOf(seqs), 'identity');
    expect(maxAbsDiff(again, z)).to.be.at.most(SAME);
    const s2 = e.kvCacheStats();
    expect(s2.hits - s1.hits).to.equal(want.queries);
    await e.close();
  });

  it('a pool too small for the batch runs it in groups, evicting cached blocks, with the same scores', async () => {
    const f = loadModelFolder(LM, { hfOverrides: { ...QWEN3_RERANKER_OVERRIDES } });
    const seqs = lmRows.map((r) => r.input_ids);
    const big = await CudaDecoderEngine.create(f, engineOpts({ maxModelLen: 256 }));
    const want = await big.score(batchOf(seqs), 'sigmoid');
    await big.close();
    // 20 blocks of 16 hold the longest pair (254 tokens: 16 blocks) and little else.
    const small = await CudaDecoderEngine.create(f, engineOpts({ maxModelLen: 256, numGpuBlocksOverride: 20, maxTokens: 100 }));
    const got = await small.score(batchOf(seqs), 'sigmoid');
    expect(maxAbsDiff(got, want)).to.be.at.most(SAME);
    lmRows.forEach((r, i) => expect(Math.abs(got[i] - r.p_yes), `pair ${i}`).to.be.at.most(TOL));
    const s = small.kvCacheStats();
    expect(s.numBlocks).to.equal(20);
    expect(s.evictions).to.be.greaterThan(0);
    expect(s.hits).to.be.greaterThan(0);
    await small.close();
  });

  it('batches in flight together (host work overlapping the GPU) give the rows of one at a time: a later batch hits blocks an earlier one is still computing, and waits for blocks when the pool is short', async () => {
    const f = loadModelFolder(LM, { hfOverrides: { ...QWEN3_RERANKER_OVERRIDES } });
    const seqs = lmRows.map((r) => r.input_ids);
    const halves = [seqs.filter((_, i) => i % 2 === 0), seqs.filter((_, i) => i % 2 === 1)];
    const serial = await CudaDecoderEngine.create(f, engineOpts({ maxModelLen: 256 }));
    const want = [await serial.score(batchOf(halves[0]), 'identity'), await serial.score(batchOf(halves[1]), 'identity')];
    const ws = serial.kvCacheStats();
    await serial.close();
    const e = await CudaDecoderEngine.create(f, engineOpts({ maxModelLen: 256 }));
    const got = await Promise.all(halves.map((h) => e.score(batchOf(h), 'identity')));
    got.forEach((g, k) => expect(maxAbsDiff(g, want[k]), `batch ${k}`).to.be.at.most(SAME));
    // The second batch was allocated while the first was in flight: the same blocks hit.
    const s = e.kvCacheStats();
    expect([s.queries, s.hits, s.computedTokens]).to.deep.equal([ws.queries, ws.hits, ws.computedTokens]);
    expect(s.hits).to.be.greaterThan(expectedPrefixHits(halves[0], 16).hits);
    await e.close();
    // Three batches at once in a pool that holds about one: each waits for another's group to free blocks.
    const small = await CudaDecoderEngine.create(f, engineOpts({ maxModelLen: 256, numGpuBlocksOverride: 24, maxTokens: 100 }));
    const thirds = [0, 1, 2].map((k) => seqs.filter((_, i) => i % 3 === k));
    const ref = await Promise.all(thirds.map((t) => small.score(batchOf(t), 'identity')));
    const m = loadDecoderF64(f);
    thirds.forEach((t, k) => t.forEach((q, i) => expect(Math.abs(ref[k][i] - decoderScoreLogitsF64(m, q)[0]), `batch ${k} pair ${i}`).to.be.at.most(TOL)));
    expect(small.kvCacheStats().evictions).to.be.greaterThan(0);
    await small.close();
  });

  it('a sequence needing more blocks than the whole pool, or an id outside the vocabulary, is refused before any step runs', async () => {
    const f = loadModelFolder(EMB);
    const e = await CudaDecoderEngine.create(f, engineOpts({ maxModelLen: 120, numGpuBlocksOverride: 4, blockSize: 16 }));
    const m = lastModel();
    const err = await rejection(e.embed(batchOf([embRef.input_ids[0], embRef.input_ids[3]])));
    expect(err).to.be.instanceOf(InputError);
    expect(err.message).to.match(/sequence 1 has 120 tokens and needs 8 KV blocks of 16, but the whole pool has 4/);
    const bad = await rejection(e.embed(batchOf([[1, 2, 2001]])));
    expect(bad.message).to.match(/token id 2001, outside the vocabulary/);
    expect(m.steps).to.have.length(0);
    // The engine is still usable and its pool intact.
    const ok = await e.embed(batchOf([embRef.input_ids[0]]));
    expect(maxAbsDiff(ok, embRef.embeddings[0])).to.be.at.most(TOL);
    await e.close();
  });

  it('an embedder that does not pool the last token is refused on CUDA (and runs on the CPU under device "auto")', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'embedrank-qwen3-mean-'));
    try {
      cpSync(EMB, dir, { recursive: true });
      writeFileSync(join(dir, '1_Pooling/config.json'), JSON.stringify({ embedding_dimension: 64, pooling_mode_mean_tokens: true }));
      const f = loadModelFolder(dir);
      expect(f.st.pooling).to.equal('mean');
      const err = await rejection(CudaDecoderEngine.create(f, engineOpts()));
      expect(err).to.be.instanceOf(UnsupportedOptionError);
      expect(err.message).to.match(/pooling "mean" is not supported for a decoder on CUDA/);
      const viaApi = await rejection(Encoder.create({ model: dir, device: 'cuda' }));
      expect(viaApi).to.be.instanceOf(UnsupportedOptionError);
      const auto = await Encoder.create({ model: dir });
      try {
        expect(auto.device).to.equal('cpu');
      } finally {
        await auto.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('through Encoder / CrossEncoder (worker threads load the stand-in)', () => {
    it(`Encoder on CUDA = SentenceTransformer.encode and = the CPU engine (≤ ${TOL}); device "auto" picks CUDA; KV stats reach the caller`, async () => {
      const gpu = await Encoder.create({ model: EMB });
      const cpu = await Encoder.create({ model: EMB, device: 'cpu' });
      try {
        expect(gpu.device).to.equal('cuda');
        const a = await gpu.encode(embRef.texts);
        const b = await cpu.encode(embRef.texts);
        const m = loadDecoderF64(loadModelFolder(EMB));
        a.forEach((row, i) => {
          expect(maxAbsDiff(row, embRef.embeddings[i]), `text ${i} vs sentence-transformers`).to.be.at.most(TOL);
          expect(maxAbsDiff(row, b[i]), `text ${i} vs CPU engine`).to.be.at.most(TOL);
          expect(maxAbsDiff(row, decoderEmbedF64(m, embRef.input_ids[i])), `text ${i} vs float64`).to.be.at.most(TOL);
        });
        const s = (await gpu.kvCacheStats())!;
        expect(s.blockSize).to.equal(16);
        expect(s.computedTokens + s.cachedTokens).to.equal(embRef.input_ids.reduce((n, x) => n + x.length, 0));
        expect(gpu.meta.loader_kwargs).to.include({ enable_prefix_caching: true, block_size: 16, gpu_memory_utilization: 0.9 });
        expect(await cpu.kvCacheStats()).to.equal(undefined);
      } finally {
        await gpu.close();
        await cpu.close();
      }
    });

    it(`CrossEncoder on CUDA: P(yes) = transformers (≤ ${TOL}); prefix caching on = off, with hits counted exactly for one query's candidates`, async () => {
      const query = lmRows[0].query;
      const docs = lmRows.map((r) => r.document);
      const on = await CrossEncoder.create(rerankerOpts);
      const off = await CrossEncoder.create({ ...rerankerOpts, enablePrefixCaching: false });
      try {
        // From an empty cache: the candidates, in one coordinator batch.
        const a = await on.rank(query, docs);
        const b = await off.rank(query, docs);
        expect(maxAbsDiff(a, b)).to.be.at.most(SAME);
        const chunk = await on.tokenizePairs(docs.map((d) => [query, d] as [string, string]));
        const seqs = Array.from({ length: chunk.n }, (_, i) => Array.from(chunk.ids.subarray(chunk.offsets[i], chunk.offsets[i + 1])));
        // The candidates share the system line, instruction and query: P tokens, ⌊P/16⌋ blocks each.
        const P = Math.min(...seqs.slice(1).map((s) => lcp(s, seqs[0])));
        expect(Math.floor(P / 16)).to.be.at.least(3);
        const s = (await on.kvCacheStats())!;
        const want = expectedPrefixHits(seqs, 16);
        expect([s.queries, s.hits, s.evictions]).to.deep.equal([want.queries, want.hits, 0]);
        expect(want.hits).to.be.at.least((seqs.length - 1) * Math.floor(P / 16));
        expect(s.cachedTokens).to.equal(16 * want.hits);
        // Each pair under its own query = transformers.
        const pairs = lmRows.map((r) => [r.query, r.document] as [string, string]);
        const p = (await on.predict(pairs)) as Float32Array;
        lmRows.forEach((r, i) => expect(Math.abs(p[i] - r.p_yes), `pair ${i}`).to.be.at.most(TOL));
        const q = (await off.predict(pairs)) as Float32Array;
        expect(maxAbsDiff(p, q)).to.be.at.most(SAME);
        const o = (await off.kvCacheStats())!;
        expect([o.queries, o.hits, o.cachedTokens]).to.deep.equal([0, 0, 0]);
      } finally {
        await on.close();
        await off.close();
      }
    });

    it('maxNumBatchedTokens below the longest input (chunked prefill) and a pool of a few blocks give the same scores; maxNumBatchedTokens below maxModelLen stays refused for encoders and the CPU engine', async () => {
      const pairs = lmRows.map((r) => [r.query, r.document] as [string, string]);
      const base = await CrossEncoder.create(rerankerOpts);
      const chunked = await CrossEncoder.create({ ...rerankerOpts, maxNumBatchedTokens: 48 });
      const tiny = await CrossEncoder.create({ ...rerankerOpts, numGpuBlocksOverride: 18, maxNumBatchedTokens: 64 });
      try {
        const want = (await base.predict(pairs)) as Float32Array;
        expect(maxAbsDiff((await chunked.predict(pairs)) as Float32Array, want)).to.be.at.most(SAME);
        expect(maxAbsDiff((await tiny.predict(pairs)) as Float32Array, want)).to.be.at.most(SAME);
        expect((await tiny.kvCacheStats())!.evictions).to.be.greaterThan(0);
        expect(chunked.limits.maxNumBatchedTokens).to.equal(48);
      } finally {
        await Promise.all([base.close(), chunked.close(), tiny.close()]);
      }
      const cpuErr = await rejection(CrossEncoder.create({ ...rerankerOpts, device: 'cpu', maxNumBatchedTokens: 48 }));
      expect(cpuErr.message).to.match(/maxNumBatchedTokens \(48\) must be an integer ≥ the maximum sequence length \(256\)/);
      const encErr = await rejection(Encoder.create({ model: join(HF, 'distilbert-st'), device: 'cpu', maxNumBatchedTokens: 4 }));
      expect(encErr.message).to.match(/maxNumBatchedTokens \(4\) must be an integer ≥ the maximum sequence length/);
    });

    it('tokenizer threads: cores − 2 − GPUs by default with CUDA (every visible GPU a replica), the option when given, one per core on the CPU', async () => {
      const prev = process.env.STAND_IN_DEVICES;
      process.env.STAND_IN_DEVICES = '2';
      const [cuda, given, cpu] = await Promise.all([
        Encoder.create({ model: EMB, device: 'cuda' }),
        Encoder.create({ model: EMB, device: 'cuda', tokenizerThreads: 3 }),
        Encoder.create({ model: EMB, device: 'cpu' }),
      ]);
      try {
        expect(cuda.tokenizerThreads).to.equal(defaultTokenizerThreads('cuda', 2)).and.to.equal(Math.max(1, availableParallelism() - 4));
        expect(given.tokenizerThreads).to.equal(3);
        expect(cpu.tokenizerThreads).to.equal(availableParallelism());
      } finally {
        if (prev === undefined) delete process.env.STAND_IN_DEVICES;
        else process.env.STAND_IN_DEVICES = prev;
        await Promise.all([cuda.close(), given.close(), cpu.close()]);
      }
    });

    it('a sequence longer than the whole pool is a clear error, not a hang', async () => {
      const enc = await Encoder.create({ model: EMB, device: 'cuda', numGpuBlocksOverride: 2 });
      try {
        const err = await rejection(enc.encode([embRef.texts[embRef.input_ids.findIndex((x) => x.length === 120)]]));
        expect(err.message).to.match(/needs 8 KV blocks of 16, but the whole pool has 2/);
      } finally {
        await enc.close();
      }
    });

    it('bad KV options are refused by name before anything loads', async () => {
      const bad: Array<[Record<string, unknown>, RegExp]> = [
        [{ blockSize: 0 }, /options\.blockSize must be an integer ≥ 1, got 0/],
        [{ blockSize: 2.5 }, /options\.blockSize/],
        [{ blockSize: '16' }, /options\.blockSize .*"16"/],
        [{ gpuMemoryUtilization: 0 }, /options\.gpuMemoryUtilization must be a fraction in \(0, 1\], got 0/],
        [{ gpuMemoryUtilization: 1.5 }, /gpuMemoryUtilization .*1\.5/],
        [{ gpuMemoryUtilization: NaN }, /gpuMemoryUtilization .*NaN/],
        [{ gpuMemoryUtilization: '0.5' }, /gpuMemoryUtilization/],
        [{ enablePrefixCaching: 'yes' }, /options\.enablePrefixCaching must be true or false/],
        [{ numGpuBlocksOverride: 0 }, /options\.numGpuBlocksOverride must be an integer ≥ 1/],
      ];
      for (const [o, re] of bad) {
        const err = await rejection(Encoder.create({ model: EMB, device: 'cuda', ...o } as never));
        expect(err, JSON.stringify(o)).to.be.instanceOf(InputError);
        expect(err.message).to.match(re);
      }
    });
  });

  describe('tensor parallel 2 (worker threads, one rank each; no all-reduce here, so no numbers)', () => {
    const saved = process.env.STAND_IN_DEVICES;
    before(() => {
      process.env.STAND_IN_DEVICES = '2';
    });
    after(() => {
      if (saved === undefined) delete process.env.STAND_IN_DEVICES;
      else process.env.STAND_IN_DEVICES = saved;
    });
    useStandInAddon<PagedDecoderStandIn>(PAGED_DECODER_STAND_IN); // a fresh addon path: a fresh CUDA probe

    it('both ranks load and agree on the smaller KV pool (GPU 1 has less free memory)', async () => {
      const enc = await Encoder.create({ model: EMB, device: 'cuda', tensorParallelSize: 2 });
      try {
        // float16 under 'auto' (an fp32 checkpoint); one KV head per rank: 2·2 layers·1·32·16·2 bytes.
        const perBlock = 2 * 2 * 1 * 32 * 16 * 2;
        const blocks = (free: number) => Math.floor((64 * MiB * 0.9 - (64 * MiB - free)) / perBlock);
        expect(blocks(62 * MiB)).to.be.lessThan(blocks(63 * MiB));
        expect((await enc.kvCacheStats())!.numBlocks).to.equal(blocks(62 * MiB));
        expect(enc.engineSlots).to.equal(1);
      } finally {
        await enc.close();
      }
    });
  });

  describe('tensor parallel on one GPU (EMBEDRANK_TP_LOCAL=1: every rank on GPU 0, one shared random group id per slot)', () => {
    const saved = { local: process.env.EMBEDRANK_TP_LOCAL, log: process.env.STAND_IN_CONNECT_LOG, devices: process.env.STAND_IN_DEVICES };
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'embedrank-tp-local-'));
      process.env.STAND_IN_DEVICES = '1';
    });
    after(() => {
      for (const [k, v] of [['EMBEDRANK_TP_LOCAL', saved.local], ['STAND_IN_CONNECT_LOG', saved.log], ['STAND_IN_DEVICES', saved.devices]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      rmSync(dir, { recursive: true, force: true });
    });
    afterEach(() => {
      delete process.env.EMBEDRANK_TP_LOCAL;
    });
    useStandInAddon<PagedDecoderStandIn>(PAGED_DECODER_STAND_IN);

    for (const k of [2, 4]) {
      it(`tensorParallelSize ${k}: ${k} ranks on GPU 0 join one group (same ${k === 4 ? 'random id, KV heads replicated' : 'random id'}), each sizes its KV pool from 1/${k} of the memory fraction, and it embeds`, async () => {
        process.env.EMBEDRANK_TP_LOCAL = '1';
        const log = join(dir, `connect-${k}.jsonl`);
        process.env.STAND_IN_CONNECT_LOG = log;
        const enc = await Encoder.create({ model: EMB, device: 'cuda', tensorParallelSize: k });
        try {
          const rt = (enc as unknown as { rt: { replicas: Array<{ devices: readonly number[] }> } }).rt;
          expect(rt.replicas.map((r) => [...r.devices])).to.deep.equal([new Array(k).fill(0)]);
          const joins = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { device: number; rank: number; worldSize: number; ids: string[] });
          expect(joins.map((j) => j.rank).sort()).to.deep.equal([...Array(k).keys()]);
          for (const j of joins) {
            expect(j.device).to.equal(0);
            expect(j.worldSize).to.equal(k);
            expect(j.ids).to.have.length(1); // a decoder runs one slot
            expect(j.ids[0]).to.equal(joins[0].ids[0]);
          }
          // 128 random bytes (the stand-in's ncclUniqueId gives zeros: it must not have been asked).
          expect(joins[0].ids[0]).to.have.length(256).and.to.not.match(/^0+$/);
          // float16 under 'auto'; one KV head per rank (k = 4 > 2 KV heads: replicated); 0.9 / k of 64 MiB less the 1 MiB in use.
          const perBlock = 2 * 2 * 1 * 16 * 32 * 2;
          expect((await enc.kvCacheStats())!.numBlocks).to.equal(Math.floor((64 * MiB * (0.9 / k) - MiB) / perBlock));
          const rows = await enc.encode(embRef.texts.slice(0, 3));
          expect(rows).to.have.length(3);
          for (const r of rows) expect(Array.from(r).every(Number.isFinite)).to.equal(true);
        } finally {
          await enc.close();
        }
        // A second model gets a group of its own.
        const again = await Encoder.create({ model: EMB, device: 'cuda', tensorParallelSize: k });
        await again.close();
        const ids = new Set(readFileSync(log, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { ids: string[] }).ids[0]));
        expect(ids.size).to.equal(2);
      });
    }

    it('without the variable tensorParallelSize 2 on one GPU stays refused; with it, a data-parallel size beyond the visible GPUs is refused', async () => {
      const off = await rejection(Encoder.create({ model: EMB, device: 'cuda', tensorParallelSize: 2 }));
      expect(off).to.be.instanceOf(UnsupportedOptionError);
      expect(off.message).to.equal('dataParallelSize 1 × tensorParallelSize 2 needs 2 GPUs but 1 are visible');
      process.env.EMBEDRANK_TP_LOCAL = '1';
      const dp = await rejection(Encoder.create({ model: EMB, device: 'cuda', tensorParallelSize: 2, dataParallelSize: 2 }));
      expect(dp).to.be.instanceOf(UnsupportedOptionError);
      expect(dp.message).to.match(/dataParallelSize 2 needs 2 GPUs under EMBEDRANK_TP_LOCAL=1 \(each tensor-parallel group on one GPU\) but 1 are visible/);
    });
  });

  describe('CLI', () => {
    const bin = () => join(process.cwd(), 'dist/src/cli/main.js');
    it('rerank and evaluate on CUDA print the KV cache line (hit rate) on stderr; --no-enable-prefix-caching gives the same scores and no hits; evaluate scores as on the CPU; bad flags exit 2', () => {
      const work = mkdtempSync(join(tmpdir(), 'embedrank-qwen3-cuda-cli-'));
      try {
        const docs = join(work, 'docs.txt');
        writeFileSync(docs, lmRows.slice(0, 4).map((r) => r.document.replace(/\n/g, ' ')).join('\n') + '\n');
        const run = (extra: string[]) =>
          spawnSync(process.execPath, [bin(), 'rerank', '-m', LM, '-q', lmRows[0].query, '-d', docs, '--max-model-len', '256', '--hf-overrides', JSON.stringify(QWEN3_RERANKER_OVERRIDES), ...extra], { encoding: 'utf8' });
        const on = run(['--device', 'cuda', '--block-size', '8', '--gpu-memory-utilization', '0.5']);
        expect(on.status, on.stderr).to.equal(0);
        const line = on.stderr.split('\n').find((l) => l.includes('KV cache'));
        expect(line, on.stderr).to.match(/prefix-cache hit rate \d+\.\d% \(\d+ of \d+ blocks\).*blocks of 8 tokens/);
        expect(Number(/\((\d+) of/.exec(line!)![1])).to.be.greaterThan(0);
        const off = run(['--device', 'cuda', '--no-enable-prefix-caching']);
        expect(off.status, off.stderr).to.equal(0);
        expect(off.stderr).to.match(/hit rate 0\.0% \(0 of 0 blocks\)/);
        const scores = (s: string) => s.trim().split('\n').map((l) => JSON.parse(l) as { index: number; score: number }).sort((x, y) => x.index - y.index).map((r) => r.score);
        expect(maxAbsDiff(scores(on.stdout), scores(off.stdout))).to.be.at.most(SAME);
        const cpu = run(['--device', 'cpu']);
        expect(cpu.status, cpu.stderr).to.equal(0);
        expect(cpu.stderr).to.not.include('KV cache');
        // evaluate: the same line after the summary, and the CPU engine's score.
        const evalRun = (device: string, folder: string) =>
          spawnSync(process.execPath, [bin(), 'evaluate', '-m', LM, '-t', 'AskUbuntuDupQuestions', '--data-dir', 'test/fixtures/eval/hf', '--max-model-len', '256', '--hf-overrides', JSON.stringify(QWEN3_RERANKER_OVERRIDES), '--device', device, '-o', join(work, folder)], { encoding: 'utf8', env: { ...process.env, HF_HUB_OFFLINE: '1' } });
        const mainScore = (folder: string) => {
          const files = (readdirSync(join(work, folder), { recursive: true }) as string[]).filter((x) => x.endsWith('AskUbuntuDupQuestions.json'));
          expect(files).to.have.length(1);
          return (parsePyJson(readFileSync(join(work, folder, files[0]), 'utf8')) as { scores: { test: Array<{ main_score: number }> } }).scores.test[0].main_score;
        };
        const ev = evalRun('cuda', 'gpu');
        expect(ev.status, ev.stderr).to.equal(0);
        expect(ev.stderr).to.match(/KV cache: prefix-cache hit rate \d+\.\d% \([1-9][\d,]* of/);
        const evCpu = evalRun('cpu', 'cpu');
        expect(evCpu.status, evCpu.stderr).to.equal(0);
        expect(evCpu.stderr).to.not.include('KV cache');
        expect(Math.abs(mainScore('gpu') - mainScore('cpu'))).to.be.at.most(1e-4);
        for (const [flag, re] of [[['--gpu-memory-utilization', '1.5'], /--gpu-memory-utilization must be a fraction in \(0, 1\], got 1\.5/], [['--block-size', '0'], /--block-size must be an integer ≥ 1/]] as const) {
          const r = run([...flag]);
          expect(r.status, r.stderr).to.equal(2);
          expect(r.stderr).to.match(re);
        }
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    });
  });
});
