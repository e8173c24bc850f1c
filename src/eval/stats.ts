// Pearson and Spearman correlation in float64, following scipy.stats.pearsonr / spearmanr
// (average ranks for ties, NaN when an input is constant).
import { npSum } from './numeric.js';

/** scipy.stats.rankdata(method='average'): 1-based ranks, ties get the mean of their positions. */
export function rankdata(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((i, j) => values[i] - values[j] || i - j);
  const ranks = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i + 1;
    while (j < n && values[order[j]] === values[order[i]]) j++;
    // positions i..j-1 (0-based) share the average of ranks i+1..j
    const avg = 0.5 * (i + 1 + j);
    for (let k = i; k < j; k++) ranks[order[k]] = avg;
    i = j;
  }
  return ranks;
}

function checkPair(x: ArrayLike<number>, y: ArrayLike<number>): void {
  if (x.length !== y.length) throw new Error(`correlation inputs differ in length (${x.length} and ${y.length})`);
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]) || !Number.isFinite(y[i])) {
      throw new Error(`correlation input ${i} is not a finite number (${x[i]}, ${y[i]})`);
    }
  }
}

/** Pearson's r as scipy computes it: centre, scale by the max |deviation|, normalise, dot. */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  checkPair(x, y);
  const n = x.length;
  if (n < 2) return NaN;
  const xmean = npSum(x) / n;
  const ymean = npSum(y) / n;
  const xm = new Float64Array(n);
  const ym = new Float64Array(n);
  let xmax = 0, ymax = 0;
  for (let i = 0; i < n; i++) {
    xm[i] = x[i] - xmean;
    ym[i] = y[i] - ymean;
    xmax = Math.max(xmax, Math.abs(xm[i]));
    ymax = Math.max(ymax, Math.abs(ym[i]));
  }
  if (xmax === 0 || ymax === 0) return NaN; // constant input: scipy warns and returns nan
  const sx = new Float64Array(n), sy = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    xm[i] /= xmax;
    ym[i] /= ymax;
    sx[i] = xm[i] * xm[i];
    sy[i] = ym[i] * ym[i];
  }
  const normx = Math.sqrt(npSum(sx));
  const normy = Math.sqrt(npSum(sy));
  const prod = new Float64Array(n);
  for (let i = 0; i < n; i++) prod[i] = (xm[i] / normx) * (ym[i] / normy);
  const r = npSum(prod);
  return Math.max(-1, Math.min(1, r));
}

/** Spearman's rho: Pearson's r of the average ranks. */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  checkPair(x, y);
  return pearson(rankdata(x), rankdata(y));
}
