// Throughput benchmark of the CUDA engine, with sentence-transformers as the baseline in the same
// invocation (same GPU, same workload):
//
//   npm run bench -- --model DIR --workload fixed512 --dtype fp16 --batch-sizes 1,2,4,...,128 --baseline st
//   npm run bench -- --model DIR --workload fixed512 --dtype fp16 --quantization none fp8   # FP8 vs 16-bit, same run
//
// Workloads: fixed512 (every sequence 512 tokens; any fixedN), varlen256_768 (lengths uniform in
// 256..768, mean 512; any varlenA_B), sts (the real SemEval STS sentences end to end from raw
// text, tokenization included). --fresh-shapes draws new lengths for every timed batch.
// Each point prints and records ms per batch, tokens/s, sentences/s, model FLOPs per token,
// achieved TFLOP/s and the fraction of a GEMM peak measured on this GPU at start.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadAddon, type CudaAddon } from '../src/backends/cuda/addon.js';
import { CudaEngine } from '../src/backends/cuda/engine.js';
import type { ComputeDtype, QuantizationOption } from '../src/core/options.js';
import { Encoder } from '../src/encoder.js';
import { runMain } from '../src/main.js';
import { relaunchedOnAllocator } from './allocator.js';
import { loadModelFolder } from '../src/model/folder.js';
import { flopsPerToken } from '../src/models/bert.js';
import { Tokenizer } from '../src/tokenize/tokenizer.js';
import { stsSentences } from '../scripts/gpu/prepare.js';
import { Rng } from '../scripts/make-test-model.js';
import { batchOf, copyBatch, median } from './batches.js';
import { baselineEnv } from './baseline-env.js';
import { timeSplit } from './split.js';
import { writeLatencyThroughputSvg } from './plot.js';

export interface BenchPoint {
  engine: 'embedrank' | 'sentence-transformers';
  workload: string;
  dtype: string;
  /** EngineOptions.quantization of the point (absent: none). */
  quantization?: QuantizationOption;
  batchSize: number;
  msPerBatch: number;
  tokensPerSec: number;
  sentencesPerSec: number;
  flopsPerToken: number;
  tflops: number;
  peakFraction: number;
  /**
   * --peak-matched: the cuBLASLt fp16 GEMM rate (TFLOP/s) over a window right before this point's
   * throughput window (sized from the latency loop: up to ~2× the window, which runs two batches at
   * once) and one right after it (about as long, at least 20 GEMMs), their mean: the card's clock
   * state is the point's own. The point itself then starts on a card the GEMMs have just brought
   * to its power cap, so its figures are not those of a run without the flag.
   */
  matchedPeakTflops?: number;
}

const DT: Record<string, ComputeDtype> = { fp32: 'float32', fp16: 'float16', bf16: 'bfloat16' };

/** Sequence-length range of a token workload: fixedN (every sequence N tokens) or varlenA_B (uniform in A..B). */
function lengthRange(workload: string): [number, number] {
  const fixed = /^fixed(\d+)$/.exec(workload);
  if (fixed && Number(fixed[1]) >= 1) return [Number(fixed[1]), Number(fixed[1])];
  const varlen = /^varlen(\d+)_(\d+)$/.exec(workload);
  if (varlen && Number(varlen[1]) >= 1 && Number(varlen[2]) >= Number(varlen[1])) return [Number(varlen[1]), Number(varlen[2])];
  throw new Error(`unknown token workload ${workload} (fixedN, varlenA_B or sts)`);
}

function lengthsFor(workload: string, b: number, rand: () => number): number[] {
  const [lo, hi] = lengthRange(workload);
  return Array.from({ length: b }, () => lo + Math.floor(rand() * (hi - lo + 1)));
}


/**
 * The cuBLASLt fp16 8192³ GEMM rate (TFLOP/s, median iteration) over about `ms` milliseconds of
 * back-to-back GEMMs, sized from the start peak `startTflops`: the GEMM ceiling in the card's state
 * of that moment (an H200 under minutes of load gives 15–17% less than its cold start, session 9).
 */
function gemmWindow(addon: CudaAddon, ms: number, startTflops: number): number {
  const msPerGemm = ((2 * 8192 ** 3) / (startTflops * 1e12)) * 1e3;
  return addon.gemmBench(8192, 8192, 8192, Math.max(20, Math.round(ms / msPerGemm)), 0).tflops;
}

