// The engine options every model-loading command (encode, rerank, evaluate) shares, as yargs
// options and back: one definition, so no command lacks an option another has.
import type { Argv } from 'yargs';
import { QUANTIZATION_OPTIONS, type EngineOptions, type QuantizationOption } from '../core/options.js';
import type { KvCacheStats } from '../kv/block-pool.js';
import { UsageError } from '../errors.js';

export interface EngineArgs {
  model: string;
  revision?: string;
  device: 'auto' | 'cpu' | 'cuda';
  dtype: 'auto' | 'float32' | 'float16' | 'bfloat16';
  maxModelLen?: number;
  maxNumBatchedTokens?: number;
  maxNumSeqs?: number;
  tensorParallelSize?: number;
  dataParallelSize?: number;
  truncate: boolean;
  tokenizerThreads?: number;
  onnxFile?: string;
  /** JSON object laid over config.json (vLLM's --hf-overrides). */
  hfOverrides?: string;
  /** Decoders on CUDA: vLLM's --enable-prefix-caching / --no-enable-prefix-caching. */
  enablePrefixCaching?: boolean;
  blockSize?: number;
  gpuMemoryUtilization?: number;
  numGpuBlocksOverride?: number;
  /** vLLM's --quantization. */
  quantization?: QuantizationOption;
}

/** Integer options and their least allowed value (vLLM's own bounds; max-model-len ≥ 2: [CLS] and [SEP]). */
export const INTEGER_ENGINE_OPTIONS: Readonly<Record<string, number>> = {
  'max-model-len': 2,
  'max-num-batched-tokens': 1,
  'max-num-seqs': 1,
  'tensor-parallel-size': 1,
  'data-parallel-size': 1,
  'tokenizer-threads': 1,
  'block-size': 1,
  'num-gpu-blocks-override': 1,
};

/** --gpu-memory-utilization: a fraction in (0, 1], as vLLM requires. */
function checkMemoryFraction(v: unknown): void {
  if (v === undefined) return;
  if (Array.isArray(v)) throw new UsageError('--gpu-memory-utilization was given more than once');
  if (typeof v !== 'number' || !(v > 0 && v <= 1)) throw new UsageError(`--gpu-memory-utilization must be a fraction in (0, 1], got ${Number.isNaN(v) ? 'something that is not a number' : String(v)}`);
}

/** A yargs check whose failures are UsageErrors (printed with a usage hint, exit 2), whatever it throws. */
export function usageCheck<A>(fn: (argv: A) => unknown): (argv: A) => true {
  return (argv) => {
    try {
      fn(argv);
    } catch (e) {
      throw e instanceof UsageError ? e : new UsageError((e as Error).message);
    }
    return true;
  };
}

/**
 * Throws UsageError (the CLI prints it and exits 2) when an integer option is not an integer ≥ its minimum:
 * yargs turns `--tokenizer-threads abc` into NaN, which must not reach the engine.
 */
export function checkIntegerOptions(argv: Record<string, unknown>, bounds: Readonly<Record<string, number>>): true {
  for (const [name, min] of Object.entries(bounds)) {
    const v = argv[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) throw new UsageError(`--${name} was given more than once`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      throw new UsageError(`--${name} must be an integer ≥ ${min}, got ${Number.isNaN(v) ? 'something that is not a number' : String(v)}`);
    }
  }
  return true;
}

