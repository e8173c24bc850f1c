// Inputs of the Qwen3 benchmarks (bench/qwen3.ts), kept apart from the GPU runs so they can be
// tested on the CPU: the SciFact corpus as mteb's retrieval task reads it, and the reranking
// workload (queries whose candidates share a long prompt prefix), measured on the token ids
// CrossEncoder.predict itself runs.
import type { TokenizedChunk } from '../src/tokenize/packed.js';
import { loadRetrievalData, allSplits } from '../src/eval/data/load.js';
import { documentText, queryText } from '../src/eval/retrieval.js';
import { BlockPool } from '../src/kv/block-pool.js';
import { getTask } from '../src/eval/tasks.js';
import { InputError } from '../src/errors.js';

/**
 * The SciFact test split as mteb's retrieval task reads it: the corpus in file order (5183
 * abstracts in the real data), each document as mteb embeds it, (title + " " + text).strip()
 * (documentText, the evaluator's own), and the queries (the 300 claims with relevance judgements)
 * as queryText builds them. `dataDir` is a folder holding `scifact/` in the BEIR layout (or any
 * layout `evaluate --data-dir` reads).
 * @throws DataNotFoundError when no SciFact data is there.
 */
export async function scifactTexts(dataDir: string): Promise<{ documents: string[]; queries: string[] }> {
  const task = getTask('SciFact');
  const data = await loadRetrievalData(task, allSplits(task), { dataDir, offline: true });
  const split = data.splits.get('test')!.get('default')!;
  return { documents: split.corpus.map(documentText), queries: split.queries.map(queryText) };
}

/** Length in tokens of the prefix shared by sequences from..to−1 of a chunk (the whole first sequence when alone). */
export function sharedPrefixLength(chunk: Pick<TokenizedChunk, 'ids' | 'offsets'>, from: number, to: number): number {
  if (!(from >= 0 && to > from && to < chunk.offsets.length)) throw new RangeError(`sequences ${from}..${to - 1} are not in a chunk of ${chunk.offsets.length - 1}`);
  const a = chunk.offsets[from];
  let len = chunk.offsets[from + 1] - a;
  for (let s = from + 1; s < to && len > 0; s++) {
    const b = chunk.offsets[s];
    const n = Math.min(len, chunk.offsets[s + 1] - b);
    let k = 0;
    while (k < n && chunk.ids[a + k] === chunk.ids[b + k]) k++;
    len = k;
  }
  return len;
}

/**
 * What the prefix cache can skip over chunks run in this order with blocks enough for everything:
 * src/kv/block-pool.ts's BlockPool (vLLM's rules: full blocks only, chained hashes, a sequence's
 * last token always computed) replayed on the token ids, one sequence after another, each freed
 * after its allocation (its blocks stay cached). Per chunk: blocks looked up, blocks found, and
 * the tokens those hold (hits · blockSize).
 */
export function simulatePrefixCache(chunks: ReadonlyArray<Pick<TokenizedChunk, 'ids' | 'offsets'>>, blockSize: number): Array<{ queries: number; hits: number; cachedTokens: number }> {
  let total = 0;
  for (const c of chunks) total += Math.ceil(c.ids.length / blockSize) + c.offsets.length;
  const pool = new BlockPool(Math.max(1, total), blockSize, true);
  let seq = 0;
  return chunks.map((c) => {
    const q0 = pool.stats.queries;
    const h0 = pool.stats.hits;
    for (let s = 0; s + 1 < c.offsets.length; s++) {
      const id = `s${seq++}`;
      pool.allocate(id, c.ids.subarray(c.offsets[s], c.offsets[s + 1]));
      pool.freeSequence(id);
    }
    const hits = pool.stats.hits - h0;
    return { queries: pool.stats.queries - q0, hits, cachedTokens: hits * blockSize };
  });
}

/** One timed (or warm-up) pass of the reranking benchmark: queries × candidates pairs, query-major. */
export interface RerankSet {
  pairs: Array<[string, string]>;
  /** What CrossEncoder.predict runs for `pairs` (its tokenizePairs). */
  chunk: TokenizedChunk;
  /** Per query: the tokens its candidates' prompts share (system line, instruction, query, and whatever the documents' starts share). */
  sharedPrefix: number[];
}

export interface RerankWorkloadOptions {
  /** Queries per set. */
  queries: number;
  candidates: number;
  /** Least shared-prefix length in tokens of every query's candidates. */
  minPrefix: number;
  /** Sets with disjoint queries and documents (the first is the warm-up). */
  sets: number;
}

/**
 * Builds the reranking sets: query q of the workload is the shortest leading run of words of
 * source text q (SciFact abstracts) whose candidates' prompts share ≥ minPrefix tokens; each pair
 * has its own document and every query is distinct (no text repeats anywhere, so only the
 * prompt prefix can be cached).
 * Sources too short to reach minPrefix are skipped. `tokenizePairs` is CrossEncoder.tokenizePairs.
 * @throws Error when sources or documents run out, or a chosen prompt is truncated (raise maxModelLen).
 */
