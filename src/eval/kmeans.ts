// Mini-batch k-means as scikit-learn's MiniBatchKMeans(init="k-means++", n_init=1,
// random_state=seed) fits it (sklearn/cluster/_kmeans.py): greedy k-means++ (2 + ln k local
// trials) on init_size = 3 * batch_size random rows, then minibatch steps of batch_size rows drawn
// with replacement, per-center learning rate 1 / count, random reassignment of centers whose count
// falls below reassignment_ratio * max count, early stopping when the exponentially weighted
// batch inertia has not improved for max_no_improvement steps; labels are the nearest centers of
// the full data. Every random draw comes from NumPy's RandomState(seed), in sklearn's order.
// Arithmetic is float64 (sklearn uses the data's float32), so rare near-ties can go differently.
import { NumpyRandomState } from './rng.js';

export interface MiniBatchKMeansOptions {
  nClusters: number;
  batchSize?: number;
  maxIter?: number;
  randomState?: number;
  maxNoImprovement?: number;
  reassignmentRatio?: number;
  /**
   * How minibatches are drawn: "choice" (scikit-learn >= 1.8: RandomState.choice(n, b, p=weights),
   * one double per row) or "randint" (earlier releases: RandomState.randint(0, n, b)).
   */
  minibatchSampling?: 'choice' | 'randint';
}

export interface KMeansResult {
  labels: Int32Array;
  centers: Float64Array[];
  inertia: number;
  nSteps: number;
}

/** Squared distances from row x to every center; returns the nearest (first on ties) and its distance. */
function nearest(x: Float64Array, xo: number, d: number, centers: Float64Array, k: number): [number, number] {
  let best = 0;
  let bestD = Infinity;
  for (let c = 0; c < k; c++) {
    let s = 0;
    const co = c * d;
    for (let j = 0; j < d; j++) {
      const t = x[xo + j] - centers[co + j];
      s += t * t;
    }
    if (s < bestD) {
      bestD = s;
      best = c;
    }
  }
  return [best, bestD];
}

