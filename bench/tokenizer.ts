// Tokenizer throughput on the real SemEval STS sentences with Hugging Face `tokenizers`: one
// thread (encodeBatch in this thread) and the worker pool at 1, 2, … threads.
// Run: node dist/bench/tokenizer.js [--data-dir D] [--tokenizer tokenizer.json] [--repeat N]
import { availableParallelism } from 'node:os';
import { stsSentences } from '../scripts/gpu/prepare.js';
import { runMain } from '../src/main.js';
import { TokenizerPool } from '../src/tokenize/pool.js';
import { Tokenizer } from '../src/tokenize/tokenizer.js';

await runMain(import.meta, async () => {
  const args = process.argv.slice(2);
  const arg = (k: string, d: string) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
  const dataDir = arg('--data-dir', '../shared/data/sts');
  const file = arg('--tokenizer', '../shared/data/tokenizers/all-MiniLM-L6-v2/tokenizer.json');
  const repeat = Number(arg('--repeat', '2'));
  const maxLength = Number(arg('--max-length', '256'));
  const base = stsSentences(dataDir);
  const texts = Array.from({ length: repeat }, () => base).flat();
  process.stdout.write(`${texts.length} sentences (${base.length} distinct, from ${dataDir}), ${file}, ${availableParallelism()} cores\n`);

  const tok = new Tokenizer({ file });
  for (const chunk of [256, 1024]) {
    const t0 = performance.now();
    let tokens = 0;
    for (let i = 0; i < texts.length; i += chunk) for (const e of await tok.encodeBatch(texts.slice(i, i + chunk), undefined, maxLength)) tokens += e.ids.length;
    const secs = (performance.now() - t0) / 1000;
    process.stdout.write(`this thread, batches of ${chunk}: ${(tokens / secs / 1e6).toFixed(2)} M tokens/s, ${(texts.length / secs / 1e3).toFixed(0)}k sentences/s\n`);
  }
  for (let threads = 1; threads <= availableParallelism(); threads *= 2) {
    const pool = new TokenizerPool({ file }, { threads });
    await pool.tokenizeAll(texts.slice(0, 5000), undefined, maxLength);
    const t0 = performance.now();
    const r = await pool.tokenizeAll(texts, undefined, maxLength);
    const secs = (performance.now() - t0) / 1000;
    process.stdout.write(`pool of ${threads}: ${(r.ids.length / secs / 1e6).toFixed(2)} M tokens/s, ${(texts.length / secs / 1e3).toFixed(0)}k sentences/s\n`);
    await pool.close();
  }
});
