// The varlen attention kernel alone against a float64 softmax(QKᵀ/√d)V on fresh random inputs:
// ragged batches, a batch of one, length 1 and up to 8192, head dims 32/64/128, every dtype.
// Output buffers are poisoned (NaN) before each run, so an unwritten row fails.
import { expect } from 'chai';
import { loadAddon } from '../../src/backends/cuda/addon.js';

const DTYPES = [
  { name: 'float32', code: 0, tol: 2e-5 },
  { name: 'float16', code: 1, tol: 3e-3 },
  { name: 'bfloat16', code: 2, tol: 2e-2 },
];

function randn(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const u = () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 4294967296 + 1e-12);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return a;
}

/** float64 reference for the given query rows of one (sequence, head). */
function reference(qkv: Float32Array, cu: Int32Array, heads: number, hd: number, seq: number, head: number, rows: number[]): Float64Array {
  const hl = heads * hd;
  const ld = 3 * hl;
  const start = cu[seq];
  const len = cu[seq + 1] - start;
  const out = new Float64Array(rows.length * hd);
  const scores = new Float64Array(len);
  rows.forEach((qi, r) => {
    const q = (start + qi) * ld + head * hd;
    let mx = -Infinity;
    for (let j = 0; j < len; j++) {
      const k = (start + j) * ld + hl + head * hd;
      let s = 0;
      for (let d = 0; d < hd; d++) s += qkv[q + d] * qkv[k + d];
      scores[j] = s / Math.sqrt(hd);
      mx = Math.max(mx, scores[j]);
    }
    let sum = 0;
    for (let j = 0; j < len; j++) sum += (scores[j] = Math.exp(scores[j] - mx));
    for (let j = 0; j < len; j++) {
      const v = (start + j) * ld + 2 * hl + head * hd;
      for (let d = 0; d < hd; d++) out[r * hd + d] += (scores[j] / sum) * qkv[v + d];
    }
  });
  return out;
}

function check(lengths: number[], heads: number, hd: number, dtype: (typeof DTYPES)[number], sampleRows?: number) {
  const addon = loadAddon();
  const cu = new Int32Array(lengths.length + 1);
  lengths.forEach((l, i) => (cu[i + 1] = cu[i] + l));
  const T = cu[lengths.length];
  const seed = (Math.random() * 2 ** 31) | 0;
  const qkv = randn(T * 3 * heads * hd, seed);
  const got = addon.attentionTest(dtype.code, qkv, cu, heads, hd, 0);
  for (let i = 0; i < got.length; i++) if (!Number.isFinite(got[i])) throw new Error(`non-finite output at ${i} (seed ${seed})`);
  let num = 0;
  let den = 0;
  for (let s = 0; s < lengths.length; s++) {
    const len = lengths[s];
    const rows = sampleRows && len > sampleRows ? Array.from({ length: sampleRows }, (_, i) => Math.floor((i * len) / sampleRows)).concat([len - 1]) : Array.from({ length: len }, (_, i) => i);
    for (let h = 0; h < heads; h++) {
      const ref = reference(qkv, cu, heads, hd, s, h, rows);
      rows.forEach((qi, r) => {
        for (let d = 0; d < hd; d++) {
          const g = got[(cu[s] + qi) * heads * hd + h * hd + d];
          const e = ref[r * hd + d];
          num += (g - e) ** 2;
          den += e * e;
        }
      });
    }
  }
  const rel = Math.sqrt(num / den);
  expect(rel, `relative error ${rel} (seed ${seed}, ${dtype.name}, d=${hd}, lengths ${lengths.slice(0, 8)})`).to.be.lessThan(dtype.tol);
}

describe('CUDA varlen attention kernel vs float64', function () {
  this.timeout(600_000);
  for (const dtype of DTYPES) {
    for (const hd of [32, 64, 128]) {
      it(`${dtype.name} head_dim ${hd}: ragged batch, lengths 1..300`, () => check([1, 2, 7, 63, 64, 65, 130, 300, 17], 3, hd, dtype));
      it(`${dtype.name} head_dim ${hd}: batch of one, length 1`, () => check([1], 2, hd, dtype));
      it(`${dtype.name} head_dim ${hd}: one sequence of 512`, () => check([512], 2, hd, dtype));
    }
    it(`${dtype.name} head_dim 64: length 8192 (sampled rows)`, () => check([8192, 5], 2, 64, dtype, 48));
    it(`${dtype.name} head_dim 128: length 4097 (sampled rows)`, () => check([4097], 1, 128, dtype, 32));
  }
});
