// Wires one loaded model together: model folder → tokenizer pool → scheduler → replicas
// (Piscina worker threads, one per GPU shard, or the CPU engine) → results in input order.
// Encoder and CrossEncoder are thin layers over this.
import { randomBytes } from 'node:crypto';
import { InputError, SequenceTooLongError, UnsupportedOptionError } from '../errors.js';
import { assertMainThread } from '../main.js';
import { resolveModel } from '../model/hub.js';
import { loadModelFolder, type ModelFolder, type ModelKind } from '../model/folder.js';
import type { TokenizedChunk } from '../tokenize/packed.js';
import { chunkInputs, forEachInput, TokenizerPool } from '../tokenize/pool.js';
import { dedupeEnabled, defaultTokenizerThreads } from '../tokenize/threads.js';
import { RowAssembler } from './assembly.js';
import { Coordinator, type WorkOp } from './coordinator.js';
import { resolveDtype, resolveLimits, resolveQuantization, validateEngineOptions, type ComputeDtype, type EngineOptions, type GpuCapability, type QuantizationOption, type ResolvedLimits } from './options.js';
import { ProgressBar } from './progress.js';
import { trace } from './trace.js';
import { Replica } from './replica.js';
import { TokenBudgetScheduler, type PlannedBatch } from './scheduler.js';
import { DEFAULT_GPU_MEMORY_UTILIZATION, type KvCacheStats } from '../kv/block-pool.js';

/** Call numbers for EMBEDRANK_TRACE (run-begin / run-end pairs; calls may overlap). */
let nextRunId = 0;

export interface RunRequest {
  texts: string[];
  pairs?: string[];
  /** Per input, leading tokens mean pooling skips. */
  poolSkip?: (index: number) => number;
  label?: string;
  showProgress?: boolean;
}

export interface RunResult {
  values: Float32Array;
  dim: number;
  truncated: number;
}

export interface CudaProbe {
  available: boolean;
  devices: number;
  reason?: string;
}

export class Runtime {
  private constructor(
    readonly folder: ModelFolder,
    readonly device: 'cpu' | 'cuda',
    readonly dtype: ComputeDtype,
    readonly limits: ResolvedLimits,
    readonly replicas: Replica[],
    private readonly tokenizer: TokenizerPool,
    private readonly coordinator: Coordinator,
    private readonly opts: EngineOptions,
    /** Weight/activation quantisation the replicas run with (EngineOptions.quantization); undefined: none. */
    readonly quantization: QuantizationOption | undefined,
  ) {}

