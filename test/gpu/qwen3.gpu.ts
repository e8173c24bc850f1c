// The decoder (Qwen3) CUDA kernels one at a time (addon decoderOpTest, cuda/decoder_test.cu)
// against the float64 reference's own building blocks (src/reference/decoder-f64.ts): RMSNorm on
// hidden rows and per head inside QKV rows, NeoX rotary at batch positions (chunk offsets
// included), SwiGLU on the fused gate/up output, and GQA causal attention over a paged KV cache
// whose blocks are scattered, with cached prefixes (prefix reuse / earlier chunks) and ragged
// sequences; and the in-process all-reduce of EMBEDRANK_TP_LOCAL (cuda/local_comm.cu) among 2–4
// threads on one GPU. Every dtype; outputs are poisoned first, so an unwritten value fails as NaN.
// Not yet here: the Qwen3 model on CUDA (these kernels sequenced, weight upload, pooling), so no
// end-to-end GPU comparison with transformers; that is the open part of issue 12.
import { expect } from 'chai';
import { loadAddon, type CudaAddon } from '../../src/backends/cuda/addon.js';
import { rmsNormF64, rotaryF64 } from '../../src/reference/decoder-f64.js';
import { roundHalfEven } from '../../src/eval/numeric.js';
import { maxAbsDiff } from '../cpu/helpers.js';

// tol: max |Δ| unit of each kernel's bound; rel: the attention tests' relative L2 error bound
// (test/gpu/attention.gpu.ts's tolerances).
const DTYPES = [
  { name: 'float32', code: 0, tol: 2e-5, rel: 2e-5 },
  { name: 'float16', code: 1, tol: 4e-3, rel: 3e-3 },
  { name: 'bfloat16', code: 2, tol: 3e-2, rel: 2e-2 },
];
type Dt = (typeof DTYPES)[number];

function randn(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const u = () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 4294967296 + 1e-12);
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

/** What the kernel sees: values rounded to the dtype (fp16 / bf16 inputs are the rounded ones). */
function rounded(x: Float32Array, code: number): Float64Array {
  if (code === 0) return Float64Array.from(x);
  const out = new Float64Array(x.length);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < x.length; i++) {
    f[0] = x[i];
    if (code === 2) {
      u[0] = (u[0] + 0x7fff + ((u[0] >>> 16) & 1)) & 0xffff0000; // round to nearest even bf16
      out[i] = f[0];
    } else {
      out[i] = fp16Round(x[i]);
    }
  }
  return out;
}

