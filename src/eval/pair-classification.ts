// PairClassification as mteb 2.x's AbsTaskPairClassification + PairClassificationEvaluator:
// encode both columns, score each pair with the model's similarity, cosine, manhattan and
// euclidean distances and the dot product, then per score the best accuracy and best F1 over all
// thresholds between consecutive sorted scores, and the average precision; main score max_ap.
import { averagePrecision } from './classification-metrics.js';
import { encodeChecked, type EmbeddingModelLike, type EncodeOptions, type SimilarityFn } from './model.js';
import { stsSimilarities } from './sts.js';

export interface PairClassificationData {
  sentence1: string[];
  sentence2: string[];
  /** 1 = similar / duplicate, 0 = not */
  labels: number[];
}

export interface ThresholdMetrics {
  accuracy: number;
  f1: number;
  precision: number;
  recall: number;
  ap: number;
}

export interface ThresholdDetails extends ThresholdMetrics {
  /** the thresholds mteb finds (not part of its results) */
  accuracyThreshold: number;
  f1Threshold: number;
}

/** Rows sorted by score, Python's stable sorted(..., reverse=...) (equal scores keep input order). */
function sortedRows(scores: ArrayLike<number>, reverse: boolean): number[] {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  return idx.sort((a, b) => (reverse ? scores[b] - scores[a] : scores[a] - scores[b]) || a - b);
}

/**
 * _compute_metrics_values: best accuracy and best F1 (with its precision and recall) over the
 * thresholds half-way between consecutive sorted scores, and the average precision.
 * `higherIsSimilar` is false for distances.
 */
export function thresholdMetrics(scores: ArrayLike<number>, labels: ArrayLike<number>, higherIsSimilar: boolean): ThresholdDetails {
  const n = scores.length;
  if (labels.length !== n) throw new Error(`${n} scores but ${labels.length} labels`);
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(scores[i])) throw new Error(`pair ${i} has a NaN score`);
    if (labels[i] !== 0 && labels[i] !== 1) throw new Error(`pair classification labels must be 0 or 1, pair ${i} has ${labels[i]}`);
  }
  const order = sortedRows(scores, higherIsSimilar);
  let negatives = 0, positives = 0;
  for (let i = 0; i < n; i++) (labels[i] === 1 ? positives++ : negatives++);

  let maxAcc = 0, accT = -1;
  let pos = 0, negLeft = negatives;
  let bestF1 = 0, bestP = 0, bestR = 0, f1T = 0;
  let nextract = 0, ncorrect = 0;
  for (let r = 0; r < n - 1; r++) {
    const i = order[r];
    const mid = (scores[i] + scores[order[r + 1]]) / 2;
    if (labels[i] === 1) pos++;
    else negLeft--;
    const acc = (pos + negLeft) / n;
    if (acc > maxAcc) {
      maxAcc = acc;
      accT = mid;
    }
    nextract++;
    if (labels[i] === 1) ncorrect++;
    if (ncorrect > 0) {
      const p = ncorrect / nextract;
      const rec = ncorrect / positives;
      const f1 = (2 * p * rec) / (p + rec);
      if (f1 > bestF1) {
        bestF1 = f1;
        bestP = p;
        bestR = rec;
        f1T = mid;
      }
    }
  }
  const sign = higherIsSimilar ? 1 : -1;
  const ap = averagePrecision(Array.from(labels, (l) => l === 1), Float64Array.from(scores, (s) => s * sign));
  return { accuracy: maxAcc, f1: bestF1, precision: bestP, recall: bestR, ap, accuracyThreshold: accT, f1Threshold: f1T };
}

/** The five pair scores mteb computes, in float64. */
export interface PairScores {
  similarity: Float64Array;
  cosine: Float64Array;
  manhattan: Float64Array;
  euclidean: Float64Array;
  dot: Float64Array;
}

export function pairScores(e1: ArrayLike<number>[], e2: ArrayLike<number>[], fn: SimilarityFn): PairScores {
  const s = stsSimilarities(e1, e2, fn);
  const dot = Float64Array.from(e1, (a, i) => {
    const b = e2[i];
    let t = 0;
    for (let k = 0; k < a.length; k++) t += a[k] * b[k];
    return t;
  });
  // stsSimilarities gives negated distances; mteb sorts the distances themselves ascending
  return { similarity: s.model, cosine: s.cosine, manhattan: s.manhattan.map((x) => -x), euclidean: s.euclidean.map((x) => -x), dot };
}

/** mteb's result keys in its order: {similarity,cosine,manhattan,euclidean,dot}_{accuracy,f1,precision,recall,ap}, then max_*. */
export function pairClassificationMetrics(scores: PairScores, labels: ArrayLike<number>): Record<string, number> {
  const out: Record<string, number> = {};
  const max: Record<string, number[]> = {};
  const plan: Array<[keyof PairScores, boolean]> = [
    ['similarity', true],
    ['cosine', true],
    ['manhattan', false],
    ['euclidean', false],
    ['dot', true],
  ];
  for (const [name, higher] of plan) {
    const m = thresholdMetrics(scores[name], labels, higher);
    for (const k of ['accuracy', 'f1', 'precision', 'recall', 'ap'] as const) {
      out[`${name}_${k}`] = m[k];
      (max[k] ??= []).push(m[k]);
    }
  }
  for (const k of ['accuracy', 'f1', 'precision', 'recall', 'ap']) out[`max_${k}`] = Math.max(...max[k]);
  return out;
}

export interface PairRunHooks {
  phase?: (name: string, start: number, end: number) => void;
  /** receives mteb's PairClassificationDistances (cosine_scores, euclidean_distances, ...) */
  predictions?: (distances: Record<string, number[]>) => void;
}

/** Encodes both columns (two encode calls, as mteb) and scores the pairs. */
export async function evaluatePairClassification(model: EmbeddingModelLike, data: PairClassificationData, opts: EncodeOptions, hooks: PairRunHooks = {}): Promise<Record<string, number>> {
  const n = data.labels.length;
  if (data.sentence1.length !== n || data.sentence2.length !== n) throw new Error(`${opts.taskName}: ${data.sentence1.length} / ${data.sentence2.length} sentences but ${n} labels`);
  if (n < 2) throw new Error(`${opts.taskName}: ${n} pair(s); thresholds need at least 2`);
  let t = performance.now();
  const e1 = await encodeChecked(model, data.sentence1, opts, `${opts.taskName} sentence1`);
  hooks.phase?.('Encoding samples 1', t, performance.now());
  t = performance.now();
  const e2 = await encodeChecked(model, data.sentence2, opts, `${opts.taskName} sentence2`);
  hooks.phase?.('Encoding samples 2', t, performance.now());
  t = performance.now();
  const ps = pairScores(e1, e2, model.similarityFn);
  const m = pairClassificationMetrics(ps, data.labels);
  hooks.phase?.('Scoring', t, performance.now());
  hooks.predictions?.({
    cosine_scores: Array.from(ps.cosine),
    euclidean_distances: Array.from(ps.euclidean),
    manhattan_distances: Array.from(ps.manhattan),
    similarity_scores: Array.from(ps.similarity),
    dot_scores: Array.from(ps.dot),
  });
  return m;
}
