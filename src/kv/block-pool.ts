// The paged KV cache's bookkeeping, as vLLM's v1 KV cache manager (vllm/v1/core/block_pool.py,
// kv_cache_utils.py): a pool of fixed-size blocks preallocated from a memory fraction, each block
// holding `blockSize` tokens' K and V for every layer; a prefix cache keyed by chained block hashes
// (hash(parent hash, the block's token ids)), so a block is reused only when its whole prefix
// matches; blocks whose last user frees them stay cached in an LRU free queue until evicted for
// reuse. Pure TypeScript: the CUDA side reads the block tables this hands out.
import { createHash } from 'node:crypto';
import type { EncoderDims } from '../models/family.js';

/** vLLM's defaults: block_size, gpu_memory_utilization (one definition for engine, runtime and result metadata). */
export const DEFAULT_BLOCK_SIZE = 16;
export const DEFAULT_GPU_MEMORY_UTILIZATION = 0.9;

/**
 * Bytes of one KV block: K and V (2) × layers × kvHeads × headDim × blockSize × bytes per value.
 * Decoder families only (dims.decoder); per tensor-parallel rank divide kvHeads by the KV split.
 */
export function kvBytesPerBlock(d: EncoderDims, blockSize: number, bytesPerValue: number): number {
  if (!d.decoder) throw new Error(`${d.family} is not a decoder: it has no KV cache`);
  return 2 * d.layers * d.decoder.kvHeads * d.headDim * blockSize * bytesPerValue;
}

/**
 * How many blocks fit: ⌊(total · fraction − weights − activations) / bytesPerBlock⌋, vLLM's
 * gpu_memory_utilization rule. @throws Error when fraction ∉ (0, 1] or not one block fits.
 */
export function blocksForMemory(o: { totalBytes: number; memoryFraction: number; reservedBytes: number; bytesPerBlock: number }): number {
  if (!(o.memoryFraction > 0 && o.memoryFraction <= 1)) throw new Error(`memory fraction ${o.memoryFraction} must be in (0, 1]`);
  const n = Math.floor((o.totalBytes * o.memoryFraction - o.reservedBytes) / o.bytesPerBlock);
  if (!(n >= 1)) throw new Error(`no KV block fits: ${o.totalBytes} B × ${o.memoryFraction} − ${o.reservedBytes} B reserved < ${o.bytesPerBlock} B per block`);
  return n;
}

/**
 * Chained hashes of the full blocks of `tokens` (a trailing partial block has none): block b's is
 * SHA-256(hash of block b − 1, its ids as int32 bytes), block 0's parent `extraKey`. `known` gives
 * the hashes of a leading run of blocks already computed (they are taken as they are).
 */
export function blockHashes(tokens: ArrayLike<number>, blockSize: number, extraKey = '', known: readonly string[] = []): string[] {
  const out: string[] = known.slice();
  let parent = out.length ? out[out.length - 1] : extraKey;
  // The ids as int32 bytes; an Int32Array (what batches carry) is hashed in place, without a copy.
  const all = tokens instanceof Int32Array ? tokens : Int32Array.from(tokens);
  for (let b = out.length; (b + 1) * blockSize <= all.length; b++) {
    const bytes = new Uint8Array(all.buffer, all.byteOffset + b * blockSize * 4, blockSize * 4);
    parent = createHash('sha256').update(parent).update(bytes).digest('hex');
    out.push(parent);
  }
  return out;
}

export interface PrefixCacheStats {
  /** Full blocks looked up in the prefix cache. */
  queries: number;
  /** Of those, found cached (their KV reused, not computed). */
  hits: number;
  /** Cached blocks dropped to make room. */
  evictions: number;
}

/** What a decoder engine reports about its paged KV cache (summed over replicas by the runtime). */
export interface KvCacheStats {
  /** Tokens per block. */
  blockSize: number;
  /** Blocks in the pool (over every replica). */
  numBlocks: number;
  /** Full prompt blocks looked up in the prefix cache. */
  queries: number;
  /** Of those, found cached: their KV reused, not computed. */
  hits: number;
  /** Cached blocks dropped to make room. */
  evictions: number;
  /** hits / queries (0 before any lookup). */
  hitRate: number;
  /** Prompt tokens run through the model. */
  computedTokens: number;
  /** Prompt tokens skipped because their KV was cached (hits × blockSize). */
  cachedTokens: number;
}

export interface Allocation {
  /** Block ids of the sequence, in order (its block table). */
  blocks: number[];
  /** Leading tokens whose KV is already cached (a multiple of blockSize, < the sequence length). */
  cachedTokens: number;
}

/**
 * Fixed-size blocks with reference counts and a hash → block prefix cache. Free blocks form an LRU
 * queue (least recently freed first out); a free block keeps its hash until it is reused.
 */
export class BlockPool {
  private readonly refs: Int32Array;
  private readonly hashOf: Array<string | undefined>;
  private readonly byHash = new Map<string, number>();
  /** Free block ids in eviction order (least recently freed first), O(1) per operation. */
  private readonly free: FreeBlockQueue;
  private readonly seqs = new Map<string, number[]>();
  /** The last allocated sequence and its block hashes: the next one (in prefix-sharing order) reuses the common full blocks' hashes instead of rehashing them. */
  private last: { tokens: ArrayLike<number>; hashes: string[] } = { tokens: [], hashes: [] };
  readonly stats: PrefixCacheStats = { queries: 0, hits: 0, evictions: 0 };

  constructor(readonly numBlocks: number, readonly blockSize: number, readonly enablePrefixCaching = true) {
    if (!Number.isInteger(numBlocks) || numBlocks < 1) throw new Error(`number of blocks ${numBlocks} must be a positive integer`);
    if (!Number.isInteger(blockSize) || blockSize < 1) throw new Error(`block size ${blockSize} must be a positive integer`);
    this.refs = new Int32Array(numBlocks);
    this.hashOf = new Array(numBlocks);
    this.free = new FreeBlockQueue(numBlocks);
  }

