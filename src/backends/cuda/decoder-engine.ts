// The CUDA engine of a decoder family (Qwen3) in one GPU worker thread, vLLM-style: the native
// DecoderModel (cuda/decoder.cu, `arch: 1`) runs prefill steps over a paged KV cache; this side owns
// the cache's bookkeeping (src/kv/block-pool.ts BlockPool: blocks, prefix cache, LRU eviction) and
// the schedule (src/kv/schedule.ts: prefix-sharing order, chunked prefill). Per coordinator batch:
//   1. sequences in prefixSharingOrder, each allocated its blocks (a cached prefix of full blocks is
//      reused and skipped, never the whole sequence); when the pool cannot hold the next one, the
//      sequences allocated so far run first and are freed;
//   2. their uncached tokens are split into steps of ≤ maxTokens tokens / ≤ maxSeqs sequences
//      (planChunkedPrefill: a sequence longer than the budget continues in the next step, attending
//      to its earlier chunks' cached KV);
//   3. steps run in order; each sequence's row comes from the step holding its last token;
//   4. the sequences are freed: their full blocks stay cached (LRU) for later batches.
// Host work overlaps the GPU: a group's steps are all submitted at once (the native executor of
// slot 0 runs them in submission order on one stream), and while they run this thread takes the
// next coordinator batch (the replica keeps two in flight) through validation, block allocation and
// hashing and submits its steps behind them. Stream order is what makes a prefix-cache hit on a
// block another group is still computing safe: every block is written by a step submitted before
// any step that reads it, because a sequence is allocated and its group submitted in one
// synchronous stretch, and a group that must wait for free blocks submits what it holds first.
// vLLM's names: block_size, gpu_memory_utilization, enable_prefix_caching, num_gpu_blocks_override.
import { InputError, UnsupportedOptionError } from '../../errors.js';
import { BlockPool, blocksForMemory, DEFAULT_BLOCK_SIZE, DEFAULT_GPU_MEMORY_UTILIZATION, kvBytesPerBlock, type Allocation, type KvCacheStats } from '../../kv/block-pool.js';
import { planChunkedPrefill, prefixSharingOrder } from '../../kv/schedule.js';
import type { HeadActivation, ModelFolder } from '../../model/folder.js';
import type { EncoderDims } from '../../models/family.js';
import { weightPlan } from '../../models/plan.js';
import { qwen3HeadMatrix } from '../../models/qwen3-reranker.js';
import { applyActivation } from '../../pooling.js';
import type { EngineBackend, RunOptions, TokenBatch } from '../engine.js';
import { validateBatch } from '../engine.js';
import { DTYPE_CODE, loadAddon, type AddonModel, type GraphStats } from './addon.js';
import { MODE, uploadPlan, type CudaEngineOptions } from './engine.js';

const DTYPE_BYTES = { float32: 4, float16: 2, bfloat16: 2 } as const;

/**
 * KV heads on one tensor-parallel rank, as qwen3WeightPlan slices them: kvHeads / world when world
 * divides them, else 1 (each KV head replicated on world / kvHeads ranks).
 */
export function kvHeadsPerRank(d: EncoderDims, world: number): number {
  const kvh = d.decoder!.kvHeads;
  return world <= kvh ? kvh / world : 1;
}

/** One sequence of a group being run: its input index in the batch, tokens and blocks. */
interface Running {
  index: number;
  tokens: Int32Array;
  alloc: Allocation;
  id: string;
}

export class CudaDecoderEngine implements EngineBackend {
  readonly name = 'cuda';
  private pool: BlockPool;
  private computedTokens = 0;
  private cachedTokens = 0;
  private calls = 0;
  /** Groups submitted to the GPU and not yet finished (their blocks are freed when they finish). */
  private readonly inFlight = new Set<Promise<void>>();

  private constructor(
    private readonly folder: ModelFolder,
    private readonly model: AddonModel,
    private readonly o: CudaEngineOptions,
    readonly numBlocks: number,
    readonly blockSize: number,
    readonly maxBlocksPerSeq: number,
    private readonly enablePrefixCaching: boolean,
  ) {
    this.pool = new BlockPool(numBlocks, blockSize, enablePrefixCaching);
  }

