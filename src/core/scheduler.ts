// The batching queue: packs tokenized sequences into unpadded batches by token budget
// (maxNumBatchedTokens) and sequence count (maxNumSeqs), as vLLM's scheduler does for pooling
// models. Within a window sequences are length-sorted so a padding backend (onnxruntime) wastes
// little; the GPU path is unpadded and indifferent to order.
import type { TokenBatch } from '../backends/engine.js';
import type { PositionedChunk } from '../tokenize/pool.js';
import { prefixSharingOrder } from '../kv/schedule.js';

export interface SchedulerOptions {
  maxNumBatchedTokens: number;
  maxNumSeqs: number;
  /** Sequences gathered before sorting and packing; larger sorts better, starts later. */
  window?: number;
  /** Per input index, leading tokens pooling should skip (prompt tokens). */
  poolSkip?: (index: number) => number;
  /**
   * How a window is ordered before packing: 'length' (longest first; default) or 'prefix'
   * (prefixSharingOrder, for a decoder's prefix cache: a query's reranking candidates land in the
   * same batch, back to back, while their shared prompt blocks are cached).
   */
  order?: 'length' | 'prefix';
}

export interface PlannedBatch {
  /** Input index of each sequence in the batch, in batch order. */
  indices: Int32Array;
  batch: TokenBatch;
  tokens: number;
}

interface SeqRef {
  index: number;
  chunk: PositionedChunk;
  local: number;
  len: number;
}

export class TokenBudgetScheduler {
  private pending: SeqRef[] = [];
  private readonly window: number;

  constructor(private readonly opts: SchedulerOptions) {
    if (!(opts.maxNumBatchedTokens >= 1) || !(opts.maxNumSeqs >= 1)) {
      throw new Error('maxNumBatchedTokens and maxNumSeqs must be positive');
    }
    this.window = opts.window ?? 8192;
  }

  /** Adds a tokenized chunk; returns the batches that became ready. */
  push(chunk: PositionedChunk): PlannedBatch[] {
    for (let k = 0; k < chunk.n; k++) {
      this.pending.push({ index: chunk.start + k, chunk, local: k, len: chunk.offsets[k + 1] - chunk.offsets[k] });
    }
    return this.pending.length >= this.window ? this.drain() : [];
  }

  /** Packs whatever is left. */
  flush(): PlannedBatch[] {
    return this.drain();
  }

  private drain(): PlannedBatch[] {
    const pending = this.pending;
    this.pending = [];
    const seqs =
      this.opts.order === 'prefix'
        ? prefixSharingOrder(pending.map((s) => s.chunk.ids.subarray(s.chunk.offsets[s.local], s.chunk.offsets[s.local] + s.len))).map((i) => pending[i])
        : // Longest first: the first batches are the heaviest, so stragglers at the end are small.
          pending.sort((a, b) => b.len - a.len || a.index - b.index);
    const out: PlannedBatch[] = [];
    let cur: SeqRef[] = [];
    let tokens = 0;
    for (const s of seqs) {
      if (cur.length && (tokens + s.len > this.opts.maxNumBatchedTokens || cur.length >= this.opts.maxNumSeqs)) {
        out.push(this.build(cur, tokens));
        cur = [];
        tokens = 0;
      }
      cur.push(s);
      tokens += s.len;
    }
    if (cur.length) out.push(this.build(cur, tokens));
    return out;
  }

  private build(seqs: SeqRef[], tokens: number): PlannedBatch {
    const n = seqs.length;
    const ids = new Int32Array(tokens);
    const typeIds = new Int32Array(tokens);
    const cuSeqlens = new Int32Array(n + 1);
    const indices = new Int32Array(n);
    const skip = this.opts.poolSkip ? new Int32Array(n) : undefined;
    let pos = 0;
    for (let i = 0; i < n; i++) {
      const s = seqs[i];
      const from = s.chunk.offsets[s.local];
      ids.set(s.chunk.ids.subarray(from, from + s.len), pos);
      typeIds.set(s.chunk.typeIds.subarray(from, from + s.len), pos);
      indices[i] = s.index;
      if (skip) skip[i] = this.opts.poolSkip!(s.index);
      pos += s.len;
      cuSeqlens[i + 1] = pos;
    }
    return { indices, tokens, batch: { ids, typeIds, cuSeqlens, poolSkip: skip } };
  }
}