  static async create(opts: EngineOptions, expect: ModelKind): Promise<Runtime> {
    assertMainThread(expect === 'encoder' ? 'Encoder' : 'CrossEncoder');
    validateEngineOptions(opts);
    const dir = await resolveModel(opts.model, { revision: opts.revision, cacheDir: opts.cacheDir, token: opts.hfToken });
    const folder = loadModelFolder(dir, { hfOverrides: opts.hfOverrides });
    if (folder.kind !== expect) {
      throw new InputError(
        folder.kind === 'encoder'
          ? `${folder.dir} is an embedding model (${folder.architecture}), not a cross-encoder: use Encoder for it (\`embedrank encode\`), or rerank with a cross-encoder model` +
            (folder.architecture === 'Qwen3ForCausalLM'
              ? '; a Qwen3-Reranker checkpoint needs hfOverrides QWEN3_RERANKER_OVERRIDES (CLI: --hf-overrides \'{"architectures": ["Qwen3ForSequenceClassification"], "classifier_from_token": ["no", "yes"], "is_original_qwen3_reranker": true}\'; docs/qwen3.md)'
              : '')
          : `${folder.dir} is a cross-encoder (${folder.architecture}), not an embedding model: use CrossEncoder for it (\`embedrank rerank\`), or embed with an embedding model`,
      );
    }
    const probe = await probeCuda();
    const want = opts.device ?? 'auto';
    if (!['auto', 'cpu', 'cuda'].includes(want)) throw new InputError(`device "${want}" is not one of auto, cpu, cuda`);
    if (want === 'cuda' && !probe.available) throw new UnsupportedOptionError(`device "cuda" requested but CUDA is unavailable: ${probe.reason}`);
    // Decoders on CUDA pool the last token (their prefill is chunked and prefix-cached): an
    // embedder that pools otherwise runs on the CPU under 'auto' and is refused under 'cuda'.
    const decoderPoolingOk = !folder.dims.decoder || folder.kind === 'cross-encoder' || folder.st.pooling === 'last';
    if (want === 'cuda' && !decoderPoolingOk) {
      throw new UnsupportedOptionError(`${folder.dir}: pooling "${folder.st.pooling}" is not supported for a decoder on CUDA, which pools the last token (mean or first-token pooling over chunked, prefix-cached prefill is not implemented); use device "cpu"`);
    }
    const device: 'cpu' | 'cuda' = want === 'cpu' || !decoderPoolingOk ? 'cpu' : probe.available ? 'cuda' : 'cpu';
    const dtype = resolveDtype(opts.dtype, folder, device);
    // Checked here, before any GPU is touched; on CUDA the default maxNumSeqs is settled below,
    // once the GPUs of the run are known.
    let limits = resolveLimits(opts, folder, device);
    if (opts.onnxFile !== undefined && device !== 'cpu') throw new UnsupportedOptionError('onnxFile applies to the CPU engine only (device "cpu")');
    if (folder.maxLengthCappedFrom !== undefined && opts.maxModelLen === undefined) {
      process.emitWarning(
        `${folder.dir}: max_seq_length ${folder.maxLengthCappedFrom} exceeds the ${folder.maxLength} positions the model can embed; inputs are truncated at ${folder.maxLength} (sentence-transformers would fail on longer ones)`,
        { code: 'EMBEDRANK_MAX_LENGTH' },
      );
    }
    const tp = opts.tensorParallelSize ?? 1;
    if (!Number.isInteger(tp) || tp < 1) throw new InputError(`tensorParallelSize must be a positive integer, got ${tp}`);

    // Tensor-parallel ranks that share one GPU and sum through an in-process all-reduce
    // (cuda/local_comm.h) instead of NCCL, which refuses two ranks on one device: a testing mode,
    // for checking TP outputs with one GPU; slow (two host barriers per all-reduce).
    const tpLocal = tp > 1 && process.env.EMBEDRANK_TP_LOCAL === '1';
    let groups: number[][];
    if (device === 'cpu') {
      if (tp > 1 || (opts.dataParallelSize ?? 1) > 1) {
        throw new UnsupportedOptionError('tensorParallelSize and dataParallelSize > 1 need device "cuda"; the CPU engine runs one replica');
      }
      groups = [[-1]];
    } else {
      const visible = opts.devices ?? Array.from({ length: probe.devices }, (_, i) => i);
      for (const d of visible) {
        if (!Number.isInteger(d) || d < 0 || d >= probe.devices) throw new InputError(`device ordinal ${d} does not exist (${probe.devices} visible GPUs)`);
      }
      if (folder.dims.heads % tp !== 0 || folder.dims.intermediate % tp !== 0) {
        throw new UnsupportedOptionError(`tensorParallelSize ${tp} must divide the ${folder.dims.heads} attention heads and intermediate size ${folder.dims.intermediate}`);
      }
      const kvh = folder.dims.decoder?.kvHeads;
      if (kvh !== undefined && kvh % tp !== 0 && tp % kvh !== 0) {
        throw new UnsupportedOptionError(`tensorParallelSize ${tp} must divide the ${kvh} KV heads or be a multiple of them (as vLLM's QKVParallelLinear)`);
      }
      // EMBEDRANK_TP_LOCAL=1 (a testing mode): all ranks of a group on one GPU, one group per GPU.
      const perGroup = tpLocal ? 1 : tp;
      const dp = opts.dataParallelSize ?? Math.max(1, Math.floor(visible.length / perGroup));
      if (!Number.isInteger(dp) || dp < 1) throw new InputError(`dataParallelSize must be a positive integer, got ${dp}`);
      if (dp * perGroup > visible.length) {
        throw new UnsupportedOptionError(
          tpLocal
            ? `dataParallelSize ${dp} needs ${dp} GPUs under EMBEDRANK_TP_LOCAL=1 (each tensor-parallel group on one GPU) but ${visible.length} are visible`
            : `dataParallelSize ${dp} × tensorParallelSize ${tp} needs ${dp * tp} GPUs but ${visible.length} are visible`,
        );
      }
      groups = Array.from({ length: dp }, (_, r) => (tpLocal ? new Array<number>(tp).fill(visible[r]) : visible.slice(r * tp, (r + 1) * tp)));
    }
    // The GPUs' names and memory, for FP8's capability check and the default maxNumSeqs.
    const gpuInfo = device === 'cuda' && (opts.quantization || opts.maxNumSeqs === undefined) ? await gpuCapabilities([...new Set(groups.flat())]) : [];
    if (device === 'cuda' && opts.maxNumSeqs === undefined) limits = resolveLimits(opts, folder, device, gpuInfo);
    const quantization = resolveQuantization(
      opts.quantization,
      folder,
      device,
      dtype,
      tp,
      gpuInfo,
      probe.available ? undefined : probe.reason,
    );

    const fault = opts.faultInjection ? { counter: new Int32Array(new SharedArrayBuffer(4)), crashAt: opts.faultInjection.crashAfterBatches + 1 } : undefined;
    // Tensor-parallel groups run one batch at a time: a single NCCL communicator per rank, so
    // collectives of different batches can never interleave in different orders across GPUs.
    // Decoders: one slot, since the steps of every batch share one KV pool and must run in order.
    const slots = device === 'cuda' && tp === 1 && !folder.dims.decoder ? 2 : 1;
    // A decoder on one GPU: one native slot (one KV pool, one stream), two batches in flight so
    // the next batch's host work (block allocation, hashing, step arrays) overlaps the GPU. Under
    // tensor parallelism every rank must group sequences identically: one batch at a time.
    const concurrency = device === 'cuda' && tp === 1 && folder.dims.decoder && process.env.EMBEDRANK_DECODER_OVERLAP !== '0' ? 2 : slots;
    if (device === 'cuda' && tp > 1) {
      Object.assign(process.env, { NCCL_NVLS_ENABLE: '0', TORCH_SYMM_MEM_DISABLE_MULTICAST: '1', NVSHMEM_DISABLE_NVLS: '1' });
    }
    const makeNcclIds = device === 'cuda' && tp > 1 ? (tpLocal ? localGroupIdFactory(slots) : await ncclIdFactory(slots)) : undefined;
    // The ranks of a local group share one GPU's memory: each sizes its KV pool from 1/tp of the fraction.
    const gpuMemoryUtilization =
      device === 'cuda' && tpLocal && folder.dims.decoder
        ? (opts.gpuMemoryUtilization ?? DEFAULT_GPU_MEMORY_UTILIZATION) / tp
        : opts.gpuMemoryUtilization;
    const replicas = groups.map(
      (devices, r) =>
        new Replica(device === 'cpu' ? 'cpu' : `replica ${r} (GPU ${devices.join(',')})`, {
          backend: device,
          modelDir: folder.dir,
          hfOverrides: opts.hfOverrides,
          dtype,
          devices,
          maxTokens: limits.maxNumBatchedTokens,
          maxSeqs: limits.maxNumSeqs,
          slots,
          concurrency,
          cpuThreads: opts.cpuThreads,
          onnxFile: opts.onnxFile,
          allowTf32: opts.allowTf32,
          maxModelLen: limits.maxLength,
          blockSize: opts.blockSize,
          enablePrefixCaching: opts.enablePrefixCaching,
          gpuMemoryUtilization,
          numGpuBlocksOverride: opts.numGpuBlocksOverride,
          quantization,
          fault,
          makeNcclIds,
        }),
    );
    const gpus = device === 'cuda' ? new Set(groups.flat()).size : 0;
    const tokenizer = new TokenizerPool(folder.tokenizer, { threads: opts.tokenizerThreads ?? defaultTokenizerThreads(device, gpus) });
    const assembler = new RowAssembler();
    try {
      await Promise.all([...replicas.map((r) => r.ready()), assembler.ready()]);
    } catch (e) {
      await Promise.allSettled([...replicas.map((r) => r.close()), tokenizer.close(), assembler.close()]);
      throw e;
    }
    return new Runtime(folder, device, dtype, limits, replicas, tokenizer, new Coordinator(replicas, { assembler }), opts, quantization);
  }