  get numFreeBlocks(): number {
    return this.free.size;
  }

  /** Fraction of looked-up blocks found cached (0 before any lookup). */
  get hitRate(): number {
    return this.stats.queries ? this.stats.hits / this.stats.queries : 0;
  }

  /**
   * Blocks for sequence `seqId` of `tokens`: the longest cached prefix of full blocks is shared
   * (never the whole sequence: its last token is always computed, as vLLM does, so the model has
   * a hidden state to pool), the rest are fresh blocks whose full ones are entered in the cache.
   * Returns undefined, changing nothing, when the free blocks do not suffice.
   * @throws Error for an id already allocated or an empty sequence.
   */
  allocate(seqId: string, tokens: ArrayLike<number>): Allocation | undefined {
    if (this.seqs.has(seqId)) throw new Error(`sequence "${seqId}" already has blocks`);
    if (tokens.length < 1) throw new Error('cannot allocate an empty sequence');
    const need = Math.ceil(tokens.length / this.blockSize);
    const hashes = this.enablePrefixCaching ? this.hashesOf(tokens) : [];
    const lookup = Math.min(hashes.length, Math.floor((tokens.length - 1) / this.blockSize));
    const hit: number[] = [];
    for (let b = 0; b < lookup; b++) {
      const id = this.byHash.get(hashes[b]);
      if (id === undefined) break;
      hit.push(id);
    }
    // Fresh blocks come from the free queue, but not the cached ones this sequence is about to reuse.
    const reusedFree = hit.filter((b) => this.refs[b] === 0).length;
    if (this.free.size - reusedFree < need - hit.length) return undefined;
    this.stats.queries += lookup;
    this.stats.hits += hit.length;
    for (const b of hit) {
      if (this.refs[b]++ === 0) this.free.remove(b);
    }
    const blocks = [...hit];
    for (let i = hit.length; i < need; i++) {
      const b = this.free.popFront();
      const old = this.hashOf[b];
      if (old !== undefined) {
        this.byHash.delete(old);
        this.hashOf[b] = undefined;
        this.stats.evictions++;
      }
      this.refs[b] = 1;
      if (i < hashes.length && !this.byHash.has(hashes[i])) {
        this.byHash.set(hashes[i], b);
        this.hashOf[b] = hashes[i];
      }
      blocks.push(b);
    }
    this.seqs.set(seqId, blocks);
    return { blocks, cachedTokens: hit.length * this.blockSize };
  }

  /** blockHashes(tokens), taking the hashes of the full blocks it shares with the last sequence hashed. */
  private hashesOf(tokens: ArrayLike<number>): string[] {
    const prev = this.last;
    const n = Math.min(tokens.length, prev.tokens.length);
    let same = 0;
    while (same < n && tokens[same] === prev.tokens[same]) same++;
    const hashes = blockHashes(tokens, this.blockSize, '', prev.hashes.slice(0, Math.floor(same / this.blockSize)));
    // A copy: the caller may reuse its array, and stale ids here would hand out wrong hashes.
    this.last = { tokens: Int32Array.from(tokens), hashes };
    return hashes;
  }

  /**
   * Releases a sequence's blocks. Blocks no one else uses join the free queue tail-first (vLLM's
   * order), so a shared prefix outlives the suffixes that hang off it.
   */
  freeSequence(seqId: string): void {
    const blocks = this.seqs.get(seqId);
    if (!blocks) throw new Error(`sequence "${seqId}" has no blocks`);
    this.seqs.delete(seqId);
    for (let i = blocks.length - 1; i >= 0; i--) {
      const b = blocks[i];
      if (--this.refs[b] === 0) this.free.pushBack(b);
    }
  }

  /** Whether the block holding this hash is cached (for tests and metrics). */
  isCached(hash: string): boolean {
    return this.byHash.has(hash);
  }
}

/**
 * The free blocks as a doubly linked list over block ids (vLLM's FreeKVCacheBlockQueue): pop the
 * least recently freed, remove a cached block that is reused, append a freed one — each O(1). (A
 * JavaScript Map used as a queue was O(deleted entries) per pop: 0.5 s of host time per 5 batches
 * of 64 × 512 tokens.)
 */
class FreeBlockQueue {
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private readonly queued: Uint8Array;
  private head = -1;
  private tail = -1;
  size = 0;

  /** Starts with every block 0..n−1 free, in id order. */
  constructor(n: number) {
    this.prev = new Int32Array(n).fill(-1);
    this.next = new Int32Array(n).fill(-1);
    this.queued = new Uint8Array(n);
    for (let b = 0; b < n; b++) this.pushBack(b);
  }

  pushBack(b: number): void {
    if (this.queued[b]) throw new Error(`block ${b} is already free`);
    this.queued[b] = 1;
    this.prev[b] = this.tail;
    this.next[b] = -1;
    if (this.tail >= 0) this.next[this.tail] = b;
    else this.head = b;
    this.tail = b;
    this.size++;
  }

  remove(b: number): void {
    if (!this.queued[b]) throw new Error(`block ${b} is not free`);
    const p = this.prev[b];
    const q = this.next[b];
    if (p >= 0) this.next[p] = q;
    else this.head = q;
    if (q >= 0) this.prev[q] = p;
    else this.tail = p;
    this.queued[b] = 0;
    this.size--;
  }

  /** @throws Error when no block is free. */
  popFront(): number {
    const b = this.head;
    if (b < 0) throw new Error('no free block');
    this.remove(b);
    return b;
  }
}