function searchsortedRight(cdf: Float64Array, v: number): number {
  let lo = 0, hi = cdf.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function searchsortedLeft(cdf: Float64Array, v: number): number {
  let lo = 0, hi = cdf.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Greedy k-means++ on rows X[n x d] (sklearn _kmeans_plusplus with unit weights). */
function kmeansPlusPlus(X: Float64Array, n: number, d: number, k: number, rs: NumpyRandomState): Float64Array {
  const centers = new Float64Array(k * d);
  const trials = 2 + Math.floor(Math.log(k));
  // random_state.choice(n, p=uniform): searchsorted(cdf, u, "right") on the normalised cumsum
  const cdf = new Float64Array(n);
  let acc = 0;
  const p = Math.fround(1 / n); // sample_weight / sample_weight.sum() in the data's float32
  for (let i = 0; i < n; i++) cdf[i] = acc += p;
  for (let i = 0; i < n; i++) cdf[i] /= acc;
  const first = Math.min(n - 1, searchsortedRight(cdf, rs.randomSample()));
  centers.set(X.subarray(first * d, first * d + d), 0);
  const sqd = (i: number, j: number): number => {
    let s = 0;
    for (let t = 0; t < d; t++) {
      const v = X[i * d + t] - X[j * d + t];
      s += v * v;
    }
    return s;
  };
  let closest: Float64Array = Float64Array.from({ length: n }, (_, i) => sqd(first, i));
  let pot = closest.reduce((a, b) => a + b, 0);
  for (let c = 1; c < k; c++) {
    const cum = new Float64Array(n);
    let s = 0;
    for (let i = 0; i < n; i++) cum[i] = s += closest[i];
    const cand: number[] = [];
    for (let t = 0; t < trials; t++) cand.push(Math.min(n - 1, searchsortedLeft(cum, rs.randomSample() * pot)));
    let bestPot = Infinity;
    let bestId = cand[0];
    let bestDist: Float64Array = closest;
    for (const id of cand) {
      const dist = new Float64Array(n);
      let cp = 0;
      for (let i = 0; i < n; i++) {
        dist[i] = Math.min(closest[i], sqd(id, i));
        cp += dist[i];
      }
      if (cp < bestPot) {
        bestPot = cp;
        bestId = id;
        bestDist = dist;
      }
    }
    pot = bestPot;
    closest = bestDist;
    centers.set(X.subarray(bestId * d, bestId * d + d), c * d);
  }
  return centers;
}

/** Fits mini-batch k-means on `rows` and returns the labels of every row (MiniBatchKMeans.fit_predict). */
export function miniBatchKMeans(rows: ArrayLike<number>[], o: MiniBatchKMeansOptions): KMeansResult {
  const n = rows.length;
  const k = o.nClusters;
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`n_clusters must be a positive integer, got ${k}`);
  if (n < k) throw new Error(`n_samples=${n} should be >= n_clusters=${k}`);
  const d = rows[0].length;
  const X = new Float64Array(n * d);
  rows.forEach((r, i) => {
    for (let j = 0; j < d; j++) X[i * d + j] = r[j];
  });
  const rs = new NumpyRandomState(o.randomState ?? 0);
  const batch = Math.min(o.batchSize ?? 1024, n);
  let initSize = 3 * batch;
  if (initSize < k) initSize = 3 * k;
  initSize = Math.min(initSize, n);
  const maxIter = o.maxIter ?? 100;
  const maxNoImprovement = o.maxNoImprovement ?? 10;
  const ratio = o.reassignmentRatio ?? 0.01;
  const sampling = o.minibatchSampling ?? 'choice';

  // validation indices for choosing among inits (drawn even with n_init = 1), then the init subset
  for (let i = 0; i < initSize; i++) rs.randint(0, n);
  let initX = X;
  let initN = n;
  if (initSize < n) {
    initX = new Float64Array(initSize * d);
    for (let i = 0; i < initSize; i++) {
      const r = rs.randint(0, n);
      initX.set(X.subarray(r * d, r * d + d), i * d);
    }
    initN = initSize;
  }
  let centers: Float64Array = kmeansPlusPlus(initX, initN, d, k, rs);
  let centersNew: Float64Array = new Float64Array(k * d);
  const counts = new Float64Array(k);
  let ewa: number | null = null;
  let ewaMin: number | null = null;
  let noImprovement = 0;
  let sinceReassign = 0;
  const nSteps = Math.floor((maxIter * n) / batch);
  // minibatch sampling cdf (unit weights normalised in float32, cumsum in float64)
  let cdf: Float64Array | null = null;
  if (sampling === 'choice') {
    cdf = new Float64Array(n);
    const p = Math.fround(1 / n);
    let acc = 0;
    for (let i = 0; i < n; i++) cdf[i] = acc += p;
    for (let i = 0; i < n; i++) cdf[i] /= acc;
  }
  const idx = new Int32Array(batch);
  const lab = new Int32Array(batch);
  let step = 0;
  for (; step < nSteps; step++) {
    for (let b = 0; b < batch; b++) idx[b] = cdf ? Math.min(n - 1, searchsortedRight(cdf, rs.randomSample())) : rs.randint(0, n);
    // random reassignment is due every 10 * k samples, or when a center is empty
    sinceReassign += batch;
    let reassign = false;
    if (counts.some((c) => c === 0) || sinceReassign >= 10 * k) {
      sinceReassign = 0;
      reassign = true;
    }
    // labels and inertia of the batch against the current centers
    let inertia = 0;
    for (let b = 0; b < batch; b++) {
      const [c, dist] = nearest(X, idx[b] * d, d, centers, k);
      lab[b] = c;
      inertia += dist;
    }
    // per-center update with learning rate 1 / count
    for (let c = 0; c < k; c++) {
      let m = 0;
      for (let b = 0; b < batch; b++) if (lab[b] === c) m++;
      const co = c * d;
      if (m === 0) {
        for (let j = 0; j < d; j++) centersNew[co + j] = centers[co + j];
        continue;
      }
      for (let j = 0; j < d; j++) centersNew[co + j] = centers[co + j] * counts[c];
      for (let b = 0; b < batch; b++) {
        if (lab[b] !== c) continue;
        const xo = idx[b] * d;
        for (let j = 0; j < d; j++) centersNew[co + j] += X[xo + j];
      }
      counts[c] += m;
      const alpha = 1 / counts[c];
      for (let j = 0; j < d; j++) centersNew[co + j] *= alpha;
    }
    if (reassign && ratio > 0) {
      let max = 0;
      for (const c of counts) max = Math.max(max, c);
      const to = Array.from(counts, (c) => c < ratio * max);
      let nRe = to.filter(Boolean).length;
      if (nRe > 0.5 * batch) {
        const order = Array.from({ length: k }, (_, i) => i).sort((a, b) => counts[a] - counts[b] || a - b);
        for (const i of order.slice(Math.floor(0.5 * batch))) to[i] = false;
        nRe = to.filter(Boolean).length;
      }
      if (nRe) {
        // random_state.choice(batch, replace=False, size=nRe): a permutation's first nRe entries
        const perm = Array.from({ length: batch }, (_, i) => i);
        rs.shuffle(perm);
        let r = 0;
        for (let c = 0; c < k; c++) {
          if (!to[c]) continue;
          const xo = idx[perm[r++]] * d;
          centersNew.set(X.subarray(xo, xo + d), c * d);
        }
      }
      let minKeep = Infinity;
      for (let c = 0; c < k; c++) if (!to[c]) minKeep = Math.min(minKeep, counts[c]);
      for (let c = 0; c < k; c++) if (to[c]) counts[c] = minKeep;
    }
    const t = centers;
    centers = centersNew;
    centersNew = t;
    // early stopping on the smoothed batch inertia (the first step only reports the init's)
    const bi = inertia / batch;
    if (step === 0) continue;
    if (ewa === null) ewa = bi;
    else {
      const alpha = Math.min((batch * 2.0) / (n + 1), 1);
      ewa = ewa * (1 - alpha) + bi * alpha;
    }
    if (ewaMin === null || ewa < ewaMin) {
      noImprovement = 0;
      ewaMin = ewa;
    } else noImprovement++;
    if (noImprovement >= maxNoImprovement) {
      step++;
      break;
    }
  }
  const labels = new Int32Array(n);
  let inertia = 0;
  for (let i = 0; i < n; i++) {
    const [c, dist] = nearest(X, i * d, d, centers, k);
    labels[i] = c;
    inertia += dist;
  }
  return { labels, centers: Array.from({ length: k }, (_, c) => centers.slice(c * d, c * d + d)), inertia, nSteps: step };
}