  /** Decoders on CUDA batch by shared prefix (their prefix cache), everything else longest first. */
  private get schedulingOrder(): 'length' | 'prefix' {
    return this.device === 'cuda' && this.folder.dims.decoder ? 'prefix' : 'length';
  }

  /**
   * The CUDA paths are unpadded, so a long sort window buys nothing there and only delays the first
   * batch until every text of the window is tokenized (SciFact's 5183 documents were one window:
   * tokenization and GPU time added up). Two batches' worth of tokens (or 2 × maxNumSeqs sequences,
   * TokenBudgetScheduler) start the GPU early: encoders
   * always; decoders when they embed (Qwen3-Embedding over SciFact on one H200: 6.11–6.25 → 5.64 s,
   * the engine's own time). A decoder reranking keeps the sequence window, whose prefix order puts
   * a query's candidates in one batch: token windows gave the same prefix-cache hits and no gain
   * there (3330 / 3395 against 3625 / 3486 pairs/s in one call, within the bench's ±5% between
   * rounds; bench/RESULTS.md, session 13).
   */
  private windowTokens(op: WorkOp): number | undefined {
    if (this.device !== 'cuda' || (this.folder.dims.decoder && op.kind !== 'embed')) return undefined;
    return 2 * this.limits.maxNumBatchedTokens;
  }

