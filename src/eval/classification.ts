// Classification as mteb 2.x's AbsTaskClassification (mteb/abstasks/classification.py): per
// experiment, undersample the train split to samples_per_label rows per label (the index list is
// shuffled with np.random.RandomState(seed) again at each experiment, so experiment i sees the
// permutation applied i + 1 times), encode the union of the selected rows once and the test split
// once, fit LogisticRegression(max_iter=100), predict the test split, score; report the mean of
// every score over the experiments plus scores_per_experiment.
import { classificationScores, type ClassificationScores, type Label } from './classification-metrics.js';
import { LogisticRegression } from './logistic-regression.js';
import { encodeChecked, type EmbeddingModelLike, type EncodeOptions } from './model.js';
import { npMean } from './numeric.js';
import { NumpyRandomState } from './rng.js';

export interface ClassificationSplit {
  texts: string[];
  labels: Label[];
}

export interface ClassificationData {
  train: ClassificationSplit;
  test: ClassificationSplit;
}

export interface ClassificationSettings {
  /** AbsTaskClassification.samples_per_label (default 8; some tasks set 16 or 32) */
  samplesPerLabel?: number;
  /** n_experiments (default 10) */
  nExperiments?: number;
  /** the task seed (default 42) */
  seed?: number;
  /** LogisticRegression max_iter (default 100) */
  maxIter?: number;
}

/** _undersample_data over n_experiments: the selected train indices of each experiment. */
export function undersample(labels: ArrayLike<Label>, nExperiments: number, samplesPerLabel: number, seed = 42): number[][] {
  const idxs = Array.from({ length: labels.length }, (_, i) => i);
  const out: number[][] = [];
  for (let e = 0; e < nExperiments; e++) {
    new NumpyRandomState(seed).shuffle(idxs);
    const count = new Map<Label, number>();
    const sel: number[] = [];
    for (const i of idxs) {
      const c = count.get(labels[i]) ?? 0;
      if (c < samplesPerLabel) {
        sel.push(i);
        count.set(labels[i], c + 1);
      }
    }
    out.push(sel);
  }
  return out;
}

export type ClassificationMetrics = Record<keyof ClassificationScores, number> & { scores_per_experiment: ClassificationScores[] };

/** _calculate_avg_scores: the mean of each score over the experiments (NaN for ap when never defined). */
export function averageScores(per: ClassificationScores[]): ClassificationMetrics {
  const keys = Object.keys(per[0]) as Array<keyof ClassificationScores>;
  const avg = {} as Record<keyof ClassificationScores, number>;
  for (const k of keys) {
    const vals = per.map((s) => s[k]).filter((v): v is number => v !== null);
    avg[k] = vals.length ? npMean(vals) : NaN;
  }
  return { scores_per_experiment: per, ...avg };
}

/** The experiments on embeddings: trainEmb / testEmb row i belongs to labels[i] of its split. */
export function classificationFromEmbeddings(
  trainEmb: ArrayLike<number>[],
  trainLabels: Label[],
  testEmb: ArrayLike<number>[],
  testLabels: Label[],
  s: ClassificationSettings = {},
): { metrics: ClassificationMetrics; predictions: Label[][]; selected: number[][] } {
  const nExp = s.nExperiments ?? 10;
  const selected = undersample(trainLabels, nExp, s.samplesPerLabel ?? 8, s.seed ?? 42);
  const per: ClassificationScores[] = [];
  const predictions: Label[][] = [];
  for (const sel of selected) {
    const clf = new LogisticRegression({ maxIter: s.maxIter ?? 100 }).fit(
      sel.map((i) => trainEmb[i]),
      sel.map((i) => trainLabels[i]),
    );
    const pred = clf.predict(testEmb);
    predictions.push(pred);
    per.push(classificationScores(testLabels, pred));
  }
  return { metrics: averageScores(per), predictions, selected };
}

export interface ClassificationRunHooks {
  phase?: (name: string, start: number, end: number) => void;
  log?: (message: string) => void;
}

/** Encodes the union of the undersampled train rows once and the test split once, then runs the experiments. */
export async function evaluateClassification(
  model: EmbeddingModelLike,
  data: ClassificationData,
  opts: EncodeOptions,
  s: ClassificationSettings = {},
  hooks: ClassificationRunHooks = {},
): Promise<{ metrics: ClassificationMetrics; predictions: Label[][] }> {
  const { train, test } = data;
  if (train.texts.length !== train.labels.length || test.texts.length !== test.labels.length) throw new Error(`${opts.taskName}: texts and labels differ in length`);
  if (!test.texts.length) throw new Error(`${opts.taskName}: the evaluation split is empty`);
  const nExp = s.nExperiments ?? 10;
  const selected = undersample(train.labels, nExp, s.samplesPerLabel ?? 8, s.seed ?? 42);
  const union = [...new Set(selected.flat())].sort((a, b) => a - b);
  let t = performance.now();
  hooks.log?.(`${opts.taskName}: encoding ${union.length} unique training samples (union across ${nExp} experiments)`);
  const unionEmb = await encodeChecked(model, union.map((i) => train.texts[i]), { ...opts, hfSplit: 'train' }, `${opts.taskName} train`);
  hooks.phase?.('Encoding training samples', t, performance.now());
  t = performance.now();
  const testEmb = await encodeChecked(model, test.texts, opts, `${opts.taskName} test`);
  hooks.phase?.('Encoding test samples', t, performance.now());
  t = performance.now();
  const pos = new Map(union.map((orig, p) => [orig, p]));
  const trainEmb: ArrayLike<number>[] = new Array(train.texts.length);
  for (const [orig, p] of pos) trainEmb[orig] = unionEmb[p];
  const r = classificationFromEmbeddings(trainEmb, train.labels, testEmb, test.labels, s);
  hooks.phase?.('Scoring', t, performance.now());
  return { metrics: r.metrics, predictions: r.predictions };
}
