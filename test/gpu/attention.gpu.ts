// The varlen attention kernels alone against a float64 softmax(QKᵀ/√d)V on fresh random inputs:
// ragged batches, a batch of one, length 1 and up to 8192, head dims 32/64/128, every dtype — for
// the FlashAttention-2 style kernel ('mma') and, on compute capability 9.0, the Hopper one
// ('wgmma', EMBEDRANK_ATTENTION=wgmma), which is also compared with 'mma' on the same inputs; the
// 128-row mma.sync variant ('mma128') runs the float64 checks too.
// Output buffers are poisoned (NaN) before each run, so an unwritten row fails.
import { expect } from 'chai';
import { loadAddon, type AttentionKernelName } from '../../src/backends/cuda/addon.js';

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

/** Fresh random q/k/v for the given sequence lengths. */
function inputs(lengths: number[], heads: number, hd: number) {
  const cu = new Int32Array(lengths.length + 1);
  lengths.forEach((l, i) => (cu[i + 1] = cu[i] + l));
  const T = cu[lengths.length];
  const seed = (Math.random() * 2 ** 31) | 0;
  return { cu, seed, qkv: randn(T * 3 * heads * hd, seed) };
}

/** Runs one kernel; NaN and ±Inf never pass. */
function run(kernel: AttentionKernelName, qkv: Float32Array, cu: Int32Array, heads: number, hd: number, dtype: (typeof DTYPES)[number], seed: number): Float32Array {
  const got = loadAddon().attentionTest(dtype.code, qkv, cu, heads, hd, 0, kernel);
  for (let i = 0; i < got.length; i++) if (!Number.isFinite(got[i])) throw new Error(`${kernel}: non-finite output at ${i} (seed ${seed})`);
  return got;
}

/** ‖got − float64 reference‖ / ‖reference‖ over every row (or sampleRows + the last row per sequence). */
function errorVsReference(got: Float32Array, qkv: Float32Array, cu: Int32Array, lengths: number[], heads: number, hd: number, sampleRows?: number): number {
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
  return Math.sqrt(num / den);
}

function check(lengths: number[], heads: number, hd: number, dtype: (typeof DTYPES)[number], sampleRows?: number, kernel: AttentionKernelName = 'mma') {
  const { cu, seed, qkv } = inputs(lengths, heads, hd);
  const got = run(kernel, qkv, cu, heads, hd, dtype, seed);
  const rel = errorVsReference(got, qkv, cu, lengths, heads, hd, sampleRows);
  expect(rel, `${kernel}: relative error ${rel} (seed ${seed}, ${dtype.name}, d=${hd}, lengths ${lengths.slice(0, 8)})`).to.be.lessThan(dtype.tol);
}

/**
 * wgmma vs float64 (within the dtype's tolerance) and vs mma on the same inputs (within the same).
 * zeroQ: all scores 0, so P is uniform over each sequence's keys and the output is the mean of its V
 * rows — checks P·V and the key mask without Q·Kᵀ (tells the two GEMMs apart when one is wrong).
 */
function checkWgmma(lengths: number[], heads: number, hd: number, dtype: (typeof DTYPES)[number], sampleRows?: number, zeroQ = false) {
  const { cu, seed, qkv } = inputs(lengths, heads, hd);
  if (zeroQ) {
    const hl = heads * hd;
    for (let t = 0; t < cu[lengths.length]; t++) qkv.fill(0, t * 3 * hl, t * 3 * hl + hl);
  }
  const got = run('wgmma', qkv, cu, heads, hd, dtype, seed);
  const old = run('mma', qkv, cu, heads, hd, dtype, seed);
  const rel = errorVsReference(got, qkv, cu, lengths, heads, hd, sampleRows);
  const relOld = errorVsReference(old, qkv, cu, lengths, heads, hd, sampleRows);
  let num = 0;
  let den = 0;
  for (let i = 0; i < got.length; i++) {
    num += (got[i] - old[i]) ** 2;
    den += old[i] ** 2;
  }
  const vsMma = Math.sqrt(num / den);
  const what = `(seed ${seed}, ${dtype.name}, d=${hd}, ${lengths.length} sequences, lengths ${lengths.slice(0, 8)})`;
  expect(rel, `wgmma vs float64: relative error ${rel}, mma's ${relOld} ${what}`).to.be.lessThan(dtype.tol);
  expect(vsMma, `wgmma vs mma: relative difference ${vsMma} ${what}`).to.be.lessThan(dtype.tol);
}

