// Loads the native CUDA addon (cuda/*.cu built by `npm run build:cuda`). Absent or unloadable
// addons are reported with the reason; callers fall back to the CPU engine.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

/**
 * What `new addon.Model(cfg)` builds. arch 0 (default): a post-LayerNorm encoder (cuda/bert.cu);
 * arch 1: a pre-RMSNorm grouped-query decoder (Qwen3, cuda/decoder.cu), which ignores maxPositions,
 * typeVocab, positionOffset and headActivation and reads the decoder keys below.
 */
export interface AddonModelConfig {
  /** 0 encoder (BERT-like), 1 decoder (Qwen3). Absent: 0. */
  arch?: number;
  device: number;
  dtype: number;
  hidden: number;
  layers: number;
  /** Query heads on this rank. */
  heads: number;
  headDim: number;
  /** FFN width on this rank (the decoder's gate and up each have this many rows). */
  intermediate: number;
  vocab: number;
  /**
   * Decoder: KV heads on this rank (num_key_value_heads / world when world ≤ it, else 1:
   * replicated, as qwen3WeightPlan slices them).
   */
  kvHeads?: number;
  /** Decoder: rotary base (rope_theta). */
  ropeTheta?: number;
  /** Decoder: tokens per KV-cache block (vLLM's block_size). */
  blockSize?: number;
  /** Decoder: width of one block-table row, ⌈longest sequence / blockSize⌉ blocks. */
  maxBlocksPerSeq?: number;
  maxPositions: number;
  /** Rows of the token-type table; 0: the model has none. */
  typeVocab: number;
  numLabels: number;
  /** Position id of a sequence's first token (the addon checks lengths against maxPositions − it). */
  positionOffset: number;
  /** Classification head activation: 0 tanh (BERT, RoBERTa, XLM-R), 1 ReLU (DistilBERT). */
  headActivation: number;
  eps: number;
  maxTokens: number;
  maxSeqs: number;
  slots: number;
  rank: number;
  worldSize: number;
  allowTf32: boolean;
  /** 0 none, 1 fp8 (e4m3 QKV/O/FFN linears: cuda/gemm_fp8.h); absent: 0. */
  quantization?: number;
}

export interface AddonModel {
  setWeight(name: string, data: Uint8Array, srcDtype: number): void;
  connect(ncclIds: Uint8Array[]): Promise<void>;
  forward(
    slot: number,
    ids: Int32Array,
    /** Token type ids; empty when typeVocab is 0. */
    types: Int32Array,
    /** Position ids by the family's rule, one per token. */
    positions: Int32Array,
    cuSeqlens: Int32Array,
    skip: Int32Array | null,
    mode: number,
    poolMode: number,
    normalize: boolean,
    stopAfterLayers: number,
    out: Float32Array,
  ): Promise<void>;
  /**
   * Decoder (arch 1) only, after every weight: allocates the paged KV cache, K and V each
   * [layers][numBlocks][blockSize][kvHeads][headDim] in the model dtype, i.e.
   * 2·layers·kvHeads·headDim·blockSize·dtypeBytes bytes per block (src/kv/block-pool.ts
   * kvBytesPerBlock with this rank's kvHeads). @throws CudaError with `oom: true` when it does not fit.
   */
  allocateKvCache(numBlocks: number): void;
  /**
   * Decoder (`arch: 1`): tunes cuBLASLt's algorithms for the weight GEMMs at every token-count
   * class up to maxTokens, synchronously (about a second at load); returns the classes tuned (0 under
   * EMBEDRANK_GEMM_TUNE=0).
   * Optional: older builds and stand-ins lack it.
   */
  tuneGemms?(): number;
  /**
   * Decoder (arch 1) only: one step of paged prefill over n sequences and T tokens, on `slot`.
   * All Int32Array:
   *   ids [T], positions [T] (rotary takes them as input),
   *   cuQ [n+1] (cuQ[0] = 0, cuQ[n] = T): sequence i's step tokens are cuQ[i] .. cuQ[i+1], the
   *     LAST q_i = cuQ[i+1] − cuQ[i] of its first ctxLens[i] tokens, at positions ctxLens[i] − q_i + j;
   *   ctxLens [n]: tokens of sequence i in the cache once this step is done;
   *   blockTables [n·maxBlocksPerSeq]: row i = sequence i's block ids in order (unused entries any id ≥ 0);
   *   slotMapping [T]: cache slot of token t = blockTables[i][pos / blockSize]·blockSize + pos % blockSize.
   * Every layer writes all the step's K/V at slotMapping before its attention reads, so the K/V of
   * positions < ctxLens[i] − q_i must be in the cache already — from an earlier step, a cached
   * prefix, or another sequence of this same step.
   * mode 0 embed → out [n·hidden]: final-RMSNorm'd hidden state of each sequence's last token in
   *   this step, L2-normalised when `normalize`; mode 1 score → out [n·numLabels]: head.cls.w · that
   *   state, fp32 raw logits; mode 2 hidden → out [T·hidden], fp32, after the final norm.
   * A sequence whose last token is not in this step still gets a row (of a non-final token).
   * Rejects (Error) malformed input: sizes, ids ≥ vocab, slots outside the cache, positions
   * inconsistent with ctxLens / cuQ, n > maxSeqs, T > maxTokens, or no allocateKvCache yet.
   */
  forwardDecoder(
    slot: number,
    ids: Int32Array,
    positions: Int32Array,
    cuQ: Int32Array,
    ctxLens: Int32Array,
    blockTables: Int32Array,
    slotMapping: Int32Array,
    mode: number,
    normalize: boolean,
    out: Float32Array,
  ): Promise<void>;
  destroy(): void;
  weightBytes(): number;
  /** GPU time per operation since the last call; empty unless EMBEDRANK_PROFILE=1 was set at load. */
  profile(): Record<string, { ms: number; count: number }>;
  /** CUDA graphs since the model was made (EMBEDRANK_CUDA_GRAPHS): see GraphStats. */
  graphStats(): GraphStats;
}

