// Tokenizer throughput on the real SemEval STS sentences with Hugging Face `tokenizers`: one
// thread (encodeBatch in this thread), then the worker pool at 1, 2, … N threads, the default
// path (an Encoding object and JS arrays per sequence, packed afterwards) and the fast path
// (EMBEDRANK_FAST_TOKENIZE's: ids written straight into the packed buffer, rayon off) in
// alternating rounds of the same process. libuv's pool size is fixed at start (an ES module entry
// cannot set it itself; src/tokenize/threads.ts): give the fast path its setting,
// UV_THREADPOOL_SIZE=<cores + 4>, on the command line. The pool does not dedupe here: this is the
// per-sentence cost; the end-to-end path's dedupe shows in host-path.js. CPU µs per sentence counts every thread of the
// process (workers, libuv, rayon): on a shared machine it is steadier than the wall rate.
// Run: node dist/bench/tokenizer.js [--data-dir D] [--tokenizer tokenizer.json] [--repeat N]
//        [--threads 1,2,16] [--rounds 3] [--paths default,fast]
import { availableParallelism } from 'node:os';
import { stsSentences } from '../scripts/gpu/prepare.js';
import { runMain } from '../src/main.js';
import { relaunchedOnAllocator } from './allocator.js';
import { usePath } from './host-path.js';
import { TokenizerPool } from '../src/tokenize/pool.js';
import { Tokenizer } from '../src/tokenize/tokenizer.js';

await runMain(import.meta, async () => {
  if (relaunchedOnAllocator()) return;
  const args = process.argv.slice(2);
  const arg = (k: string, d: string) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
  const dataDir = arg('--data-dir', '../shared/data/sts');
  const file = arg('--tokenizer', '../shared/data/tokenizers/all-MiniLM-L6-v2/tokenizer.json');
  const repeat = Number(arg('--repeat', '2'));
  const maxLength = Number(arg('--max-length', '256'));
  const rounds = Number(arg('--rounds', '3'));
  const cores = availableParallelism();
  const threadList = arg('--threads', [...new Set([1, 2, cores])].join(',')).split(',').map(Number);
  const paths = arg('--paths', 'default,fast').split(',') as Array<'default' | 'fast'>;
  const base = stsSentences(dataDir);
  if (!base.length) throw new Error(`no STS sentences under ${dataDir}`);
  const texts = Array.from({ length: repeat }, () => base).flat();
  process.stdout.write(
    `${texts.length} sentences (${repeat} × ${base.length}, from ${dataDir}), ${file}, ${cores} cores, ` +
      `UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '(4)'}\n`,
  );

  usePath('default');
  const tok = new Tokenizer({ file });
  for (const chunk of [256, 1024]) {
    const t0 = performance.now();
    let tokens = 0;
    for (let i = 0; i < texts.length; i += chunk) for (const e of await tok.encodeBatch(texts.slice(i, i + chunk), undefined, maxLength)) tokens += e.ids.length;
    const secs = (performance.now() - t0) / 1000;
    process.stdout.write(`this thread, encodeBatch of ${chunk}: ${(tokens / secs / 1e6).toFixed(2)} M tokens/s, ${(texts.length / secs / 1e3).toFixed(0)}k sentences/s\n`);
  }
  for (const threads of threadList) {
    const pools = Object.fromEntries(paths.map((p) => [p, new TokenizerPool({ file }, { threads, fast: p === 'fast' })]));
    try {
      for (const p of paths) {
        usePath(p);
        await pools[p].tokenizeAll(texts.slice(0, 5000), undefined, maxLength);
      }
      const rates: Record<string, number[]> = Object.fromEntries(paths.map((p) => [p, []]));
      const cpu: Record<string, number[]> = Object.fromEntries(paths.map((p) => [p, []]));
      let tokens = 0;
      for (let r = 0; r < rounds; r++) {
        for (const p of paths) {
          usePath(p);
          const c0 = process.cpuUsage();
          const t0 = performance.now();
          const out = await pools[p].tokenizeAll(texts, undefined, maxLength);
          rates[p].push(texts.length / ((performance.now() - t0) / 1000));
          const c = process.cpuUsage(c0);
          cpu[p].push((c.user + c.system) / texts.length);
          tokens = out.ids.length;
        }
      }
      for (const p of paths) {
        const v = rates[p].sort((a, b) => a - b);
        const med = v[v.length >> 1];
        const us = cpu[p].sort((a, b) => a - b)[cpu[p].length >> 1];
        process.stdout.write(
          `pool of ${String(threads).padStart(2)}, ${p.padEnd(7)}: ${((med * tokens) / texts.length / 1e6).toFixed(2)} M tokens/s, ${(med / 1e3).toFixed(1)}k sentences/s ` +
            `(median of ${rounds}; ${(v[0] / 1e3).toFixed(1)}–${(v[v.length - 1] / 1e3).toFixed(1)}k), ${us.toFixed(1)} µs CPU/sentence (every thread)\n`,
        );
      }
    } finally {
      await Promise.all(Object.values(pools).map((p) => p.close()));
    }
  }
});