  /**
   * Builds the native decoder for this rank (query / KV heads and FFN width per rank), uploads the
   * weight plan and, for a reranker, its head (qwen3HeadMatrix, F32), sizes the KV pool
   * (numGpuBlocksOverride, else blocksForMemory with gpuMemoryUtilization over deviceInfo after the
   * weights) and allocates it.
   * @throws UnsupportedOptionError for an embedder that does not pool the last token;
   * Error when not one block fits or the native model refuses (CudaError, `oom` for memory).
   */
  static async create(folder: ModelFolder, o: CudaEngineOptions): Promise<CudaDecoderEngine> {
    const d = folder.dims;
    if (!d.decoder) throw new Error(`${folder.dir}: ${d.family} is not a decoder; it runs on CudaEngine`);
    if (folder.kind === 'encoder' && folder.st.pooling !== 'last') {
      throw new UnsupportedOptionError(
        `${folder.dir}: pooling "${folder.st.pooling}" is not supported for a decoder on CUDA, which pools the last token (Qwen3-Embedding's "lasttoken"): ` +
          'mean or first-token pooling over chunked, prefix-cached prefill is not implemented; use device "cpu"',
      );
    }
    const blockSize = o.blockSize ?? DEFAULT_BLOCK_SIZE;
    const util = o.gpuMemoryUtilization ?? DEFAULT_GPU_MEMORY_UTILIZATION;
    if (!Number.isInteger(blockSize) || blockSize < 1) throw new InputError(`blockSize must be a positive integer, got ${blockSize}`);
    if (!(util > 0 && util <= 1)) throw new InputError(`gpuMemoryUtilization must be in (0, 1], got ${util}`);
    const maxModelLen = o.maxModelLen ?? folder.maxLength;
    const maxBlocksPerSeq = Math.ceil(maxModelLen / blockSize);
    const k = o.worldSize;
    const kvHeads = kvHeadsPerRank(d, k);
    const classifier = folder.kind === 'cross-encoder';
    const plan = weightPlan(d, { rank: o.rank, world: k, classifier: false }, folder.family);
    // The reranker head: score.weight, or the LM-head rows of classifier_from_token (yes − no).
    const head = classifier ? [{ name: 'head.cls.w', data: qwen3HeadMatrix(folder.weights, d.decoder.scoreHead ?? { numLabels: folder.numLabels }) }] : [];
    const addon = loadAddon();
    const agree = o.kvBlockAgreement && k > 1 ? o.kvBlockAgreement : undefined;
    let model: AddonModel;
    try {
      model = new addon.Model({
        arch: 1,
        device: o.device,
        dtype: DTYPE_CODE[o.dtype],
        hidden: d.hidden,
        layers: d.layers,
        heads: d.heads / k,
        kvHeads,
        headDim: d.headDim,
        intermediate: d.intermediate / k,
        vocab: d.vocab,
        numLabels: classifier ? folder.numLabels : 0,
        eps: d.eps,
        ropeTheta: d.decoder.ropeTheta,
        maxTokens: o.maxTokens,
        maxSeqs: o.maxSeqs,
        blockSize,
        maxBlocksPerSeq,
        slots: o.slots,
        rank: o.rank,
        worldSize: k,
        allowTf32: Boolean(o.allowTf32),
        // Encoder-only keys, ignored by arch 1.
        maxPositions: d.maxPositions,
        typeVocab: 0,
        positionOffset: 0,
        headActivation: 0,
      });
      await uploadPlan(model, folder, plan, o, head); // destroys the model when it fails
    } catch (e) {
      // The other ranks wait for this one's block count: −1 tells them to give up at once.
      if (agree) agreeOnBlocks(agree, o.rank, k, -1, false);
      throw e;
    }
    let numBlocks: number;
    let posted = false;
    try {
      const bytesPerBlock = kvBytesPerBlock({ ...d, decoder: { ...d.decoder, kvHeads } }, blockSize, DTYPE_BYTES[o.dtype]);
      if (o.numGpuBlocksOverride !== undefined) {
        numBlocks = o.numGpuBlocksOverride;
      } else {
        // vLLM's rule: what the weights and activation buffers took is what the device lacks now.
        const info = addon.deviceInfo(o.device);
        numBlocks = blocksForMemory({ totalBytes: info.totalMemory, memoryFraction: util, reservedBytes: info.totalMemory - info.freeMemory, bytesPerBlock });
      }
      if (agree) {
        posted = true;
        numBlocks = agreeOnBlocks(agree, o.rank, k, numBlocks);
        if (numBlocks < 1) throw new Error(`tensor-parallel rank ${o.rank}: another rank of this replica failed to load`);
      }
      model.allocateKvCache(numBlocks);
      // The first steps of each token-count class would otherwise time cuBLASLt's candidates
      // mid-batch (tens of ms each). Under EMBEDRANK_GEMM_TUNE=0 (read by the addon) it times nothing.
      if (process.env.EMBEDRANK_GEMM_PRETUNE !== '0') model.tuneGemms?.();
    } catch (e) {
      if (agree && !posted) agreeOnBlocks(agree, o.rank, k, -1, false);
      model.destroy();
      throw e;
    }
    return new CudaDecoderEngine(folder, model, o, numBlocks, blockSize, maxBlocksPerSeq, o.enablePrefixCaching ?? true);
  }

