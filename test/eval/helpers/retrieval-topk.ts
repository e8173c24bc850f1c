// Reference and comparison for accelerator retrieval scoring (RetrievalScorer): the CPU path's
// own top k (packRows + scoreBlock + topKIndices, exactly what searchWithEncoder runs on the CPU)
// and the check that another scorer's top k is the same ranking with scores within a tolerance.
import type { QueryTopK, SimilarityFn } from '../../../src/eval/model.js';
import { packRows, scoreBlock, topKIndices } from '../../../src/eval/retrieval.js';
import { Rng } from '../../../scripts/make-test-model.js';

/**
 * n rows of dim: normal(0, 1/dim) entries (rows of norm about 1, as embeddings are), or small
 * integers in [-3, 3] (fp32 dot products then exact, so ties are exact on every path).
 */
export function randomRows(rng: Rng, n: number, dim: number, kind: 'normal' | 'int' = 'normal'): Float32Array {
  const out = new Float32Array(n * dim);
  const sd = 1 / Math.sqrt(dim);
  for (let i = 0; i < out.length; i++) out[i] = kind === 'int' ? rng.int(-3, 3) : rng.normal() * sd;
  return out;
}

/** Copies row `from` over row `to` (duplicated documents: exact ties). */
export function duplicateRow(m: Float32Array, dim: number, from: number, to: number): void {
  m.copyWithin(to * dim, from * dim, (from + 1) * dim);
}

function rows(m: Float32Array, n: number, dim: number): Float32Array[] {
  return Array.from({ length: n }, (_, i) => m.subarray(i * dim, (i + 1) * dim));
}

/** The CPU path's full score rows [nq][nd] (float64 products rounded to fp32). */
export function cpuScores(Q: Float32Array, nq: number, D: Float32Array, nd: number, dim: number, fn: SimilarityFn): Float32Array[] {
  const q = packRows(rows(Q, nq, dim), fn === 'cosine').data;
  const d = packRows(rows(D, nd, dim), fn === 'cosine').data;
  const block = scoreBlock(q, 0, nq, d, nd, dim, fn);
  return Array.from({ length: nq }, (_, i) => block.subarray(i * nd, (i + 1) * nd));
}

/** The CPU path's top min(k, nd) per query. */
export function cpuTopK(scores: Float32Array[], k: number): QueryTopK[] {
  return scores.map((row) => {
    const idx = topKIndices(row, Math.min(k, row.length));
    return { indices: Int32Array.from(idx), scores: Float32Array.from(idx, (j) => row[j]) };
  });
}

export interface Agreement {
  /** what disagrees (empty: agreement) */
  problems: string[];
  /** ranks where the scorer lists another document than the CPU (near ties only, else a problem) */
  nearTieSwaps: number;
  positions: number;
}

/**
 * `got` agrees with the CPU path's `want` when, per query: both list the same number of hits;
 * `got` is best first with equal scores in index order (the CPU path's tie rule); every score is
 * within `tol` of the CPU's score at that rank and of the CPU's score for that document (times
 * the magnitude when above 1: fp32 keeps relative precision); and the two rankings differ only
 * among near ties: no document comes after another whose CPU score is lower by more than
 * `nearTie`, and a document only the one list has scores within `nearTie` of the CPU's cut-off
 * (fp32 vs float64 rounding can order near ties either way, or make them equal on one side only).
 */
export function compareTopK(got: QueryTopK[], want: QueryTopK[], scores: Float32Array[], tol = 1e-5, nearTie = 2e-6): Agreement {
  const problems: string[] = [];
  let nearTieSwaps = 0, positions = 0;
  if (got.length !== want.length) return { problems: [`${got.length} queries, want ${want.length}`], nearTieSwaps, positions };
  want.forEach((w, q) => {
    const g = got[q];
    const row = scores[q];
    const n = w.indices.length;
    if (g.indices.length !== n) {
      problems.push(`query ${q}: ${g.indices.length} hits, want ${n}`);
      return;
    }
    const scale = (x: number) => Math.max(1, Math.abs(x));
    let minCpuSoFar = Infinity;
    for (let r = 0; r < n; r++) {
      positions++;
      const gi = g.indices[r], wi = w.indices[r], gs = g.scores[r];
      if (r > 0 && !(gs < g.scores[r - 1] || (gs === g.scores[r - 1] && gi > g.indices[r - 1]))) {
        problems.push(`query ${q} rank ${r}: (${gs}, ${gi}) listed after (${g.scores[r - 1]}, ${g.indices[r - 1]})`);
      }
      if (!(Math.abs(gs - w.scores[r]) <= tol * scale(w.scores[r]))) problems.push(`query ${q} rank ${r}: score ${gs}, CPU ${w.scores[r]}`);
      if (!(Number.isInteger(gi) && gi >= 0 && gi < row.length)) {
        problems.push(`query ${q} rank ${r}: index ${gi} out of range`);
        continue;
      }
      if (!(Math.abs(gs - row[gi]) <= tol * scale(row[gi]))) problems.push(`query ${q} rank ${r}: document ${gi} scored ${gs}, CPU ${row[gi]}`);
      if (row[gi] > minCpuSoFar + nearTie * scale(row[gi])) problems.push(`query ${q} rank ${r}: document ${gi} (CPU ${row[gi]}) after one the CPU scores ${minCpuSoFar}`);
      minCpuSoFar = Math.min(minCpuSoFar, row[gi]);
      if (gi !== wi) nearTieSwaps++;
    }
    const cut = w.scores[n - 1];
    const inGot = new Set(g.indices), inWant = new Set(w.indices);
    for (const j of inGot) if (!inWant.has(j) && !(Math.abs(row[j] - cut) <= nearTie * scale(cut))) problems.push(`query ${q}: document ${j} (CPU ${row[j]}) listed, CPU cut-off ${cut}`);
    for (const j of inWant) if (!inGot.has(j) && !(Math.abs(row[j] - cut) <= nearTie * scale(cut))) problems.push(`query ${q}: document ${j} (CPU ${row[j]}) missing, CPU cut-off ${cut}`);
  });
  return { problems: problems.slice(0, 20), nearTieSwaps, positions };
}
