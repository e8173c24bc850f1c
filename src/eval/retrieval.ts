// Retrieval and reranking as mteb 2.x's AbsTaskRetrieval with SearchEncoderWrapper /
// SearchCrossEncoderWrapper: bi-encoders score every query against the full corpus (or against
// its top_ranked candidates for reranking) and keep the top k in a heap per query, cross-encoders
// score every (query, candidate) pair once; the run is then scored with retrieval-metrics.ts.
import type { CorpusDoc, Query, RetrievalSplitData } from './data/load.js';
import { encodeChecked, predictChecked, type CrossEncoderLike, type EmbeddingModelLike, type EncodeOptions, type EvaluableModel, type QueryTopK, type SimilarityFn } from './model.js';
import { compareCodePoints } from './numeric.js';
import { parallelTopK, PARALLEL_MIN_SCORES, scoringThreads } from './topk-pool.js';
import { calculateRetrievalScores, DEFAULT_K_VALUES, type Qrels, type Run, type ScoreDict } from './retrieval-metrics.js';

/** mteb's corpus_chunk_size: documents encoded and scored at a time in full-corpus search. */
export const CORPUS_CHUNK_SIZE = 50_000;
const QUERY_BLOCK = 64;

/** Document text as mteb builds it: (title + " " + text).strip() when there is a title. */
export function documentText(d: CorpusDoc): string {
  return d.title && d.title.length > 0 ? `${d.title} ${d.text}`.trim() : d.text.trim();
}

/** Query text as mteb builds it: conversations joined with "; ", then text + " " + instruction. */
export function queryText(q: Query): string {
  const t = Array.isArray(q.text) ? q.text.join('; ') : q.text;
  return q.instruction !== undefined && q.instruction !== null ? `${t} ${q.instruction}` : t;
}

// --- Python heapq over (score, doc id) tuples, so results keep mteb's dict order -------------

type Item = [number, string];

function lt(a: Item, b: Item): boolean {
  return a[0] < b[0] || (a[0] === b[0] && compareCodePoints(a[1], b[1]) < 0);
}

function siftdown(h: Item[], start: number, pos: number): void {
  const item = h[pos];
  while (pos > start) {
    const parentPos = (pos - 1) >> 1;
    const parent = h[parentPos];
    if (lt(item, parent)) {
      h[pos] = parent;
      pos = parentPos;
      continue;
    }
    break;
  }
  h[pos] = item;
}

function siftup(h: Item[], pos: number): void {
  const end = h.length;
  const start = pos;
  const item = h[pos];
  let child = 2 * pos + 1;
  while (child < end) {
    const right = child + 1;
    if (right < end && !lt(h[child], h[right])) child = right;
    h[pos] = h[child];
    pos = child;
    child = 2 * pos + 1;
  }
  h[pos] = item;
  siftdown(h, start, pos);
}

export function heappush(h: Item[], item: Item): void {
  h.push(item);
  siftdown(h, 0, h.length - 1);
}

export function heappushpop(h: Item[], item: Item): Item {
  if (h.length && lt(h[0], item)) {
    const top = h[0];
    h[0] = item;
    siftup(h, 0);
    return top;
  }
  return item;
}

// --- similarity ---------------------------------------------------------------------------

/** Rows packed into one float64 matrix, L2-normalised (torch eps 1e-12) for cosine. */
export function packRows(rows: ArrayLike<number>[], normalise: boolean): { data: Float64Array; dim: number } {
  const dim = rows.length ? rows[0].length : 0;
  const data = new Float64Array(rows.length * dim);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    const o = i * dim;
    let ss = 0;
    for (let k = 0; k < dim; k++) {
      const v = r[k];
      data[o + k] = v;
      ss += v * v;
    }
    if (normalise) {
      const inv = 1 / Math.max(Math.sqrt(ss), 1e-12);
      for (let k = 0; k < dim; k++) data[o + k] *= inv;
    }
  }
  return { data, dim };
}

function sqNorms(m: Float64Array, n: number, dim: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = i * dim, e = k + dim; k < e; k++) s += m[k] * m[k];
    out[i] = s;
  }
  return out;
}

/**
 * Dot products of queries [q0, q1) with every document into out[(q - q0) * nd + d]: a 4 x 2
 * register-blocked kernel (each loaded value feeds several multiply-adds), float64 accumulation.
 */