  /**
   * Embeddings of a batch, [sequences × hidden] f32 in batch order. Batches may overlap (each call's
   * host work runs while earlier calls' steps are on the GPU); `opts.slot` is ignored: every step
   * goes to native slot 0, whose one stream keeps the KV pool's writes before its reads.
   */
  async embed(batch: TokenBatch, _opts: RunOptions = {}): Promise<Float32Array> {
    return this.run(batch, MODE.embed, this.folder.dims.hidden, this.folder.st.normalize);
  }

  /** Reranker scores, [sequences × numLabels] f32 after `activation`; overlaps as embed. */
  async score(batch: TokenBatch, activation: HeadActivation, _opts: RunOptions = {}): Promise<Float32Array> {
    if (this.folder.kind !== 'cross-encoder') throw new Error(`${this.folder.dir} is not a cross-encoder`);
    const logits = await this.run(batch, MODE.score, this.folder.numLabels, false);
    return applyActivation(logits, activation);
  }

  /** Prefix-cache and prompt-token counters since the engine was created. */
  kvCacheStats(): KvCacheStats {
    const s = this.pool.stats;
    return {
      blockSize: this.blockSize,
      numBlocks: this.numBlocks,
      queries: s.queries,
      hits: s.hits,
      evictions: s.evictions,
      hitRate: this.pool.hitRate,
      computedTokens: this.computedTokens,
      cachedTokens: this.cachedTokens,
    };
  }

  profile(): Record<string, { ms: number; count: number }> {
    return this.model.profile();
  }

  /** CUDA graphs this engine's model captured and replayed (addon.ts GraphStats). */
  graphStats(): GraphStats {
    return this.model.graphStats();
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
    this.model.destroy();
  }

  /**
   * One coordinator batch: rows of `width` values (embeddings or raw logits) in batch order.
   * @throws InputError, before any forward, for an id outside the vocabulary or a sequence longer
   * than the block table or the whole pool.
   */
  private async run(batch: TokenBatch, mode: number, width: number, normalize: boolean): Promise<Float32Array> {
    validateBatch(batch);
    const n = batch.cuSeqlens.length - 1;
    const seqs: Int32Array[] = [];
    const vocab = this.folder.dims.vocab;
    for (let i = 0; i < n; i++) {
      const s = batch.ids.subarray(batch.cuSeqlens[i], batch.cuSeqlens[i + 1]);
      const need = Math.ceil(s.length / this.blockSize);
      if (need > this.maxBlocksPerSeq) throw new InputError(`sequence ${i} has ${s.length} tokens, more than the ${this.maxBlocksPerSeq * this.blockSize} the block table holds (maxModelLen)`);
      if (need > this.numBlocks) {
        throw new InputError(
          `sequence ${i} has ${s.length} tokens and needs ${need} KV blocks of ${this.blockSize}, but the whole pool has ${this.numBlocks} ` +
            '(raise gpuMemoryUtilization / --gpu-memory-utilization, or lower maxModelLen)',
        );
      }
      for (let t = 0; t < s.length; t++) if (!(s[t] >= 0 && s[t] < vocab)) throw new InputError(`sequence ${i} has token id ${s[t]}, outside the vocabulary [0, ${vocab})`);
      seqs.push(s);
    }
    // Poisoned: a row no step wrote shows up as NaN, never as a plausible vector.
    const out = new Float32Array(n * width).fill(NaN);
    const call = this.calls++;
    const mine: Promise<void>[] = [];
    let group: Running[] = [];
    const submit = () => {
      if (group.length) mine.push(this.submitGroup(group, mode, width, normalize, out));
      group = [];
    };
    try {
      for (const i of prefixSharingOrder(seqs)) {
        const id = `${call}:${i}`;
        let alloc = this.pool.allocate(id, seqs[i]);
        while (!alloc) {
          // The pool is full: submit what is allocated, wait for a group (of any batch) to finish
          // and free its blocks (its full ones stay cached), retry.
          submit();
          if (!this.inFlight.size) throw new Error(`internal: ${Math.ceil(seqs[i].length / this.blockSize)} blocks not free in an idle pool of ${this.numBlocks}`);
          await Promise.race([...this.inFlight].map((p) => p.catch(() => undefined)));
          alloc = this.pool.allocate(id, seqs[i]);
        }
        group.push({ index: i, tokens: seqs[i], alloc, id });
      }
      submit();
      await Promise.all(mine);
    } catch (e) {
      // Blocks entered in the prefix cache may never have been written: once nothing runs, start
      // from an empty pool (groups free their blocks into the pool they were allocated from).
      await Promise.allSettled([...mine, ...this.inFlight]);
      const stats = { ...this.pool.stats };
      this.pool = new BlockPool(this.numBlocks, this.blockSize, this.enablePrefixCaching);
      Object.assign(this.pool.stats, stats);
      throw e;
    }
    return out;
  }

