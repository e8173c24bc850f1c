// Piscina worker: tokenizes a chunk of texts (or pairs) off the caller's thread with Hugging Face
// `tokenizers`. Loads only the tokenizer — never onnxruntime or the CUDA addon.
import { Piscina } from 'piscina';
import { pack } from '../src/tokenize/packed.js';
import { Tokenizer, type TokenizerSpec } from '../src/tokenize/tokenizer.js';
import { trace } from '../src/core/trace.js';

export interface TokenizeTask {
  spec: TokenizerSpec;
  texts: string[];
  /** Second segments for cross-encoder pairs. */
  pairs?: string[];
  maxLength: number;
}

const cache = new Map<string, Tokenizer>();

/** This thread's own tokenizer for a spec, loaded once. */
function tokenizerFor(spec: TokenizerSpec): Tokenizer {
  const key = JSON.stringify(spec);
  let tok = cache.get(key);
  if (!tok) {
    tok = new Tokenizer(spec);
    cache.set(key, tok);
  }
  return tok;
}

// The pool's spec arrives as workerData: loaded as the thread starts, before the first task.
// A tokenizer that fails to load fails here silently and again, with its error, in the first task.
const preload = (Piscina.workerData as { spec?: TokenizerSpec } | undefined)?.spec;
if (preload) {
  try {
    tokenizerFor(preload);
  } catch {
    /* reported by the task */
  }
}

/** A task's tokenizing between its EMBEDRANK_TRACE events (the end one also when it fails). */
async function traced<T>(task: TokenizeTask, work: () => Promise<T>): Promise<T> {
  trace('tokenize-begin', { texts: task.texts.length });
  try {
    return await work();
  } finally {
    trace('tokenize-end', { texts: task.texts.length });
  }
}

export default async function tokenize(task: TokenizeTask): Promise<Int32Array> {
  const out = await traced(task, () => tokenizerFor(task.spec).encodeBatch(task.texts, task.pairs, task.maxLength));
  return Piscina.move(pack(out)) as Int32Array;
}

/** The fast path (EMBEDRANK_FAST_TOKENIZE=1): ids written straight into the packed buffer. */
export async function packed(task: TokenizeTask): Promise<Int32Array> {
  return Piscina.move(await traced(task, () => tokenizerFor(task.spec).encodePacked(task.texts, task.pairs, task.maxLength))) as Int32Array;
}