export function withEngineOptions<T>(y: Argv<T>): Argv<T & EngineArgs> {
  return y
    .option('model', { alias: 'm', type: 'string', demandOption: true, describe: 'model folder, or a Hugging Face id (org/name) resolved through the HF cache or downloaded when online' })
    .option('revision', {
      type: 'string',
      describe:
        'hub revision (branch, tag or commit) when --model is an id (results are filed under the commit it resolves to); for a local folder, the revision its results are filed under (default: a hash of its weights and configs, "local-…")',
    })
    .option('device', { choices: ['auto', 'cpu', 'cuda'] as const, default: 'auto' as const, describe: 'auto: CUDA when the addon is built and a GPU is visible, else the CPU (onnxruntime)' })
    .option('dtype', {
      choices: ['auto', 'float32', 'float16', 'bfloat16'] as const,
      default: 'auto' as const,
      describe: 'compute dtype; auto follows vLLM (fp32 checkpoints run in fp16 on the GPU, fp16/bf16 keep theirs; the CPU computes in fp32)',
    })
    .option('max-model-len', { type: 'number', describe: 'truncate inputs to this many tokens (default: the model maximum)' })
    .option('max-num-batched-tokens', {
      type: 'number',
      describe: 'token budget of one batch (default 32768 on the GPU, 8192 on the CPU; at least --max-model-len, except for decoders on CUDA, which prefill longer inputs in chunks)',
    })
    .option('max-num-seqs', { type: 'number', describe: 'most sequences in one batch (default on the GPU as vLLM\'s: 1024 where every GPU has ≥ 70 GiB and is not an A100, else 256; 64 on the CPU)' })
    .option('tensor-parallel-size', { type: 'number', describe: 'GPUs per model replica (Megatron shards over NCCL)' })
    .option('data-parallel-size', { type: 'number', describe: 'model replicas (default: every visible GPU ÷ tensor-parallel size)' })
    .option('truncate', { type: 'boolean', default: true, describe: 'cut over-long inputs to the maximum length; --no-truncate makes them an error' })
    .option('tokenizer-threads', { type: 'number', describe: 'tokenizer worker threads (default: one per core; with CUDA, cores − 2 − GPUs)' })
    .option('onnx-file', {
      type: 'string',
      describe: "CPU engine: run this ONNX graph (e.g. the folder's onnx/model.onnx) instead of the model.safetensors weights the GPU also reads (default)",
    })
    .option('quantization', {
      choices: QUANTIZATION_OPTIONS,
      describe:
        "as vLLM's --quantization: fp8 runs the encoder's QKV, attention-output and FFN linears as FP8 (e4m3) GEMMs — per-channel weight scales made at load, per-token activation scales — on GPUs of compute capability ≥ 8.9 (default: none)",
    })
    .option('hf-overrides', {
      type: 'string',
      describe:
        'JSON object laid over the model\'s config.json, as vLLM\'s --hf-overrides; Qwen3-Reranker: \'{"architectures": ["Qwen3ForSequenceClassification"], "classifier_from_token": ["no", "yes"], "is_original_qwen3_reranker": true}\'',
    })
    .option('enable-prefix-caching', {
      type: 'boolean',
      describe: 'decoders on CUDA (Qwen3): reuse the cached KV blocks of a shared prompt prefix, as vLLM (default on; --no-enable-prefix-caching turns it off; results are the same)',
    })
    .option('block-size', { type: 'number', describe: 'decoders on CUDA: tokens per KV-cache block (default 16, as vLLM)' })
    .option('gpu-memory-utilization', {
      type: 'number',
      describe: 'decoders on CUDA: fraction of GPU memory for weights, activations and the paged KV cache, which gets the rest (default 0.9, as vLLM)',
    })
    .option('num-gpu-blocks-override', { type: 'number', describe: 'decoders on CUDA: a KV cache of exactly this many blocks instead (as vLLM)' })
    .check((argv) => checkIntegerOptions(argv as Record<string, unknown>, INTEGER_ENGINE_OPTIONS))
    .check(usageCheck((argv) => checkMemoryFraction((argv as Record<string, unknown>)['gpu-memory-utilization'])))
    .check(usageCheck((argv) => parseHfOverrides((argv as Record<string, unknown>)['hf-overrides']))) as unknown as Argv<T & EngineArgs>;
}

/** The engine arguments of a parsed command line, without the command's other options. */
export function engineArgs(a: EngineArgs): EngineArgs {
  return {
    model: a.model,
    revision: a.revision,
    device: a.device,
    dtype: a.dtype,
    maxModelLen: a.maxModelLen,
    maxNumBatchedTokens: a.maxNumBatchedTokens,
    maxNumSeqs: a.maxNumSeqs,
    tensorParallelSize: a.tensorParallelSize,
    dataParallelSize: a.dataParallelSize,
    truncate: a.truncate,
    tokenizerThreads: a.tokenizerThreads,
    onnxFile: a.onnxFile,
    hfOverrides: a.hfOverrides,
    enablePrefixCaching: a.enablePrefixCaching,
    blockSize: a.blockSize,
    gpuMemoryUtilization: a.gpuMemoryUtilization,
    numGpuBlocksOverride: a.numGpuBlocksOverride,
    quantization: a.quantization,
  };
}

/**
 * --hf-overrides as an object (undefined when absent).
 * @throws UsageError when it is not one JSON object.
 */
export function parseHfOverrides(v: unknown): Record<string, unknown> | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new UsageError('--hf-overrides was given more than once');
  let o: unknown;
  try {
    o = JSON.parse(v);
  } catch (e) {
    throw new UsageError(`--hf-overrides is not valid JSON: ${(e as Error).message}`);
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new UsageError('--hf-overrides must be a JSON object of config.json keys');
  return o as Record<string, unknown>;
}

export function toEngineOptions(a: EngineArgs): EngineOptions {
  return { ...engineArgs(a), hfOverrides: parseHfOverrides(a.hfOverrides) };
}

/**
 * The one stderr line the CLI prints after a decoder ran on CUDA: prefix-cache hit rate (blocks
 * found cached of those looked up), prompt tokens skipped and computed, evictions, pool size.
 */
export function kvCacheStatsLine(s: KvCacheStats): string {
  const n = (x: number) => x.toLocaleString('en-US');
  return (
    `embedrank: KV cache: prefix-cache hit rate ${(100 * s.hitRate).toFixed(1)}% (${n(s.hits)} of ${n(s.queries)} blocks); ` +
    `prompt tokens ${n(s.cachedTokens)} cached, ${n(s.computedTokens)} computed; ${n(s.evictions)} evictions; pool ${n(s.numBlocks)} blocks of ${s.blockSize} tokens\n`
  );
}