  get maxLength(): number {
    return this.limits.maxLength;
  }

  /** Tokenizes, batches, runs and assembles; one row of `dim` values per input, in input order. */
  async run(op: WorkOp, dim: number, req: RunRequest): Promise<RunResult> {
    const n = req.texts.length;
    if (n === 0) return { values: new Float32Array(0), dim, truncated: 0 };
    const run = nextRunId++;
    const truncate = this.opts.truncate ?? true;
    const scheduler = new TokenBudgetScheduler({
      maxNumBatchedTokens: this.limits.maxNumBatchedTokens,
      maxNumSeqs: this.limits.maxNumSeqs,
      poolSkip: req.poolSkip,
      order: this.schedulingOrder,
      windowTokens: this.windowTokens(op),
    });
    const show = req.showProgress ?? this.opts.showProgress ?? false;
    const progress = new ProgressBar(req.label ?? (op.kind === 'embed' ? 'encode' : 'rerank'), n, { enabled: show && n >= 1000 });
    let truncated = 0;
    const tokenizer = this.tokenizer;
    const maxLength = this.limits.maxLength;
    // The fast tokenizer path tokenizes each distinct text of the call once (same ids).
    const dedupe = dedupeEnabled();
    async function* planned(): AsyncGenerator<PlannedBatch> {
      for await (const chunk of tokenizer.tokenize(req.texts, req.pairs, maxLength, { dedupe })) {
        trace('chunk', { run, inputs: chunkInputs(chunk), seqs: chunk.n });
        let first = -1;
        forEachInput(chunk, (k, index) => {
          if (chunk.truncated[k]) {
            if (first < 0 || index < first) first = index;
            truncated++;
          }
        });
        if (first >= 0 && !truncate) throw new SequenceTooLongError(first, undefined, maxLength);
        yield* scheduler.push(chunk);
      }
      yield* scheduler.flush();
    }
    trace('run-begin', { run, n });
    try {
      const values = await this.coordinator.execute(op, planned(), n, dim, {
        onBatchDone: (seqs) => progress.tick(seqs),
      });
      return { values, dim, truncated };
    } finally {
      trace('run-end', { run, n });
      progress.finish();
    }
  }

