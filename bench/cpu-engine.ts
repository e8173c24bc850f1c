// Throughput of the CPU engine (onnxruntime-node, fp32) on a minilm-l6-shaped generated model for
// the STS 2012 sentences. Tokenisation (by the Transformers.js tokenizer, @huggingface/transformers, a dev dependency) happens before
// the clock starts; sentences are length-sorted and cut into batches as the scheduler does.
//
//   node dist/bench/cpu-engine.js [--shape minilm-l6] [--batch 32] [--threads 0,1,2] [--opt all,disabled] [--limit N]
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeTestModel, SHAPES } from '../scripts/make-test-model.js';
import { CpuEngine, type GraphOptimizationLevel } from '../src/backends/cpu/engine.js';
import type { TokenBatch } from '../src/backends/engine.js';
import { runMain } from '../src/main.js';
import { loadModelFolder } from '../src/model/folder.js';

const STS_DIR = '/work/shared/data/sts/2012';

function readSentences(limit: number): string[] {
  const out: string[] = [];
  for (const f of readdirSync(STS_DIR).filter((n) => n.endsWith('.tsv')).sort()) {
    for (const line of readFileSync(join(STS_DIR, f), 'utf8').split('\n')) {
      const cols = line.split('\t');
      if (cols.length >= 3) out.push(cols[1], cols[2]);
    }
  }
  return out.slice(0, limit);
}

function batches(seqs: number[][], batchSize: number): TokenBatch[] {
  const sorted = [...seqs].sort((a, b) => a.length - b.length);
  const out: TokenBatch[] = [];
  for (let i = 0; i < sorted.length; i += batchSize) {
    const part = sorted.slice(i, i + batchSize);
    const cu = [0];
    for (const s of part) cu.push(cu[cu.length - 1] + s.length);
    const ids = Int32Array.from(part.flat());
    out.push({ ids, typeIds: new Int32Array(ids.length), cuSeqlens: Int32Array.from(cu) });
  }
  return out;
}

await runMain(import.meta, async () => {
  const { values } = parseArgs({
    options: {
      shape: { type: 'string', default: 'minilm-l6' },
      batch: { type: 'string', default: '32' },
      threads: { type: 'string', default: `0,1,${availableParallelism()}` },
      opt: { type: 'string', default: 'all' },
      limit: { type: 'string', default: '100000' },
      model: { type: 'string' },
    },
  });
  const shape = values.shape!;
  if (!SHAPES[shape]) throw new Error(`unknown shape ${shape} (known: ${Object.keys(SHAPES).join(', ')})`);
  const dir = values.model ?? join(tmpdir(), 'embedrank-bench-models', `${shape}-mean-norm`);
  if (!existsSync(join(dir, 'README.md'))) {
    process.stdout.write(`generating ${shape} model in ${dir}\n`);
    makeTestModel({ shape, out: dir, pooling: 'mean', normalize: true });
  }
  const folder = loadModelFolder(dir);

  const { AutoTokenizer, env } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.useFSCache = false;
  env.localModelPath = dirname(dir) + '/';
  const tokenizer = await AutoTokenizer.from_pretrained(basename(dir), { local_files_only: true });
  const texts = readSentences(Number(values.limit));
  const seqs = texts.map((t) => Array.from(tokenizer(t, { truncation: true, max_length: folder.maxLength }).input_ids.data as BigInt64Array, Number));
  const tokens = seqs.reduce((s, q) => s + q.length, 0);
  process.stdout.write(
    `model ${shape} (hidden ${folder.dims.hidden}, ${folder.dims.layers} layers), ${texts.length} sentences, ` +
      `${tokens} tokens (mean ${(tokens / texts.length).toFixed(1)}, max ${Math.max(...seqs.map((s) => s.length))}), ` +
      `${availableParallelism()} CPUs\n`,
  );

  const batchSizes = values.batch!.split(',').map(Number);
  for (const opt of values.opt!.split(',') as GraphOptimizationLevel[]) {
    for (const threads of values.threads!.split(',').map(Number)) {
      const t0 = performance.now();
      const engine = await CpuEngine.create(folder, { intraOpThreads: threads, graphOptimizationLevel: opt });
      const createMs = performance.now() - t0;
      for (const bs of batchSizes) {
        const bl = batches(seqs, bs);
        await engine.embed(bl[bl.length - 1]); // warm-up on the longest batch
        const start = performance.now();
        for (const b of bl) await engine.embed(b);
        const s = (performance.now() - start) / 1000;
        process.stdout.write(
          `opt=${opt.padEnd(8)} threads=${String(threads || 'default').padEnd(7)} batch=${String(bs).padEnd(4)} ` +
            `${(texts.length / s).toFixed(1).padStart(8)} sentences/s ${(tokens / s).toFixed(0).padStart(8)} tokens/s ` +
            `(${s.toFixed(2)} s; session ${createMs.toFixed(0)} ms)\n`,
        );
      }
      await engine.close();
    }
  }
});