export async function buildRerankWorkload(
  tokenizePairs: (pairs: Array<[string, string]>) => Promise<TokenizedChunk>,
  sources: readonly string[],
  documents: readonly string[],
  o: RerankWorkloadOptions,
): Promise<RerankSet[]> {
  const docs = [...new Set(documents.map((d) => d.trim()).filter((d) => d.length > 0))];
  const need = o.sets * o.queries * o.candidates;
  if (docs.length < need) throw new Error(`${need} distinct documents needed (${o.sets} sets × ${o.queries} queries × ${o.candidates} candidates), ${docs.length} given`);
  // (A cut prompt still shares its prefix; the chosen queries' prompts are checked whole below.
  // A query so long that no document fits is refused by tokenizePairs: it reaches any minPrefix.)
  const shared = async (q: string, ds: string[]): Promise<number> => {
    try {
      return sharedPrefixLength(await tokenizePairs(ds.map((d) => [q, d] as [string, string])), 0, ds.length);
    } catch (e) {
      if (e instanceof InputError) return Infinity;
      throw e;
    }
  };
  const sets: RerankSet[] = [];
  const used = new Set<string>();
  let src = 0;
  let doc = 0;
  for (let s = 0; s < o.sets; s++) {
    const pairs: Array<[string, string]> = [];
    for (let q = 0; q < o.queries; q++) {
      const ds = docs.slice(doc, doc + o.candidates);
      doc += o.candidates;
      let query: string | undefined;
      while (query === undefined) {
        if (src >= sources.length) throw new Error(`source texts ran out: ${o.sets * o.queries} queries with a ${o.minPrefix}-token shared prefix needed, ${sources.length} sources`);
        const words = sources[src++].split(/\s+/).filter(Boolean);
        if (!words.length || (await shared(words.join(' '), ds.slice(0, 2))) < o.minPrefix) continue;
        // Smallest word count reaching minPrefix on two candidates (monotone up to BPE merges at
        // the cut), then grown until all candidates share it.
        let lo = 1;
        let hi = words.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if ((await shared(words.slice(0, mid).join(' '), ds.slice(0, 2))) >= o.minPrefix) hi = mid;
          else lo = mid + 1;
        }
        for (let k = lo; k <= words.length; k++) {
          const cand = words.slice(0, k).join(' ');
          if ((await shared(cand, ds)) >= o.minPrefix) {
            if (!used.has(cand)) query = cand; // two sources may open alike: every query is its own
            break;
          }
        }
      }
      used.add(query);
      for (const d of ds) pairs.push([query, d]);
    }
    const chunk = await tokenizePairs(pairs);
    if (chunk.truncated.some((t) => t !== 0)) throw new Error('a reranking prompt was truncated: raise --max-model-len');
    const sharedPrefix = Array.from({ length: o.queries }, (_, q) => sharedPrefixLength(chunk, q * o.candidates, (q + 1) * o.candidates));
    sets.push({ pairs, chunk, sharedPrefix });
  }
  return sets;
}

/** The ids of sequences from..to−1 as plain arrays (JSON for the Python baselines). */
export function idRows(chunk: Pick<TokenizedChunk, 'ids' | 'offsets'>, from = 0, to = chunk.offsets.length - 1): number[][] {
  const rows: number[][] = [];
  for (let s = from; s < to; s++) rows.push(Array.from(chunk.ids.subarray(chunk.offsets[s], chunk.offsets[s + 1])));
  return rows;
}

/** min / mean / max of a non-empty list. */
export function spread(xs: readonly number[]): { min: number; mean: number; max: number } {
  if (!xs.length) throw new RangeError('spread of an empty list');
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const x of xs) {
    min = Math.min(min, x);
    max = Math.max(max, x);
    sum += x;
  }
  return { min, mean: sum / xs.length, max };
}

/** Cosine of each row pair of two n × dim row lists (NaN rows stay NaN, so they never pass a check). */
export function rowCosines(a: ArrayLike<number>[], b: ArrayLike<number>[]): number[] {
  if (a.length !== b.length) throw new RangeError(`${a.length} rows against ${b.length}`);
  return a.map((x, i) => {
    const y = b[i];
    if (x.length !== y.length) throw new RangeError(`row ${i}: width ${x.length} against ${y.length}`);
    let xy = 0;
    let xx = 0;
    let yy = 0;
    for (let j = 0; j < x.length; j++) {
      xy += x[j] * y[j];
      xx += x[j] * x[j];
      yy += y[j] * y[j];
    }
    return xy / Math.sqrt(xx * yy);
  });
}
