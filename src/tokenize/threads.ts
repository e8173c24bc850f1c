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

/**
 * The switch of the fast tokenizer path (packed ids written in the worker, sized threads): off by
 * default in the library, on in the `embedrank` command (configureLaunch) unless set to "0".
 */
export function fastTokenizeEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.EMBEDRANK_FAST_TOKENIZE === '1';
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
 * does not set it, and both or neither: rayon off without a larger libuv pool halves throughput.
 * libuv reads UV_THREADPOOL_SIZE once, when its pool first runs, so this must run before anything
 * asynchronous in the process. The `embedrank` bin (src/cli/launch.cts, CommonJS) calls it first
 * thing; an ES module entry cannot (Node starts the pool while loading it), so set the two
 * variables in the environment there (benches, library users).
 * Sizes beyond libuv's limit (1024) are clamped.
 */
export function configureTokenizerThreads(workers = availableParallelism(), env: NodeJS.ProcessEnv = process.env): TokenizerThreadSettings {
  if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers must be a positive integer, got ${workers}`);
  if (env.UV_THREADPOOL_SIZE !== undefined || env.TOKENIZERS_PARALLELISM !== undefined) return {};
  const set = { UV_THREADPOOL_SIZE: String(Math.min(workers + 4, 1024)), TOKENIZERS_PARALLELISM: 'false' };
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
  if (env.EMBEDRANK_FAST_TOKENIZE === undefined) {
    env.EMBEDRANK_FAST_TOKENIZE = '1';
    set.EMBEDRANK_FAST_TOKENIZE = '1';
  }
  if (fastTokenizeEnabled(env)) Object.assign(set, configureTokenizerThreads(workers, env));
  return set;
}
