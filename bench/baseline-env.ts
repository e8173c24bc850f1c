// The environment the Python baselines (sentence-transformers through bench/st_baseline.py,
// bench/st_encode_baseline.py and the others bench/qwen3.ts runs) start with.

import { PRELOADED_VAR, userPreload } from '../src/cli/allocator.js';

/**
 * This process's environment less TOKENIZERS_PARALLELISM and the allocator preload of
 * src/cli/allocator.ts, plus PYTHONUNBUFFERED=1 (their output
 * reaches the log as it comes). embedrank's fast tokenizer path sets TOKENIZERS_PARALLELISM=false
 * for its own threads (src/tokenize/threads.ts) and the bench scripts export it; inherited, it
 * also switches off the Rust thread pool of the baseline's tokenizer, which sentence-transformers
 * uses by default. Measured on one H200 host (bench/RESULTS.md, session 12): sentence-transformers
 * over the STS sentences fell from 9.7k to 5.1k–7.4k sentences/s and over SciFact from 1.3k–1.4k to
 * 0.66k–0.76k documents/s when it inherited the setting, which inflated session 11's ratios.
 */
export function baselineEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env, PYTHONUNBUFFERED: '1' };
  delete out.TOKENIZERS_PARALLELISM;
  // Nor the allocator a bench's relaunch preloads for embedrank (src/cli/allocator.ts): the
  // baseline runs on the malloc its users run it on (a user's own LD_PRELOAD is kept).
  const preload = userPreload(env);
  if (preload === undefined) delete out.LD_PRELOAD;
  else out.LD_PRELOAD = preload;
  delete out[PRELOADED_VAR];
  return out;
}
