// Where the time goes inside one forward pass: runs the CUDA engine in this thread (no worker
// pool, no coordinator) on fixed-shape batches and prints, per operation, the GPU time per batch
// from events the model records with EMBEDRANK_PROFILE=1, plus the end-to-end latency and the
// throughput with `--in-flight` batches queued. With --tp k the k ranks run in this process on
// GPUs 0..k-1, which also shows what the worker-thread hop costs in the multi-GPU bench.
//
//   EMBEDRANK_PROFILE=1 node dist/bench/profile.js --model DIR --batch 128 --len 512 [--len-min 256] [--tp 2]
import { loadAddon } from '../src/backends/cuda/addon.js';
import { CudaEngine } from '../src/backends/cuda/engine.js';
import type { TokenBatch } from '../src/backends/engine.js';
import type { ComputeDtype } from '../src/core/options.js';
import { runMain } from '../src/main.js';
import { loadModelFolder } from '../src/model/folder.js';
import { flopsPerToken } from '../src/models/bert.js';
import { Rng } from '../scripts/make-test-model.js';
import { batchOf, copyBatch, median } from './batches.js';

const DT: Record<string, ComputeDtype> = { fp32: 'float32', fp16: 'float16', bf16: 'bfloat16' };

await runMain(import.meta, async () => {
  const { default: yargs } = await import('yargs');
  const { hideBin } = await import('yargs/helpers');
  const argv = await yargs(hideBin(process.argv))
    .usage('$0 --model DIR [options]\n\nGPU time per operation of one forward pass (set EMBEDRANK_PROFILE=1; profiling turns CUDA graphs off),\nlatency and throughput of the CUDA engine on fixed-shape batches, optionally tensor-parallel over GPUs 0..tp-1.')
    .option('model', { type: 'string', demandOption: true })
    .option('dtype', { choices: ['fp32', 'fp16', 'bf16'], default: 'fp16' })
    .option('batch', { type: 'number', default: 128, describe: 'sequences per batch' })
    .option('len', { type: 'number', default: 512, describe: 'tokens per sequence (the longest, with --len-min)' })
    .option('len-min', { type: 'number', describe: 'ragged batches: lengths uniform in len-min..len (4 batches in turn)' })
    .option('iters', { type: 'number', default: 20 })
    .option('tp', { type: 'number', default: 1, describe: 'tensor-parallel ranks on GPUs 0..tp-1' })
    .option('in-flight', { type: 'number', default: 2, describe: 'batches queued at once in the throughput run (engine slots)' })
    .option('label', { type: 'string', default: '', describe: 'tag printed on every line' })
    .option('quantization', { choices: ['none', 'fp8'] as const, default: 'none' as const, describe: 'fp8: FP8 linears (EngineOptions.quantization)' })
    .strict().help().parse();
  const folder = loadModelFolder(argv.model);
  const addon = loadAddon();
  const tp = argv.tp;
  const slots = Math.max(1, argv['in-flight']);
  const ncclIds = tp > 1 ? Array.from({ length: slots }, () => new Uint8Array(addon.ncclUniqueId())) : undefined;
  const maxTokens = argv.batch * argv.len;
  const engines = await Promise.all(Array.from({ length: tp }, (_, rank) =>
    CudaEngine.create(folder, { dtype: DT[argv.dtype], device: rank, rank, worldSize: tp, ncclIds, maxTokens, maxSeqs: argv.batch, slots, quantization: argv.quantization === 'fp8' ? 'fp8' : undefined })));
  const run = (b: TokenBatch, slot: number) => Promise.all(engines.map((e) => e.embed(copyBatch(b), { slot })));
  const rng = new Rng(argv.batch * 131 + argv.len);
  const lo = argv['len-min'] ?? argv.len;
  if (!(lo >= 1 && lo <= argv.len)) throw new Error(`--len-min ${lo} must be in 1..${argv.len}`);
  const lengths = () => Array.from({ length: argv.batch }, () => lo + Math.floor(rng.uniform() * (argv.len - lo + 1)));
  const batches = Array.from({ length: 4 }, () => batchOf(lengths(), folder.dims.vocab, () => rng.uniform()));
  const tag = `${argv.label ? `[${argv.label}] ` : ''}${argv.dtype}${argv.quantization === 'fp8' ? '+fp8' : ''} B=${argv.batch} L=${lo === argv.len ? argv.len : `${lo}..${argv.len}`} TP=${tp}`;
  try {
    // Each batch's first answer is kept: later runs of the same shape replay a CUDA graph, and
    // must give the same numbers as the eager first run.
    const first: Float32Array[] = [];
    for (let i = 0; i < 4; i++) first.push((await run(batches[i], 0))[0]);
    engines.forEach((e) => e.profile());
    const lat: number[] = [];
    let worst = 0;
    for (let i = 0; i < argv.iters; i++) {
      const t0 = performance.now();
      const [out] = await run(batches[i % 4], 0);
      lat.push(performance.now() - t0);
      for (let k = 0; k < out.length; k++) worst = Math.max(worst, Number.isNaN(out[k]) ? Infinity : Math.abs(out[k] - first[i % 4][k]));
    }
    process.stdout.write(`${tag}: repeated runs vs each batch's first run: max |Δ| ${worst.toExponential(2)}${worst > 1e-3 ? '  MISMATCH' : ''}\n`);
    const prof = engines[0].profile();
    const t0 = performance.now();
    const n = Math.max(argv.iters, 2 * slots);
    await Promise.all(Array.from({ length: slots }, async (_, slot) => {
      for (let i = slot; i < n; i += slots) await run(batches[i % 4], slot);
    }));
    const secs = (performance.now() - t0) / 1000;
    let tokens = 0;
    for (let i = 0; i < n; i++) tokens += batches[i % 4].ids.length;
    const tflops = ((tokens / secs) * flopsPerToken(folder.dims, tokens / (n * argv.batch))) / 1e12;
    const total = prof.total ? prof.total.ms / prof.total.count : NaN;
    const perBatch = batches.map((b) => b.ids.length);
    process.stdout.write(`${tag}: tokens per batch ${perBatch.join(' / ')} (mean ${(perBatch.reduce((a, b) => a + b, 0) / 4).toFixed(0)}); ` +
      `latency median ${median(lat).toFixed(3)} ms (GPU ${total.toFixed(3)} ms); ` +
      `throughput with ${slots} in flight ${(tokens / secs / 1e6).toFixed(3)} Mtok/s, ${tflops.toFixed(0)} TFLOP/s\n`);
    const batchesProfiled = prof.total?.count ?? 0;
    for (const [op, v] of Object.entries(prof).sort((a, b) => b[1].ms - a[1].ms)) {
      if (op === 'total' || !batchesProfiled) continue;
      const per = v.ms / batchesProfiled;
      process.stdout.write(`${tag}:   ${op.padEnd(10)} ${per.toFixed(3).padStart(8)} ms/batch ${((100 * per) / total).toFixed(1).padStart(5)}%  ` +
        `(${(v.count / batchesProfiled).toFixed(0)} calls, ${((1000 * v.ms) / v.count).toFixed(1)} µs each)\n`);
    }
  } finally {
    await Promise.all(engines.map((e) => e.close()));
  }
});
