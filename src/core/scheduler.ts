// The batching queue: packs tokenized sequences into unpadded batches by token budget
// (maxNumBatchedTokens) and sequence count (maxNumSeqs), as vLLM's scheduler does for pooling
// models. Within a window sequences are length-sorted so a padding backend (onnxruntime) wastes
// little; the GPU path is unpadded and indifferent to order.
import type { TokenBatch } from '../backends/engine.js';
import { chunkInputs, type PositionedChunk } from '../tokenize/pool.js';
import { prefixSharingOrder } from '../kv/schedule.js';

export interface SchedulerOptions {
  maxNumBatchedTokens: number;
  maxNumSeqs: number;
  /** Sequences gathered before sorting and packing; larger sorts better, starts later. */
  window?: number;
  /**
   * Also pack once this many tokens, or 2 × maxNumSeqs sequences, are pending (inputs counted with
   * their repeats), emitting only full batches and keeping the rest for the next window: the first
   * batch can start while later texts are still being tokenized. For unpadded backends (the CUDA
   * engine), where a window's sort buys little; undefined (the CPU engine, which pads to the
   * longest sequence): `window` sequences only.
   */
  windowTokens?: number;
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

export class TokenBudgetScheduler {
  private chunks: PositionedChunk[] = [];
  private pendingSeqs = 0;
  private pendingTokens = 0;
  private readonly window: number;

  constructor(private readonly opts: SchedulerOptions) {
    if (!(opts.maxNumBatchedTokens >= 1) || !(opts.maxNumSeqs >= 1)) {
      throw new Error('maxNumBatchedTokens and maxNumSeqs must be positive');
    }
    if (opts.windowTokens !== undefined && !(opts.windowTokens >= opts.maxNumBatchedTokens)) {
      throw new Error(`windowTokens (${opts.windowTokens}) must be at least maxNumBatchedTokens (${opts.maxNumBatchedTokens})`);
    }
    this.window = opts.window ?? 8192;
  }

  /** Adds a tokenized chunk; returns the batches that became ready. */
  push(chunk: PositionedChunk): PlannedBatch[] {
    const m = chunkInputs(chunk);
    if (m > 0) {
      this.chunks.push(chunk);
      this.pendingSeqs += m;
      this.pendingTokens += chunk.refs ? refTokens(chunk) : chunk.ids.length;
    }
    // With a token window only full batches leave before flush, even when the sequence window fills.
    if (this.pendingSeqs >= this.window) return this.drain(this.opts.windowTokens !== undefined);
    if (this.opts.windowTokens === undefined) return [];
    // Two batches' worth by tokens, or by sequences when maxNumSeqs binds first: STS's ~14-token
    // sentences fill 1024 sequences with 14k of a 32k-token budget, so a token window alone held
    // the first batch until 4.7k sentences were tokenized (8192, the sequence window, at bench.js's
    // larger budget) and left as much for after the last chunk. H200, all STS sentences: first batch
    // at 38 instead of 61–72 ms, end to end 0.258 → 0.229 s (bench/RESULTS.md, session 16).
    return this.pendingTokens >= this.opts.windowTokens || this.pendingSeqs >= 2 * this.opts.maxNumSeqs ? this.drain(true) : [];
  }

  /** Packs whatever is left. */
  flush(): PlannedBatch[] {
    return this.drain(false);
  }

  /** Sorts and packs the pending sequences; `keepLast`: the last batch, unless full, stays pending. */
  private drain(keepLast: boolean): PlannedBatch[] {
    const chunks = this.chunks;
    const m = this.pendingSeqs;
    this.chunks = [];
    this.pendingSeqs = 0;
    this.pendingTokens = 0;
    if (!m) return [];
    // Per pending sequence its chunk, the offset of its tokens there, its input index and its
    // length: typed arrays, not an object per sequence (the window is thousands of sequences).
    const chunkOf = new Int32Array(m);
    const atOf = new Int32Array(m);
    const indexOf = new Int32Array(m);
    const lenOf = new Int32Array(m);
    let s = 0;
    for (let c = 0; c < chunks.length; c++) s = listInputs(chunks[c], c, s, { chunkOf, atOf, indexOf, lenOf });
    let maxLen = 0;
    for (let q = 0; q < m; q++) if (lenOf[q] > maxLen) maxLen = lenOf[q];
    const order = this.opts.order === 'prefix' ? this.prefixOrder(chunks, chunkOf, atOf, lenOf) : lengthOrder(lenOf, maxLen);

    const out: PlannedBatch[] = [];
    // Single texts have type 0 throughout: their batches carry no type ids (TokenBatch: absent
    // means all 0), which halves the gather below and what goes to the engine.
    const typeIds = chunks.some(hasTypeIds) ? chunks.map((c) => c.typeIds) : undefined;
    const seqs: Sequences = { ids: chunks.map((c) => c.ids), typeIds, chunkOf, atOf, indexOf, lenOf, order };
    let first = 0;
    let tokens = 0;
    for (let j = 0; j < m; j++) {
      const len = lenOf[order[j]];
      if (j > first && (tokens + len > this.opts.maxNumBatchedTokens || j - first >= this.opts.maxNumSeqs)) {
        out.push(this.build(seqs, first, j, tokens));
        first = j;
        tokens = 0;
      }
      tokens += len;
    }
    const full = tokens >= this.opts.maxNumBatchedTokens || m - first >= this.opts.maxNumSeqs;
    if (keepLast && !full) this.keep(seqs, first, m, tokens);
    else out.push(this.build(seqs, first, m, tokens));
    return out;
  }