  /**
   * Tokenizes without running (the serving path validates lengths and counts usage first): each
   * text (with its pair segment) becomes one sequence with special tokens, cut to `maxLength`
   * tokens (default the model maximum) with truncated[i] = 1 where it was cut.
   */
  async tokenize(texts: string[], pairs: string[] | undefined, maxLength = this.limits.maxLength): Promise<TokenizedChunk> {
    return this.tokenizer.tokenizeAll(texts, pairs, maxLength);
  }

  /**
   * Runs sequences that are already token ids (special tokens included, as the model sees them):
   * one row of `dim` values per sequence, in order. `poolSkip[i]` leading tokens of sequence i are
   * left out of pooling. Throws InputError for an empty sequence or an id outside the vocabulary
   * (or a type id outside type_vocab_size), SequenceTooLongError past maxLength — before any work.
   */
  async runTokenized(op: WorkOp, dim: number, chunk: TokenizedChunk, poolSkip?: Int32Array, onBatchDone?: (sequences: number, tokens: number) => void): Promise<RunResult> {
    const n = chunk.n;
    if (n === 0) return { values: new Float32Array(0), dim, truncated: 0 };
    this.checkTokenized(chunk);
    const scheduler = new TokenBudgetScheduler({
      maxNumBatchedTokens: this.limits.maxNumBatchedTokens,
      maxNumSeqs: this.limits.maxNumSeqs,
      poolSkip: poolSkip ? (i) => poolSkip[i] : undefined,
      order: this.schedulingOrder,
    });
    async function* planned(): AsyncGenerator<PlannedBatch> {
      yield* scheduler.push({ start: 0, ...chunk });
      yield* scheduler.flush();
    }
    const values = await this.coordinator.execute(op, planned(), n, dim, { onBatchDone });
    return { values, dim, truncated: 0 };
  }

  /**
   * Throws InputError for an empty sequence or an id outside the vocabulary (or a type id outside
   * type_vocab_size), SequenceTooLongError past maxLength: runTokenized's checks, before any work.
   */
  private checkTokenized(chunk: TokenizedChunk): void {
    const { vocab, typeVocab } = this.folder.dims;
    // Models without token types (typeVocab 0: DistilBERT, Qwen3) take type 0 everywhere.
    const types = Math.max(typeVocab, 1);
    const { offsets, ids, typeIds } = chunk;
    const maxLength = this.limits.maxLength;
    for (let i = 0; i < chunk.n; i++) {
      const from = offsets[i];
      const to = offsets[i + 1];
      const len = to - from;
      if (len < 1) throw new InputError(`sequence ${i} is empty`);
      if (len > maxLength) throw new SequenceTooLongError(i, len, maxLength);
      for (let t = from; t < to; t++) {
        const id = ids[t];
        if (!(id >= 0 && id < vocab)) throw new InputError(`sequence ${i} has token id ${id}, outside the vocabulary [0, ${vocab})`);
        const ty = typeIds[t];
        if (!(ty >= 0 && ty < types)) throw new InputError(`sequence ${i} has token type id ${ty}, outside [0, ${types})`);
      }
    }
  }

