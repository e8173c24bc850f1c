// Latency of one CUDA decoder step (Qwen3) with whole steps as CUDA graphs against kernel by
// kernel, in one process on one GPU: for each round, an engine with EMBEDRANK_CUDA_GRAPHS=0 and one
// with =bucket (the model reads it when made; made one at a time), each timing `--iters` calls
// of every batch shape on fresh random ids (prefix caching off, so every call computes every
// token). Reports the median ms per call of each and the ratio; the embedder's mode (last-token
// pooling, normalised) or, with --score, the last-token head of a Qwen3ForSequenceClassification /
// converted reranker folder. Both engines of a round see the same ids in the same order, so it also
// prints the largest |graphs − eager| difference over every output of each shape (fp32: 0 expected).
//
//   node dist/bench/decoder-latency.js --model DIR [--score] [--dtype bf16] [--shapes 1x16,1x128,8x64] [--iters 100] [--rounds 2] [--out DIR]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAddon } from '../src/backends/cuda/addon.js';
import { CudaDecoderEngine } from '../src/backends/cuda/decoder-engine.js';
import type { ComputeDtype } from '../src/core/options.js';
import { runMain } from '../src/main.js';
import { loadModelFolder } from '../src/model/folder.js';
import { QWEN3_RERANKER_OVERRIDES } from '../src/models/qwen3-reranker.js';
import { Rng } from '../scripts/make-test-model.js';
import { batchOf, median } from './batches.js';

const DT: Record<string, ComputeDtype> = { fp32: 'float32', fp16: 'float16', bf16: 'bfloat16' };

/** "BxL" → [B, L]. @throws Error for anything else. */
function parseShape(s: string): [number, number] {
  const m = /^(\d+)x(\d+)$/.exec(s.trim());
  if (!m || +m[1] < 1 || +m[2] < 1) throw new Error(`--shapes: '${s}' is not BxL (sequences x tokens, both ≥ 1)`);
  return [+m[1], +m[2]];
}

await runMain(import.meta, async () => {
  const { default: yargs } = await import('yargs');
  const { hideBin } = await import('yargs/helpers');
  const argv = await yargs(hideBin(process.argv))
    .usage('$0 --model DIR [options]\n\nms per CUDA decoder step, CUDA graphs (EMBEDRANK_CUDA_GRAPHS=bucket) against kernel-by-kernel (=0), one GPU.')
    .option('model', { type: 'string', demandOption: true })
    .option('score', { type: 'boolean', default: false, describe: 'time the last-token head (a reranker folder, QWEN3_RERANKER_OVERRIDES) instead of embeddings' })
    .option('dtype', { choices: ['fp32', 'fp16', 'bf16'], default: 'bf16' })
    .option('shapes', { type: 'string', default: '1x16,1x128,1x512,8x64,32x128', describe: 'batch shapes BxL: B sequences of L tokens' })
    .option('iters', { type: 'number', default: 100 })
    .option('rounds', { type: 'number', default: 2, describe: 'eager then graphs, this many times' })
    .option('out', { type: 'string', describe: 'folder for decoder-latency.json' })
    .strict().help().parse();
  const shapes = argv.shapes.split(',').map(parseShape);
  const folder = argv.score ? loadModelFolder(argv.model, { hfOverrides: { ...QWEN3_RERANKER_OVERRIDES } }) : loadModelFolder(argv.model);
  const maxTokens = Math.max(...shapes.map(([b, l]) => b * l));
  const maxSeqs = Math.max(...shapes.map(([b]) => b));
  const info = loadAddon().deviceInfo(0);
  console.log(`GPU ${info.name}; ${argv.model} ${argv.dtype}; ${argv.score ? 'score' : 'embed'}; ${argv.iters} calls per shape, fresh ids each`);
  const rows: { round: number; graphs: string; shape: string; ms: number; maxDiff?: number; stats?: unknown }[] = [];
  const eagerOut = new Map<string, Float32Array[]>();  // round:shape → every output of the eager engine, in call order
  for (let round = 1; round <= argv.rounds; round++) {
    for (const graphs of ['0', 'bucket']) {
      const saved = process.env.EMBEDRANK_CUDA_GRAPHS;
      process.env.EMBEDRANK_CUDA_GRAPHS = graphs;
      let e: CudaDecoderEngine;
      try {
        e = await CudaDecoderEngine.create(folder, { dtype: DT[argv.dtype], device: 0, rank: 0, worldSize: 1, maxTokens, maxSeqs, slots: 1, maxModelLen: Math.max(...shapes.map(([, l]) => l)), enablePrefixCaching: false });
      } finally {
        if (saved === undefined) delete process.env.EMBEDRANK_CUDA_GRAPHS; else process.env.EMBEDRANK_CUDA_GRAPHS = saved;
      }
      try {
        const rng = new Rng(round * 977 + shapes.length);
        for (const [b, l] of shapes) {
          const fresh = () => batchOf(Array(b).fill(l), folder.dims.vocab, () => rng.uniform());
          const call = (x: ReturnType<typeof fresh>) => (argv.score ? e.score(x, 'identity') : e.embed(x));
          const key = `${round}:${b}x${l}`;
          if (graphs === '0') eagerOut.set(key, []);
          const outs = eagerOut.get(key)!;
          let k = 0, maxDiff = 0;
          // Each output against the eager engine's for the same ids (the graph engine runs second).
          const keep = (out: Float32Array) => {
            if (!out.every(Number.isFinite)) throw new Error(`NaN or Inf in the output of ${b}x${l} (graphs ${graphs})`);
            if (graphs === '0') outs.push(out);
            else for (let j = 0; j < out.length; j++) maxDiff = Math.max(maxDiff, Math.abs(out[j] - outs[k][j]));
            k++;
          };
          for (let w = 0; w < 3; w++) keep(await call(fresh()));  // the bucket's eager first run and its capture
          const ms: number[] = [];
          for (let i = 0; i < argv.iters; i++) {
            const x = fresh();
            const t0 = performance.now();
            const out = await call(x);
            ms.push(performance.now() - t0);
            keep(out);
          }
          rows.push({ round, graphs, shape: `${b}x${l}`, ms: median(ms), maxDiff: graphs === '0' ? undefined : maxDiff });
        }
        rows[rows.length - 1].stats = e.graphStats();
        console.log(`round ${round} EMBEDRANK_CUDA_GRAPHS=${graphs}: graph stats ${JSON.stringify(e.graphStats())}`);
      } finally {
        await e.close();
      }
    }
  }
  console.log('| shape | round | kernel by kernel, ms | CUDA graphs, ms | speed-up | max \\|graphs − eager\\| |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (let round = 1; round <= argv.rounds; round++) {
    for (const [b, l] of shapes) {
      const at = (g: string) => rows.find((r) => r.round === round && r.graphs === g && r.shape === `${b}x${l}`)!;
      const [e, g] = [at('0'), at('bucket')];
      console.log(`| ${b}x${l} | ${round} | ${e.ms.toFixed(3)} | ${g.ms.toFixed(3)} | ${(e.ms / g.ms).toFixed(2)}× | ${g.maxDiff!.toExponential(2)} |`);
    }
  }
  if (argv.out) {
    mkdirSync(argv.out, { recursive: true });
    writeFileSync(join(argv.out, 'decoder-latency.json'), JSON.stringify({ gpu: info.name, model: argv.model, dtype: argv.dtype, score: argv.score, date: new Date().toISOString(), rows }, null, 1));
  }
});
