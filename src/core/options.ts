// Options shared by Encoder and CrossEncoder, named after vLLM's engine arguments as mteb's
// wrappers pass them, and their resolution against the model and the machine.
import { UnsupportedOptionError, InputError } from '../errors.js';
import type { ModelFolder } from '../model/folder.js';

export type DtypeOption = 'auto' | 'float32' | 'float' | 'float16' | 'half' | 'bfloat16';
export type ComputeDtype = 'float32' | 'float16' | 'bfloat16';
export type DeviceOption = 'auto' | 'cpu' | 'cuda';
/** vLLM's --quantization values this engine implements. */
export type QuantizationOption = 'fp8';
export const QUANTIZATION_OPTIONS: readonly QuantizationOption[] = ['fp8'];

export interface EngineOptions {
  /** A local model folder or a Hugging Face id ("org/name"). */
  model: string;
  /**
   * Keys laid over the model's config.json before it is read, as vLLM's hf_overrides. For an
   * original Qwen3-Reranker folder (Qwen3ForCausalLM) pass QWEN3_RERANKER_OVERRIDES:
   * { architectures: ["Qwen3ForSequenceClassification"], classifier_from_token: ["no", "yes"],
   *   is_original_qwen3_reranker: true } (docs/qwen3.md).
   */
  hfOverrides?: Record<string, unknown>;
  revision?: string;
  /** 'auto' follows vLLM: fp32 checkpoints run in fp16, fp16/bf16 ones keep their dtype; the CPU computes in fp32. */
  dtype?: DtypeOption;
  device?: DeviceOption;
  /** Truncation length in tokens (defaults to the model's own maximum; larger is an error). */
  maxModelLen?: number;
  /** Token budget of one batch. */
  maxNumBatchedTokens?: number;
  /** Most sequences in one batch (default: 64 on the CPU; on CUDA defaultCudaMaxNumSeqs, 1024 or 256 as vLLM). */
  maxNumSeqs?: number;
  /** GPUs one model replica is split over (Megatron tensor parallelism, NCCL all-reduce). */
  tensorParallelSize?: number;
  /** Model replicas, each on tensorParallelSize GPUs. */
  dataParallelSize?: number;
  /** GPU ordinals to use (default: all visible). */
  devices?: number[];
  /** Cut over-long inputs to the maximum length (default) or reject them. */
  truncate?: boolean;
  /** Tokenizer worker threads (default: one per core on the CPU; with CUDA the cores less 2 + one per GPU, tokenize/threads.ts defaultTokenizerThreads). */
  tokenizerThreads?: number;
  /** onnxruntime intra-op threads on the CPU. */
  cpuThreads?: number;
  /**
   * CPU engine only: run this ONNX graph (e.g. the folder's onnx/model.onnx) instead of an export of
   * model.safetensors, the weights the GPU path reads. Never chosen implicitly.
   */
  onnxFile?: string;
  /** Allow TF32 tensor cores for dtype float32 on the GPU (off: exact fp32). */
  allowTf32?: boolean;
  /**
   * Decoders on CUDA (Qwen3): reuse the KV blocks of a prompt prefix already computed — a
   * reranking query's candidates share the system line, instruction and query — as vLLM's
   * enable_prefix_caching (default true). Results are the same either way.
   */
  enablePrefixCaching?: boolean;
  /** Decoders on CUDA: tokens per KV-cache block, vLLM's block_size (default 16). */
  blockSize?: number;
  /**
   * Decoders on CUDA: fraction of each GPU's memory that weights, activations and the paged KV
   * cache may take, vLLM's gpu_memory_utilization (default 0.9); the KV pool gets what is left.
   */
  gpuMemoryUtilization?: number;
  /** Decoders on CUDA: a KV pool of exactly this many blocks instead (vLLM's num_gpu_blocks_override). */
  numGpuBlocksOverride?: number;
  /**
   * Weight and activation quantisation, as vLLM's `quantization` (default none). 'fp8': the QKV,
   * attention-output and FFN linears of an encoder run as FP8 (e4m3) GEMMs — weights quantised
   * per output channel when the model loads (scale = amax(row) / 448, from the checkpoint's
   * fp32/fp16/bf16 values), activations per token per batch — with fp32 accumulation; embeddings,
   * LayerNorms, attention, pooling and heads stay in `dtype`. Needs device "cuda" with compute
   * capability ≥ 8.9 (Ada, Hopper), dtype float16 or bfloat16, and an encoder model; otherwise
   * UnsupportedOptionError before anything loads.
   */
  quantization?: QuantizationOption;
  showProgress?: boolean;
  cacheDir?: string;
  hfToken?: string;
  /** Test hook: crash a worker thread once after this many batches. */
  faultInjection?: { crashAfterBatches: number };
}