async function tokenWorkload(dir: string, workload: string, dtype: ComputeDtype, sizes: number[], peak: number, iters: number, fresh: boolean, quantization?: QuantizationOption, matched?: CudaAddon): Promise<BenchPoint[]> {
  const folder = loadModelFolder(dir);
  const maxB = Math.max(...sizes);
  const maxTokens = maxB * Math.max(768, lengthRange(workload)[1]);
  const engine = await CudaEngine.create(folder, { dtype, device: 0, rank: 0, worldSize: 1, maxTokens, maxSeqs: maxB, slots: 2, quantization });
  const points: BenchPoint[] = [];
  try {
    for (const b of sizes) {
      const rng = new Rng(b * 7 + 1);
      const rand = () => rng.uniform();
      // Several distinct batches so repeated runs do not measure a warm cache; with --fresh-shapes
      // every run draws new lengths (as a server sees), so graphs per exact shape rarely replay.
      const nb = fresh ? Math.max(iters, 8) + 3 : 4;
      const batches = Array.from({ length: nb }, () => batchOf(lengthsFor(workload, b, rand), folder.dims.vocab, rand));
      for (let i = 0; i < 3; i++) await engine.embed(copyBatch(batches[i % nb]));
      const lat: number[] = [];
      for (let i = 0; i < iters; i++) {
        const x = copyBatch(batches[fresh ? 3 + i : i % nb]);
        const t0 = performance.now();
        await engine.embed(x);
        lat.push(performance.now() - t0);
      }
      // Throughput with both slots busy, as the coordinator runs it.
      const n = Math.max(iters, 8);
      const inputs = Array.from({ length: n }, (_, i) => copyBatch(batches[fresh ? 3 + i : i % nb]));
      let tokens = 0;
      for (const x of inputs) tokens += x.ids.length;
      // --peak-matched: a GEMM window before (as long as the latency loop says the throughput window
      // will be, at most) and one after it (about as long).
      const before = matched ? gemmWindow(matched, median(lat) * n, peak) : 0;
      const t0 = performance.now();
      await Promise.all([0, 1].map(async (slot) => {
        for (let i = slot; i < n; i += 2) await engine.embed(inputs[i], { slot });
      }));
      const secs = (performance.now() - t0) / 1000;
      const matchedPeakTflops = matched ? (before + gemmWindow(matched, secs * 1000, peak)) / 2 : undefined;
      const meanLen = tokens / (n * b);
      const fpt = flopsPerToken(folder.dims, meanLen);
      const tps = tokens / secs;
      points.push({
        engine: 'embedrank', workload, dtype, quantization, batchSize: b, msPerBatch: median(lat), tokensPerSec: tps, sentencesPerSec: (n * b) / secs,
        flopsPerToken: fpt, tflops: (tps * fpt) / 1e12, peakFraction: (tps * fpt) / 1e12 / peak, matchedPeakTflops,
      });
      report(points[points.length - 1]);
    }
  } finally {
    await engine.close();
  }
  return points;
}

async function stsWorkload(dir: string, dtype: ComputeDtype, sizes: number[], peak: number, dataDir: string, quantization?: QuantizationOption, tokenizerThreads?: number): Promise<BenchPoint[]> {
  const sentences = stsSentences(dataDir);
  if (!sentences.length) throw new Error(`no STS sentences under ${dataDir}`);
  const folder = loadModelFolder(dir);
  // Tokens the engine sees (specials included, truncated as it truncates), counted once.
  const tok = new Tokenizer(folder.tokenizer);
  const tokens = (await tok.encodeBatch(sentences, undefined, folder.maxLength)).reduce((n, e) => n + e.ids.length, 0);
  const points: BenchPoint[] = [];
  for (const b of sizes) {
    const enc = await Encoder.create({ model: dir, device: 'cuda', dtype, quantization, maxNumSeqs: b, maxNumBatchedTokens: Math.max(b * 128, 16384), tokenizerThreads });
    try {
      await enc.encode(sentences.slice(0, 2000));
      const times: number[] = [];
      for (let r = 0; r < 3; r++) {
        const t0 = performance.now();
        await enc.encode(sentences);
        times.push((performance.now() - t0) / 1000);
      }
      const secs = median(times);
      const split = await timeSplit(enc, sentences, 3);
      console.log(`SPLIT sts b=${b}: end to end ${secs.toFixed(3)} s; tokenize alone ${split.tokenize.toFixed(3)} s (distinct texts only ${split.distinct.toFixed(3)} s); engine alone on pre-tokenized ids ${split.engine.toFixed(3)} s (medians of 3)`);
      const fpt = flopsPerToken(folder.dims, tokens / sentences.length);
      points.push({
        engine: 'embedrank', workload: 'sts', dtype, quantization, batchSize: b, msPerBatch: (secs * 1000 * b) / sentences.length,
        tokensPerSec: tokens / secs, sentencesPerSec: sentences.length / secs, flopsPerToken: fpt,
        tflops: ((tokens / secs) * fpt) / 1e12, peakFraction: ((tokens / secs) * fpt) / 1e12 / peak,
      });
      report(points[points.length - 1]);
    } finally {
      await enc.close();
    }
  }
  return points;
}