function dotBlock(Q: Float64Array, q0: number, q1: number, D: Float64Array, nd: number, dim: number, out: Float64Array): void {
  for (let d = 0; d < nd; d += 2) {
    const d0 = d * dim;
    const two = d + 1 < nd;
    const d1 = two ? d0 + dim : d0;
    let q = q0;
    for (; q + 3 < q1; q += 4) {
      const a = q * dim, b = a + dim, c = b + dim, e = c + dim;
      let s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
      for (let k = 0; k < dim; k++) {
        const x0 = D[d0 + k], x1 = D[d1 + k];
        const y0 = Q[a + k], y1 = Q[b + k], y2 = Q[c + k], y3 = Q[e + k];
        s00 += y0 * x0;
        s01 += y0 * x1;
        s10 += y1 * x0;
        s11 += y1 * x1;
        s20 += y2 * x0;
        s21 += y2 * x1;
        s30 += y3 * x0;
        s31 += y3 * x1;
      }
      const r = (q - q0) * nd + d;
      out[r] = s00;
      out[r + nd] = s10;
      out[r + 2 * nd] = s20;
      out[r + 3 * nd] = s30;
      if (two) {
        out[r + 1] = s01;
        out[r + nd + 1] = s11;
        out[r + 2 * nd + 1] = s21;
        out[r + 3 * nd + 1] = s31;
      }
    }
    for (; q < q1; q++) {
      const a = q * dim;
      let s0 = 0, s1 = 0;
      for (let k = 0; k < dim; k++) {
        s0 += Q[a + k] * D[d0 + k];
        s1 += Q[a + k] * D[d1 + k];
      }
      const r = (q - q0) * nd + d;
      out[r] = s0;
      if (two) out[r + 1] = s1;
    }
  }
}

/**
 * Scores of queries [q0, q1) against every document, rounded to float32 as mteb's torch
 * similarity is: out[(q - q0) * nd + d]. Cosine expects L2-normalised rows (packRows).
 */
export function scoreBlock(
  Q: Float64Array,
  q0: number,
  q1: number,
  D: Float64Array,
  nd: number,
  dim: number,
  fn: SimilarityFn,
  qNorms?: Float64Array,
  dNorms?: Float64Array,
): Float32Array {
  const out = new Float32Array((q1 - q0) * nd);
  if (fn === 'manhattan') {
    for (let q = q0; q < q1; q++) {
      const qOff = q * dim;
      for (let d = 0; d < nd; d++) {
        const dOff = d * dim;
        let s = 0;
        for (let k = 0; k < dim; k++) s += Math.abs(Q[qOff + k] - D[dOff + k]);
        out[(q - q0) * nd + d] = -s;
      }
    }
    return out;
  }
  const dots = new Float64Array((q1 - q0) * nd);
  dotBlock(Q, q0, q1, D, nd, dim, dots);
  if (fn === 'euclidean') {
    // -sqrt(|q|^2 + |d|^2 - 2 q.d), as torch.cdist computes it for large inputs
    for (let q = q0; q < q1; q++) {
      for (let d = 0; d < nd; d++) {
        const i = (q - q0) * nd + d;
        out[i] = -Math.sqrt(Math.max(0, qNorms![q] + dNorms![d] - 2 * dots[i]));
      }
    }
  } else out.set(dots);
  return out;
}