/**
 * Whole forward passes run as CUDA graphs since a model was made, over all its slots
 * (EMBEDRANK_CUDA_GRAPHS; cuda/graphs.h): passes captured, launches of captured passes, and
 * captures that failed (those shapes run kernel by kernel from then on). All 0 with graphs off,
 * under tensor parallelism and with EMBEDRANK_PROFILE=1.
 */
export interface GraphStats {
  captured: number;
  replayed: number;
  failed: number;
}

export interface DeviceInfo {
  name: string;
  multiprocessors: number;
  computeCapability: string;
  totalMemory: number;
  freeMemory: number;
  l2Bytes: number;
}

/**
 * EMBEDRANK_ATTENTION's values: the FlashAttention-2 style mma.sync kernel with 64-row (mma) or
 * 128-row (mma128) query tiles, or the Hopper (sm_90a) FlashAttention-3 style one (wgmma).
 */
export type AttentionKernelName = 'mma' | 'mma128' | 'wgmma';

export interface CudaAddon {
  Model: new (cfg: AddonModelConfig) => AddonModel;
  deviceCount(): number;
  /** Name, memory and free memory of a GPU; sets it as this thread's device and opens its context. */
  deviceInfo(device: number): DeviceInfo;
  /** A GPU's name, compute capability and total memory (bytes), without opening a context. */
  deviceProperties(device: number): Pick<DeviceInfo, 'name' | 'computeCapability' | 'totalMemory'>;
  ncclUniqueId(): Uint8Array;
  /**
   * The varlen attention kernel alone (tests): qkv [T, 3·heads·headDim] fp32, converted to `dtype`
   * (0 f32, 1 f16, 2 bf16) on the device; returns [T, heads·headDim] fp32. `kernel` picks the
   * fp16/bf16 kernel (AttentionKernelName; 'wgmma' serves head_dim 64/128 only, 'mma' the rest);
   * undefined: EMBEDRANK_ATTENTION. Throws if 'wgmma' cannot run on the device.
   */
  attentionTest(dtype: number, qkv: Float32Array, cuSeqlens: Int32Array, heads: number, headDim: number, device: number, kernel?: AttentionKernelName): Float32Array;
  /**
   * The attention kernel alone on random fp16/bf16 data: median ms of `iters` CUDA-event timings,
   * TFLOP/s of the non-causal work (4·Σ len²·heads·headDim), and the kernel that ran.
   */
  attentionBench(dtype: number, cuSeqlens: Int32Array, heads: number, headDim: number, kernel: AttentionKernelName, iters: number, device: number): { ms: number; tflops: number; kernel: AttentionKernelName };
  gemmBench(m: number, n: number, k: number, iters: number, device: number): { ms: number; tflops: number };
  /**
   * Full-corpus retrieval scoring (cuda/similarity_topk.cu): queries [nq x dim] against docs
   * [nd x dim], dot or cosine, exact fp32; per query the top min(k, nd) indices and scores, best
   * first, ties by lower index, each [nq x min(k, nd)]. tileDocs / queryBlock 0: default tiling.
   */
  similarityTopK(
    queries: Float32Array,
    nq: number,
    docs: Float32Array,
    nd: number,
    dim: number,
    cosine: boolean,
    k: number,
    device: number,
    tileDocs: number,
    queryBlock: number,
  ): Promise<{ indices: Int32Array; scores: Float32Array }>;
  /** The decoder (Qwen3) kernels one at a time (cuda/decoder_test.cu), for test/gpu/qwen3.gpu.ts. */
  /**
   * The FP8 kernels one at a time (cuda/fp8_test.cu), for test/gpu/fp8.gpu.ts. 'quantize',
   * 'bias_gelu_quantize' and 'add_ln_quantize' (add+LayerNorm with its fused fp8 output; also the
   * 16-bit output) return e4m3 codes and per-row scales; 'gemm' returns y (float32) and the
   * epilogue that ran ('outer': cuBLASLt outer-vector scaling; 'kernel': dequantize_fp8_gemm);
   * 'gemm_graph' also yGraph, the first graphT rows from a CUDA graph replayed after a larger eager call.
   */
  fp8OpTest(dtype: number, op: 'quantize' | 'bias_gelu_quantize', args: Record<string, unknown>, device: number): { q: Uint8Array; scales: Float32Array };
  fp8OpTest(dtype: number, op: 'add_ln_quantize', args: Record<string, unknown>, device: number): { q: Uint8Array; scales: Float32Array; out: Float32Array };
  fp8OpTest(dtype: number, op: 'gemm', args: Record<string, unknown>, device: number): { y: Float32Array; epilogue: 'outer' | 'kernel' };
  fp8OpTest(dtype: number, op: 'gemm_graph', args: Record<string, unknown>, device: number): { y: Float32Array; yGraph: Float32Array; epilogue: 'outer' | 'kernel' };
  decoderOpTest(dtype: number, op: 'rms_norm' | 'rotary' | 'swiglu' | 'attention' | 'local_all_reduce', args: Record<string, unknown>, device: number): Float32Array;
}