  /** Sorted sequences order[from, to) stay pending, as one chunk whose references name their inputs. */
  private keep(seqs: Sequences, from: number, to: number, tokens: number): void {
    const { batch, indices } = this.build(seqs, from, to, tokens);
    const n = to - from;
    const local = new Int32Array(n);
    for (let i = 0; i < n; i++) local[i] = i;
    this.chunks.push({ start: 0, n, offsets: batch.cuSeqlens, ids: batch.ids, typeIds: batch.typeIds ?? new Int32Array(tokens), truncated: new Int32Array(n), refs: { local, inputs: indices } });
    this.pendingSeqs = n;
    this.pendingTokens = tokens;
  }

  /** prefixSharingOrder over the pending sequences' ids. */
  private prefixOrder(chunks: PositionedChunk[], chunkOf: Int32Array, atOf: Int32Array, lenOf: Int32Array): Int32Array {
    const views = Array.from(chunkOf, (c, s) => chunks[c].ids.subarray(atOf[s], atOf[s] + lenOf[s]));
    return Int32Array.from(prefixSharingOrder(views));
  }

  /** The batch of sorted sequences order[from, to), `tokens` tokens in all. */
  private build(seqs: Sequences, from: number, to: number, tokens: number): PlannedBatch {
    const n = to - from;
    const ids = new Int32Array(tokens);
    const typeIds = seqs.typeIds ? new Int32Array(tokens) : undefined;
    const cuSeqlens = new Int32Array(n + 1);
    const indices = new Int32Array(n);
    const poolSkip = this.opts.poolSkip;
    const skip = poolSkip ? new Int32Array(n) : undefined;
    const { order, chunkOf, atOf, lenOf, indexOf } = seqs;
    let pos = 0;
    for (let i = 0; i < n; i++) {
      const q = order[from + i];
      const c = chunkOf[q];
      const len = lenOf[q];
      copyInts(ids, pos, seqs.ids[c], atOf[q], len);
      if (typeIds) copyInts(typeIds, pos, seqs.typeIds![c], atOf[q], len);
      const index = indexOf[q];
      indices[i] = index;
      if (skip) skip[i] = poolSkip!(index);
      pos += len;
      cuSeqlens[i + 1] = pos;
    }
    return { indices, tokens, batch: { ids, typeIds, cuSeqlens, poolSkip: skip } };
  }
}

/**
 * The pending sequences of a drain: per chunk its ids and type ids (undefined when every type id
 * is 0); per sequence its chunk, the offset of its tokens in the chunk, its input index and
 * length; the sorted order.
 */
interface Sequences {
  ids: Int32Array[];
  typeIds: Int32Array[] | undefined;
  chunkOf: Int32Array;
  atOf: Int32Array;
  indexOf: Int32Array;
  lenOf: Int32Array;
  order: Int32Array;
}

/**
 * Writes chunk number `c`'s inputs (each repeat of a deduplicated text too, in input order) at
 * slots s, s + 1, … of the per-sequence arrays; returns the next free slot.
 */
function listInputs(chunk: PositionedChunk, c: number, s: number, to: Pick<Sequences, 'chunkOf' | 'atOf' | 'indexOf' | 'lenOf'>): number {
  const { chunkOf, atOf, indexOf, lenOf } = to;
  const off = chunk.offsets;
  if (chunk.refs) {
    const { local, inputs } = chunk.refs;
    for (let r = 0; r < inputs.length; r++, s++) {
      const k = local[r];
      chunkOf[s] = c;
      atOf[s] = off[k];
      indexOf[s] = inputs[r];
      lenOf[s] = off[k + 1] - off[k];
    }
  } else {
    for (let k = 0; k < chunk.n; k++, s++) {
      chunkOf[s] = c;
      atOf[s] = off[k];
      indexOf[s] = chunk.start + k;
      lenOf[s] = off[k + 1] - off[k];
    }
  }
  return s;
}

/**
 * dst[at, at + len) = src[from, from + len). Sequences are mostly short (a sentence is ~15
 * tokens): an element loop beats creating a subarray view per copy; long ones use set().
 */
function copyInts(dst: Int32Array, at: number, src: Int32Array, from: number, len: number): void {
  if (len > 64) {
    dst.set(src.subarray(from, from + len), at);
    return;
  }
  for (let k = 0; k < len; k++) dst[at + k] = src[from + k];
}

/** Whether any token of the chunk has a type id other than 0 (a pair's second segment). */
function hasTypeIds(chunk: PositionedChunk): boolean {
  const t = chunk.typeIds;
  for (let i = 0; i < t.length; i++) if (t[i] !== 0) return true;
  return false;
}

/** Tokens of a deduplicated chunk's inputs, each repeat counted. */
function refTokens(chunk: PositionedChunk): number {
  let t = 0;
  const { local } = chunk.refs!;
  for (let r = 0; r < local.length; r++) t += chunk.offsets[local[r] + 1] - chunk.offsets[local[r]];
  return t;
}

/**
 * Longest first: the first batches are the heaviest, so stragglers at the end are small. Equal
 * lengths keep arrival order (input order; repeats of a text next to its first occurrence): a
 * stable counting sort on maxLen − length, O(m + maxLen).
 */
function lengthOrder(lenOf: Int32Array, maxLen: number): Int32Array {
  const m = lenOf.length;
  const start = new Int32Array(maxLen + 2);
  for (let i = 0; i < m; i++) start[maxLen - lenOf[i] + 1]++;
  for (let b = 1; b < start.length; b++) start[b] += start[b - 1];
  const order = new Int32Array(m);
  for (let i = 0; i < m; i++) order[start[maxLen - lenOf[i]]++] = i;
  return order;
}