/** Integer options and their least value; anything else (NaN, 2.5, "4", 0) is refused by name. */
const INTEGER_OPTIONS: ReadonlyArray<[keyof EngineOptions, number]> = [
  ['maxModelLen', 2],
  ['maxNumBatchedTokens', 1],
  ['maxNumSeqs', 1],
  ['tensorParallelSize', 1],
  ['dataParallelSize', 1],
  ['tokenizerThreads', 1],
  ['cpuThreads', 1],
  ['blockSize', 1],
  ['numGpuBlocksOverride', 1],
];

const BOOLEAN_OPTIONS: ReadonlyArray<keyof EngineOptions> = ['truncate', 'allowTf32', 'showProgress', 'enablePrefixCaching'];

function describeValue(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

/**
 * Checks the types and ranges of the options before anything is loaded, so that a bad value is an
 * InputError naming the option instead of a hang or a failure deep in a worker (a NaN thread
 * count once left encode() unsettled). Throws InputError; returns the options unchanged.
 */
export function validateEngineOptions<T extends EngineOptions>(opts: T): T {
  if (!opts || typeof opts !== 'object') throw new InputError(`options must be an object with at least { model }, got ${describeValue(opts)}`);
  if (typeof opts.model !== 'string' || !opts.model) throw new InputError('options.model must be a model folder or a Hugging Face id');
  if (opts.revision !== undefined && (typeof opts.revision !== 'string' || !opts.revision)) {
    throw new InputError(`options.revision must be a non-empty string (branch, tag or commit), got ${describeValue(opts.revision)}`);
  }
  if (opts.onnxFile !== undefined && (typeof opts.onnxFile !== 'string' || !opts.onnxFile)) {
    throw new InputError(`options.onnxFile must be the path of an ONNX file, got ${describeValue(opts.onnxFile)}`);
  }
  for (const [key, min] of INTEGER_OPTIONS) {
    const v = opts[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new InputError(`options.${key} must be an integer ≥ ${min}, got ${describeValue(v)}`);
  }
  for (const key of BOOLEAN_OPTIONS) {
    const v = opts[key];
    if (v !== undefined && typeof v !== 'boolean') throw new InputError(`options.${key} must be true or false, got ${describeValue(v)}`);
  }
  const util = opts.gpuMemoryUtilization;
  if (util !== undefined && (typeof util !== 'number' || !(util > 0 && util <= 1))) {
    throw new InputError(`options.gpuMemoryUtilization must be a fraction in (0, 1], got ${describeValue(util)}`);
  }
  if (opts.quantization !== undefined && !QUANTIZATION_OPTIONS.includes(opts.quantization)) {
    throw new InputError(`options.quantization must be ${QUANTIZATION_OPTIONS.map((q) => JSON.stringify(q)).join(' or ')} or left out, got ${describeValue(opts.quantization)}`);
  }
  if (opts.hfOverrides !== undefined && (opts.hfOverrides === null || typeof opts.hfOverrides !== 'object' || Array.isArray(opts.hfOverrides))) {
    throw new InputError(`options.hfOverrides must be an object of config.json keys, got ${describeValue(opts.hfOverrides)}`);
  }
    if (opts.devices !== undefined) {
    if (!Array.isArray(opts.devices) || !opts.devices.length) throw new InputError(`options.devices must be a non-empty array of GPU ordinals, got ${describeValue(opts.devices)}`);
    opts.devices.forEach((d, i) => {
      if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) throw new InputError(`options.devices[${i}] must be a GPU ordinal (integer ≥ 0), got ${describeValue(d)}`);
    });
    if (new Set(opts.devices).size !== opts.devices.length) throw new InputError(`options.devices lists a GPU twice: [${opts.devices.join(', ')}]`);
  }
  return opts;
}

/** Model families that overflow in fp16 and run in bf16 under 'auto', as vLLM keeps them. */
const FP16_UNSAFE = new Set(['gemma', 'gemma2', 'gemma3', 'gemma3_text']);

export function resolveDtype(opt: DtypeOption | undefined, folder: ModelFolder, device: 'cpu' | 'cuda'): ComputeDtype {
  const o = opt ?? 'auto';
  const canonical: Record<string, ComputeDtype | 'auto'> = {
    auto: 'auto', float32: 'float32', float: 'float32', float16: 'float16', half: 'float16', bfloat16: 'bfloat16',
  };
  const want = canonical[o];
  if (!want) throw new InputError(`dtype "${o}" is not one of ${Object.keys(canonical).join(', ')}`);
  if (device === 'cpu') {
    if (want !== 'auto' && want !== 'float32') {
      throw new UnsupportedOptionError(`dtype "${o}" is not available on the CPU engine, which computes in float32; use dtype "auto" or "float32", or device "cuda"`);
    }
    return 'float32';
  }
  if (want !== 'auto') return want;
  // vLLM's 'auto' for pooling models: the config's dtype (transformers 5 writes "dtype", 4.x
  // "torch_dtype"; else the stored weights'), with float32 downcast to float16 — bf16 for the
  // families that overflow in fp16.
  if (FP16_UNSAFE.has(folder.dims.modelType)) return 'bfloat16';
  const cfg = folder.config.dtype ?? folder.config.torch_dtype;
  const declared = typeof cfg === 'string' ? cfg.replace(/^torch\./, '') : { BF16: 'bfloat16', F16: 'float16' }[folder.storedDtype] ?? 'float32';
  if (declared === 'bfloat16') return 'bfloat16';
  return 'float16';
}

export interface ResolvedLimits {
  maxLength: number;
  maxNumBatchedTokens: number;
  maxNumSeqs: number;
}

/**
 * maxNumSeqs on CUDA when the user gives none, as vLLM's EngineArgs.get_batch_defaults: 1024 where
 * the GPU has at least 70 GiB (total memory) and is not an A100 (H100, H200, MI300X: vLLM found its
 * larger defaults slower on A100s, PR #17885), else 256; 256 when the GPUs are not known (empty
 * list). Two differences from vLLM: every GPU of the run must qualify (vLLM reads the process's
 * current one), and the token budget keeps this engine's default (vLLM's same rule raises
 * max_num_batched_tokens to 16384 / 8192; embedrank's is 32768 on CUDA either way).
 * Short texts fill batches by count, not tokens: MiniLM-L6 over the 52 082 STS sentences end to end
 * on an H200, 0.272 / 0.274 s at 256 against 0.237 / 0.250 s at 1024 (bench/RESULTS.md, session 15);
 * inputs long enough to fill the token budget first are batched as before.
 */
export function defaultCudaMaxNumSeqs(gpus: readonly GpuCapability[]): number {
  const large = (g: GpuCapability) => g.totalMemory >= 70 * 2 ** 30 && !g.name.toLowerCase().includes('a100');
  return gpus.length > 0 && gpus.every(large) ? 1024 : 256;
}

/**
 * Truncation length and batch limits (`gpus`: the run's GPUs, for the CUDA default of maxNumSeqs).
 * maxNumBatchedTokens must cover the longest sequence (vLLM's rule without chunked prefill), except
 * for a decoder on CUDA, whose engine splits a longer sequence into chunked-prefill steps (vLLM
 * allows it with enable_chunked_prefill).
 * @throws InputError naming the option.
 */
export function resolveLimits(
  opts: EngineOptions,
  folder: ModelFolder,
  device: 'cpu' | 'cuda',
  gpus: readonly GpuCapability[] = [],
): ResolvedLimits {
  let maxLength = folder.maxLength;
  if (opts.maxModelLen !== undefined) {
    if (!Number.isInteger(opts.maxModelLen) || opts.maxModelLen < 2) throw new InputError(`maxModelLen must be an integer ≥ 2, got ${opts.maxModelLen}`);
    const limit = folder.dims.maxPositions - folder.dims.positionOffset;
    if (opts.maxModelLen > limit) {
      throw new InputError(`maxModelLen ${opts.maxModelLen} exceeds the model's ${limit} position embeddings (${folder.dir}/config.json)`);
    }
    maxLength = opts.maxModelLen;
  }
  const maxNumSeqs = opts.maxNumSeqs ?? (device === 'cuda' ? defaultCudaMaxNumSeqs(gpus) : 64);
  const chunked = device === 'cuda' && folder.dims.decoder !== undefined;
  const maxNumBatchedTokens = opts.maxNumBatchedTokens ?? (chunked ? 32768 : device === 'cuda' ? Math.max(32768, maxLength) : Math.max(8192, maxLength));
  if (!Number.isInteger(maxNumSeqs) || maxNumSeqs < 1) throw new InputError(`maxNumSeqs must be a positive integer, got ${maxNumSeqs}`);
  if (!Number.isInteger(maxNumBatchedTokens) || maxNumBatchedTokens < (chunked ? 1 : maxLength)) {
    throw new InputError(
      chunked
        ? `maxNumBatchedTokens must be a positive integer, got ${maxNumBatchedTokens}`
        : `maxNumBatchedTokens (${maxNumBatchedTokens}) must be an integer ≥ the maximum sequence length (${maxLength}), as in vLLM without chunked prefill (only decoders on CUDA prefill in chunks)`,
    );
  }
  return { maxLength, maxNumBatchedTokens, maxNumSeqs };
}

/** A GPU as resolveQuantization and resolveLimits need to know it (the addon's deviceProperties). */
export interface GpuCapability {
  device: number;
  name: string;
  /** "major.minor", e.g. "9.0". */
  computeCapability: string;
  /** Total device memory in bytes (the addon's deviceProperties: cudaDeviceProp.totalGlobalMem). */
  totalMemory: number;
}

/**
 * The quantisation a model will run with (undefined: none), checked against the model, device,
 * dtype and GPUs before any weight loads. FP8 needs FP8 tensor cores (compute capability ≥ 8.9,
 * as vLLM's Fp8Config.get_min_capability = 89), a 16-bit compute dtype, an encoder (the decoder
 * path has no FP8 GEMMs), and GEMM widths that are multiples of 16 on each tensor-parallel rank
 * (cuBLASLt's FP8 requirement on leading dimensions).
 * @throws UnsupportedOptionError naming what stands in the way.
 */
export function resolveQuantization(
  q: QuantizationOption | undefined,
  folder: ModelFolder,
  device: 'cpu' | 'cuda',
  dtype: ComputeDtype,
  tensorParallelSize: number,
  gpus: readonly GpuCapability[],
  cudaUnavailableReason?: string,
): QuantizationOption | undefined {
  if (q === undefined) return undefined;
  // Experimental until its GPU suite passes. Session 4 (H200) found an illegal memory access and
  // wrong LayerNorm+quantize scales above hidden 1024; session 5 fixed both (their op tests pass),
  // but the model test still fails: GPU fp8 embeddings vs the float64 emulation of the same
  // quantisation reach cosine 0.975 / 0.963 (fp16 / bf16 BERT-base), not 0.999 (bench/RESULTS.md).
  if (process.env.EMBEDRANK_EXPERIMENTAL_FP8 !== '1') {
    throw new UnsupportedOptionError(
      `quantization "${q}" is experimental: its GPU model test still fails (fp8 embeddings track the float64 emulation of the same quantisation only to cosine ≈ 0.97); set EMBEDRANK_EXPERIMENTAL_FP8=1 to run it anyway`,
    );
  }
  const d = folder.dims;
  if (d.decoder) {
    throw new UnsupportedOptionError(`quantization "${q}" applies to encoder models (BERT, RoBERTa, XLM-R, DistilBERT); ${folder.dir} is a ${d.family} decoder`);
  }
  if (device !== 'cuda') {
    throw new UnsupportedOptionError(
      `quantization "${q}" needs device "cuda" (the CPU engine computes in float32)` + (cudaUnavailableReason ? `; CUDA is unavailable: ${cudaUnavailableReason}` : ''),
    );
  }
  if (dtype === 'float32') {
    throw new UnsupportedOptionError(`quantization "${q}" needs dtype float16 or bfloat16 (its non-GEMM operations run in 16 bits); got float32`);
  }
  const widths: Array<[string, number]> = [
    ['hidden size', d.hidden],
    ['attention width per GPU', (d.heads / tensorParallelSize) * d.headDim],
    ['intermediate size per GPU', d.intermediate / tensorParallelSize],
  ];
  for (const [what, v] of widths) {
    if (!Number.isInteger(v) || v % 16 !== 0) {
      throw new UnsupportedOptionError(`quantization "${q}" needs GEMM widths that are multiples of 16 (cuBLASLt FP8); the ${what} is ${v}`);
    }
  }
  for (const g of gpus) {
    const [major, minor] = g.computeCapability.split('.').map(Number);
    if (!(major * 10 + minor >= 89)) {
      throw new UnsupportedOptionError(
        `quantization "${q}" needs FP8 tensor cores (compute capability 8.9 or newer: Ada, Hopper); GPU ${g.device} (${g.name}) has ${g.computeCapability}`,
      );
    }
  }
  return q;
}