export const DTYPE_CODE = { float32: 0, float16: 1, bfloat16: 2 } as const;
export const STORED_DTYPE_CODE: Record<string, number> = { F32: 0, F16: 1, BF16: 2 };

/** The loaded addon, by path: a different $EMBEDRANK_CUDA_ADDON (tests' stand-in) loads afresh. */
let cached: { path: string; addon: CudaAddon } | undefined;

/** Where the addon is looked for: $EMBEDRANK_CUDA_ADDON, then build/ at the package root. */
export function addonPath(): string {
  if (process.env.EMBEDRANK_CUDA_ADDON) return resolve(process.env.EMBEDRANK_CUDA_ADDON);
  // dist/src/backends/cuda/addon.js → package root is four levels up.
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
  return join(root, 'build', 'embedrank_cuda.node');
}

export function loadAddon(): CudaAddon {
  const path = addonPath();
  if (cached?.path === path) return cached.addon;
  if (!existsSync(path)) throw new Error(`CUDA addon not built (${path} missing; run \`npm run build:cuda\` where nvcc and cuBLAS exist)`);
  const require = createRequire(import.meta.url);
  try {
    cached = { path, addon: require(path) as CudaAddon };
  } catch (e) {
    throw new Error(`CUDA addon ${path} failed to load: ${(e as Error).message}`);
  }
  return cached.addon;
}
