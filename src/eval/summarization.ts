// Summarization as mteb 2.x's AbsTaskSummarization + SummarizationEvaluator (the v2 metrics, which
// average per-text correlations): every machine summary is scored by its largest cosine / dot /
// model similarity to the text's human summaries (float32, as mteb's torch ops return them);
// texts whose human scores, dot scores or cosine scores are all equal are skipped; Spearman and
// Pearson with the human relevance (normalised to [0, 1]) are computed per text and averaged.
import { encodeChecked, type EmbeddingModelLike, type EncodeOptions, type SimilarityFn } from './model.js';
import { npMean } from './numeric.js';
import { pearson, spearman } from './stats.js';

export interface SummarizationData {
  texts: string[];
  humanSummaries: string[][];
  machineSummaries: string[][];
  /** one relevance score per machine summary */
  relevance: number[][];
}

export interface SummarizationMetrics {
  pearson: number;
  spearman: number;
  cosine_spearman: number;
  cosine_pearson: number;
  dot_pearson: number;
  dot_spearman: number;
}

function similarity(a: ArrayLike<number>, b: ArrayLike<number>, fn: SimilarityFn | 'cosine' | 'dot'): number {
  let dot = 0, na = 0, nb = 0, l1 = 0, l2 = 0;
  for (let k = 0; k < a.length; k++) {
    dot += a[k] * b[k];
    na += a[k] * a[k];
    nb += b[k] * b[k];
    const d = a[k] - b[k];
    l1 += Math.abs(d);
    l2 += d * d;
  }
  switch (fn) {
    case 'cosine':
      return dot / (Math.max(Math.sqrt(na), 1e-12) * Math.max(Math.sqrt(nb), 1e-12));
    case 'dot':
      return dot;
    case 'euclidean':
      return -Math.sqrt(l2);
    case 'manhattan':
      return -l1;
    default:
      throw new Error(`unknown similarity function "${String(fn)}"`);
  }
}

function maxSim(m: ArrayLike<number>, human: ArrayLike<number>[], fn: SimilarityFn | 'cosine' | 'dot'): number {
  let best = -Infinity;
  for (const h of human) best = Math.max(best, Math.fround(similarity(m, h, fn)));
  return best;
}

export interface SummarizationScoreDetails extends SummarizationMetrics {
  /** indices of texts mteb skips (constant human, dot or cosine scores) */
  skipped: number[];
  cosineMax: number[][];
  dotMax: number[][];
}

/**
 * Scores from embeddings: human[t] and machine[t] are text t's summary embeddings, relevance[t]
 * one gold score per machine summary, normalised by (x - minScore) / (maxScore - minScore).
 * Throws when every text is skipped (mteb would average an empty list into NaN).
 */
export function summarizationScores(
  human: ArrayLike<number>[][],
  machine: ArrayLike<number>[][],
  relevance: number[][],
  fn: SimilarityFn,
  minScore: number,
  maxScore: number,
): SummarizationScoreDetails {
  if (human.length !== machine.length || machine.length !== relevance.length) throw new Error(`${human.length} human, ${machine.length} machine and ${relevance.length} relevance lists; expected one of each per text`);
  const cs: number[] = [], cp: number[] = [], ds: number[] = [], dp: number[] = [], ss: number[] = [], sp: number[] = [];
  const skipped: number[] = [];
  const cosineMax: number[][] = [], dotMax: number[][] = [];
  for (let t = 0; t < machine.length; t++) {
    if (machine[t].length !== relevance[t].length) throw new Error(`text ${t}: ${machine[t].length} machine summaries but ${relevance[t].length} relevance scores`);
    if (!human[t].length) throw new Error(`text ${t} has no human summary`);
    const gold = relevance[t].map((x) => (x - minScore) / (maxScore - minScore));
    const c = machine[t].map((m) => maxSim(m, human[t], 'cosine'));
    const d = machine[t].map((m) => maxSim(m, human[t], 'dot'));
    const s = machine[t].map((m) => maxSim(m, human[t], fn));
    if (new Set(gold).size === 1 || new Set(d).size === 1 || new Set(c).size === 1) {
      skipped.push(t);
      continue;
    }
    cosineMax.push(c);
    dotMax.push(d);
    cs.push(spearman(gold, c));
    cp.push(pearson(gold, c));
    ds.push(spearman(gold, d));
    dp.push(pearson(gold, d));
    ss.push(spearman(gold, s));
    sp.push(pearson(gold, s));
  }
  if (!cs.length) throw new Error(`all ${machine.length} texts were skipped (constant scores); no correlation to report`);
  return {
    pearson: npMean(sp),
    spearman: npMean(ss),
    cosine_spearman: npMean(cs),
    cosine_pearson: npMean(cp),
    dot_pearson: npMean(dp),
    dot_spearman: npMean(ds),
    skipped,
    cosineMax,
    dotMax,
  };
}

export interface SummarizationRunHooks {
  phase?: (name: string, start: number, end: number) => void;
}

/** Encodes all human summaries, then all machine summaries (two calls, as mteb), and scores them. */
export async function evaluateSummarization(
  model: EmbeddingModelLike,
  data: SummarizationData,
  opts: EncodeOptions,
  bounds: { minScore: number; maxScore: number },
  hooks: SummarizationRunHooks = {},
): Promise<SummarizationMetrics> {
  const split = <T>(flat: T[], lens: number[]): T[][] => {
    const out: T[][] = [];
    let o = 0;
    for (const l of lens) {
      out.push(flat.slice(o, o + l));
      o += l;
    }
    return out;
  };
  let t = performance.now();
  const h = await encodeChecked(model, data.humanSummaries.flat(), opts, `${opts.taskName} human summaries`);
  hooks.phase?.('Encoding human summaries', t, performance.now());
  t = performance.now();
  const m = await encodeChecked(model, data.machineSummaries.flat(), opts, `${opts.taskName} machine summaries`);
  hooks.phase?.('Encoding machine summaries', t, performance.now());
  t = performance.now();
  const r = summarizationScores(
    split(h, data.humanSummaries.map((x) => x.length)),
    split(m, data.machineSummaries.map((x) => x.length)),
    data.relevance,
    model.similarityFn,
    bounds.minScore,
    bounds.maxScore,
  );
  hooks.phase?.('Scoring', t, performance.now());
  const { skipped: _s, cosineMax: _c, dotMax: _d, ...metrics } = r;
  return metrics;
}
