// The FP8 (e4m3) quantisation rule of `quantization: 'fp8'` in float64, for references and tests:
// OCP FP8 E4M3 "fn" (no infinities, S.1111.111 is NaN, largest finite ±448), and the per-row
// scaling cuda/quantize_fp8.cu implements after vLLM's dynamic per-token quantisation —
//   scale = fp32(amax / 448) (1 for an all-zero row), inv = fp32(1 / scale),
//   code  = e4m3_rn_satfinite(fp32(x · inv)),  x ≈ value(code) · scale.

/** Largest finite e4m3 value. */
export const E4M3_MAX = 448;

/** The value of an e4m3 code (0..255); NaN for 0x7f and 0xff. */
export function e4m3Value(code: number): number {
  const sign = code & 0x80 ? -1 : 1;
  const e = (code >> 3) & 0xf, m = code & 7;
  if (e === 15 && m === 7) return NaN;
  return e === 0 ? sign * m * 2 ** -9 : sign * (1 + m / 8) * 2 ** (e - 7);
}

const POSITIVE = Array.from({ length: 127 }, (_, c) => e4m3Value(c)); // codes 0..126, increasing

/** The e4m3 code nearest v, ties to the even code, saturating at ±448 (PTX cvt.rn.satfinite.e4m3x2.f32). */
export function e4m3Code(v: number): number {
  if (Number.isNaN(v)) return 0x7f;
  const sign = v < 0 || Object.is(v, -0) ? 0x80 : 0;
  const a = Math.abs(v);
  if (a >= E4M3_MAX) return sign | 126;
  let lo = 0, hi = 126; // binary search: POSITIVE[lo] ≤ a < POSITIVE[lo + 1]
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (POSITIVE[mid] <= a) lo = mid;
    else hi = mid;
  }
  if (POSITIVE[hi] <= a) lo = hi;
  const up = Math.min(lo + 1, 126);
  const dl = a - POSITIVE[lo], du = POSITIVE[up] - a;
  return sign | (dl < du ? lo : du < dl ? up : lo % 2 === 0 ? lo : up);
}

/** Per-row scale of `K` values: fp32(amax / 448), or 1 for an all-zero row. */
export function e4m3RowScale(x: ArrayLike<number>, offset: number, K: number): number {
  let amax = 0;
  for (let i = 0; i < K; i++) amax = Math.max(amax, Math.abs(x[offset + i]));
  return amax > 0 ? Math.fround(amax / E4M3_MAX) : 1;
}

/** Each row of x [rows, K] quantised by the rule above and dequantised (value(code) · scale), in float64. */
export function fakeQuantizeRowsE4m3(x: ArrayLike<number>, rows: number, K: number): Float64Array {
  const out = new Float64Array(rows * K);
  for (let r = 0; r < rows; r++) {
    const scale = e4m3RowScale(x, r * K, K);
    const inv = Math.fround(1 / scale);
    for (let i = 0; i < K; i++) out[r * K + i] = e4m3Value(e4m3Code(Math.fround(x[r * K + i] * inv))) * scale;
  }
  return out;
}