/** Deterministic pseudo-random lengths in 1..max (a different mix per seed). */
function lengthsUpTo(n: number, max: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) % max) + 1);
}

describe('CUDA varlen attention kernel vs float64', function () {
  this.timeout(600_000);
  for (const dtype of DTYPES) {
    // fp32 has one kernel (FMA); fp16/bf16 also run the 128-row mma.sync variant (EMBEDRANK_ATTENTION=mma128).
    for (const kernel of dtype.code === 0 ? (['mma'] as const) : (['mma', 'mma128'] as const)) {
      const k = kernel === 'mma' ? '' : ` [${kernel}]`;
      for (const hd of [32, 64, 128]) {
        it(`${dtype.name} head_dim ${hd}${k}: ragged batch, lengths 1..300`, () => check([1, 2, 7, 63, 64, 65, 127, 128, 129, 130, 300, 17], 3, hd, dtype, undefined, kernel));
        it(`${dtype.name} head_dim ${hd}${k}: batch of one, length 1`, () => check([1], 2, hd, dtype, undefined, kernel));
        it(`${dtype.name} head_dim ${hd}${k}: one sequence of 512`, () => check([512], 2, hd, dtype, undefined, kernel));
      }
      it(`${dtype.name} head_dim 64${k}: length 8192 (sampled rows)`, () => check([8192, 5], 2, 64, dtype, 48, kernel));
      it(`${dtype.name} head_dim 128${k}: length 4097 (sampled rows)`, () => check([4097], 1, 128, dtype, 32, kernel));
    }
  }
});

describe('CUDA varlen attention: Hopper wgmma kernel vs float64 and vs mma', function () {
  this.timeout(600_000);
  before(function () {
    const cc = loadAddon().deviceInfo(0).computeCapability;
    if (cc !== '9.0') {
      process.stdout.write(`      (skipped: the wgmma kernel needs compute capability 9.0, device 0 is ${cc})\n`);
      this.skip();
    }
  });
  const RAGGED = [1, 63, 64, 65, 127, 128, 129, 255, 256, 257, 512, 1000, 1023, 1024];
  for (const dtype of DTYPES.filter((d) => d.code !== 0)) {
    for (const hd of [64, 128]) {
      it(`${dtype.name} head_dim ${hd}: Q = 0 (mean of V: P·V and the key mask alone), lengths 1, 65, 200, 129`, () => checkWgmma([1, 65, 200, 129], 2, hd, dtype, undefined, true));
      it(`${dtype.name} head_dim ${hd}: ragged batch, lengths ${RAGGED.join(', ')}`, () => checkWgmma(RAGGED, 2, hd, dtype, 40));
      it(`${dtype.name} head_dim ${hd}: batch of one, length 1`, () => checkWgmma([1], 2, hd, dtype));
      it(`${dtype.name} head_dim ${hd}: batch of one, length 1024 (every row)`, () => checkWgmma([1024], 1, hd, dtype));
      it(`${dtype.name} head_dim ${hd}: 300 sequences, lengths 1..1024 (sampled rows)`, () => checkWgmma(lengthsUpTo(300, 1024, hd * 31 + dtype.code), 1, hd, dtype, 6));
      it(`${dtype.name} head_dim ${hd}: 64 short sequences, lengths 1..70`, () => checkWgmma(lengthsUpTo(64, 70, hd + dtype.code), 2, hd, dtype));
    }
    it(`${dtype.name} BERT-base heads (12 × 64): 4 × 512`, () => checkWgmma([512, 512, 512, 512], 12, 64, dtype, 16));
    it(`${dtype.name} head_dim 64: length 8192 (sampled rows)`, () => checkWgmma([8192, 5], 1, 64, dtype, 32));
  }
  it('refuses an unknown kernel name with a clear error', () => {
    const { cu, qkv } = inputs([3], 1, 64);
    expect(() => loadAddon().attentionTest(1, qkv, cu, 1, 64, 0, 'flash' as AttentionKernelName)).to.throw(/'mma', 'mma128' or 'wgmma'/);
  });
});
