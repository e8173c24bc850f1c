// Where a Qwen3 prefill step's time goes: runs CudaDecoderEngine in this thread (no worker pool,
// no tokenizer) on synthetic batches and prints the host latency per batch, the GPU time the
// model's events measured (EMBEDRANK_PROFILE=1) and the per-operation split, so host overhead
// and slow kernels show apart. --prefix P gives every sequence the same first P tokens (the
// reranker's shared prompt; with prefix caching on only the rest is computed after the first).
//
//   EMBEDRANK_PROFILE=1 node dist/bench/qwen3-profile.js --model DIR --batch 110 --len 262 --prefix 200 [--no-cache]
import { CudaDecoderEngine } from '../src/backends/cuda/decoder-engine.js';
import type { TokenBatch } from '../src/backends/engine.js';
import type { ComputeDtype } from '../src/core/options.js';
import { runMain } from '../src/main.js';
import { loadModelFolder } from '../src/model/folder.js';
import { QWEN3_RERANKER_OVERRIDES } from '../src/models/qwen3-reranker.js';
import { Rng } from '../scripts/make-test-model.js';
import { median } from './batches.js';

const DT: Record<string, ComputeDtype> = { fp32: 'float32', fp16: 'float16', bf16: 'bfloat16' };

await runMain(import.meta, async () => {
  const { default: yargs } = await import('yargs');
  const { hideBin } = await import('yargs/helpers');
  const argv = await yargs(hideBin(process.argv))
    .option('model', { type: 'string', demandOption: true })
    .option('dtype', { choices: ['fp32', 'fp16', 'bf16'], default: 'bf16' })
    .option('batch', { type: 'number', default: 64, describe: 'sequences per batch' })
    .option('len', { type: 'number', default: 512, describe: 'tokens per sequence' })
    .option('prefix', { type: 'number', default: 0, describe: 'leading tokens every sequence shares' })
    .option('cache', { type: 'boolean', default: true, describe: 'prefix caching' })
    .option('iters', { type: 'number', default: 8 })
    .option('label', { type: 'string', default: '' })
    .option('reranker', { type: 'boolean', default: false, describe: 'load a Qwen3ForCausalLM folder as Qwen3-Reranker (QWEN3_RERANKER_OVERRIDES)' })
    .strict().help().parse();
  const folder = loadModelFolder(argv.model, argv.reranker ? { hfOverrides: { ...QWEN3_RERANKER_OVERRIDES } } : {});
  const maxTokens = Math.max(argv.batch * argv.len, 1024);
  const engine = await CudaDecoderEngine.create(folder, {
    dtype: DT[argv.dtype], device: 0, rank: 0, worldSize: 1, maxTokens, maxSeqs: argv.batch, slots: 1,
    maxModelLen: argv.len, enablePrefixCaching: argv.cache,
  });
  const rng = new Rng(argv.batch * 7 + argv.len);
  const vocab = folder.dims.vocab;
  const shared = Int32Array.from({ length: argv.prefix }, () => Math.floor(rng.uniform() * vocab));
  // Fresh suffixes every batch, so only the shared prefix can hit the cache.
  const batch = (): TokenBatch => {
    const ids = new Int32Array(argv.batch * argv.len);
    const cu = new Int32Array(argv.batch + 1);
    for (let i = 0; i < argv.batch; i++) {
      ids.set(shared, i * argv.len);
      for (let t = argv.prefix; t < argv.len; t++) ids[i * argv.len + t] = Math.floor(rng.uniform() * vocab);
      cu[i + 1] = (i + 1) * argv.len;
    }
    return { ids, cuSeqlens: cu };
  };
  const cross = folder.kind === 'cross-encoder';
  const run = (b: TokenBatch) => (cross ? engine.score(b, 'identity') : engine.embed(b));
  const tag = `${argv.label ? `[${argv.label}] ` : ''}${argv.dtype} B=${argv.batch} L=${argv.len} prefix=${argv.prefix} cache=${argv.cache}`;
  try {
    for (let i = 0; i < 2; i++) await run(batch());
    engine.profile();
    const lat: number[] = [];
    const batches = Array.from({ length: argv.iters }, batch);
    const t0 = performance.now();
    for (const b of batches) {
      const t = performance.now();
      const out = await run(b);
      lat.push(performance.now() - t);
      if (out.some((v) => Number.isNaN(v))) throw new Error('NaN in the output');
    }
    const secs = (performance.now() - t0) / 1000;
    const prof = engine.profile();
    const steps = prof.total?.count ?? 0;
    const gpu = prof.total ? prof.total.ms / argv.iters : NaN;
    const st = engine.kvCacheStats();
    process.stdout.write(`${tag}: host latency median ${median(lat).toFixed(2)} ms per batch, GPU ${gpu.toFixed(2)} ms per batch (${(steps / argv.iters).toFixed(1)} steps); ` +
      `${((argv.iters * argv.batch * argv.len) / secs / 1e6).toFixed(3)} M prompt tok/s, ${((st.computedTokens ?? 0) / Math.max(1, st.computedTokens + st.cachedTokens) * 100).toFixed(1)}% computed\n`);
    for (const [op, v] of Object.entries(prof).sort((a, b) => b[1].ms - a[1].ms)) {
      if (op === 'total' || !steps) continue;
      const per = v.ms / argv.iters;
      process.stdout.write(`${tag}:   ${op.padEnd(14)} ${per.toFixed(3).padStart(9)} ms/batch ${((100 * per) / gpu).toFixed(1).padStart(5)}%  (${((1000 * v.ms) / v.count).toFixed(1)} µs each)\n`);
    }
  } finally {
    await engine.close();
  }
});
