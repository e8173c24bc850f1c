// Reference and comparison for accelerator retrieval scoring (RetrievalScorer): the CPU path's
// own top k (packRows + scoreBlock + topKIndices, exactly what searchWithEncoder runs on the CPU)
// and the check that another scorer's top k is the same ranking with scores within a tolerance.
import type { QueryTopK, SimilarityFn } from '../../../src/eval/model.js';
import { packRows, scoreBlock, topKIndices } from '../../../src/eval/retrieval.js';
import { Rng } from '../../../scripts/make-test-model.js';

/** n rows of dim: normal(0, 1), or small integers in [-3, 3] (fp32 dot products then exact, so ties are exact on every path). */
export function randomRows(rng: Rng, n: number, dim: number, kind: 'normal' | 'int' = 'normal'): Float32Array {
  const out = new Float32Array(n * dim);
  for (let i = 0; i < out.length; i++) out[i] = kind === 'int' ? rng.int(-3, 3) : rng.normal();
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
  /** positions where two documents whose CPU scores differ by at most `nearTie` (but are not equal) swapped places */
  nearTieSwaps: number;
  positions: number;
}

/**
 * `got` agrees with the CPU path's `want` when, per query, both list the same number of hits
 * and at every rank: the scores are within `tol` of the CPU's (of the document listed and of the
 * CPU's hit at that rank), and the document is the CPU's, except that two documents whose CPU
 * scores differ by at most `nearTie` but are not equal may swap (fp32 vs float64 rounding can
 * order them either way). Exact CPU ties (duplicated rows) must come in the CPU's order.
 */
export function compareTopK(got: QueryTopK[], want: QueryTopK[], scores: Float32Array[], tol = 1e-5, nearTie = 2e-6): Agreement {
  const problems: string[] = [];
  let nearTieSwaps = 0, positions = 0;
  if (got.length !== want.length) return { problems: [`${got.length} queries, want ${want.length}`], nearTieSwaps, positions };
  want.forEach((w, q) => {
    const g = got[q];
    const row = scores[q];
    if (g.indices.length !== w.indices.length) {
      problems.push(`query ${q}: ${g.indices.length} hits, want ${w.indices.length}`);
      return;
    }
    for (let r = 0; r < w.indices.length; r++) {
      positions++;
      const gi = g.indices[r], wi = w.indices[r], gs = g.scores[r];
      if (!(Math.abs(gs - w.scores[r]) <= tol)) problems.push(`query ${q} rank ${r}: score ${gs}, CPU ${w.scores[r]}`);
      if (!(gi >= 0 && gi < row.length)) {
        problems.push(`query ${q} rank ${r}: index ${gi} out of range`);
        continue;
      }
      if (!(Math.abs(gs - row[gi]) <= tol)) problems.push(`query ${q} rank ${r}: document ${gi} scored ${gs}, CPU ${row[gi]}`);
      if (gi !== wi) {
        const d = Math.abs(row[gi] - row[wi]);
        if (d > 0 && d <= nearTie) nearTieSwaps++;
        else problems.push(`query ${q} rank ${r}: document ${gi}, CPU ${wi} (CPU scores ${row[gi]} vs ${row[wi]})`);
      }
    }
  });
  return { problems: problems.slice(0, 20), nearTieSwaps, positions };
}
