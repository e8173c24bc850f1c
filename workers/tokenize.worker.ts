// Piscina worker: tokenizes a chunk of texts (or pairs) off the caller's thread. Loads only the
// tokenizer — never onnxruntime or the CUDA addon.
import { Piscina } from 'piscina';
import { pack } from '../src/tokenize/packed.js';
import { WordPieceTokenizer } from '../src/tokenize/wordpiece.js';

export interface TokenizeTask {
  tokenizerFile: string;
  texts: string[];
  /** Second segments for cross-encoder pairs. */
  pairs?: string[];
  maxLength: number;
}

const cache = new Map<string, WordPieceTokenizer>();

export default function tokenize(task: TokenizeTask): Int32Array {
  let tok = cache.get(task.tokenizerFile);
  if (!tok) {
    tok = WordPieceTokenizer.fromFile(task.tokenizerFile);
    cache.set(task.tokenizerFile, tok);
  }
  const out = task.texts.map((t, i) => tok.encode(t, task.pairs?.[i], task.maxLength));
  return Piscina.move(pack(out)) as Int32Array;
}