/** The k-th largest value of `a` (1-based k), by quickselect on a copy. */
function kthLargest(a: Float32Array, k: number): number {
  const v = Float32Array.from(a);
  let lo = 0, hi = v.length - 1;
  const target = v.length - k; // index in ascending order
  while (lo < hi) {
    const pivot = v[(lo + hi) >> 1];
    let i = lo, j = hi;
    while (i <= j) {
      while (v[i] < pivot) i++;
      while (v[j] > pivot) j--;
      if (i <= j) {
        const t = v[i];
        v[i] = v[j];
        v[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else break;
  }
  return v[target];
}

/** Indices of the `k` largest of row[0..n) (ties: lower index first), in descending order. */
export function topKIndices(row: Float32Array, k: number): number[] {
  const n = row.length;
  let idx: number[];
  if (k >= n) idx = Array.from({ length: n }, (_, i) => i);
  else {
    for (let i = 0; i < n; i++) if (Number.isNaN(row[i])) throw new Error('NaN values detected in the similarity scores');
    const thr = kthLargest(row, k);
    let above = 0;
    for (let i = 0; i < n; i++) if (row[i] > thr) above++;
    let ties = k - above;
    idx = [];
    for (let i = 0; i < n; i++) {
      if (row[i] > thr) idx.push(i);
      else if (row[i] === thr && ties > 0) {
        idx.push(i);
        ties--;
      }
    }
  }
  for (const i of idx) if (Number.isNaN(row[i])) throw new Error('NaN values detected in the similarity scores');
  return idx.sort((a, b) => row[b] - row[a] || a - b);
}

/** Rows as one fp32 [n x dim] matrix, unnormalised (what an accelerator scorer takes). */
function packF32(rows: Float32Array[], dim: number): Float32Array {
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => out.set(r, i * dim));
  return out;
}

/** Each query's top hits of a chunk into its heap of the `topK` best (score, doc id) seen so far. */
function mergeTops(tops: QueryTopK[], chunk: CorpusDoc[], heaps: Item[][], topK: number): void {
  tops.forEach((t, q) => {
    const h = heaps[q];
    for (let r = 0; r < t.indices.length; r++) {
      const item: Item = [t.scores[r], chunk[t.indices[r]].id];
      if (h.length < topK) heappush(h, item);
      else heappushpop(h, item);
    }
  });
}

export interface SearchHooks {
  /** called after each encode/predict call with the number of texts done */
  progress?: (done: number, total: number, what: string) => void;
  log?: (message: string) => void;
}

function baseOpts(opts: EncodeOptions, promptType: 'query' | 'document'): EncodeOptions {
  return { ...opts, promptType };
}

/** SearchEncoderWrapper.search: full-corpus top-k, or top_ranked reranking when given. */
export async function searchWithEncoder(model: EmbeddingModelLike, data: RetrievalSplitData, topK: number, opts: EncodeOptions, hooks: SearchHooks = {}): Promise<Run> {
  const fn = model.similarityFn;
  const queries = data.queries;
  const qEmb = await encodeChecked(model, queries.map(queryText), baseOpts(opts, 'query'), `${opts.taskName} queries`);
  const { data: Q, dim } = packRows(qEmb, fn === 'cosine');
  const qNorms = fn === 'euclidean' ? sqNorms(Q, queries.length, dim) : undefined;
  const heaps: Item[][] = queries.map(() => []);
  const run: Run = new Map();

  if (data.topRanked) {
    // reranking: encode the candidate documents (in corpus order), score each query's own list
    const byId = new Map<string, number>();
    data.corpus.forEach((d, i) => byId.set(d.id, i));
    const needed = new Set<string>();
    const missingQ: string[] = [];
    for (const q of queries) {
      const ids = data.topRanked.get(q.id);
      if (!ids) {
        missingQ.push(q.id);
        continue;
      }
      for (const id of ids) {
        if (!byId.has(id)) throw new Error(`${opts.taskName}: top_ranked document "${id}" of query "${q.id}" is not in the corpus`);
        needed.add(id);
      }
    }
    if (missingQ.length) hooks.log?.(`${opts.taskName}: no pre-ranked documents for ${missingQ.length} queries (e.g. ${missingQ[0]}); they score 0`);
    const docs = data.corpus.filter((d) => needed.has(d.id));
    const dEmb = await encodeChecked(model, docs.map(documentText), baseOpts(opts, 'document'), `${opts.taskName} documents`);

    if (docs.length && dEmb[0].length !== dim) throw new Error(`model returned ${dim}-dim query embeddings but ${dEmb[0].length}-dim document embeddings`);
    const { data: D } = packRows(dEmb, fn === 'cosine');
    const dNorms = fn === 'euclidean' ? sqNorms(D, docs.length, dim) : undefined;
    const pos = new Map<string, number>();
    docs.forEach((d, i) => pos.set(d.id, i));
    queries.forEach((q, qi) => {
      const ids = data.topRanked!.get(q.id);
      if (!ids) return;
      const sub = new Float64Array(ids.length * dim);
      const subNorms = dNorms ? new Float64Array(ids.length) : undefined;
      ids.forEach((id, j) => {
        const p = pos.get(id)!;
        sub.set(D.subarray(p * dim, (p + 1) * dim), j * dim);
        if (subNorms) subNorms[j] = dNorms![p];
      });
      const scores = scoreBlock(Q, qi, qi + 1, sub, ids.length, dim, fn, qNorms, subNorms);
      for (const j of topKIndices(scores, Math.min(topK, ids.length))) heappush(heaps[qi], [scores[j], ids[j]]);
    });
  } else {
    const total = data.corpus.length;
    let scored = 0;
    // On an accelerator when the model brings one (Encoder on CUDA) and it does this similarity:
    // same top k per chunk, same order, fp32 scores; the heaps below then merge them identically.
    const gpu = model.retrievalScorer?.supports(fn) ? model.retrievalScorer : undefined;
    const Qf = gpu ? packF32(qEmb, dim) : undefined;
    for (let c0 = 0; c0 < total; c0 += CORPUS_CHUNK_SIZE) {
      const chunk = data.corpus.slice(c0, Math.min(total, c0 + CORPUS_CHUNK_SIZE));
      const dEmb = await encodeChecked(model, chunk.map(documentText), baseOpts(opts, 'document'), `${opts.taskName} corpus`);
      if (dEmb[0].length !== dim) throw new Error(`model returned ${dim}-dim query embeddings but ${dEmb[0].length}-dim document embeddings`);
      const k = Math.min(topK + 1, chunk.length);
      if (gpu) {
        const tops = await gpu.topK(Qf!, queries.length, packF32(dEmb, dim), chunk.length, dim, fn, k);
        mergeTops(tops, chunk, heaps, topK);
        scored += queries.length * chunk.length;
        hooks.progress?.(scored, queries.length * total, 'query-document scores');
        continue;
      }
      const { data: D } = packRows(dEmb, fn === 'cosine');
      const dNorms = fn === 'euclidean' ? sqNorms(D, chunk.length, dim) : undefined;
      const threads = scoringThreads();
      if (threads > 1 && queries.length > 1 && queries.length * chunk.length >= PARALLEL_MIN_SCORES) {
        // worker threads: same kernel and tie order, so the run is identical to the loop below
        const tops = await parallelTopK(Q, queries.length, D, chunk.length, dim, fn, k, threads, qNorms, dNorms);
        mergeTops(tops, chunk, heaps, topK);
        scored += queries.length * chunk.length;
        hooks.progress?.(scored, queries.length * total, 'query-document scores');
        continue;
      }
      for (let q0 = 0; q0 < queries.length; q0 += QUERY_BLOCK) {
        const q1 = Math.min(queries.length, q0 + QUERY_BLOCK);
        const block = scoreBlock(Q, q0, q1, D, chunk.length, dim, fn, qNorms, dNorms);
        for (let q = q0; q < q1; q++) {
          const row = block.subarray((q - q0) * chunk.length, (q - q0 + 1) * chunk.length);
          const h = heaps[q];
          for (const j of topKIndices(row, k)) {
            const item: Item = [row[j], chunk[j].id];
            if (h.length < topK) heappush(h, item);
            else heappushpop(h, item);
          }
        }
        scored += (q1 - q0) * chunk.length;
        hooks.progress?.(scored, queries.length * total, 'query-document scores');
      }
    }
  }
  queries.forEach((q, i) => {
    const m = new Map<string, number>();
    for (const [s, id] of heaps[i]) m.set(id, s);
    run.set(q.id, m);
  });
  return run;
}

/** SearchCrossEncoderWrapper.search: one prediction per (query, top_ranked candidate) pair. */
export async function searchWithCrossEncoder(model: CrossEncoderLike, data: RetrievalSplitData, opts: EncodeOptions, hooks: SearchHooks = {}): Promise<Run> {
  if (!data.topRanked) {
    throw new Error(`${opts.taskName}: a cross-encoder can only rerank; this retrieval task has no top_ranked candidates (mteb: "CrossEncoder search requires top_ranked documents for reranking"); give it a first stage: a bi-encoder run's saved predictions (--save-predictions) as --previous-results, with --rerank-top-k (library: previousResults, previousResultsTopK)`);
  }
  const qById = new Map(data.queries.map((q) => [q.id, q]));
  const dById = new Map(data.corpus.map((d) => [d.id, d]));
  const pairs: Array<[string, string]> = [];
  const ids: Array<[string, string]> = [];
  const qText = new Map<string, string>();
  const dText = new Map<string, string>();
  // Reported as the bi-encoder path reports them: such queries get an empty run and score 0.
  const missingQ = data.queries.filter((q) => !data.topRanked!.has(q.id)).map((q) => q.id);
  if (missingQ.length) hooks.log?.(`${opts.taskName}: no pre-ranked documents for ${missingQ.length} queries (e.g. ${missingQ[0]}); they score 0`);
  for (const [qid, docIds] of data.topRanked) {
    const q = qById.get(qid);
    if (!q) continue; // no relevance judgements: not evaluated
    if (!qText.has(qid)) qText.set(qid, queryText(q));
    for (const did of docIds) {
      const d = dById.get(did);
      if (!d) throw new Error(`${opts.taskName}: top_ranked document "${did}" of query "${qid}" is not in the corpus`);
      if (!dText.has(did)) dText.set(did, documentText(d));
      pairs.push([qText.get(qid)!, dText.get(did)!]);
      ids.push([qid, did]);
    }
  }
  const scores = await predictChecked(model, pairs, { ...opts, promptType: undefined }, `${opts.taskName} pairs`);
  const run: Run = new Map(data.queries.map((q) => [q.id, new Map<string, number>()]));
  ids.forEach(([qid, did], i) => run.get(qid)!.set(did, scores[i]));
  return run;
}

export interface RetrievalRunHooks extends SearchHooks {
  phase?: (name: string, start: number, end: number) => void;
  /** receives the run (query -> top documents with scores) before scoring, e.g. to save it */
  predictions?: (run: Run) => void;
}

/** Searches with the model and scores the run like mteb (AbsTaskRetrieval._evaluate_subset). */
export async function evaluateRetrieval(
  model: EvaluableModel,
  data: RetrievalSplitData,
  opts: EncodeOptions,
  settings: { ignoreIdenticalIds?: boolean; kValues?: readonly number[]; taskSpecificScores?: 'max_over_subqueries' } = {},
  hooks: RetrievalRunHooks = {},
): Promise<ScoreDict> {
  const kValues = settings.kValues ?? DEFAULT_K_VALUES;
  const topK = Math.max(...kValues);
  let t = performance.now();
  const run = model.kind === 'cross-encoder' ? await searchWithCrossEncoder(model, data, opts, hooks) : await searchWithEncoder(model, data, topK, opts, hooks);
  hooks.phase?.('Encoding queries and documents', t, performance.now());
  hooks.predictions?.(run);
  t = performance.now();
  if (settings.ignoreIdenticalIds) for (const [qid, docs] of run) docs.delete(qid);
  const { scores } = calculateRetrievalScores(run, data.qrels, kValues);
  if (settings.taskSpecificScores === 'max_over_subqueries') Object.assign(scores, maxOverSubqueries(run, data.qrels, kValues));
  hooks.phase?.('Scoring', t, performance.now());
  return scores;
}

/**
 * mteb's max_over_subqueries (MindSmallReranking): queries "<base>_<n>" are merged into <base>,
 * each document keeping its best score over the subqueries; the merged run is scored again and
 * every key is prefixed "max_over_subqueries_".
 */
export function maxOverSubqueries(run: Run, qrels: Qrels, kValues: readonly number[]): ScoreDict {
  const groups = new Map<string, string[]>();
  for (const qid of qrels.keys()) {
    const base = qid.split('_').slice(0, -1).join('_');
    if (!groups.has(base)) groups.set(base, []);
    groups.get(base)!.push(qid);
  }
  const merged: Run = new Map();
  const mergedQrels: Qrels = new Map();
  for (const [base, ids] of groups) {
    const docs = new Map<string, number>();
    for (const qid of ids) {
      for (const [doc, score] of run.get(qid) ?? new Map<string, number>()) docs.set(doc, docs.has(doc) ? Math.max(score, docs.get(doc)!) : score);
    }
    merged.set(base, docs);
    mergedQrels.set(base, qrels.get(ids[ids.length - 1])!); // mteb: "all the same"
  }
  const { scores } = calculateRetrievalScores(merged, mergedQrels, kValues);
  return Object.fromEntries(Object.entries(scores).map(([k, v]) => [`max_over_subqueries_${k}`, v]));
}
