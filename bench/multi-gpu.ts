// Multi-GPU benchmark: data-parallel throughput (fixed 512-token batches of 128, BERT-base shape)
// on 1 GPU vs every GPU, and tensor-parallel batch-1 latency (one 512-token sequence, XLM-R-large
// shape) at TP=1, 2, 4. Baselines are the single-GPU runs of the same call.
//   node dist/bench/multi-gpu.js --bert DIR --xlmr DIR [--out DIR]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAddon } from '../src/backends/cuda/addon.js';
import type { TokenBatch } from '../src/backends/engine.js';
import { Coordinator } from '../src/core/coordinator.js';
import { Replica } from '../src/core/replica.js';
import type { PlannedBatch } from '../src/core/scheduler.js';
import { runMain } from '../src/main.js';
import { loadModelFolder } from '../src/model/folder.js';
import { flopsPerToken } from '../src/models/bert.js';

function batch(n: number, len: number, vocab: number, seed: number): TokenBatch {
  let s = seed >>> 0;
  const ids = new Int32Array(n * len);
  for (let i = 0; i < ids.length; i++) ids[i] = 1000 + ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % (vocab - 1000));
  const cu = new Int32Array(n + 1);
  for (let i = 0; i <= n; i++) cu[i] = i * len;
  return { ids, typeIds: new Int32Array(ids.length), cuSeqlens: cu };
}

function replicas(dir: string, groups: number[][], maxTokens: number, maxSeqs: number): Replica[] {
  const addon = loadAddon();
  const tp = groups[0].length;
  return groups.map((devices, r) => new Replica(`replica ${r}`, {
    backend: 'cuda', modelDir: dir, dtype: 'float16', devices, maxTokens, maxSeqs, slots: tp > 1 ? 1 : 2,
    makeNcclIds: tp > 1 ? () => [new Uint8Array(addon.ncclUniqueId())] : undefined,
  }));
}

async function dpThroughput(dir: string, gpus: number, batches: number): Promise<number> {
  const folder = loadModelFolder(dir);
  const reps = replicas(dir, Array.from({ length: gpus }, (_, i) => [i]), 128 * 512, 128);
  await Promise.all(reps.map((r) => r.ready()));
  const coord = new Coordinator(reps);
  const plan = (k: number): PlannedBatch[] => Array.from({ length: k }, (_, i) => ({
    indices: Int32Array.from({ length: 128 }, (_, j) => i * 128 + j), tokens: 128 * 512, batch: batch(128, 512, folder.dims.vocab, i + 1),
  }));
  async function* gen(ps: PlannedBatch[]) { yield* ps; }
  await coord.execute({ kind: 'embed' }, gen(plan(2 * gpus)), 2 * gpus * 128, folder.dims.hidden);
  const ps = plan(batches);
  const t0 = performance.now();
  await coord.execute({ kind: 'embed' }, gen(ps), batches * 128, folder.dims.hidden);
  const secs = (performance.now() - t0) / 1000;
  await coord.close();
  return (batches * 128 * 512) / secs;
}

async function tpLatency(dir: string, tp: number, iters: number): Promise<number> {
  const folder = loadModelFolder(dir);
  const [rep] = replicas(dir, [Array.from({ length: tp }, (_, i) => i)], 512, 1);
  await rep.ready();
  const b = batch(1, 512, folder.dims.vocab, 7);
  for (let i = 0; i < 5; i++) await rep.run({ kind: 'embed' }, b);
  const times: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    await rep.run({ kind: 'embed' }, b);
    times.push(performance.now() - t0);
  }
  await rep.close();
  return times.sort((x, y) => x - y)[Math.floor(times.length / 2)];
}

await runMain(import.meta, async () => {
  const { default: yargs } = await import('yargs');
  const { hideBin } = await import('yargs/helpers');
  const argv = await yargs(hideBin(process.argv))
    .option('bert', { type: 'string', demandOption: true, describe: 'BERT-base-shaped model for the DP throughput run' })
    .option('xlmr', { type: 'string', demandOption: true, describe: 'XLM-R-large-shaped model for the TP latency run' })
    .option('batches', { type: 'number', default: 64, describe: 'batches of 128×512 tokens in the DP run' })
    .option('out', { type: 'string', default: 'bench/results' })
    .strict().help().parse();
  const addon = loadAddon();
  const gpus = addon.deviceCount();
  const name = addon.deviceInfo(0).name;
  const result: Record<string, unknown> = { gpu: name, gpus, date: new Date().toISOString() };
  const fpt = flopsPerToken(loadModelFolder(argv.bert).dims, 512);
  const one = await dpThroughput(argv.bert, 1, Math.max(8, argv.batches / gpus));
  const all = await dpThroughput(argv.bert, gpus, argv.batches);
  process.stdout.write(`DP fixed512 B=128 fp16: 1 GPU ${(one / 1e6).toFixed(3)} Mtok/s (${((one * fpt) / 1e12).toFixed(0)} TFLOP/s), ${gpus} GPUs ${(all / 1e6).toFixed(3)} Mtok/s = ${(all / one).toFixed(2)}x\n`);
  result.dp = { tokensPerSecOneGpu: one, tokensPerSecAllGpus: all, speedup: all / one };
  const lat: Record<number, number> = {};
  for (const tp of [1, 2, 4].filter((k) => k <= gpus)) {
    lat[tp] = await tpLatency(argv.xlmr, tp, 30);
    process.stdout.write(`TP=${tp} XLM-R-large shape, batch 1 × 512 tokens, fp16: ${lat[tp].toFixed(2)} ms median\n`);
  }
  result.tpLatencyMs = lat;
  mkdirSync(argv.out, { recursive: true });
  writeFileSync(join(argv.out, `multi-gpu-${new Date().toISOString().slice(0, 10)}.json`), JSON.stringify(result, null, 1));
});
