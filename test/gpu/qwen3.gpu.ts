// The decoder (Qwen3) CUDA kernels one at a time (addon decoderOpTest, cuda/decoder_test.cu)
// against the float64 reference's own building blocks (src/reference/decoder-f64.ts): RMSNorm on
// hidden rows and per head inside QKV rows, NeoX rotary at batch positions (chunk offsets
// included), SwiGLU on the fused gate/up output, and GQA causal attention over a paged KV cache
// whose blocks are scattered, with cached prefixes (prefix reuse / earlier chunks) and ragged
// sequences. Every dtype; outputs are poisoned first, so an unwritten value fails as NaN.
// Not yet here: the Qwen3 model on CUDA (these kernels sequenced, weight upload, pooling), so no
// end-to-end GPU comparison with transformers; that is the open part of issue 12.
import { expect } from 'chai';
import { loadAddon, type CudaAddon } from '../../src/backends/cuda/addon.js';
import { rmsNormF64, rotaryF64 } from '../../src/reference/decoder-f64.js';

const DTYPES = [
  { name: 'float32', code: 0, tol: 2e-5 },
  { name: 'float16', code: 1, tol: 4e-3 },
  { name: 'bfloat16', code: 2, tol: 3e-2 },
];

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

function fp16Round(v: number): number {
  if (v === 0 || !Number.isFinite(v)) return v;
  const e = Math.max(Math.floor(Math.log2(Math.abs(v))), -14);
  const q = Math.pow(2, e - 10);
  return Math.round(v / q) * q;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) return Infinity;
    m = Math.max(m, d);
  }
  return a.length === b.length ? m : Infinity;
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

    it(`${dt.name}: GQA causal attention over a scattered paged cache, with cached prefixes and ragged new tokens`, () => {
      const heads = 16, kvh = 8, d = 128, bs = 16, blocks = 64, maxBlocks = 16;
      // Three sequences: (cached, new) = (32, 20) shared-prefix hit, (0, 45) fresh, (7, 1) decode-like chunk.
      const seqs = [{ cached: 32, fresh: 20 }, { cached: 0, fresh: 45 }, { cached: 7, fresh: 1 }];
      const ld = (heads + 2 * kvh) * d;
      const T = seqs.reduce((s, x) => s + x.fresh, 0);
      const qkv = randn(T * ld, 7);
      const kCache = randn(blocks * bs * kvh * d, 8);
      const vCache = randn(blocks * bs * kvh * d, 9);
      // Block tables: a fixed scatter of distinct blocks (not in order).
      const perm = Array.from({ length: blocks }, (_, i) => (i * 37 + 5) % blocks);
      const blockTables = new Int32Array(seqs.length * maxBlocks);
      let next = 0;
      seqs.forEach((s, i) => {
        const n = Math.ceil((s.cached + s.fresh) / bs);
        for (let b = 0; b < n; b++) blockTables[i * maxBlocks + b] = perm[next++];
      });
      const cuQ = new Int32Array(seqs.length + 1);
      seqs.forEach((s, i) => (cuQ[i + 1] = cuQ[i] + s.fresh));
      const ctxLen = Int32Array.from(seqs.map((s) => s.cached + s.fresh));
      const slots = new Int32Array(T);
      seqs.forEach((s, i) => {
        for (let j = 0; j < s.fresh; j++) {
          const p = s.cached + j;
          slots[cuQ[i] + j] = blockTables[i * maxBlocks + Math.floor(p / bs)] * bs + (p % bs);
        }
      });
      const got = addon.decoderOpTest(dt.code, 'attention', { qkv, kCache, vCache, slots, blockTables, cuQ, ctxLen, heads, kvHeads: kvh, headDim: d, blockSize: bs, maxBlocks }, 0);
      // Reference: the cache after the step's writes, read in position order.
      const q = rounded(qkv, dt.code), kc = rounded(kCache, dt.code), vc = rounded(vCache, dt.code);
      for (let t = 0; t < T; t++) {
        kc.set(q.subarray(t * ld + heads * d, t * ld + (heads + kvh) * d), slots[t] * kvh * d);
        vc.set(q.subarray(t * ld + (heads + kvh) * d, (t + 1) * ld), slots[t] * kvh * d);
      }
      const want = new Float64Array(T * heads * d);
      seqs.forEach((s, i) => {
        const row = (p: number) => (blockTables[i * maxBlocks + Math.floor(p / bs)] * bs + (p % bs)) * kvh * d;
        for (let j = 0; j < s.fresh; j++) {
          const t = cuQ[i] + j;
          const pos = s.cached + j;
          for (let h = 0; h < heads; h++) {
            const kh = Math.floor(h / (heads / kvh));
            const sc = new Float64Array(pos + 1);
            let mx = -Infinity;
            for (let k = 0; k <= pos; k++) {
              let dot = 0;
              for (let e = 0; e < d; e++) dot += q[t * ld + h * d + e] * kc[row(k) + kh * d + e];
              sc[k] = dot / Math.sqrt(d);
              mx = Math.max(mx, sc[k]);
            }
            let sum = 0;
            for (let k = 0; k <= pos; k++) sum += sc[k] = Math.exp(sc[k] - mx);
            for (let k = 0; k <= pos; k++) for (let e = 0; e < d; e++) want[(t * heads + h) * d + e] += (sc[k] / sum) * vc[row(k) + kh * d + e];
          }
        }
      });
      expect(maxAbsDiff(got, want)).to.be.at.most(dt.tol * 4);
    });
  }
});
