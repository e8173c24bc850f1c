// Clustering agreement scores as scikit-learn computes them (sklearn/metrics/cluster/_supervised.py):
// v_measure_score (beta 1) from the label entropies and the mutual information of the contingency
// table, and adjusted_mutual_info_score (arithmetic normaliser) with the expected mutual
// information under the hypergeometric model (_expected_mutual_info_fast.pyx).
import { npSum } from './numeric.js';

type Lab = string | number;

interface Contingency {
  /** class index per sample / cluster index per sample */
  rows: number;
  cols: number;
  /** non-zero cells in row-major order (scipy.sparse.find on the CSR table) */
  nzRow: Int32Array;
  nzCol: Int32Array;
  nzVal: Float64Array;
  rowSums: Float64Array;
  colSums: Float64Array;
  n: number;
}

function encode(labels: ArrayLike<Lab>): { codes: Int32Array; k: number } {
  // np.unique order: sorted; only the partition matters for these scores
  const uniq = [...new Set(Array.from(labels))].sort((a, b) => (typeof a === 'number' && typeof b === 'number' ? a - b : String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0));
  const idx = new Map(uniq.map((u, i) => [u, i]));
  return { codes: Int32Array.from(Array.from(labels), (l) => idx.get(l)!), k: uniq.length };
}

function contingency(labelsTrue: ArrayLike<Lab>, labelsPred: ArrayLike<Lab>): Contingency {
  if (labelsTrue.length !== labelsPred.length) throw new Error(`${labelsTrue.length} true labels but ${labelsPred.length} predicted`);
  const t = encode(labelsTrue), p = encode(labelsPred);
  const cells = new Map<number, number>();
  for (let i = 0; i < t.codes.length; i++) {
    const key = t.codes[i] * p.k + p.codes[i];
    cells.set(key, (cells.get(key) ?? 0) + 1);
  }
  const keys = [...cells.keys()].sort((a, b) => a - b);
  const c: Contingency = {
    rows: t.k,
    cols: p.k,
    nzRow: Int32Array.from(keys, (k) => Math.floor(k / p.k)),
    nzCol: Int32Array.from(keys, (k) => k % p.k),
    nzVal: Float64Array.from(keys, (k) => cells.get(k)!),
    rowSums: new Float64Array(t.k),
    colSums: new Float64Array(p.k),
    n: t.codes.length,
  };
  for (let i = 0; i < keys.length; i++) {
    c.rowSums[c.nzRow[i]] += c.nzVal[i];
    c.colSums[c.nzCol[i]] += c.nzVal[i];
  }
  return c;
}

/** sklearn's entropy(labels): natural-log entropy of the label distribution. */
function entropyOfCounts(counts: Float64Array): number {
  const pi = counts.filter((x) => x > 0);
  if (pi.length <= 1) return 0; // sklearn: a single label has entropy 1.0 only when empty; one label -> 0
  const sum = npSum(pi);
  const lsum = Math.log(sum);
  const terms = Float64Array.from(pi, (x) => (x / sum) * (Math.log(x) - lsum));
  return -npSum(terms);
}

/** mutual_info_score from a contingency table (natural log). */
function mutualInfo(c: Contingency): number {
  if (c.rows === 1 || c.cols === 1) return 0;
  const total = npSum(c.nzVal);
  const lsum = Math.log(npSum(c.rowSums)) + Math.log(npSum(c.colSums));
  const terms = new Float64Array(c.nzVal.length);
  for (let i = 0; i < terms.length; i++) {
    const v = c.nzVal[i];
    const nm = v / total;
    const outer = c.rowSums[c.nzRow[i]] * c.colSums[c.nzCol[i]];
    const logOuter = -Math.log(outer) + lsum;
    const mi = nm * (Math.log(v) - Math.log(total)) + nm * logOuter;
    terms[i] = Math.abs(mi) < 2.220446049250313e-16 ? 0 : mi;
  }
  return Math.max(0, npSum(terms));
}

/** v_measure_score(labels_true, labels_pred): harmonic mean of homogeneity and completeness. */
export function vMeasureScore(labelsTrue: ArrayLike<Lab>, labelsPred: ArrayLike<Lab>): number {
  if (labelsTrue.length === 0) return 1;
  const c = contingency(labelsTrue, labelsPred);
  const hC = entropyOfCounts(c.rowSums);
  const hK = entropyOfCounts(c.colSums);
  const mi = mutualInfo(c);
  const homogeneity = hC ? mi / hC : 1;
  const completeness = hK ? mi / hK : 1;
  if (homogeneity + completeness === 0) return 0;
  return (2 * homogeneity * completeness) / (homogeneity + completeness);
}