  /**
   * The paged KV cache's counters summed over replicas (prefix-cache lookups, hits, evictions,
   * prompt tokens computed and skipped); undefined unless a decoder runs on CUDA.
   */
  async kvCacheStats(): Promise<KvCacheStats | undefined> {
    if (this.device !== 'cuda' || !this.folder.dims.decoder) return undefined;
    const all = (await Promise.all(this.replicas.map((r) => r.kvCacheStats()))).filter((s): s is KvCacheStats => s !== undefined);
    if (!all.length) return undefined;
    const sum = (k: keyof KvCacheStats) => all.reduce((a, s) => a + s[k], 0);
    const queries = sum('queries');
    const hits = sum('hits');
    return {
      blockSize: all[0].blockSize,
      numBlocks: sum('numBlocks'),
      queries,
      hits,
      evictions: sum('evictions'),
      hitRate: queries ? hits / queries : 0,
      computedTokens: sum('computedTokens'),
      cachedTokens: sum('cachedTokens'),
    };
  }

  /** Tokenizer worker threads running (tokenizerThreads, or defaultTokenizerThreads for the device). */
  get tokenizerThreads(): number {
    return this.tokenizer.threads;
  }

  /** Batches the engine can run at once (worker slots over every replica). */
  get slots(): number {
    return this.replicas.reduce((s, r) => s + r.inFlight, 0);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.coordinator.close(), this.tokenizer.close()]);
  }
}

let probed: { key: string; result: Promise<CudaProbe> } | undefined;

/**
 * Name, compute capability and total memory of each GPU ordinal, from the addon's deviceProperties
 * (probeCuda has loaded it; no CUDA context is opened).
 * @throws UnsupportedOptionError naming the GPU when CUDA cannot describe it.
 */
async function gpuCapabilities(devices: number[]): Promise<GpuCapability[]> {
  const { loadAddon } = await import('../backends/cuda/addon.js');
  const addon = loadAddon();
  if (typeof addon.deviceProperties !== 'function') {
    throw new UnsupportedOptionError('the CUDA addon was built before deviceProperties existed: rebuild it (`npm run build:cuda`)');
  }
  return devices.map((device) => {
    let info: ReturnType<typeof addon.deviceProperties>;
    try {
      info = addon.deviceProperties(device);
    } catch (e) {
      throw new UnsupportedOptionError(`GPU ${device}: CUDA cannot read its properties: ${(e as Error).message}`);
    }
    return { device, name: info.name, computeCapability: info.computeCapability, totalMemory: info.totalMemory };
  });
}

/** Whether the CUDA addon loads and sees a GPU (cached per addon path and EMBEDRANK_DISABLE_CUDA). */
export function probeCuda(): Promise<CudaProbe> {
  const key = `${process.env.EMBEDRANK_DISABLE_CUDA}|${process.env.EMBEDRANK_CUDA_ADDON}`;
  if (probed?.key === key) return probed.result;
  const result = (async (): Promise<CudaProbe> => {
    if (process.env.EMBEDRANK_DISABLE_CUDA === '1') return { available: false, devices: 0, reason: 'EMBEDRANK_DISABLE_CUDA=1' };
    try {
      const { loadAddon } = await import('../backends/cuda/addon.js');
      const addon = loadAddon();
      const devices = addon.deviceCount();
      return devices > 0 ? { available: true, devices } : { available: false, devices: 0, reason: 'no CUDA device visible' };
    } catch (e) {
      return { available: false, devices: 0, reason: (e as Error).message };
    }
  })();
  probed = { key, result };
  return result;
}

/** Keys of in-process groups (EMBEDRANK_TP_LOCAL=1): random, so no libnccl is needed; 128 bytes like an NCCL id. */
function localGroupIdFactory(slots: number): () => Uint8Array[] {
  return () => Array.from({ length: slots }, () => new Uint8Array(randomBytes(128)));
}

async function ncclIdFactory(slots: number): Promise<() => Uint8Array[]> {
  const { loadAddon } = await import('../backends/cuda/addon.js');
  const addon = loadAddon();
  return () => Array.from({ length: slots }, () => new Uint8Array(addon.ncclUniqueId()));
}
