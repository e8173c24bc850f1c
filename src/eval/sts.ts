// STS evaluation as mteb 2.x's AbsTaskSTS + AnySTSEvaluator: encode both columns, compare pairs
// with cosine (sklearn's 1 - paired_cosine_distances), -manhattan, -euclidean and the model's own
// similarity function, all in float64, and correlate each with the gold scores normalised to [0, 1].
import { encodeChecked, type EmbeddingModelLike, type EncodeOptions, type SimilarityFn } from './model.js';
import { pearson, spearman } from './stats.js';

export interface StsSimilarities {
  cosine: Float64Array;
  manhattan: Float64Array;
  euclidean: Float64Array;
  /** the model's similarity function, pairwise */
  model: Float64Array;
}

/** Pairwise similarities of e1[i] and e2[i], in float64. */
export function stsSimilarities(e1: ArrayLike<number>[], e2: ArrayLike<number>[], fn: SimilarityFn): StsSimilarities {
  const n = e1.length;
  if (e2.length !== n) throw new Error(`${n} first sentences but ${e2.length} second sentences`);
  const out: StsSimilarities = { cosine: new Float64Array(n), manhattan: new Float64Array(n), euclidean: new Float64Array(n), model: new Float64Array(n) };
  for (let i = 0; i < n; i++) {
    const a = e1[i], b = e2[i];
    const d = a.length;
    if (b.length !== d) throw new Error(`embedding sizes differ for pair ${i} (${d} and ${b.length})`);
    let na = 0, nb = 0, dot = 0, l1 = 0, l2 = 0;
    for (let k = 0; k < d; k++) {
      const x = a[k], y = b[k];
      na += x * x;
      nb += y * y;
      dot += x * y;
      const diff = x - y;
      l1 += Math.abs(diff);
      l2 += diff * diff;
    }
    // sklearn normalize(): zero rows stay zero; then 1 - 0.5 * ||a/|a| - b/|b|||^2
    const sa = Math.sqrt(na) || 1;
    const sb = Math.sqrt(nb) || 1;
    let dn = 0;
    for (let k = 0; k < d; k++) {
      const diff = a[k] / sa - b[k] / sb;
      dn += diff * diff;
    }
    out.cosine[i] = 1 - 0.5 * dn;
    out.manhattan[i] = -l1;
    out.euclidean[i] = -Math.sqrt(l2);
    switch (fn) {
      case 'cosine':
        // torch.nn.functional.normalize (eps 1e-12) then dot
        out.model[i] = dot / (Math.max(Math.sqrt(na), 1e-12) * Math.max(Math.sqrt(nb), 1e-12));
        break;
      case 'dot':
        out.model[i] = dot;
        break;
      case 'euclidean':
        out.model[i] = -Math.sqrt(l2);
        break;
      case 'manhattan':
        out.model[i] = -l1;
        break;
      default:
        throw new Error(`unknown similarity function "${String(fn)}"`);
    }
  }
  return out;
}

/** mteb's STSMetrics, in mteb's key order. */
export interface StsMetrics {
  pearson: number;
  spearman: number;
  cosine_pearson: number;
  cosine_spearman: number;
  manhattan_pearson: number;
  manhattan_spearman: number;
  euclidean_pearson: number;
  euclidean_spearman: number;
}

/** Correlations of the similarities with the gold scores normalised by (x - min) / (max - min). */
export function stsMetrics(gold: ArrayLike<number>, sims: StsSimilarities, minScore = 0, maxScore = 5): StsMetrics {
  const norm = Float64Array.from(gold, (x) => (x - minScore) / (maxScore - minScore));
  const corr = (s: Float64Array): [number, number] => [pearson(norm, s), spearman(norm, s)];
  const [cp, cs] = corr(sims.cosine);
  const [mp, ms] = corr(sims.manhattan);
  const [ep, es] = corr(sims.euclidean);
  const [p, s] = corr(sims.model);
  return {
    pearson: p,
    spearman: s,
    cosine_pearson: cp,
    cosine_spearman: cs,
    manhattan_pearson: mp,
    manhattan_spearman: ms,
    euclidean_pearson: ep,
    euclidean_spearman: es,
  };
}

export interface StsRunHooks {
  phase?: (name: string, start: number, end: number) => void;
  /**
   * The per-pair similarities, as mteb's STS evaluator returns them for its prediction files:
   * cosine_scores, manhattan_distances and euclidean_distances (negated, so larger is more
   * similar), similarity_scores (the model's own function).
   */
  predictions?: (p: Record<string, number[]>) => void;
}

/** Encodes the two sentence columns (two encode calls, as mteb) and scores them. */
export async function evaluateSts(
  model: EmbeddingModelLike,
  pairs: { sentence1: string[]; sentence2: string[]; score: number[] },
  opts: EncodeOptions,
  bounds: { minScore?: number; maxScore?: number },
  hooks: StsRunHooks = {},
): Promise<StsMetrics> {
  const n = pairs.score.length;
  if (n < 2) throw new Error(`${opts.taskName ?? 'STS'}: ${n} pair(s); correlations need at least 2`);
  let t = performance.now();
  const e1 = await encodeChecked(model, pairs.sentence1, opts, `${opts.taskName} sentence1`);
  hooks.phase?.('Encoding samples 1', t, performance.now());
  t = performance.now();
  const e2 = await encodeChecked(model, pairs.sentence2, opts, `${opts.taskName} sentence2`);
  hooks.phase?.('Encoding samples 2', t, performance.now());
  t = performance.now();
  if (e1[0].length !== e2[0].length) throw new Error(`model returned ${e1[0].length}-dim embeddings for sentence1 but ${e2[0].length}-dim for sentence2`);
  const sims = stsSimilarities(e1, e2, model.similarityFn);
  const m = stsMetrics(pairs.score, sims, bounds.minScore ?? 0, bounds.maxScore ?? 5);
  hooks.phase?.('Scoring', t, performance.now());
  hooks.predictions?.({
    cosine_scores: Array.from(sims.cosine),
    manhattan_distances: Array.from(sims.manhattan),
    euclidean_distances: Array.from(sims.euclidean),
    similarity_scores: Array.from(sims.model),
  });
  return m;
}
