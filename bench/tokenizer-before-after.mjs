// Tokenizer throughput before/after issue 9, in one process, alternating rounds: the removed
// hand-written WordPiece (built from commit 578450f's src/tokenize/wordpiece.ts) against Hugging
// Face tokenizers (dist/src/tokenize/tokenizer.js), one thread, on every SemEval STS sentence.
//   node bench/tokenizer-before-after.mjs OLD_WORDPIECE_JS STS_DIR TOKENIZER_JSON MAX_LENGTH [ROUNDS]
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
const [oldJs, stsDir, file, maxArg, roundsArg] = process.argv.slice(2);
const { WordPieceTokenizer } = await import(pathToFileURL(resolve(oldJs)).href);
const { Tokenizer } = await import(pathToFileURL(resolve('dist/src/tokenize/tokenizer.js')).href);
const { stsSentences } = await import(pathToFileURL(resolve('dist/scripts/gpu/prepare.js')).href);
const s = stsSentences(stsDir);
const max = Number(maxArg);
const old = WordPieceTokenizer.fromFile(file);
const hf = new Tokenizer({ file });
console.log(`${s.length} sentences, ${file}, max_length ${max}`);
for (let round = 0; round < Number(roundsArg ?? 3); round++) {
  let t0 = performance.now(), n = 0;
  for (const t of s) n += old.encode(t, undefined, max).ids.length;
  const a = n / ((performance.now() - t0) / 1000);
  t0 = performance.now(); n = 0;
  for (let i = 0; i < s.length; i += 256) for (const e of await hf.encodeBatch(s.slice(i, i + 256), undefined, max)) n += e.ids.length;
  const b = n / ((performance.now() - t0) / 1000);
  console.log(`round ${round}: hand-written WordPiece ${(a / 1e6).toFixed(2)} M tok/s, HF tokenizers encodeBatch(256) ${(b / 1e6).toFixed(2)} M tok/s (${(a / b).toFixed(1)}x)`);
}
