// Retrieval metrics exactly as mteb 2.x reports them (mteb/_evaluators/retrieval_metrics.py):
//   - ndcg_cut, map_cut, recall, P, success from pytrec_eval (trec_eval 9.0.x semantics: run
//     scores are stored as C floats, documents are ranked by score descending then docno
//     descending; relevance level 1; gain = the qrel value; log2 discount);
//   - MRR@k computed by mteb itself (relevant = qrel > 0, ties by doc id descending, on the
//     double scores);
//   - nAUC abstention metrics (max / std / diff1 confidence functions);
// averaged over the queries of the run that have qrels, the trec ones rounded to 5 decimals.
import { compareCodePoints, npMean, npStd, pyRound, pySum, roundHalfEven, stableArgsort, trapezoid } from './numeric.js';

/** query id -> (doc id -> relevance) */
export type Qrels = Map<string, Map<string, number>>;
/** query id -> (doc id -> score); iteration order is significant, as in mteb's results dicts. */
export type Run = Map<string, Map<string, number>>;

export const DEFAULT_K_VALUES: readonly number[] = [1, 3, 5, 10, 20, 100, 1000];

export interface TrecQueryScores {
  ndcg: number[];
  map: number[];
  recall: number[];
  P: number[];
  success: number[];
}

const RELVALUE_NONPOOL = -1;
const RELVALUE_UNJUDGED = -2;
const RELEVANCE_LEVEL = 1;

function byScoreThenIdDesc(score: (s: number) => number) {
  return (a: [string, number], b: [string, number]): number => {
    const sa = score(a[1]), sb = score(b[1]);
    if (sa > sb) return -1;
    if (sa < sb) return 1;
    return compareCodePoints(b[0], a[0]);
  };
}

/** trec_eval's ordering of a query's run: C-float score descending, then docno descending. */
export function trecRanking(run: Map<string, number>): Array<[string, number]> {
  const docs = Array.from(run.entries());
  for (const [d, s] of docs) {
    if (Number.isNaN(s)) throw new Error(`score of document "${d}" is NaN`);
  }
  return docs.sort(byScoreThenIdDesc(Math.fround));
}

/** One query's ndcg_cut / map_cut / recall / P / success at each cutoff, as trec_eval computes them. */
export function trecEvalQuery(qrel: Map<string, number>, run: Map<string, number>, kValues: readonly number[]): TrecQueryScores {
  const ranked = trecRanking(run);
  const numRet = ranked.length;
  const rels = new Array<number>(numRet);
  for (let i = 0; i < numRet; i++) {
    const r = qrel.get(ranked[i][0]);
    rels[i] = r === undefined ? RELVALUE_NONPOOL : r < 0 ? RELVALUE_UNJUDGED : r;
  }
  // rel_levels: how many judged docs at each level >= 0; num_rel: those >= relevance level
  const levels = new Map<number, number>();
  let numRel = 0;
  for (const r of qrel.values()) {
    if (r < 0) continue;
    levels.set(r, (levels.get(r) ?? 0) + 1);
    if (r >= RELEVANCE_LEVEL) numRel++;
  }
  // gains of the ideal ranking: relevance levels > 0, highest first
  const ideal: number[] = [];
  for (const lvl of Array.from(levels.keys()).filter((l) => l > 0).sort((a, b) => b - a)) {
    for (let c = 0; c < levels.get(lvl)!; c++) ideal.push(lvl);
  }
  const out: TrecQueryScores = { ndcg: [], map: [], recall: [], P: [], success: [] };
  for (const k of kValues) {
    const cut = Math.min(k, numRet);
    let dcg = 0;
    let relSoFar = 0;
    let apSum = 0;
    for (let i = 0; i < cut; i++) {
      const g = rels[i];
      if (g > 0) dcg += g / Math.log2(i + 2);
      if (g >= RELEVANCE_LEVEL) {
        relSoFar++;
        apSum += relSoFar / (i + 1);
      }
    }
    let idcg = 0;
    for (let i = 0; i < Math.min(k, ideal.length); i++) idcg += ideal[i] / Math.log2(i + 2);
    out.ndcg.push(idcg > 0 ? dcg / idcg : dcg);
    out.map.push(numRel === 0 ? 0 : apSum / numRel);
    out.recall.push(numRel === 0 ? 0 : relSoFar / numRel);
    out.P.push(relSoFar / k);
    out.success.push(relSoFar > 0 ? 1 : 0);
  }
  return out;
}

