// Device-run preparation: writes the generated models the GPU suite and the benchmark use, and
// the job list for PyTorch reference outputs (scripts/gpu/torch_reference.py).
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runMain } from '../../src/main.js';
import { makeTestModel, SHAPES } from '../make-test-model.js';

export const GPU_MODELS = process.env.EMBEDRANK_GPU_MODELS ?? '/tmp/embedrank-gpu-models';
export const STS_DIR = process.env.EMBEDRANK_STS_DIR ?? join(process.cwd(), 'data/sts');

/** Model name → generator options for the GPU suite. */
export const GPU_SUITE = {
  'minilm-l6': { shape: 'minilm-l6', pooling: 'mean' },
  'e5-small': { shape: 'e5-small', pooling: 'mean' },
  'bert-base': { shape: 'bert-base', pooling: 'cls' },
  'xlmr-large': { shape: 'xlmr-large', pooling: 'mean', dtype: 'F16' },
  'bert-base-bf16': { shape: 'bert-base', pooling: 'last', dtype: 'BF16' },
  'cross-minilm': { shape: 'minilm-l6', kind: 'cross-encoder' },
} as const;

/** Benchmark models: BERT-base with 1024 positions so varlen256_768 fits; MiniLM-L6 for sts. */
export const BENCH_MODELS = {
  'bench-bert-base': { ...SHAPES['bert-base'], maxPositions: 1024 },
  'bench-xlmr-large': SHAPES['xlmr-large'],
};

/** Real sentences from the SemEval STS files (year folders) in a deterministic order. */
export function stsSentences(dir = STS_DIR): string[] {
  const out: string[] = [];
  if (!existsSync(dir)) return out;
  for (const y of readdirSync(dir).sort()) {
    const yd = join(dir, y);
    const files = existsSync(yd) && !y.includes('.') ? readdirSync(yd).sort() : [];
    for (const f of files) {
      if (!f.endsWith('.tsv')) continue;
      for (const line of readFileSync(join(yd, f), 'utf8').split('\n')) {
        const p = line.split('\t');
        if (p.length >= 3 && p[1] && p[2]) out.push(p[1], p[2]);
      }
    }
  }
  return out;
}

/** A fixed reference text set: ragged real sentences, an empty string, one over 512 tokens. */
export function referenceTexts(): string[] {
  const s = stsSentences();
  const picked = s.filter((_, i) => i % 211 === 0).slice(0, 60);
  return ['', 'a', ...picked, picked.join(' ')];
}

export function referencePairs(): Array<[string, string]> {
  const t = referenceTexts();
  const pairs: Array<[string, string]> = [];
  for (let i = 2; i + 1 < t.length - 1; i += 2) pairs.push([t[i], t[i + 1]]);
  pairs.push(['a query', t[t.length - 1]]);
  return pairs;
}

await runMain(import.meta, async () => {
  mkdirSync(GPU_MODELS, { recursive: true });
  const jobs: unknown[] = [];
  // --only NAME: write just that model (the device run starts one process per model in parallel).
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
  for (const [name, o] of Object.entries(GPU_SUITE)) {
    const dir = join(GPU_MODELS, name);
    if (!existsSync(join(dir, 'config.json')) && (!only || only === name)) {
      const opts = o as { shape: keyof typeof SHAPES; pooling?: 'cls' | 'mean' | 'last'; kind?: 'encoder' | 'cross-encoder'; dtype?: 'F32' | 'F16' | 'BF16' };
      makeTestModel({ shape: opts.shape, out: dir, kind: opts.kind, pooling: opts.pooling, dtype: opts.dtype, seed: name.length * 7919 });
    }
    const isCross = (o as { kind?: string }).kind === 'cross-encoder';
    jobs.push(isCross ? { model: dir, kind: 'cross-encoder', pairs: referencePairs(), out: join(GPU_MODELS, `${name}.torch.f32`) } : { model: dir, kind: 'encoder', texts: referenceTexts(), out: join(GPU_MODELS, `${name}.torch.f32`) });
  }
  const bench = process.argv.includes('--bench') ? Object.entries(BENCH_MODELS) : [];
  for (const [name, shape] of bench) {
    const dir = join(GPU_MODELS, name);
    if (!existsSync(join(dir, 'config.json')) && (!only || only === name)) makeTestModel({ shape, out: dir, dtype: 'F16', pooling: 'mean', seed: 4242 });
  }
  writeFileSync(join(GPU_MODELS, 'torch-jobs.json'), JSON.stringify(jobs));
  process.stdout.write(`models and torch jobs in ${GPU_MODELS}\n`);
});