  /**
   * Plans a group of allocated sequences into steps, submits every step to native slot 0 at once
   * (the executor runs them in order), and returns a promise that writes their rows and frees the
   * sequences once all steps are done. Registered in inFlight until then.
   */
  private submitGroup(group: Running[], mode: number, width: number, normalize: boolean, out: Float32Array): Promise<void> {
    const bs = this.blockSize;
    const mb = this.maxBlocksPerSeq;
    const pool = this.pool;
    const steps = planChunkedPrefill(
      group.map((g) => g.tokens.length),
      this.o.maxTokens,
      { maxSeqs: this.o.maxSeqs, cachedTokens: group.map((g) => g.alloc.cachedTokens) },
    );
    const runs = steps.map(async (step) => {
      const n = step.length;
      const T = step.reduce((s, c) => s + c.end - c.start, 0);
      const ids = new Int32Array(T);
      const positions = new Int32Array(T);
      const slotMapping = new Int32Array(T);
      const cuQ = new Int32Array(n + 1);
      const ctxLens = new Int32Array(n);
      const blockTables = new Int32Array(n * mb);
      let t = 0;
      step.forEach((c, r) => {
        const g = group[c.seq];
        const blocks = g.alloc.blocks;
        for (let b = 0; b < blocks.length; b++) blockTables[r * mb + b] = blocks[b];
        for (let p = c.start; p < c.end; p++, t++) {
          ids[t] = g.tokens[p];
          positions[t] = p;
          slotMapping[t] = blocks[Math.floor(p / bs)] * bs + (p % bs);
        }
        cuQ[r + 1] = t;
        ctxLens[r] = c.end;
      });
      const rows = mode === MODE.hidden ? T : n;
      const res = new Float32Array(rows * width).fill(NaN);
      await this.model.forwardDecoder(0, ids, positions, cuQ, ctxLens, blockTables, slotMapping, mode, normalize, res);
      step.forEach((c, r) => {
        const g = group[c.seq];
        if (c.end === g.tokens.length) out.set(res.subarray(r * width, (r + 1) * width), g.index * width);
      });
    });
    const done = Promise.allSettled(runs).then((settled) => {
      for (const g of group) {
        this.computedTokens += g.tokens.length - g.alloc.cachedTokens;
        this.cachedTokens += g.alloc.cachedTokens;
        pool.freeSequence(g.id);
      }
      this.inFlight.delete(done);
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    });
    this.inFlight.add(done);
    // inFlight waiters (Promise.race) must not see an unhandled rejection; the batch's own await does.
    done.catch(() => undefined);
    return done;
  }
}

/**
 * Tensor-parallel ranks must run identical steps (their NCCL collectives pair up), so their pools
 * must be equal: each rank posts its block count in `shared` = [arrived, blocks of rank 0, …] and
 * all take the smallest. A rank that failed posts −1, and every rank then gets −1 at once. With
 * `wait`, blocks the worker thread (Atomics.wait) until every rank has posted; without, only posts.
 * @throws Error after 10 minutes without every rank.
 */
export function agreeOnBlocks(shared: Int32Array, rank: number, world: number, blocks: number, wait = true): number {
  if (shared.length < world + 1) throw new Error(`KV block agreement needs ${world + 1} slots, has ${shared.length}`);
  Atomics.store(shared, 1 + rank, blocks);
  Atomics.add(shared, 0, 1);
  Atomics.notify(shared, 0);
  if (!wait) return blocks;
  const deadline = Date.now() + 600_000;
  const failed = () => Array.from({ length: world }, (_, r) => Atomics.load(shared, 1 + r)).includes(-1);
  for (let seen = Atomics.load(shared, 0); seen < world; seen = Atomics.load(shared, 0)) {
    if (failed()) return -1;
    if (Date.now() > deadline) throw new Error(`tensor-parallel rank ${rank}: only ${seen} of ${world} ranks sized their KV cache in 10 minutes`);
    Atomics.wait(shared, 0, seen, 1000);
  }
  let min = Infinity;
  for (let r = 0; r < world; r++) min = Math.min(min, Atomics.load(shared, 1 + r));
  return min;
}
