// Float64 arithmetic that reproduces, operation by operation, what the Python/NumPy code behind
// mteb does: Python's round() (correctly rounded, ties to even), Python >= 3.12's sum() of floats
// (Neumaier compensation), NumPy's pairwise summation (used by np.sum/np.mean/np.std), the
// trapezoid rule of sklearn.metrics.auc, and Python's repr() of floats for json.dump.

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** |x| = m * 2^e exactly, m a non-negative integer (x finite). */
function decompose(x: number): { m: bigint; e: number } {
  f64[0] = x;
  const hi = u32[LITTLE ? 1 : 0];
  const lo = u32[LITTLE ? 0 : 1];
  const exp = (hi >>> 20) & 0x7ff;
  let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e: number;
  if (exp === 0) e = -1074; // subnormal
  else {
    m |= 1n << 52n;
    e = exp - 1075;
  }
  return { m, e };
}

/** True when x * 10^nd lies exactly half-way between two integers (a decimal tie for round()). */
function isDecimalTie(x: number, nd: number): boolean {
  const { m, e } = decompose(x);
  if (e >= 0) return false; // an integer times 10^nd is an integer
  const num = m * 10n ** BigInt(nd);
  const den = 1n << BigInt(-e);
  return num % den === den >> 1n;
}

/**
 * Python's round(x, ndigits) for floats: the decimal nearest to the exact binary value of x, ties
 * to even, returned as the double nearest to that decimal.
 */
export function pyRound(x: number, ndigits: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  if (Math.abs(x) >= 1e21 || ndigits > 100) return x;
  let s = Math.abs(x).toFixed(ndigits); // exact value, ties away from zero
  if (isDecimalTie(x, ndigits)) {
    // toFixed chose the larger magnitude; Python keeps the even last digit.
    const digits = s.replace('.', '');
    const last = digits.charCodeAt(digits.length - 1) - 48;
    if (last % 2 === 1) {
      const n = BigInt(digits) - 1n;
      const str = n.toString().padStart(ndigits + 1, '0');
      s = ndigits > 0 ? `${str.slice(0, str.length - ndigits)}.${str.slice(str.length - ndigits)}` : str;
    }
  }
  const v = Number(s);
  return x < 0 ? -v : v;
}

/** Python's round(x) to an integer: ties to even. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Python >= 3.12 builtin sum() over floats (Neumaier's improved Kahan-Babuska summation). */
export function pySum(values: ArrayLike<number>): number {
  let s = 0;
  let c = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    const t = s + x;
    if (Math.abs(s) >= Math.abs(x)) c += s - t + x;
    else c += x - t + s;
    s = t;
  }
  if (c !== 0 && Number.isFinite(c)) s += c;
  return s;
}

const PW_BLOCKSIZE = 128;

function pairwise(a: ArrayLike<number>, start: number, n: number): number {
  if (n < 8) {
    let res = -0;
    for (let i = 0; i < n; i++) res += a[start + i];
    return res;
  }
  if (n <= PW_BLOCKSIZE) {
    let r0 = a[start], r1 = a[start + 1], r2 = a[start + 2], r3 = a[start + 3];
    let r4 = a[start + 4], r5 = a[start + 5], r6 = a[start + 6], r7 = a[start + 7];
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      const p = start + i;
      r0 += a[p]; r1 += a[p + 1]; r2 += a[p + 2]; r3 += a[p + 3];
      r4 += a[p + 4]; r5 += a[p + 5]; r6 += a[p + 6]; r7 += a[p + 7];
    }
    let res = r0 + r1 + (r2 + r3) + (r4 + r5 + (r6 + r7));
    for (; i < n; i++) res += a[start + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwise(a, start, n2) + pairwise(a, start + n2, n - n2);
}

/** np.sum of a contiguous float64 array (identity 0.0 plus NumPy's pairwise summation). */
export function npSum(a: ArrayLike<number>): number {
  return 0 + pairwise(a, 0, a.length);
}

/** np.mean of a float64 array. */
export function npMean(a: ArrayLike<number>): number {
  return npSum(a) / a.length;
}

/** np.std (population, ddof=0) of a float64 array, following numpy's _var step by step. */
export function npStd(a: ArrayLike<number>): number {
  const n = a.length;
  const mean = npSum(a) / n;
  const sq = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const d = a[i] - mean;
    sq[i] = d * d;
  }
  return Math.sqrt(npSum(sq) / Math.max(n, 0));
}

/** np.trapezoid(y, x), as sklearn.metrics.auc uses it for an increasing x. */
export function trapezoid(y: ArrayLike<number>, x: ArrayLike<number>): number {
  const n = y.length;
  const terms = new Float64Array(Math.max(0, n - 1));
  for (let i = 0; i < n - 1; i++) terms[i] = ((x[i + 1] - x[i]) * (y[i + 1] + y[i])) / 2.0;
  return npSum(terms);
}

/** Indices that sort `a` ascending, stable (np.argsort(kind='stable')). NaN sorts last, as in numpy. */
export function stableArgsort(a: ArrayLike<number>): Uint32Array {
  const idx = new Uint32Array(a.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  const arr = Array.from(idx);
  arr.sort((i, j) => {
    const x = a[i], y = a[j];
    if (x < y) return -1;
    if (x > y) return 1;
    const xn = Number.isNaN(x), yn = Number.isNaN(y);
    if (xn !== yn) return xn ? 1 : -1;
    return i - j;
  });
  return Uint32Array.from(arr);
}

/**
 * Compares strings by Unicode code point (Python str ordering, and C strcmp on their UTF-8
 * bytes). JavaScript's < compares UTF-16 code units, which differs for astral characters.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      // Surrogates (0xD800-0xDFFF) encode code points above 0xFFFF: order them after 0xE000-0xFFFF.
      if (x >= 0xd800 && y >= 0xd800) {
        x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
        y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
      }
      return x < y ? -1 : 1;
    }
  }
  return a.length - b.length;
}

/** Python's repr() of a float, as json.dump writes it: shortest round-trip digits. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const exp = x.toExponential(); // shortest digits, e.g. "-1.2345e-7"
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(exp);
  if (!m) return String(x);
  const sign = m[1];
  const digits = m[2] + (m[3] ?? '');
  const e = Number(m[4]);
  if (e < -4 || e >= 16) {
    const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const es = Math.abs(e).toString().padStart(2, '0');
    return `${sign}${mant}e${e < 0 ? '-' : '+'}${es}`;
  }
  if (e < 0) return `${sign}0.${'0'.repeat(-e - 1)}${digits}`;
  const intPart = digits.length > e + 1 ? digits.slice(0, e + 1) : digits.padEnd(e + 1, '0');
  const frac = digits.length > e + 1 ? digits.slice(e + 1) : '0';
  return `${sign}${intPart}.${frac}`;
}