/**
 * The GPU's cuBLASLt fp16 GEMM rate (8192³, device 0) in TFLOP/s, printed as one `GPU:` line:
 * 'start' (20 iterations, with the card's name) is what the %-of-peak figures are taken against;
 * 'after' (200 iterations) is the same after minutes of load: a lower number means the card
 * clocked down (power or heat), which figures taken against the cold peak do not credit.
 */
export function gemmPeak(addon: CudaAddon, when: 'start' | 'after', write: (line: string) => void = (l) => process.stdout.write(l)): number {
  if (when === 'start') {
    const info = addon.deviceInfo(0);
    const { tflops } = addon.gemmBench(8192, 8192, 8192, 20, 0);
    write(`GPU: ${info.name} (${info.multiprocessors} SMs), cuBLASLt fp16 GEMM 8192³ peak measured: ${tflops.toFixed(0)} TFLOP/s\n`);
    return tflops;
  }
  const { tflops } = addon.gemmBench(8192, 8192, 8192, 200, 0);
  write(`GPU: cuBLASLt fp16 GEMM 8192³ measured again after the workloads (200 iterations): ${tflops.toFixed(0)} TFLOP/s\n`);
  return tflops;
}

function report(p: BenchPoint): void {
  process.stdout.write(
    `${p.engine.padEnd(21)} ${p.workload.padEnd(14)} ${(p.dtype + (p.quantization ? '+' + p.quantization : '')).padEnd(13)} B=${String(p.batchSize).padStart(4)}  ` +
      `${p.msPerBatch.toFixed(2).padStart(9)} ms/batch  ${(p.tokensPerSec / 1e6).toFixed(3).padStart(8)} Mtok/s  ` +
      `${p.sentencesPerSec.toFixed(0).padStart(9)} sent/s  ${p.tflops.toFixed(1).padStart(6)} TFLOP/s  ${(p.peakFraction * 100).toFixed(1)}% of GEMM peak` +
      (p.matchedPeakTflops ? `  ${((p.tflops / p.matchedPeakTflops) * 100).toFixed(1)}% of the matched ${p.matchedPeakTflops.toFixed(0)}` : '') +
      '\n',
  );
}

function runBaseline(dir: string, workload: string, dtype: string, sizes: number[], peak: number, dataDir: string, iters: number): BenchPoint[] {
  const script = resolve(process.cwd(), 'bench/st_baseline.py');
  const r = spawnSync('python3', [script, '--model', dir, '--workload', workload, '--dtype', dtype, '--batch-sizes', sizes.join(','), '--data-dir', dataDir, '--iters', String(iters), '--peak', String(peak)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 << 20,
    env: baselineEnv(),
  });
  if (r.status !== 0) throw new Error(`sentence-transformers baseline failed (exit ${r.status})`);
  const pts = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as BenchPoint);
  pts.forEach(report);
  return pts;
}

