// Tokenizer throughput on the real SemEval STS sentences: one thread (in this thread) and the
// worker pool at 1, 2, … threads. Run: node dist/bench/tokenizer.js [--data-dir D] [--repeat N]
import { availableParallelism } from 'node:os';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bertTokenizerJson } from '../scripts/make-tokenizer.js';
import { stsSentences } from '../scripts/gpu/prepare.js';
import { runMain } from '../src/main.js';
import { TokenizerPool } from '../src/tokenize/pool.js';
import { WordPieceTokenizer } from '../src/tokenize/wordpiece.js';

await runMain(import.meta, async () => {
  const args = process.argv.slice(2);
  const dataDir = args.includes('--data-dir') ? args[args.indexOf('--data-dir') + 1] : 'data/sts';
  const repeat = args.includes('--repeat') ? Number(args[args.indexOf('--repeat') + 1]) : 3;
  const base = stsSentences(dataDir);
  const texts = Array.from({ length: repeat }, () => base).flat();
  const file = join(mkdtempSync(join(tmpdir(), 'embedrank-tokbench-')), 'tokenizer.json');
  writeFileSync(file, JSON.stringify(bertTokenizerJson()));
  process.stdout.write(`${texts.length} sentences (${base.length} distinct, from ${dataDir}), ${availableParallelism()} cores\n`);

  // Fresh tokenizers so the word cache starts cold, as it does in a new worker.
  const cold = WordPieceTokenizer.fromFile(file);
  let t0 = performance.now();
  let tokens = 0;
  for (const t of base) tokens += cold.encode(t, undefined, 512).ids.length;
  let secs = (performance.now() - t0) / 1000;
  process.stdout.write(`1 thread, cold cache: ${(tokens / secs / 1e6).toFixed(2)} M tokens/s, ${(base.length / secs / 1e3).toFixed(0)}k sentences/s\n`);
  t0 = performance.now();
  tokens = 0;
  for (const t of texts) tokens += cold.encode(t, undefined, 512).ids.length;
  secs = (performance.now() - t0) / 1000;
  process.stdout.write(`1 thread, warm cache: ${(tokens / secs / 1e6).toFixed(2)} M tokens/s, ${(texts.length / secs / 1e3).toFixed(0)}k sentences/s\n`);

  for (let threads = 1; threads <= availableParallelism(); threads *= 2) {
    const pool = new TokenizerPool(file, { threads });
    await pool.tokenizeAll(texts.slice(0, 5000), undefined, 512);
    t0 = performance.now();
    const r = await pool.tokenizeAll(texts, undefined, 512);
    secs = (performance.now() - t0) / 1000;
    process.stdout.write(`pool of ${threads}: ${(r.ids.length / secs / 1e6).toFixed(2)} M tokens/s, ${(texts.length / secs / 1e3).toFixed(0)}k sentences/s\n`);
    await pool.close();
  }
});
