// The host side of the end-to-end STS path, without a GPU: the real SemEval STS sentences through
// Encoder.embedMatrix (tokenizer pool → scheduler → coordinator → engine worker → result
// assembly) with a stand-in CUDA addon whose forward writes its output and returns at once. What
// this measures is every cost of `bench.js --workload sts` that is not GPU time; the host ceiling
// of that workload. The model folder is all-MiniLM-L6-v2's real tokenizer and configs with
// generated random weights of its shape (the stand-in never reads them).
// Run: node dist/bench/host-path.js [--data-dir D] [--tokenizer-dir T] [--threads 1,2,16] [--rounds 3]
import { availableParallelism, tmpdir } from 'node:os';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stsSentences } from '../scripts/gpu/prepare.js';
import { makeTestModel } from '../scripts/make-test-model.js';
import { Encoder } from '../src/encoder.js';
import { runMain } from '../src/main.js';

const STAND_IN = `
class Model {
  constructor(cfg) { this.cfg = cfg; }
  setWeight() {}
  async connect() {}
  async forward(slot, ids, types, positions, cu, skip, mode, pool, normalize, stop, out) { out.fill(0.5); }
  destroy() {}
  weightBytes() { return 0; }
  profile() { return {}; }
}
module.exports = { Model, deviceCount: () => 1, ncclUniqueId: () => new Uint8Array(128) };
`;

/** CPU seconds of this process's main thread (utime + stime from /proc; Linux). */
export function mainThreadCpu(): number {
  try {
    const st = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

await runMain(import.meta, async () => {
  const args = process.argv.slice(2);
  const arg = (k: string, d: string) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
  const dataDir = arg('--data-dir', '../shared/data/sts');
  const tokDir = arg('--tokenizer-dir', '../shared/data/tokenizers/all-MiniLM-L6-v2');
  const threadList = arg('--threads', `1,2,${availableParallelism()}`).split(',').map(Number);
  const rounds = Number(arg('--rounds', '3'));
  const sentences = stsSentences(dataDir);
  if (!sentences.length) throw new Error(`no STS sentences under ${dataDir}`);
  const work = mkdtempSync(join(tmpdir(), 'embedrank-host-path-'));
  try {
    const model = join(work, 'minilm-l6');
    makeTestModel({ shape: 'minilm-l6', out: model, seed: 11 });
    for (const f of readdirSync(tokDir)) cpSync(join(tokDir, f), join(model, f), { recursive: true, force: true });
    const addon = join(work, 'stand-in-addon.cjs');
    writeFileSync(addon, STAND_IN);
    process.env.EMBEDRANK_CUDA_ADDON = addon;
    process.stdout.write(
      `${sentences.length} STS sentences, stand-in CUDA addon (no GPU time), ${availableParallelism()} cores, ` +
        `UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '(4)'} TOKENIZERS_PARALLELISM=${process.env.TOKENIZERS_PARALLELISM ?? '(on)'} ` +
        `EMBEDRANK_TOKENIZE=${process.env.EMBEDRANK_TOKENIZE ?? '(default)'}\n`,
    );
    for (const threads of threadList) {
      const enc = await Encoder.create({ model, device: 'cuda', dtype: 'float16', maxNumSeqs: 256, maxNumBatchedTokens: 32768, tokenizerThreads: threads });
      try {
        await enc.embedMatrix(sentences.slice(0, 4000));
        const rates: number[] = [];
        const mains: number[] = [];
        for (let r = 0; r < rounds; r++) {
          const c0 = mainThreadCpu();
          const t0 = performance.now();
          const m = await enc.embedMatrix(sentences);
          const secs = (performance.now() - t0) / 1000;
          if (m.length !== sentences.length * enc.dim || m[0] !== 0.5) throw new Error('stand-in output lost');
          rates.push(sentences.length / secs);
          mains.push(((mainThreadCpu() - c0) / sentences.length) * 1e6);
        }
        rates.sort((a, b) => a - b);
        mains.sort((a, b) => a - b);
        process.stdout.write(
          `tokenizer threads ${String(threads).padStart(2)}: ${(rates[rates.length >> 1] / 1e3).toFixed(1)}k sentences/s (median of ${rounds}; ` +
            `range ${(rates[0] / 1e3).toFixed(1)}–${(rates[rates.length - 1] / 1e3).toFixed(1)}k), main thread ${mains[mains.length >> 1].toFixed(2)} µs CPU/sentence\n`,
        );
      } finally {
        await enc.close();
      }
    }
  } finally {
    if (existsSync(work)) rmSync(work, { recursive: true, force: true });
  }
});
