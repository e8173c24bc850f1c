// Host replay of add_bias_layernorm's block-per-row kernel (cuda/add_layernorm.cu add_ln_kernel,
// cuda/layernorm.cuh layernorm_store, cuda/common.cuh block_sum) with its fp8 output, on exactly
// the inputs of test/gpu/fp8.gpu.ts's add_ln_quantize case, in fp32 arithmetic (Math.fround after
// every operation, the warp shuffles' butterfly order, FMA where nvcc contracts): the per-token
// scale the kernel would give, against the float64 LayerNorm's amax / 448, for
//   before: the 16-bit output rounded first, then quantize_fp8_rows over it (the s4d code), and
//   fused:  the scale from the fp32 row in the same block (the fix).
// It also walks the index math (thread c = 4·tid, active c < H, warps of 32, block_sum over
// blockDim/32 warps) and checks every value of the row is covered exactly once.
// Run: npx tsx bench/fp8_ln_block_emulation.ts
import { Rng } from '../scripts/make-test-model.js';
import { E4M3_MAX } from '../src/reference/fp8-e4m3.js';
import { ADD_LN_SIZES, addLnInputs } from '../test/gpu/fp8-inputs.js';

const f = Math.fround;
const fma = (a: number, b: number, c: number) => f(a * b + c); // a·b exact in float64 for fp32 a, b

function roundEven(n: number): number {
  const r = Math.round(n);
  return Math.abs(n - Math.trunc(n)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
/** Round a float to `mant` stored mantissa bits (normal exponents ≥ minExp), nearest even. */
function roundTo(x: number, mant: number, minExp: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  const ulp = 2 ** (Math.max(e, minExp) - mant);
  return roundEven(x / ulp) * ulp;
}
const to16 = { float16: (x: number) => roundTo(x, 10, -14), bfloat16: (x: number) => roundTo(x, 7, -126) };

const warpSum = (lanes: number[]): number[] => {
  let v = lanes.slice();
  for (let o = 16; o > 0; o >>= 1) v = v.map((x, l) => f(x + v[l ^ o]));
  return v;
};
/** cuda/common.cuh block_sum over blockDim threads (a multiple of 32): what thread 0 gets. */
function blockSum(vals: number[]): number {
  const nw = vals.length / 32;
  const scratch = Array.from({ length: nw }, (_, w) => warpSum(vals.slice(32 * w, 32 * w + 32))[0]);
  return warpSum(Array.from({ length: 32 }, (_, l) => (l < nw ? scratch[l] : 0)))[0];
}

function replayRow(x: Float32Array, res: Float32Array, g: Float32Array, b: Float32Array, eps: number, H: number, t: number, r16: (v: number) => number) {
  const threads = Math.ceil(H / 4 / 32) * 32; // ln_threads
  if (threads > 1024) throw new Error(`H=${H}: ${threads} threads`);
  const covered = new Uint8Array(H);
  const v: number[][] = [], s: number[] = [];
  for (let tid = 0; tid < threads; tid++) {
    const c = tid * 4, active = c < H;
    const vv = [0, 0, 0, 0];
    if (active) for (let i = 0; i < 4; i++) {
      covered[c + i]++;
      vv[i] = f(r16(x[t * H + c + i]) + r16(res[t * H + c + i]));
    }
    v.push(vv);
    s.push(active ? f(f(vv[0] + vv[1]) + f(vv[2] + vv[3])) : 0);
  }
  if (!covered.every((n) => n === 1)) throw new Error(`H=${H}: a value covered ${covered.find((n) => n !== 1)} times`);
  const mean = f(blockSum(s) / H);
  const q = v.map((vv, tid) => (tid * 4 < H ? vv.reduce((acc, u) => fma(f(u - mean), f(u - mean), acc), 0) : 0));
  const rstd = f(1 / Math.sqrt(f(f(blockSum(q) / H) + eps)));
  const o = new Float64Array(H);
  for (let c = 0; c < H; c++) o[c] = fma(f(f(v[c >> 2][c & 3] - mean) * rstd), g[c], b[c]);
  return o;
}

for (const dt of ['float16', 'bfloat16'] as const) {
  const rng = new Rng(41); // the test's seed and draw order, fresh for each dtype
  for (const H of ADD_LN_SIZES) {
    const T = 23;
    const { x, residual, gamma, beta, eps } = addLnInputs(rng, T, H);
    let worstBefore = 0, worstFused = 0, row1Before = 0;
    for (let t = 0; t < T; t++) {
      const vals = Array.from({ length: H }, (_, c) => x[t * H + c] + residual[t * H + c]);
      const mean = vals.reduce((a, u) => a + u, 0) / H;
      const rstd = 1 / Math.sqrt(vals.reduce((a, u) => a + (u - mean) ** 2, 0) / H + eps);
      const amax64 = Math.max(...vals.map((u, c) => Math.abs((u - mean) * rstd * gamma[c] + beta[c])));
      const o = replayRow(x, residual, gamma, beta, eps, H, t, to16[dt]);
      let aFused = 0, aBefore = 0;
      for (const u of o) {
        aFused = Math.max(aFused, Math.abs(u));
        aBefore = Math.max(aBefore, Math.abs(to16[dt](u)));
      }
      const want = amax64 / E4M3_MAX;
      const eb = Math.abs(f(aBefore / E4M3_MAX) - want) / want, ef = Math.abs(f(aFused / E4M3_MAX) - want) / want;
      if (t === 1) row1Before = eb;
      worstBefore = Math.max(worstBefore, eb);
      worstFused = Math.max(worstFused, ef);
    }
    console.log(
      `${dt} H=${H}: scale rel. error vs float64, worst over ${T} rows — quantise the ${dt} output: ${worstBefore.toExponential(3)} ` +
        `(row 1: ${row1Before.toPrecision(6)}); fused from fp32: ${worstFused.toExponential(3)} (test bound 1e-5)`,
    );
  }
}
