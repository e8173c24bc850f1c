// The host side of the end-to-end STS path, without a GPU: the real SemEval STS sentences through
// Encoder.embedMatrix (tokenizer pool → scheduler → coordinator → engine worker → result
// assembly) with a stand-in CUDA addon whose forward writes its output and returns at once. What
// this measures is every cost of `bench.js --workload sts` that is not GPU time; the host ceiling
// of that workload. The model folder is all-MiniLM-L6-v2's real tokenizer and configs with
// generated random weights of its shape (the stand-in never reads them).
// Both tokenizer paths run in the same process, alternating rounds: `default` (rayon on, as Node
// starts) and `fast` (EMBEDRANK_FAST_TOKENIZE=1 with TOKENIZERS_PARALLELISM=false, read by the Rust
// library on every call). libuv's pool size is fixed at start: give the fast path its setting,
// UV_THREADPOOL_SIZE=<cores + 4>, on the command line. CPU per sentence (the main thread's, and
// every thread's: tokenizer workers, libuv, rayon, engine worker) is steadier than the wall rate
// on a shared machine. After the rounds, `engine alone` runs the already-tokenized ids
// (Encoder.embedTokens: scheduler → coordinator → engine worker → assembly) `--rounds` times and
// reports its wall time and the main thread's CPU per sentence: the host cost the tokenizer does
// not share. `--profile DIR` writes V8 CPU profiles of the main thread to DIR, per tokenizer thread
// count: host-path-<threads>-whole.cpuprofile (the whole path's timed rounds, every path) and
// host-path-<threads>-engine.cpuprofile (the first path's engine-alone rounds).
// Run: UV_THREADPOOL_SIZE=20 node dist/bench/host-path.js [--data-dir D] [--tokenizer-dir T]
//        [--threads 1,2,16] [--rounds 3] [--paths default,fast] [--profile DIR]
import { availableParallelism, tmpdir } from 'node:os';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from 'node:inspector/promises';
import { stsSentences } from '../scripts/gpu/prepare.js';
import { makeTestModel } from '../scripts/make-test-model.js';
import { Encoder } from '../src/encoder.js';
import { median } from './batches.js';
import { scifactTexts } from './qwen3-inputs.js';
import { timeSplit } from './split.js';
import { runMain } from '../src/main.js';

const STAND_IN = `
class Model {
  constructor(cfg) { this.cfg = cfg; }
  setWeight() {}
  async connect() {}
  async forward(slot, ids, types, positions, cu, skip, mode, pool, normalize, stop, out) {
    out.fill(0.5);
    // EMBEDRANK_STAND_IN_MTOK_S: a stand-in GPU that takes tokens / rate to finish (not blocking the thread).
    const rate = Number(process.env.EMBEDRANK_STAND_IN_MTOK_S || 0);
    if (rate > 0) await new Promise((r) => setTimeout(r, ids.length / (rate * 1e3)));
  }
  destroy() {}
  weightBytes() { return 0; }
  profile() { return {}; }
}
module.exports = { Model, deviceCount: () => 1, ncclUniqueId: () => new Uint8Array(128), deviceProperties: () => ({ name: 'stand-in', computeCapability: '9.0', totalMemory: 1e11 }) };
`;

/**
 * Selects a tokenizer path for what is created and run next: `fast` sets EMBEDRANK_FAST_TOKENIZE=1
 * and TOKENIZERS_PARALLELISM=false, `default` clears both (the Rust library reads the latter on
 * every call, through the process environment this thread's process.env writes).
 */
export function usePath(path: string): void {
  if (path === 'fast') Object.assign(process.env, { EMBEDRANK_FAST_TOKENIZE: '1', TOKENIZERS_PARALLELISM: 'false' });
  else if (path === 'default') {
    delete process.env.EMBEDRANK_FAST_TOKENIZE;
    delete process.env.TOKENIZERS_PARALLELISM;
  } else throw new Error(`unknown path ${path} (default | fast)`);
}

/** A V8 CPU profiler on this thread: start(), then stop(file) writes a .cpuprofile (Chrome DevTools' format). */
export async function mainThreadProfiler(): Promise<{ start(): Promise<void>; stop(file: string): Promise<void> }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  return {
    start: async () => {
      await session.post('Profiler.start');
    },
    stop: async (file: string) => {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(file, JSON.stringify(profile));
    },
  };
}

/**
 * CPU seconds of this process's main thread (Linux): its run time in nanoseconds from
 * /proc/…/schedstat, else utime + stime from /proc/…/stat (10 ms ticks); NaN elsewhere.
 */
export function mainThreadCpu(): number {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
  } catch {
    try {
      const st = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      return (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      return NaN;
    }
  }
}

