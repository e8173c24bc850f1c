// How many threads Hugging Face `tokenizers` runs on. The binding's encode/encodeBatch are async
// only: each call is one task on libuv's thread pool, which every worker thread of the process
// shares and which has 4 threads unless UV_THREADPOOL_SIZE says otherwise; inside the call,
// encodeBatch fans out over rayon's global pool (one thread per core) unless
// TOKENIZERS_PARALLELISM is off (tokenizers/src/utils/parallelism.rs reads it on every call).
// A tokenizer worker per core on top of rayon's thread per core oversubscribes the cores; rayon
// off with libuv's 4 threads caps the pool at 4 cores (bench/RESULTS.md, session 3 call D).
// So with the fast tokenizer path each worker's Rust work runs on one libuv thread of its own:
// rayon off and libuv sized to the workers.
import { availableParallelism } from 'node:os';

const ON = new Set(['1', 'true', 'yes', 'on']);
const OFF = new Set(['0', 'false', 'no', 'off']);

/**
 * EMBEDRANK_FAST_TOKENIZE as a boolean: 1/true/yes/on or 0/false/no/off (any case); undefined when
 * unset or empty (the caller's default applies).
 * @throws Error naming the variable for any other value (checked before any work starts).
 */
function fastTokenizeSetting(env: NodeJS.ProcessEnv): boolean | undefined {
  const v = env.EMBEDRANK_FAST_TOKENIZE?.trim().toLowerCase();
  if (v === undefined || v === '') return undefined;
  if (ON.has(v)) return true;
  if (OFF.has(v)) return false;
  throw new Error(`EMBEDRANK_FAST_TOKENIZE=${env.EMBEDRANK_FAST_TOKENIZE} is not one of 1/true/yes/on or 0/false/no/off`);
}

/**
 * The switch of the fast tokenizer path (packed ids written in the worker, sized threads): off by
 * default in the library, on in the `embedrank` command (configureLaunch) unless set off.
 * @throws Error for a value that is neither on nor off.
 */
export function fastTokenizeEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return fastTokenizeSetting(env) ?? false;
}

/**
 * Whether the fast path tokenizes each distinct text of a call once: on with the fast path unless
 * EMBEDRANK_TOKENIZE_DEDUPE=0 (to tell its share of a speed-up from the packing's).
 */
export function dedupeEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return fastTokenizeEnabled(env) && env.EMBEDRANK_TOKENIZE_DEDUPE !== '0';
}

/** What configureTokenizerThreads set (a variable the user had set is left alone and not listed). */
export interface TokenizerThreadSettings {
  UV_THREADPOOL_SIZE?: string;
  TOKENIZERS_PARALLELISM?: string;
}

/**
 * Sets UV_THREADPOOL_SIZE to `workers` + 4 (the 4 libuv threads Node's own fs, dns, crypto and
 * zlib work would have had) and TOKENIZERS_PARALLELISM=false, each only when the environment
 * does not set it. A UV_THREADPOOL_SIZE of the user's leaves both alone (rayon off without a larger
 * libuv pool halves throughput); a TOKENIZERS_PARALLELISM of the user's is kept while the pool is
 * still sized (the common `TOKENIZERS_PARALLELISM=false` alone would otherwise cap it at 4 threads).
 * libuv reads UV_THREADPOOL_SIZE once, when its pool first runs, so this must run before anything
 * asynchronous in the process. The `embedrank` bin (src/cli/launch.cts, CommonJS) calls it first
 * thing; an ES module entry cannot (Node starts the pool while loading it), so set the two
 * variables in the environment there (benches, library users).
 * Sizes beyond libuv's limit (1024) are clamped.
 */
export function configureTokenizerThreads(workers = availableParallelism(), env: NodeJS.ProcessEnv = process.env): TokenizerThreadSettings {
  if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers must be a positive integer, got ${workers}`);
  if (env.UV_THREADPOOL_SIZE !== undefined) return {};
  const set: TokenizerThreadSettings = { UV_THREADPOOL_SIZE: String(Math.min(workers + 4, 1024)) };
  if (env.TOKENIZERS_PARALLELISM === undefined) set.TOKENIZERS_PARALLELISM = 'false';
  Object.assign(env, set);
  return set;
}

/**
 * What the `embedrank` command (src/cli/launch.cts) does before anything else: the fast tokenizer
 * path unless EMBEDRANK_FAST_TOKENIZE says otherwise ("0": the binding's default threading), and
 * then, when it is on, configureTokenizerThreads. Measured on a 16-core H200 host (bench/RESULTS.md,
 * session 6): MiniLM-L6 STS end to end 121k → 133k sentences/s, SciFact with BERT-base 6649 → 6748
 * documents/s; same ids. Library users get the default path unless they set the variables.
 * Returns the variables it set.
 */
export function configureLaunch(env: NodeJS.ProcessEnv = process.env, workers = availableParallelism()): Record<string, string> {
  const set: Record<string, string> = {};
  if (fastTokenizeSetting(env) === undefined) {
    env.EMBEDRANK_FAST_TOKENIZE = '1';
    set.EMBEDRANK_FAST_TOKENIZE = '1';
  }
  if (fastTokenizeEnabled(env)) Object.assign(set, configureTokenizerThreads(workers, env));
  return set;
}

/**
 * The tokenizer worker count when EngineOptions.tokenizerThreads is unset. The CPU engine: one per
 * core (onnxruntime's own threads share the cores either way). A CUDA engine: the cores less one
 * each for the main thread (scheduling, dispatch), the result-assembly thread and each GPU (an
 * encoder's two slots have an executor thread each, but they yield while they wait: one core per
 * GPU was what measured best), at least 1; tokenizer threads on those cores delay the batches the
 * GPU waits for.
 * Measured on a 16-core H200 host, MiniLM-L6 over every SemEval STS 2012–16 sentence end to end,
 * two rounds in one call (bench/RESULTS.md, session 11): 16 threads 125.6k–131.0k sentences/s, 13
 * threads 158.1k–158.2k; the SciFact corpus through BERT-base (engine-bound) 0.722 s either way.
 * @param gpus GPUs this process runs on (ignored for the CPU).
 * @param cores logical cores (default os.availableParallelism()).
 * @throws RangeError when cores is not a positive integer, or gpus not a non-negative integer.
 */
export function defaultTokenizerThreads(device: 'cpu' | 'cuda', gpus: number, cores = availableParallelism()): number {
  if (!Number.isInteger(cores) || cores < 1) throw new RangeError(`cores must be a positive integer, got ${cores}`);
  if (!Number.isInteger(gpus) || gpus < 0) throw new RangeError(`gpus must be a non-negative integer, got ${gpus}`);
  return device === 'cpu' ? cores : Math.max(1, cores - 2 - gpus);
}

/**
 * The tokenizer worker count a command line asks for (`--tokenizer-threads N` or `=N`), read before
 * the CLI parses it so the launch sizes libuv's pool for it; undefined when absent or not a positive
 * integer (the CLI then reports its own error or uses its default).
 */
export function tokenizerThreadsArg(argv: string[]): number | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = a === '--tokenizer-threads' ? argv[i + 1] : a.startsWith('--tokenizer-threads=') ? a.slice('--tokenizer-threads='.length) : undefined;
    if (v === undefined) continue;
    const n = Number(v);
    return Number.isInteger(n) && n >= 1 ? n : undefined;
  }
  return undefined;
}
