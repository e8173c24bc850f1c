// Scheduling for the paged KV cache: the order that lets a query's reranking candidates share
// their prompt prefix blocks, and chunked prefill (vLLM's enable_chunked_prefill) that splits
// sequences longer than the token budget into chunks, each attending to the cached KV of the
// chunks before it.

/**
 * A permutation of sequence indices in lexicographic token order (ties keep input order), so
 * sequences with a common prefix — a query's candidates in Qwen3-Reranker's prompt, documents
 * behind one instruction — run back to back and hit the prefix cache while their blocks are
 * still resident.
 */
export function prefixSharingOrder(seqs: ReadonlyArray<ArrayLike<number>>): number[] {
  const idx = seqs.map((_, i) => i);
  return idx.sort((a, b) => {
    const x = seqs[a];
    const y = seqs[b];
    const n = Math.min(x.length, y.length);
    for (let t = 0; t < n; t++) if (x[t] !== y[t]) return x[t] - y[t];
    return x.length - y.length || a - b;
  });
}

/** One piece of a prefill step: tokens [start, end) of sequence `seq`. */
export interface PrefillChunk {
  seq: number;
  start: number;
  end: number;
}

/**
 * Prefill steps under a token budget: each step holds at most `tokenBudget` new tokens and
 * `maxSeqs` sequences; sequences are taken in order and the one that does not fit whole gets the
 * rest of the step and continues in the next (vLLM's chunked prefill). `cachedTokens[i]` leading
 * tokens of sequence i are already in the KV cache (prefix hits) and are not recomputed.
 * @throws Error for a budget below 1 or cached counts not below the sequence length.
 */
export function planChunkedPrefill(lengths: readonly number[], tokenBudget: number, opts: { maxSeqs?: number; cachedTokens?: readonly number[] } = {}): PrefillChunk[][] {
  if (!Number.isInteger(tokenBudget) || tokenBudget < 1) throw new Error(`token budget ${tokenBudget} must be a positive integer`);
  const maxSeqs = opts.maxSeqs ?? Infinity;
  const steps: PrefillChunk[][] = [];
  let step: PrefillChunk[] = [];
  let used = 0;
  lengths.forEach((len, seq) => {
    const cached = opts.cachedTokens?.[seq] ?? 0;
    if (!Number.isInteger(len) || len < 1) throw new Error(`sequence ${seq} has length ${len}`);
    if (!(cached >= 0 && cached < len)) throw new Error(`sequence ${seq}: ${cached} cached tokens of ${len} (at least the last token is computed)`);
    let start = cached;
    while (start < len) {
      if (used === tokenBudget || step.length === maxSeqs) {
        steps.push(step);
        step = [];
        used = 0;
      }
      const end = Math.min(len, start + tokenBudget - used);
      step.push({ seq, start, end });
      used += end - start;
      start = end;
    }
  });
  if (step.length) steps.push(step);
  return steps;
}
