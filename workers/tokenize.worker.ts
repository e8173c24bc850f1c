// Piscina worker: tokenizes a chunk of texts (or pairs) off the caller's thread with Hugging Face
// `tokenizers`. Loads only the tokenizer — never onnxruntime or the CUDA addon.
import { Piscina } from 'piscina';
import { pack } from '../src/tokenize/packed.js';
import { Tokenizer, type TokenizerSpec } from '../src/tokenize/tokenizer.js';

export interface TokenizeTask {
  spec: TokenizerSpec;
  texts: string[];
  /** Second segments for cross-encoder pairs. */
  pairs?: string[];
  maxLength: number;
}

const cache = new Map<string, Tokenizer>();

export default async function tokenize(task: TokenizeTask): Promise<Int32Array> {
  const key = JSON.stringify(task.spec);
  let tok = cache.get(key);
  if (!tok) {
    tok = new Tokenizer(task.spec);
    cache.set(key, tok);
  }
  const out = await tok.encodeBatch(task.texts, task.pairs, task.maxLength);
  return Piscina.move(pack(out)) as Int32Array;
}