/** mteb's MRR@k for one query: reciprocal rank of the first doc with qrel > 0 in the top k. */
export function mrrQuery(qrel: Map<string, number>, run: Map<string, number>, kValues: readonly number[]): number[] {
  const kMax = Math.max(...kValues);
  const top = Array.from(run.entries()).sort(byScoreThenIdDesc((s) => s)).slice(0, kMax);
  return kValues.map((k) => {
    for (let rank = 0; rank < Math.min(k, top.length); rank++) {
      if ((qrel.get(top[rank][0]) ?? 0) > 0) return 1 / (rank + 1);
    }
    return 0;
  });
}

/** Default abstention rates np.linspace(0, 1, 11)[:-1]: i * 0.1. */
export const ABSTENTION_RATES: Float64Array = Float64Array.from({ length: 10 }, (_, i) => i * 0.1);

function abstentionCurve(conf: ArrayLike<number>, metrics: ArrayLike<number>, rates: ArrayLike<number>): Float64Array {
  const order = stableArgsort(conf);
  const n = order.length;
  const curve = new Float64Array(rates.length);
  for (let i = 0; i < rates.length; i++) {
    const skip = Math.min(roundHalfEven(rates[i] * n), n - 1);
    const kept = new Float64Array(n - skip);
    for (let j = skip; j < n; j++) kept[j - skip] = metrics[order[j]];
    curve[i] = npMean(kept);
  }
  return curve;
}

/**
 * Normalised area under the abstention curve (arXiv:2402.12997) as mteb computes it: NaN when
 * the oracle curve is flat (e.g. the metric is equal for every query).
 */
export function nauc(conf: ArrayLike<number>, metrics: ArrayLike<number>, rates: ArrayLike<number> = ABSTENTION_RATES): number {
  const abst = abstentionCurve(conf, metrics, rates);
  const oracle = abstentionCurve(metrics, metrics, rates);
  const abstAuc = trapezoid(abst, rates);
  const orAuc = trapezoid(oracle, rates);
  const flatAuc = oracle[0] * (rates[rates.length - 1] - rates[0]);
  if (orAuc === flatAuc) return NaN;
  return (abstAuc - flatAuc) / (orAuc - flatAuc);
}

/** Confidence of one query's ranking: max score, population std, gap between the two best. */
export function confidenceScores(scores: number[]): { max: number; std: number; diff1: number } {
  if (scores.length === 0) return { max: 0, std: 0, diff1: 0 };
  const sorted = [...scores].sort((a, b) => b - a);
  return {
    max: sorted[0],
    std: npStd(Float64Array.from(scores)),
    diff1: sorted.length > 1 ? sorted[0] - sorted[1] : 0,
  };
}

/** Ordered score dict with mteb's key names (make_score_dict), before main_score/hf_subset. */
export type ScoreDict = Record<string, number | string | string[] | null>;

export interface RetrievalScores {
  /** mteb's score dict: ndcg_at_k, map_at_k, recall_at_k, accuracy, precision_at_k, mrr_at_k, nauc_*, hit_rate_at_k */
  scores: ScoreDict;
  /** per-query trec scores, keyed like pytrec_eval (ndcg_cut_10, map_cut_10, recall_10, P_10, success_10) */
  perQuery: Map<string, Record<string, number>>;
  /** number of queries averaged over */
  numQueries: number;
}

/**
 * mteb's calculate_retrieval_scores + make_score_dict over the queries of `run` that have qrels
 * (mteb filters the others out before searching; the remaining order is kept).
 */