const HALF_LOG_2PI = 0.91893853320467274178;

/** ln Gamma(x) for x >= 1 (integers here): exact log-factorials below 20, Stirling's series above. */
export function lgamma(x: number): number {
  if (x < 1) throw new RangeError(`lgamma is only needed for x >= 1 here, got ${x}`);
  if (x < 20 && Number.isInteger(x)) {
    let f = 1;
    for (let i = 2; i < x; i++) f *= i;
    return Math.log(f);
  }
  if (x < 20) {
    // shift up: Gamma(x) = Gamma(x + k) / (x (x+1) ... (x+k-1))
    let p = 1;
    let z = x;
    while (z < 20) p *= z++;
    return lgamma(z) - Math.log(p);
  }
  const z2 = 1 / (x * x);
  const series = (1 / 12 - z2 * (1 / 360 - z2 * (1 / 1260 - z2 * (1 / 1680 - z2 / 1188)))) / x;
  return (x - 0.5) * Math.log(x) - x + HALF_LOG_2PI + series;
}

/** expected_mutual_information(contingency, n_samples) as _expected_mutual_info_fast computes it. */
function expectedMutualInfo(c: Contingency): number {
  const a = c.rowSums, b = c.colSums, N = c.n;
  if (a.length === 1 || b.length === 1) return 0;
  let maxab = 0;
  for (const v of a) maxab = Math.max(maxab, v);
  for (const v of b) maxab = Math.max(maxab, v);
  const nijs = Float64Array.from({ length: maxab + 1 }, (_, i) => (i === 0 ? 1 : i));
  const term1 = Float64Array.from(nijs, (v) => v / N);
  const logA = Float64Array.from(a, Math.log), logB = Float64Array.from(b, Math.log);
  const logNnij = Float64Array.from(nijs, (v) => Math.log(N) + Math.log(v));
  const glnA = Float64Array.from(a, (v) => lgamma(v + 1)), glnB = Float64Array.from(b, (v) => lgamma(v + 1));
  const glnNa = Float64Array.from(a, (v) => lgamma(N - v + 1)), glnNb = Float64Array.from(b, (v) => lgamma(N - v + 1));
  const glnN1 = lgamma(N + 1);
  const glnNnij = Float64Array.from(nijs, (v) => lgamma(v + 1) + glnN1);
  const lf = new Float64Array(N + 2); // lgamma(k + 1) for k = 0..N
  for (let k = 0; k <= N; k++) lf[k] = lgamma(k + 1);
  let emi = 0;
  for (let i = 0; i < a.length; i++) {
    for (let j = 0; j < b.length; j++) {
      const start = Math.max(1, a[i] - N + b[j]);
      const end = Math.min(a[i], b[j]) + 1;
      for (let nij = start; nij < end; nij++) {
        const term2 = logNnij[nij] - logA[i] - logB[j];
        const gln = glnA[i] + glnB[j] + glnNa[i] + glnNb[j] - glnNnij[nij] - lf[a[i] - nij] - lf[b[j] - nij] - lf[N - a[i] - b[j] + nij];
        emi += term1[nij] * term2 * Math.exp(gln);
      }
    }
  }
  return emi;
}

/** adjusted_mutual_info_score(labels_true, labels_pred, average_method="arithmetic"). */
export function adjustedMutualInfoScore(labelsTrue: ArrayLike<Lab>, labelsPred: ArrayLike<Lab>): number {
  const c = contingency(labelsTrue, labelsPred);
  if ((c.rows === 1 && c.cols === 1) || (c.rows === 0 && c.cols === 0)) return 1;
  const mi = mutualInfo(c);
  const emi = expectedMutualInfo(c);
  const hTrue = entropyOfCounts(c.rowSums), hPred = entropyOfCounts(c.colSums);
  const normalizer = (hTrue + hPred) / 2;
  let denominator = normalizer - emi;
  const eps = 2.220446049250313e-16;
  denominator = denominator < 0 ? Math.min(denominator, -eps) : Math.max(denominator, eps);
  return (mi - emi) / denominator;
}
