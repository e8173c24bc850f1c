// Classification scores as scikit-learn computes them (sklearn.metrics accuracy_score,
// precision_recall_fscore_support with average="macro" / "weighted" and zero_division="warn"
// (ill-defined ratios count as 0), average_precision_score for binary labels), in float64 with
// NumPy's summation order where the last bit can matter.
import { npSum } from './numeric.js';

export type Label = string | number;

/** Sorted unique labels of both arrays (sklearn unique_labels: numbers numerically, strings by code point). */
export function uniqueLabels(...arrays: ArrayLike<Label>[]): Label[] {
  const set = new Set<Label>();
  for (const a of arrays) for (let i = 0; i < a.length; i++) set.add(a[i]);
  const all = [...set];
  const numeric = all.every((x) => typeof x === 'number');
  if (!numeric && !all.every((x) => typeof x === 'string')) throw new TypeError('labels mix numbers and strings');
  return numeric ? (all as number[]).sort((a, b) => a - b) : (all as string[]).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function checkLengths(yTrue: ArrayLike<Label>, yPred: ArrayLike<Label>): void {
  if (yTrue.length !== yPred.length) throw new Error(`y_true has ${yTrue.length} labels but y_pred ${yPred.length}`);
  if (yTrue.length === 0) throw new Error('no labels to score');
}

/** accuracy_score: the fraction of exact matches. */
export function accuracyScore(yTrue: ArrayLike<Label>, yPred: ArrayLike<Label>): number {
  checkLengths(yTrue, yPred);
  let hit = 0;
  for (let i = 0; i < yTrue.length; i++) if (yTrue[i] === yPred[i]) hit++;
  return hit / yTrue.length;
}

export interface PrfScores {
  precision: number;
  recall: number;
  f1: number;
}

/**
 * precision_recall_fscore_support(average=...) over the labels of both arrays: per label
 * tp / predicted, tp / true and 2 tp / (2 tp + fp + fn) (0 when undefined), then the plain mean
 * ("macro") or the mean weighted by each label's support ("weighted").
 */
export function precisionRecallF1(yTrue: ArrayLike<Label>, yPred: ArrayLike<Label>, average: 'macro' | 'weighted'): PrfScores {
  checkLengths(yTrue, yPred);
  const labels = uniqueLabels(yTrue, yPred);
  const index = new Map(labels.map((l, i) => [l, i]));
  const k = labels.length;
  const tp = new Float64Array(k), pred = new Float64Array(k), truth = new Float64Array(k);
  for (let i = 0; i < yTrue.length; i++) {
    const t = index.get(yTrue[i])!, p = index.get(yPred[i])!;
    truth[t]++;
    pred[p]++;
    if (t === p) tp[t]++;
  }
  const precision = new Float64Array(k), recall = new Float64Array(k), f1 = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    precision[j] = pred[j] > 0 ? tp[j] / pred[j] : 0;
    recall[j] = truth[j] > 0 ? tp[j] / truth[j] : 0;
    const denom = 2 * tp[j] + (pred[j] - tp[j]) + (truth[j] - tp[j]);
    f1[j] = denom > 0 ? (2 * tp[j]) / denom : 0;
  }
  if (average === 'macro') return { precision: npSum(precision) / k, recall: npSum(recall) / k, f1: npSum(f1) / k };
  // np.average(x, weights=support): sum(x * w) / sum(w)
  const wsum = npSum(truth);
  const weighted = (x: Float64Array): number => npSum(x.map((v, j) => v * truth[j])) / wsum;
  return { precision: weighted(precision), recall: weighted(recall), f1: weighted(f1) };
}

/**
 * average_precision_score for binary relevance: the step-wise area under the precision-recall
 * curve, -sum(diff(recall) * precision[:-1]) over the distinct score thresholds, highest first.
 * `positive[i]` says whether sample i is of the positive class.
 */
export function averagePrecision(positive: ArrayLike<boolean | number>, scores: ArrayLike<number>): number {
  const n = scores.length;
  if (positive.length !== n) throw new Error(`${positive.length} labels but ${n} scores`);
  for (let i = 0; i < n; i++) if (Number.isNaN(scores[i])) throw new Error(`score ${i} is NaN`);
  // np.argsort(scores, kind="mergesort")[::-1]: descending, ties in reverse input order
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b] || a - b).reverse();
  const tpsAt: number[] = [];
  const fpsAt: number[] = [];
  let tp = 0;
  for (let r = 0; r < n; r++) {
    if (positive[order[r]]) tp++;
    if (r === n - 1 || scores[order[r]] !== scores[order[r + 1]]) {
      tpsAt.push(tp);
      fpsAt.push(r + 1 - tp);
    }
  }
  const m = tpsAt.length;
  const total = tpsAt[m - 1];
  // precision and recall reversed (lowest threshold first), then precision 1 / recall 0 appended
  const precision = new Float64Array(m + 1);
  const recall = new Float64Array(m + 1);
  for (let i = 0; i < m; i++) {
    const j = m - 1 - i;
    const ps = tpsAt[j] + fpsAt[j];
    precision[i] = ps !== 0 ? tpsAt[j] / ps : 0;
    recall[i] = total === 0 ? 1 : tpsAt[j] / total;
  }
  precision[m] = 1;
  recall[m] = 0;
  const terms = new Float64Array(m);
  for (let i = 0; i < m; i++) terms[i] = (recall[i + 1] - recall[i]) * precision[i];
  return Math.max(0, -npSum(terms));
}

/** mteb's ClassificationMetrics (ap / ap_weighted only for binary tasks, else null). */
export interface ClassificationScores {
  accuracy: number;
  f1: number;
  f1_weighted: number;
  precision: number;
  precision_weighted: number;
  recall: number;
  recall_weighted: number;
  ap: number | null;
  ap_weighted: number | null;
}

/**
 * AbsTaskClassification._calculate_scores. For two classes in y_true, ap is
 * average_precision_score(y_true, y_pred) with the predicted labels as scores and label 1 as the
 * positive class (sklearn's default pos_label=1; other label pairs are an error there and here);
 * for binary y_true sklearn ignores `average`, so ap_weighted equals ap.
 */
export function classificationScores(yTrue: ArrayLike<Label>, yPred: ArrayLike<Label>): ClassificationScores {
  const macro = precisionRecallF1(yTrue, yPred, 'macro');
  const weighted = precisionRecallF1(yTrue, yPred, 'weighted');
  const s: ClassificationScores = {
    accuracy: accuracyScore(yTrue, yPred),
    f1: macro.f1,
    f1_weighted: weighted.f1,
    precision: macro.precision,
    precision_weighted: weighted.precision,
    recall: macro.recall,
    recall_weighted: weighted.recall,
    ap: null,
    ap_weighted: null,
  };
  const classes = uniqueLabels(yTrue);
  if (classes.length === 2) {
    const pos = 1;
    if (!classes.includes(pos) || typeof classes[0] !== 'number') {
      throw new Error(`average precision needs binary labels that include 1 (sklearn's pos_label=1), got ${JSON.stringify(classes)}`);
    }
    const isPos = Array.from({ length: yTrue.length }, (_, i) => yTrue[i] === pos);
    const scores = Float64Array.from({ length: yPred.length }, (_, i) => Number(yPred[i]));
    s.ap = averagePrecision(isPos, scores);
    s.ap_weighted = s.ap;
  }
  return s;
}