export function calculateRetrievalScores(run: Run, qrels: Qrels, kValues: readonly number[] = DEFAULT_K_VALUES): RetrievalScores {
  // queries without relevance judgements are not scored (mteb drops them before searching)
  const results: Run = new Map();
  for (const [qid, docs] of run) if (qrels.has(qid)) results.set(qid, docs);
  const perQuery = new Map<string, Record<string, number>>();
  const all = { ndcg: kValues.map(() => [] as number[]), map: kValues.map(() => [] as number[]), recall: kValues.map(() => [] as number[]), P: kValues.map(() => [] as number[]), success: kValues.map(() => [] as number[]) };
  for (const [qid, run] of results) {
    const qrel = qrels.get(qid)!;
    const s = trecEvalQuery(qrel, run, kValues);
    const rec: Record<string, number> = {};
    kValues.forEach((k, i) => {
      rec[`ndcg_cut_${k}`] = s.ndcg[i];
      rec[`map_cut_${k}`] = s.map[i];
      rec[`recall_${k}`] = s.recall[i];
      rec[`P_${k}`] = s.P[i];
      rec[`success_${k}`] = s.success[i];
      all.ndcg[i].push(s.ndcg[i]);
      all.map[i].push(s.map[i]);
      all.recall[i].push(s.recall[i]);
      all.P[i].push(s.P[i]);
      all.success[i].push(s.success[i]);
    });
    perQuery.set(qid, rec);
  }
  const nq = perQuery.size;
  if (nq === 0) throw new Error('no query of the run has relevance judgements: nothing to score');
  const avg5 = (xs: number[]): number => pyRound(pySum(xs) / nq, 5);

  const mrrLists = kValues.map(() => [] as number[]);
  for (const [qid, run] of results) {
    mrrQuery(qrels.get(qid)!, run, kValues).forEach((v, i) => mrrLists[i].push(v));
  }

  // confidence functions over every query of the run, in run order
  const confs = Array.from(results.values(), (run) => confidenceScores(Array.from(run.values())));
  const conf = {
    max: Float64Array.from(confs, (c) => c.max),
    std: Float64Array.from(confs, (c) => c.std),
    diff1: Float64Array.from(confs, (c) => c.diff1),
  };
  const naucFor = (name: string, values: number[], out: ScoreDict): void => {
    for (const fct of ['max', 'std', 'diff1'] as const) out[`nauc_${name}_${fct}`] = nauc(conf[fct], values);
  };

  const scores: ScoreDict = {};
  kValues.forEach((k, i) => (scores[`ndcg_at_${k}`] = avg5(all.ndcg[i])));
  kValues.forEach((k, i) => (scores[`map_at_${k}`] = avg5(all.map[i])));
  kValues.forEach((k, i) => (scores[`recall_at_${k}`] = avg5(all.recall[i])));
  scores.accuracy = scores.recall_at_1 ?? scores[`recall_at_${kValues[0]}`];
  kValues.forEach((k, i) => (scores[`precision_at_${k}`] = avg5(all.P[i])));
  kValues.forEach((k, i) => (scores[`mrr_at_${k}`] = pySum(mrrLists[i]) / mrrLists[i].length));
  kValues.forEach((k, i) => naucFor(`ndcg_at_${k}`, all.ndcg[i], scores));
  kValues.forEach((k, i) => naucFor(`map_at_${k}`, all.map[i], scores));
  kValues.forEach((k, i) => naucFor(`recall_at_${k}`, all.recall[i], scores));
  kValues.forEach((k, i) => naucFor(`precision_at_${k}`, all.P[i], scores));
  kValues.forEach((k, i) => naucFor(`mrr_at_${k}`, mrrLists[i], scores));
  kValues.forEach((k, i) => (scores[`hit_rate_at_${k}`] = avg5(all.success[i])));
  return { scores, perQuery, numQueries: nq };
}
