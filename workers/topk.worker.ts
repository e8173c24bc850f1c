// Piscina worker: full-corpus retrieval scoring for a range of queries. Scores queries [q0, q1)
// against every document of the shared corpus chunk with retrieval.ts's scoreBlock (float64
// products rounded to float32, as the single-threaded path) and returns each query's top k
// (indices and scores, best first; ties: lower index first). Loads no model code.
import { scoreBlock, topKIndices } from '../src/eval/retrieval.js';
import type { SimilarityFn } from '../src/eval/model.js';

export interface TopKTask {
  /** queries [nq x dim] and documents [nd x dim], float64 in shared memory */
  queries: SharedArrayBuffer;
  docs: SharedArrayBuffer;
  /** squared norms for euclidean scoring */
  queryNorms?: SharedArrayBuffer;
  docNorms?: SharedArrayBuffer;
  nd: number;
  dim: number;
  fn: SimilarityFn;
  q0: number;
  q1: number;
  k: number;
}

export interface TopKResult {
  /** per query: k document indices (-1 padded when fewer), then their scores */
  indices: Int32Array;
  scores: Float32Array;
}

const BLOCK = 64;

export default function topk(t: TopKTask): TopKResult {
  const Q = new Float64Array(t.queries);
  const D = new Float64Array(t.docs);
  const qn = t.queryNorms ? new Float64Array(t.queryNorms) : undefined;
  const dn = t.docNorms ? new Float64Array(t.docNorms) : undefined;
  const n = t.q1 - t.q0;
  const indices = new Int32Array(n * t.k).fill(-1);
  const scores = new Float32Array(n * t.k);
  for (let b0 = t.q0; b0 < t.q1; b0 += BLOCK) {
    const b1 = Math.min(t.q1, b0 + BLOCK);
    const block = scoreBlock(Q, b0, b1, D, t.nd, t.dim, t.fn, qn, dn);
    for (let q = b0; q < b1; q++) {
      const row = block.subarray((q - b0) * t.nd, (q - b0 + 1) * t.nd);
      const top = topKIndices(row, t.k);
      const o = (q - t.q0) * t.k;
      top.forEach((j, r) => {
        indices[o + r] = j;
        scores[o + r] = row[j];
      });
    }
  }
  return { indices, scores }; // small (k per query): cloned back
}