await runMain(import.meta, async () => {
  const args = process.argv.slice(2);
  const arg = (k: string, d: string) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
  const dataDir = arg('--data-dir', '../shared/data/sts');
  const tokDir = arg('--tokenizer-dir', '../shared/data/tokenizers/all-MiniLM-L6-v2');
  const threadList = arg('--threads', `1,2,${availableParallelism()}`).split(',').map(Number);
  const rounds = Number(arg('--rounds', '3'));
  const paths = arg('--paths', 'default,fast').split(',');
  // --texts scifact: the SciFact corpus (title + " " + text) from --scifact-dir's parent folder, as bench/qwen3.ts embed.
  const textsArg = arg('--texts', 'sts');
  const sentences = textsArg === 'scifact' ? (await scifactTexts(arg('--scifact-dir', '../shared/data'))).documents : stsSentences(dataDir);
  if (!sentences.length) throw new Error(`no ${textsArg} texts`);
  const maxTokens = Number(arg('--max-num-batched-tokens', '32768'));
  const profileDir = args.includes('--profile') ? arg('--profile', '') : undefined;
  const profiler = profileDir ? await mainThreadProfiler() : undefined;
  const work = mkdtempSync(join(tmpdir(), 'embedrank-host-path-'));
  try {
    const model = join(work, 'minilm-l6');
    makeTestModel({ shape: 'minilm-l6', out: model, seed: 11 });
    for (const f of readdirSync(tokDir)) cpSync(join(tokDir, f), join(model, f), { recursive: true, force: true });
    const addon = join(work, 'stand-in-addon.cjs');
    writeFileSync(addon, STAND_IN);
    process.env.EMBEDRANK_CUDA_ADDON = addon;
    process.stdout.write(
      `${sentences.length} ${textsArg} texts, stand-in CUDA addon (${process.env.EMBEDRANK_STAND_IN_MTOK_S ? `GPU time simulated at ${process.env.EMBEDRANK_STAND_IN_MTOK_S} M tok/s` : 'no GPU time'}), ${availableParallelism()} cores, ` +
        `UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '(4)'}\n`,
    );
    for (const threads of threadList) {
      const encs: Record<string, Encoder> = {};
      const rates: Record<string, number[]> = {};
      const mains: Record<string, number[]> = {};
      const alls: Record<string, number[]> = {};
      try {
        for (const p of paths) {
          usePath(p);
          encs[p] = await Encoder.create({ model, device: 'cuda', dtype: 'float16', maxNumSeqs: 256, maxNumBatchedTokens: maxTokens, tokenizerThreads: threads });
          await encs[p].embedMatrix(sentences.slice(0, 4000));
          rates[p] = [];
          mains[p] = [];
          alls[p] = [];
        }
        for (let r = 0; r < rounds; r++) {
          for (const p of paths) {
            usePath(p);
            if (r === 0 && p === paths[0]) await profiler?.start();
            const c0 = mainThreadCpu();
            const a0 = process.cpuUsage();
            const t0 = performance.now();
            const m = await encs[p].embedMatrix(sentences);
            const secs = (performance.now() - t0) / 1000;
            if (m.length !== sentences.length * encs[p].dim || m[0] !== 0.5 || m[m.length - 1] !== 0.5) throw new Error('stand-in output lost');
            rates[p].push(sentences.length / secs);
            mains[p].push(((mainThreadCpu() - c0) / sentences.length) * 1e6);
            const a = process.cpuUsage(a0);
            alls[p].push((a.user + a.system) / sentences.length);
          }
        }
        if (profiler) await profiler.stop(join(profileDir!, `host-path-${threads}-whole.cpuprofile`));
        // Engine alone, timed as the whole path is: the ids of every sentence (tokenized once, repeats included).
        const engineAlone: Record<string, { secs: number[]; main: number[] }> = {};
        for (const p of paths) {
          usePath(p);
          const { chunk, poolSkip } = await encs[p].tokenize(sentences);
          if (poolSkip) throw new Error('the STS sentences take no prompt here');
          engineAlone[p] = { secs: [], main: [] };
          if (p === paths[0]) await profiler?.start();
          for (let r = 0; r < rounds; r++) {
            const c0 = mainThreadCpu();
            const t0 = performance.now();
            await encs[p].embedTokens(chunk);
            engineAlone[p].secs.push((performance.now() - t0) / 1000);
            engineAlone[p].main.push(((mainThreadCpu() - c0) / chunk.n) * 1e6);
          }
          if (p === paths[0] && profiler) await profiler.stop(join(profileDir!, `host-path-${threads}-engine.cpuprofile`));
        }
        // The split, as bench/qwen3.ts prints it: tokenization alone, then the engine alone on its ids.
        for (const p of paths) {
          usePath(p);
          const split = await timeSplit(encs[p], sentences, 1);
          process.stdout.write(`SPLIT ${p}: tokenize alone ${split.tokenize.toFixed(3)} s (distinct texts only ${split.distinct.toFixed(3)} s), engine alone on the ids ${split.engine.toFixed(3)} s, end to end (median) ${(sentences.length / median(rates[p])).toFixed(3)} s\n`);
          const e = engineAlone[p];
          process.stdout.write(
            `ENGINE ALONE ${p}: ${median(e.secs).toFixed(3)} s (median of ${rounds}; ${Math.min(...e.secs).toFixed(3)}–${Math.max(...e.secs).toFixed(3)}), ` +
              `main thread CPU µs/sentence ${median(e.main).toFixed(2)} (${Math.min(...e.main).toFixed(2)}–${Math.max(...e.main).toFixed(2)})\n`,
          );
        }
        for (const p of paths) {
          const v = rates[p].sort((a, b) => a - b);
          const mt = mains[p].sort((a, b) => a - b);
          const at = alls[p].sort((a, b) => a - b);
          process.stdout.write(
            `tokenizer threads ${String(threads).padStart(2)}, ${p.padEnd(7)}: ${(v[v.length >> 1] / 1e3).toFixed(1)}k sentences/s (median of ${rounds}; ` +
              `${(v[0] / 1e3).toFixed(1)}–${(v[v.length - 1] / 1e3).toFixed(1)}k), CPU µs/sentence: main thread ${mt[mt.length >> 1].toFixed(2)}, every thread ${at[at.length >> 1].toFixed(1)}\n`,
          );
        }
      } finally {
        await Promise.all(Object.values(encs).map((e) => e.close()));
      }
    }
  } finally {
    if (existsSync(work)) rmSync(work, { recursive: true, force: true });
  }
});
