// Full-corpus retrieval scoring speed (searchWithEncoder's similarity + top-k, model time
// excluded): a SciFact-shaped corpus (5183 documents, 300 queries) and a synthetic 1M-document
// corpus, single-threaded against the worker-thread path, dim 384 (all-MiniLM-L6-v2), cosine,
// top 1000 (mteb's largest k), mteb's corpus chunks of 50,000. Embeddings are seeded random unit
// vectors served from memory by a stand-in encoder, so only scoring is timed. Writes a JSON line
// per measurement; prints a table.
//
//   npm run build && node dist/bench/retrieval-scoring.js [--docs 1000000] [--queries 100] [--threads 1,2] [--out FILE]
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { Rng } from '../scripts/make-test-model.js';
import type { RetrievalSplitData } from '../src/eval/data/load.js';
import type { EmbeddingModelLike } from '../src/eval/model.js';
import { searchWithEncoder } from '../src/eval/retrieval.js';
import { closeScoringPool } from '../src/eval/topk-pool.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

const DIM = 384;

/** Encoder stand-in: text "d<i>" / "q<i>" -> a seeded random vector, computed on first use. */
class TableEncoder implements EmbeddingModelLike {
  readonly kind = 'encoder' as const;
  readonly similarityFn = 'cosine' as const;
  readonly meta = { name: 'bench/random-unit-vectors', revision: null };
  encodeMs = 0;
  async encode(texts: string[]): Promise<Float32Array[]> {
    const t0 = performance.now();
    const buf = new Float32Array(texts.length * DIM);
    const rows = texts.map((t, i) => {
      const rng = new Rng(Number(t.slice(1)) * 2 + (t[0] === 'q' ? 1 : 0) + 1);
      const r = buf.subarray(i * DIM, (i + 1) * DIM);
      for (let k = 0; k < DIM; k++) r[k] = rng.normal();
      return r;
    });
    this.encodeMs += performance.now() - t0;
    return rows;
  }
}

function dataset(nd: number, nq: number): RetrievalSplitData {
  return {
    corpus: Array.from({ length: nd }, (_, i) => ({ id: `d${i}`, title: '', text: `d${i}` })),
    queries: Array.from({ length: nq }, (_, i) => ({ id: `q${i}`, text: `q${i}` })),
    qrels: new Map(),
    topRanked: null,
  };
}

async function measure(label: string, nd: number, nq: number, threads: number): Promise<Record<string, unknown>> {
  process.env.EMBEDRANK_SCORING_THREADS = String(threads);
  const model = new TableEncoder();
  const data = dataset(nd, nq);
  const t0 = performance.now();
  const run = await searchWithEncoder(model, data, 1000, { taskName: label });
  const total = performance.now() - t0;
  const scoring = total - model.encodeMs;
  const r = { label, docs: nd, queries: nq, dim: DIM, threads, scoring_s: scoring / 1000, scores_per_s: (nd * nq) / (scoring / 1000), first_query_top: [...run.get('q0')!.keys()].slice(0, 3) };
  console.error(`${label}: ${nd} docs x ${nq} queries, ${threads} thread(s): ${(scoring / 1000).toFixed(2)} s scoring (${((nd * nq) / (scoring / 1000) / 1e6).toFixed(1)} M scores/s)`);
  return r;
}

async function main(): Promise<void> {
  const bigDocs = Number(arg('docs', '1000000'));
  const bigQueries = Number(arg('queries', '100'));
  const threadList = arg('threads', `1,${availableParallelism()}`).split(',').map(Number);
  const out = arg('out', '');
  const rows: Array<Record<string, unknown>> = [];
  for (const th of threadList) rows.push(await measure('SciFact-shaped', 5183, 300, th));
  for (const th of threadList) rows.push(await measure('synthetic-1M', bigDocs, bigQueries, th));
  await closeScoringPool();
  // the runs must agree whatever the threads
  const tops = new Map<string, string>();
  for (const r of rows) {
    const key = String(r.label);
    const v = JSON.stringify(r.first_query_top);
    if (tops.has(key) && tops.get(key) !== v) throw new Error(`${key}: runs with different thread counts disagree`);
    tops.set(key, v);
  }
  const meta = { date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, cores: availableParallelism() };
  console.log('| corpus | documents | queries | threads | scoring s | M scores/s |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.label} | ${r.docs} | ${r.queries} | ${r.threads} | ${(r.scoring_s as number).toFixed(2)} | ${((r.scores_per_s as number) / 1e6).toFixed(1)} |`);
  if (out) writeFileSync(out, rows.map((r) => JSON.stringify({ ...meta, ...r })).join('\n') + '\n');
}

await main();