/** 0 … n−1 in a seeded random order (Fisher–Yates). */
function shuffled(n: number, seed: number): number[] {
  let s = seed >>> 0 || 1;
  const u = () => (s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 4294967296;
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(u() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

function fp16Round(v: number): number {
  if (v === 0 || !Number.isFinite(v)) return v;
  const e = Math.max(Math.floor(Math.log2(Math.abs(v))), -14);
  const q = Math.pow(2, e - 10);
  return roundHalfEven(v / q) * q; // ties to even, as the GPU's __float2half_rn
}

/** A step of paged attention: sequences as (cached, new) token counts, the step's QKV rows, the cached K/V. */
interface PagedInputs {
  seqs: Array<[cached: number, fresh: number]>;
  heads: number;
  kvh: number;
  d: number;
  /** [T · (heads + 2 kvh) · d]: the step's q | k | v rows. */
  qkv: Float32Array;
  cuQ: Int32Array;
  ctxLen: Int32Array;
  /** Per sequence, the K and V of its cached positions [cached · kvh · d] (earlier chunks / prefix). */
  past: Array<{ k: Float32Array; v: Float32Array }>;
}

function pagedInputs(seqs: Array<[number, number]>, heads: number, kvh: number, d: number, seed: number): PagedInputs {
  const ld = (heads + 2 * kvh) * d;
  const cuQ = new Int32Array(seqs.length + 1);
  seqs.forEach(([, f], i) => (cuQ[i + 1] = cuQ[i] + f));
  const ctxLen = Int32Array.from(seqs.map(([c, f]) => c + f));
  const qkv = randn(cuQ[seqs.length] * ld, seed);
  const past = seqs.map(([c], i) => ({ k: randn(c * kvh * d, seed + 1 + 2 * i), v: randn(c * kvh * d, seed + 2 + 2 * i) }));
  return { seqs, heads, kvh, d, qkv, cuQ, ctxLen, past };
}

/** The inputs laid into a paged cache of blockSize: blocks in a seeded shuffled order (not contiguous). */
interface PagedCache {
  blockSize: number;
  maxBlocks: number;
  kCache: Float32Array;
  vCache: Float32Array;
  blockTables: Int32Array;
  /** Where each step token's K/V go (kv_cache_write before the attention). */
  slots: Int32Array;
}

function pagedCache(inp: PagedInputs, blockSize: number, seed: number): PagedCache {
  const { seqs, kvh, d } = inp;
  const need = seqs.map(([c, f]) => Math.ceil((c + f) / blockSize));
  const blocks = need.reduce((a, b) => a + b, 0) + 3;
  const maxBlocks = Math.max(...need) + 2;
  const order = shuffled(blocks, seed);
  // Everything no kernel may read is NaN: free blocks, positions past each context, the step's own
  // slots before kv_cache_write, and the poison block that unused table entries point to.
  const row = kvh * d;
  const kCache = new Float32Array(blocks * blockSize * row).fill(NaN);
  const vCache = new Float32Array(blocks * blockSize * row).fill(NaN);
  const poison = order[blocks - 1];
  const blockTables = new Int32Array(seqs.length * maxBlocks).fill(poison);
  let next = 0;
  need.forEach((n, i) => {
    for (let b = 0; b < n; b++) blockTables[i * maxBlocks + b] = order[next++];
  });
  const slotOf = (i: number, p: number) => blockTables[i * maxBlocks + Math.floor(p / blockSize)] * blockSize + (p % blockSize);
  const slots = new Int32Array(inp.cuQ[seqs.length]);
  seqs.forEach(([c, f], i) => {
    for (let p = 0; p < c; p++) {
      kCache.set(inp.past[i].k.subarray(p * row, (p + 1) * row), slotOf(i, p) * row);
      vCache.set(inp.past[i].v.subarray(p * row, (p + 1) * row), slotOf(i, p) * row);
    }
    for (let j = 0; j < f; j++) slots[inp.cuQ[i] + j] = slotOf(i, c + j);
  });
  return { blockSize, maxBlocks, kCache, vCache, blockTables, slots };
}

function attentionArgs(inp: PagedInputs, c: PagedCache, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    qkv: inp.qkv, kCache: c.kCache, vCache: c.vCache, slots: c.slots, blockTables: c.blockTables, cuQ: inp.cuQ, ctxLen: inp.ctxLen,
    heads: inp.heads, kvHeads: inp.kvh, headDim: inp.d, blockSize: c.blockSize, maxBlocks: c.maxBlocks, ...extra,
  };
}

/**
 * float64 causal GQA attention (softmax(q·kᵀ/√d)·v over keys 0 … own position, KV head h / (heads / kvh))
 * on the dtype-rounded inputs, for the step tokens `rows(i, fresh)` picks in sequence i (default all);
 * other tokens' rows stay NaN. [T · heads · d]. Independent of the paging: keys in position order.
 */
function pagedReference(inp: PagedInputs, code: number, rows?: (i: number, fresh: number) => number[]): Float64Array {
  const { seqs, heads, kvh, d, cuQ } = inp;
  const ld = (heads + 2 * kvh) * d;
  const q = rounded(inp.qkv, code);
  const want = new Float64Array(cuQ[seqs.length] * heads * d).fill(NaN);
  seqs.forEach(([c, f], i) => {
    const pk = rounded(inp.past[i].k, code), pv = rounded(inp.past[i].v, code);
    // Key / value of position p, KV head kh: cached, or the step's own k | v columns.
    const kAt = (p: number, kh: number) => (p < c ? pk.subarray((p * kvh + kh) * d, (p * kvh + kh + 1) * d) : q.subarray((cuQ[i] + p - c) * ld + (heads + kh) * d, (cuQ[i] + p - c) * ld + (heads + kh + 1) * d));
    const vAt = (p: number, kh: number) => (p < c ? pv.subarray((p * kvh + kh) * d, (p * kvh + kh + 1) * d) : q.subarray((cuQ[i] + p - c) * ld + (heads + kvh + kh) * d, (cuQ[i] + p - c) * ld + (heads + kvh + kh + 1) * d));
    for (const j of rows ? rows(i, f) : Array.from({ length: f }, (_, j) => j)) {
      const t = cuQ[i] + j;
      const pos = c + j;
      for (let h = 0; h < heads; h++) {
        const kh = Math.floor(h / (heads / kvh));
        const qh = q.subarray(t * ld + h * d, t * ld + (h + 1) * d);
        const sc = new Float64Array(pos + 1);
        let mx = -Infinity;
        for (let k = 0; k <= pos; k++) {
          const kv = kAt(k, kh);
          let dot = 0;
          for (let e = 0; e < d; e++) dot += qh[e] * kv[e];
          sc[k] = dot / Math.sqrt(d);
          mx = Math.max(mx, sc[k]);
        }
        let sum = 0;
        for (let k = 0; k <= pos; k++) sum += sc[k] = Math.exp(sc[k] - mx);
        const o = want.subarray((t * heads + h) * d, (t * heads + h + 1) * d).fill(0);
        for (let k = 0; k <= pos; k++) {
          const vv = vAt(k, kh), w = sc[k] / sum;
          for (let e = 0; e < d; e++) o[e] += w * vv[e];
        }
      }
    }
  });
  return want;
}

/**
 * got (every value finite: NaN never passes) against want on the rows want holds: max |Δ| ≤ 4·tol and
 * relative L2 error < rel.
 */
function expectAttention(got: Float32Array, want: Float64Array, inp: PagedInputs, dt: Dt, what: string): void {
  expect(got.length, what).to.equal(want.length);
  const bad = got.findIndex((v) => !Number.isFinite(v));
  expect(bad, `${what}: non-finite output at ${bad} (token ${Math.floor(bad / (inp.heads * inp.d))})`).to.equal(-1);
  let m = 0, num = 0, den = 0, worst = -1;
  for (let i = 0; i < want.length; i++) {
    if (Number.isNaN(want[i])) continue; // a row the reference skipped
    const e = Math.abs(got[i] - want[i]);
    if (e > m) (m = e), (worst = i);
    num += e * e;
    den += want[i] * want[i];
  }
  expect(den, `${what}: no reference rows`).to.be.greaterThan(0);
  const at = `${what} (worst at token ${Math.floor(worst / (inp.heads * inp.d))}, head ${Math.floor(worst / inp.d) % inp.heads})`;
  expect(m, `max |Δ| ${at}`).to.be.at.most(dt.tol * 4);
  expect(Math.sqrt(num / den), `relative L2 error ${at}`).to.be.below(dt.rel);
}

describe('gpu/qwen3: decoder kernels = float64 reference', function () {
  let addon: CudaAddon;
  before(function () {
    try {
      addon = loadAddon();
    } catch {
      this.skip();
    }
  });

  for (const dt of DTYPES) {
    it(`${dt.name}: rms_norm on hidden rows (1024) and per head (q_norm over 16 heads of 128 in QKV rows)`, () => {
      const T = 37, H = 1024, d = 128, heads = 16, ld = (16 + 2 * 8) * d;
      const x = randn(T * H, 1), w = randn(H, 2).map((v) => 1 + 0.2 * v);
      const got = addon.decoderOpTest(dt.code, 'rms_norm', { x, w, ld: H, per: 1, rows: T, dim: H, eps: 1e-6 }, 0);
      const want = rmsNormF64(rounded(x, dt.code), H, rounded(w, dt.code), 1e-6);
      expect(maxAbsDiff(got, want)).to.be.at.most(dt.tol * 4);
      const qkv = randn(T * ld, 3), wq = randn(d, 4).map((v) => 1 + 0.2 * v);
      const gotQ = addon.decoderOpTest(dt.code, 'rms_norm', { x: qkv, w: wq, ld, per: heads, rows: T * heads, dim: d, eps: 1e-6 }, 0);
      const r = rounded(qkv, dt.code);
      for (let t = 0; t < T; t++) {
        const want = rmsNormF64(r.slice(t * ld, t * ld + heads * d), d, rounded(wq, dt.code), 1e-6);
        expect(maxAbsDiff(gotQ.subarray(t * ld, t * ld + heads * d), want), `token ${t}`).to.be.at.most(dt.tol * 4);
      }
    });

    it(`${dt.name}: NeoX rotary at batch positions (chunk offsets up to 40 000), theta 1e6`, () => {
      const T = 50, heads = 8, d = 128, ld = heads * d;
      const x = randn(T * ld, 5);
      const positions = Int32Array.from({ length: T }, (_, t) => (t < 25 ? t : 40000 + t));
      const got = addon.decoderOpTest(dt.code, 'rotary', { x, positions, ld, heads, headDim: d, theta: 1e6 }, 0);
      const want = rounded(x, dt.code);
      rotaryF64(want, T, heads, d, 1e6, positions);
      // fp32 angles at position 40 000 carry ~40 000 · 2⁻²³ rad of rounding (transformers' too):
      // up to ~5e-3 rad on |x| ≤ ~4.5.
      expect(maxAbsDiff(got, want)).to.be.at.most(Math.max(dt.tol * 4, 5e-2));
      const early = 25 * ld;
      expect(maxAbsDiff(got.subarray(0, early), want.subarray(0, early))).to.be.at.most(dt.tol * 2);
    });

    it(`${dt.name}: SwiGLU on [gate | up] rows`, () => {
      const T = 19, I = 3072;
      const gu = randn(T * 2 * I, 6);
      const got = addon.decoderOpTest(dt.code, 'swiglu', { gateUp: gu, T, I }, 0);
      const r = rounded(gu, dt.code);
      const want = new Float64Array(T * I);
      for (let t = 0; t < T; t++) for (let n = 0; n < I; n++) {
        const z = r[t * 2 * I + n];
        want[t * I + n] = (z / (1 + Math.exp(-z))) * r[t * 2 * I + I + n];
      }
      expect(maxAbsDiff(got, want)).to.be.at.most(dt.tol * 8);
    });

    it(`${dt.name}: in-process all-reduce (EMBEDRANK_TP_LOCAL) of 2, 3 and 4 ranks on one GPU: Σ in rank order on every rank, bit-identical across ranks, nothing past count written; a rank leaving fails the others at once`, () => {
      const count = 64 * 1000 + 7, calls = 3;
      for (const world of [2, 3, 4]) {
        const parts = randn(world * count, 40 + world);
        const got = addon.decoderOpTest(dt.code, 'local_all_reduce', { parts, world, count, calls }, 0);
        const r = rounded(parts, dt.code);
        // fp32 accumulation in rank order, one rounding to the dtype (sum_partials.cu).
        const acc = new Float32Array(count);
        for (let i = 0; i < count; i++) {
          let a = 0;
          for (let k = 0; k < world; k++) a = Math.fround(a + r[k * count + i]);
          acc[i] = a;
        }
        const want = rounded(acc, dt.code);
        for (let c = 0; c < calls; c++) {
          const n = c === 0 ? Math.ceil(count / 2) : count;
          const row = (k: number) => got.subarray((c * world + k) * count, (c * world + k + 1) * count);
          for (let k = 0; k < world; k++) {
            const at = `world ${world}, call ${c}, rank ${k}`;
            expect(maxAbsDiff(row(k).subarray(0, n), want.subarray(0, n)), `${at}: sum`).to.equal(0);
            expect(maxAbsDiff(row(k).subarray(n), r.subarray(k * count + n, (k + 1) * count)), `${at}: past count`).to.equal(0);
            const bits = (j: number) => Buffer.from(got.buffer, got.byteOffset + (c * world + j) * count * 4, n * 4);
            expect(bits(k).equals(bits(0)), `${at}: the sum has rank 0's bits`).to.equal(true);
          }
        }
      }
      const t0 = Date.now();
      expect(() => addon.decoderOpTest(dt.code, 'local_all_reduce', { parts: randn(2 * 1000, 9), world: 2, count: 1000, calls: 3, leaveAfter: 1 }, 0)).to.throw(/rank 0: .*rank 1 left the group/);
      expect(Date.now() - t0, 'failed at once, not after the barrier timeout').to.be.below(30_000);
    });

    it(`${dt.name}: GQA causal attention over a scattered paged cache, with cached prefixes and ragged new tokens`, () => {
      // Three sequences: (cached, new) = (32, 20) shared-prefix hit, (0, 45) fresh, (7, 1) decode-like chunk.
      const inp = pagedInputs([[32, 20], [0, 45], [7, 1]], 16, 8, 128, 7);
      const want = pagedReference(inp, dt.code);
      const cache = pagedCache(inp, 16, 11);
      const got = addon.decoderOpTest(dt.code, 'attention', attentionArgs(inp, cache), 0);
      expectAttention(got, want, inp, dt, 'paged_attention');
    });
  }
});

// The tensor-core paged attention (fp16 / bf16, head_dim 64 and 128) over the shapes a step takes,
// each against the float64 reference and against the CUDA-core warp kernel (the fallback), at
// block size 16 and odd ones (7, 1), blocks shuffled. Rows near 64-row tile edges are where the
// causal mask and the tile bookkeeping can go wrong; the ragged batch puts tile edges at every
// offset from the cached prefix.
describe('gpu/qwen3: tensor-core paged attention = float64 reference = warp kernel', function () {
  let addon: CudaAddon;
  before(function () {
    try {
      addon = loadAddon();
    } catch {
      this.skip();
    }
  });

  // Sampled rows of a long chunk: both edges of every 64-row tile, every 97th, the last.
  const edgesAndSome = (_: number, f: number) => Array.from({ length: f }, (_, j) => j).filter((j) => j % 64 === 0 || j % 64 === 63 || j % 97 === 0 || j === f - 1);
  const CASES: Array<{ name: string; seqs: Array<[number, number]>; blockSizes: number[]; rows?: (i: number, f: number) => number[] }> = [
    { name: 'no cached prefix (ctx = q = 130)', seqs: [[0, 130]], blockSizes: [16, 7] },
    { name: 'cached prefix + step (200 cached, 37 new)', seqs: [[200, 37]], blockSizes: [16, 7, 1] },
    { name: 'chunk of a long sequence (ctx 4100, q 1000; sampled rows)', seqs: [[3100, 1000]], blockSizes: [16, 7], rows: edgesAndSome },
    {
      name: 'ragged batch of 12 sequences, 4 of length 1',
      seqs: [[0, 1], [0, 64], [5, 1], [63, 65], [128, 1], [0, 17], [300, 100], [31, 33], [64, 64], [1, 127], [999, 1], [40, 200]],
      blockSizes: [16, 7, 1],
    },
    { name: 'batch of one sequence of one token', seqs: [[0, 1]], blockSizes: [16, 7] },
  ];
  const GQA: Array<[number, number]> = [[16, 8], [16, 2], [8, 8]];

  for (const dt of DTYPES.filter((x) => x.code !== 0))
    for (const d of [64, 128])
      for (const [heads, kvh] of GQA)
        CASES.forEach((c, ci) => {
          it(`${dt.name}, head_dim ${d}, ${heads}/${kvh} heads: ${c.name}`, () => {
            const inp = pagedInputs(c.seqs, heads, kvh, d, 100 + 10 * ci + d + heads + kvh);
            const want = pagedReference(inp, dt.code, c.rows);
            for (const bs of c.blockSizes) {
              const cache = pagedCache(inp, bs, 1000 + bs + ci);
              const tc = addon.decoderOpTest(dt.code, 'attention', attentionArgs(inp, cache), 0);
              const warp = addon.decoderOpTest(dt.code, 'attention', attentionArgs(inp, cache, { kernel: 'warp' }), 0);
              expectAttention(tc, want, inp, dt, `tensor cores, block size ${bs}`);
              expectAttention(warp, want, inp, dt, `warp kernel, block size ${bs}`);
              expect(maxAbsDiff(tc, warp), `tensor cores vs warp kernel, block size ${bs}`).to.be.at.most(dt.tol * 4);
              if (c.seqs.length > 1 && bs === 16) {
                // Tiles in attention_tiles' order (no longest-first sort) give the same values.
                const plain = addon.decoderOpTest(dt.code, 'attention', attentionArgs(inp, cache, { orderTiles: false }), 0);
                expect(maxAbsDiff(plain, tc), 'unordered tiles').to.equal(0);
              }
            }
          });
        });

  it('float16 head_dim 96 (no tensor-core kernel) falls back to the warp kernel', () => {
    const dt = DTYPES[1];
    const inp = pagedInputs([[40, 70], [0, 5]], 8, 2, 96, 31);
    const cache = pagedCache(inp, 7, 32);
    const got = addon.decoderOpTest(dt.code, 'attention', attentionArgs(inp, cache), 0);
    expectAttention(got, pagedReference(inp, dt.code), inp, dt, 'head_dim 96');
    expect(maxAbsDiff(got, addon.decoderOpTest(dt.code, 'attention', attentionArgs(inp, cache, { kernel: 'warp' }), 0))).to.equal(0);
  });

  it('EMBEDRANK_PAGED_ATTENTION=warp forces the warp kernel; other values than auto / warp are refused', () => {
    const dt = DTYPES[2];
    const inp = pagedInputs([[200, 37], [0, 70]], 16, 8, 128, 41);
    const cache = pagedCache(inp, 16, 42);
    const warp = addon.decoderOpTest(dt.code, 'attention', attentionArgs(inp, cache, { kernel: 'warp' }), 0);
    const saved = process.env.EMBEDRANK_PAGED_ATTENTION;
    try {
      delete process.env.EMBEDRANK_PAGED_ATTENTION;
      const tc = addon.decoderOpTest(dt.code, 'attention', attentionArgs(inp, cache), 0);
      // bf16 P and a different summation order: the tensor-core result is not bit-identical.
      expect(maxAbsDiff(tc, warp), 'tensor cores by default').to.be.greaterThan(0);
      process.env.EMBEDRANK_PAGED_ATTENTION = 'warp';
      expect(maxAbsDiff(addon.decoderOpTest(dt.code, 'attention', attentionArgs(inp, cache), 0), warp), 'forced warp').to.equal(0);
      process.env.EMBEDRANK_PAGED_ATTENTION = 'tensor';
      expect(() => addon.decoderOpTest(dt.code, 'attention', attentionArgs(inp, cache), 0)).to.throw(/EMBEDRANK_PAGED_ATTENTION/);
    } finally {
      if (saved === undefined) delete process.env.EMBEDRANK_PAGED_ATTENTION;
      else process.env.EMBEDRANK_PAGED_ATTENTION = saved;
    }
  });
});
