// Full-corpus retrieval scoring on CPU worker threads: the query-document score matrix of a corpus
// chunk is split by query ranges over a Piscina pool (workers/topk.worker.ts); each worker returns
// its queries' top k. Results are identical to the single-threaded path (same float64 kernel,
// same tie order); only the threads differ. Used when the chunk is large enough to pay for the
// copy into shared memory.
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { TopKResult, TopKTask } from '../../workers/topk.worker.js';
import type { SimilarityFn } from './model.js';

/** Scores per chunk below which one thread is faster than the hand-off (measured in bench/retrieval-scoring.ts). */
export const PARALLEL_MIN_SCORES = 4_000_000;

let pool: Piscina | null = null;
let poolThreads = 0;

/** Worker threads for scoring: EMBEDRANK_SCORING_THREADS, else the machine's parallelism (at most 16). */
export function scoringThreads(): number {
  const env = Number(process.env.EMBEDRANK_SCORING_THREADS);
  if (Number.isInteger(env) && env >= 1) return env;
  return Math.max(1, Math.min(16, availableParallelism()));
}

function getPool(threads: number): Piscina {
  if (!pool || poolThreads !== threads) {
    void pool?.destroy();
    pool = new Piscina({ filename: new URL('../../workers/topk.worker.js', import.meta.url).href, minThreads: 1, maxThreads: threads, idleTimeout: 10_000, stricterFIFO: true });
    poolThreads = threads;
  }
  return pool;
}

/** Stops the scoring threads (they also exit by themselves after 10 s idle). */
export async function closeScoringPool(): Promise<void> {
  const p = pool;
  pool = null;
  await p?.destroy();
}

function shared(a: Float64Array): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(a.byteLength);
  new Float64Array(sab).set(a);
  return sab;
}

/**
 * Top `k` documents of every query: `Q` [nq x dim] against `D` [nd x dim] (rows as packRows makes
 * them), on `threads` worker threads. Returns per query the indices (best first) and scores.
 */
export async function parallelTopK(
  Q: Float64Array,
  nq: number,
  D: Float64Array,
  nd: number,
  dim: number,
  fn: SimilarityFn,
  k: number,
  threads: number,
  qNorms?: Float64Array,
  dNorms?: Float64Array,
): Promise<Array<{ indices: Int32Array; scores: Float32Array }>> {
  const p = getPool(threads);
  const base = { queries: shared(Q), docs: shared(D), queryNorms: qNorms && shared(qNorms), docNorms: dNorms && shared(dNorms), nd, dim, fn, k };
  // a few ranges per thread, so one slow thread does not hold up the rest
  const per = Math.max(1, Math.ceil(nq / (threads * 4)));
  const jobs: Array<Promise<[number, TopKResult]>> = [];
  for (let q0 = 0; q0 < nq; q0 += per) {
    const task: TopKTask = { ...base, q0, q1: Math.min(nq, q0 + per) };
    jobs.push(p.run(task).then((r: TopKResult) => [q0, r]));
  }
  const out: Array<{ indices: Int32Array; scores: Float32Array }> = new Array(nq);
  for (const [q0, r] of await Promise.all(jobs)) {
    const n = r.indices.length / k;
    for (let i = 0; i < n; i++) {
      const idx = r.indices.subarray(i * k, (i + 1) * k);
      let len = idx.indexOf(-1);
      if (len < 0) len = k;
      out[q0 + i] = { indices: idx.subarray(0, len), scores: r.scores.subarray(i * k, i * k + len) };
    }
  }
  return out;
}