await runMain(import.meta, async () => {
  if (relaunchedOnAllocator()) return;
  const { default: yargs } = await import('yargs');
  const { hideBin } = await import('yargs/helpers');
  const argv = await yargs(hideBin(process.argv))
    .usage('$0 --model DIR [options]\n\nThroughput/latency benchmark of the CUDA engine (one GPU), optionally against sentence-transformers.')
    .option('model', { type: 'string', demandOption: true, describe: 'model folder (generate one with scripts/make-test-model)' })
    .option('workload', { type: 'array', string: true, default: ['fixed512'], describe: 'fixedN (e.g. fixed512) | varlenA_B (e.g. varlen256_768) | sts (several allowed; --baseline st knows fixed512, varlen256_768, sts)' })
    .option('fresh-shapes', { type: 'boolean', default: false, describe: 'token workloads: new random lengths for every timed batch instead of 4 batches in turn' })
    .option('dtype', { type: 'array', string: true, default: ['fp16'], describe: 'fp32 | fp16 | bf16 (several allowed)' })
    .option('quantization', {
      type: 'array',
      string: true,
      default: ['none'],
      describe: 'none | fp8 (several allowed: each dtype runs once per value, so "none fp8" compares them in one run; fp8 points are against the same fp16 GEMM peak)',
    })
    .option('batch-sizes', { type: 'string', default: '1,2,4,8,16,32,64,128', describe: 'sequences per batch (sts: maxNumSeqs)' })
    .option('baseline', { choices: ['none', 'st'], default: 'none', describe: 'also run sentence-transformers on the same workloads' })
    .option('iters', { type: 'number', default: 10, describe: 'timed batches per point' })
    .option('peak-matched', {
      type: 'boolean',
      default: false,
      describe: 'token workloads: also time the GEMM peak right before and after each point\'s throughput window, for about as long, and report the point against it (the card clocks down under load)',
    })
    .option('tokenizer-threads', { type: 'number', describe: 'sts: tokenizer worker threads (default: the engine\'s, cores − 2 − GPUs with CUDA); fewer leave cores to the GPU worker and main thread' })
    .option('data-dir', { type: 'string', default: process.env.EMBEDRANK_STS_DIR ?? '../shared/data/sts', describe: 'SemEval STS folder for the sts workload' })
    .option('out', { type: 'string', default: 'bench/results', describe: 'folder for the JSON results and the figure' })
    .option('tag', { type: 'string', default: '', describe: 'suffix for output file names' })
    .strict()
    .help()
    .parse();
  if (!Number.isInteger(argv.iters) || argv.iters < 1) throw new Error(`--iters must be a positive integer, got ${argv.iters}`);
  const addon = loadAddon();
  const info = addon.deviceInfo(0);
  const gemm = { tflops: gemmPeak(addon, 'start') };
  const sizes = argv['batch-sizes'].split(',').map(Number);
  const points: BenchPoint[] = [];
  const quants = argv.quantization.map((q) => {
    if (q !== 'none' && q !== 'fp8') throw new Error(`quantization ${q} is not one of none, fp8`);
    return q === 'fp8' ? ('fp8' as const) : undefined;
  });
  for (const workload of argv.workload) {
    for (const d of argv.dtype) {
      const dtype = DT[d];
      if (!dtype) throw new Error(`dtype ${d} is not one of fp32, fp16, bf16`);
      for (const q of quants) {
        points.push(
          ...(workload === 'sts'
            ? await stsWorkload(argv.model, dtype, sizes, gemm.tflops, argv['data-dir'], q, argv['tokenizer-threads'])
            : await tokenWorkload(argv.model, workload, dtype, sizes, gemm.tflops, argv.iters, argv['fresh-shapes'], q, argv['peak-matched'] ? addon : undefined)),
        );
      }
      if (argv.baseline === 'st') points.push(...runBaseline(argv.model, workload, d, sizes, gemm.tflops, argv['data-dir'], argv.iters));
    }
  }
  const after = { tflops: gemmPeak(addon, 'after') };
  // Ratios against the baseline, best point of each.
  for (const workload of argv.workload) {
    for (const d of argv.dtype) {
      const best = (e: string, q?: string) =>
        Math.max(0, ...points.filter((p) => p.engine === e && p.workload === workload && p.dtype === DT[d] && p.quantization === q).map((p) => p.tokensPerSec));
      const ours = best('embedrank');
      const st = best('sentence-transformers');
      if (st > 0 && ours > 0) process.stdout.write(`RATIO ${workload} ${d}: embedrank ${(ours / 1e6).toFixed(3)} Mtok/s vs sentence-transformers ${(st / 1e6).toFixed(3)} Mtok/s = ${(ours / st).toFixed(2)}x\n`);
      const fp8 = best('embedrank', 'fp8');
      if (fp8 > 0 && ours > 0) process.stdout.write(`RATIO ${workload} ${d}: fp8 ${(fp8 / 1e6).toFixed(3)} Mtok/s vs ${d} ${(ours / 1e6).toFixed(3)} Mtok/s = ${(fp8 / ours).toFixed(2)}x (best batch of each)\n`);
      for (const b of sizes) {
        const at = (q?: string) => points.find((p) => p.engine === 'embedrank' && p.workload === workload && p.dtype === DT[d] && p.quantization === q && p.batchSize === b)?.tokensPerSec ?? 0;
        if (at('fp8') > 0 && at() > 0) process.stdout.write(`  B=${b}: fp8 / ${d} = ${(at('fp8') / at()).toFixed(2)}x\n`);
      }
    }
  }
  if (!existsSync(argv.out)) mkdirSync(argv.out, { recursive: true });
  const stamp = new Date().toISOString().slice(0, 10);
  const base = join(argv.out, `bench-${stamp}${argv.tag ? '-' + argv.tag : ''}`);
  writeFileSync(`${base}.json`, JSON.stringify({ gpu: info, gemmPeakTflops: gemm.tflops, gemmAfterTflops: after.tflops, model: argv.model, date: new Date().toISOString(), points }, null, 1));
  writeLatencyThroughputSvg(points, `${base}.svg`, `${info.name}: latency per batch vs throughput`);
  process.stdout.write(`wrote ${base}.json and ${base}.svg\n`);
});
