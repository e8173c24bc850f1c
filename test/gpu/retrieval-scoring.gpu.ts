// Full-corpus retrieval scoring on the GPU (cuda/similarity_topk.cu through CudaRetrievalScorer)
// against the CPU path (packRows + scoreBlock + topKIndices, float64 products rounded to fp32):
// the same documents in the same order and scores within 1e-5, on random data of ragged sizes
// (nq = 1, dim 1, k > nd, more documents than one GPU tile, forced small tiles and query blocks)
// with duplicated document rows (exact ties: the lower index first on both paths). Two documents
// whose CPU scores differ by at most 2e-6 without being equal may swap (fp32 vs float64 rounding);
// such swaps are counted and must stay rare. Small-integer data makes every product exact, so
// there the GPU must give the CPU's indices and scores bit for bit, ties included. Run on a CUDA
// machine: `npm run test:gpu` (or scripts/gpu/device-run.sh retrieval-scoring).
import { expect } from 'chai';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTestModel } from '../../scripts/make-test-model.js';
import { CudaRetrievalScorer, type CudaRetrievalScorerOptions } from '../../src/backends/cuda/retrieval-scoring.js';
import { Encoder } from '../../src/encoder.js';
import type { RetrievalSplitData } from '../../src/eval/data/load.js';
import type { EmbeddingModelLike, EncodeOptions, RetrievalScorer, SimilarityFn } from '../../src/eval/model.js';
import { searchWithEncoder } from '../../src/eval/retrieval.js';
import { Rng } from '../../scripts/make-test-model.js';
import { compareTopK, cpuScores, cpuTopK, duplicateRow, randomRows } from '../eval/helpers/retrieval-topk.js';

interface Case {
  nq: number;
  nd: number;
  dim: number;
  k: number;
  tiling?: CudaRetrievalScorerOptions;
}

const CASES: Case[] = [
  { nq: 1, nd: 1, dim: 1, k: 1 },
  { nq: 1, nd: 777, dim: 384, k: 10 },
  { nq: 5, nd: 20, dim: 64, k: 1001 }, // k > nd
  { nq: 37, nd: 1003, dim: 35, k: 1001 },
  { nq: 300, nd: 5183, dim: 384, k: 1001 }, // SciFact-shaped
  { nq: 13, nd: 2500, dim: 384, k: 100, tiling: { tileDocs: 333, queryBlock: 5 } },
  { nq: 3, nd: 150_001, dim: 384, k: 1001 }, // three GPU tiles of 65,536
];

/** Duplicates about 5% of the rows (and the first onto the last): exact ties. Returns row -> its original. */
function withDuplicates(rng: Rng, D: Float32Array, nd: number, dim: number): Int32Array {
  const origin = Int32Array.from({ length: nd }, (_, i) => i);
  if (nd < 2) return origin;
  const dupes = Math.max(1, Math.floor(nd / 20));
  for (let t = 0; t < dupes; t++) {
    const from = t === 0 ? 0 : rng.int(0, nd - 1), to = t === 0 ? nd - 1 : rng.int(0, nd - 1);
    if (from === to) continue;
    duplicateRow(D, dim, from, to);
    origin[to] = origin[from];
  }
  return origin;
}

describe('gpu/retrieval-scoring: GPU top k = the CPU path', function () {
  this.timeout(600_000);

  for (const fn of ['cosine', 'dot'] as SimilarityFn[]) {
    for (const c of CASES) {
      const label = `${fn}: nq ${c.nq}, nd ${c.nd}, dim ${c.dim}, k ${c.k}${c.tiling ? `, tiles of ${c.tiling.tileDocs} x ${c.tiling.queryBlock} queries` : ''}`;
      it(`${label}: same ranking, scores within 1e-5, duplicated rows tie in index order`, async () => {
        const rng = new Rng(c.nq * 7919 + c.nd + c.dim);
        const Q = randomRows(rng, c.nq, c.dim), D = randomRows(rng, c.nd, c.dim);
        const origin = withDuplicates(rng, D, c.nd, c.dim);
        const got = await new CudaRetrievalScorer(0, c.tiling).topK(Q, c.nq, D, c.nd, c.dim, fn, c.k);
        const scores = cpuScores(Q, c.nq, D, c.nd, c.dim, fn);
        const cmp = compareTopK(got, cpuTopK(scores, c.k), scores);
        expect(cmp.problems, cmp.problems.join('\n')).to.deep.equal([]);
        expect(cmp.nearTieSwaps, `${cmp.nearTieSwaps} near-tie swaps in ${cmp.positions}`).to.be.at.most(Math.max(2, cmp.positions * 0.01));
        // duplicated documents score bit-identically on the GPU and come lower index first
        for (const g of got) {
          const seen = new Map<number, [number, number]>();
          g.indices.forEach((j, r) => {
            const prev = seen.get(origin[j]);
            if (prev) {
              expect(g.scores[r], `document ${j} duplicates ${prev[0]}`).to.equal(prev[1]);
              expect(j).to.be.greaterThan(prev[0]);
            } else seen.set(origin[j], [j, g.scores[r]]);
          });
        }
        // where every document is listed, the duplicated pairs are there to be checked
        if (c.k >= c.nd && c.nd >= 2) expect(got.every((g) => hasDuplicatePair(g.indices, origin))).to.equal(true);
      });
    }
  }

  for (const tiling of [undefined, { tileDocs: 17, queryBlock: 3 }]) {
    it(`dot on small integers (exact products, many ties)${tiling ? ', tiles of 17 x 3 queries' : ''}: indices and scores bit for bit`, async () => {
      const rng = new Rng(42);
      const nq = 23, nd = 2049, dim = 16, k = 1001;
      const Q = randomRows(rng, nq, dim, 'int'), D = randomRows(rng, nd, dim, 'int');
      withDuplicates(rng, D, nd, dim);
      const got = await new CudaRetrievalScorer(0, tiling).topK(Q, nq, D, nd, dim, 'dot', k);
      const want = cpuTopK(cpuScores(Q, nq, D, nd, dim, 'dot'), k);
      got.forEach((g, q) => {
        expect(Array.from(g.indices), `query ${q}`).to.deep.equal(Array.from(want[q].indices));
        expect(Array.from(g.scores), `query ${q}`).to.deep.equal(Array.from(want[q].scores));
      });
    });
  }

  it('NaN scores are refused, as on the CPU', async () => {
    const Q = new Float32Array([1, 0, 0, 1]), D = new Float32Array([1, 2, NaN, 1, 0, 1]);
    let err: Error | undefined;
    try {
      await new CudaRetrievalScorer(0).topK(Q, 2, D, 3, 2, 'dot', 2);
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/NaN values detected/);
  });

  it('an Encoder on CUDA scores SciFact-style retrieval on its GPU with the CPU run', async () => {
    // A generated RoBERTa-family encoder with head_dim 32 (the sentence-transformers fixtures have
    // head_dim 8, which the CUDA attention kernel does not take).
    const dir = mkdtempSync(join(tmpdir(), 'embedrank-gpu-rscore-'));
    makeTestModel({ shape: 'tiny', family: 'roberta', out: join(dir, 'm'), seed: 41 });
    const enc = await Encoder.create({ model: join(dir, 'm'), device: 'cuda' });
    try {
      const scorer = enc.retrievalScorer;
      expect(scorer).to.be.instanceOf(CudaRetrievalScorer);
      // the encoder's embeddings, kept so the CPU path scores exactly the same vectors
      const kept = new Map<string, Float32Array>();
      const key = (t: string, o?: EncodeOptions) => `${o?.promptType}\u0000${t}`;
      let gpuCalls = 0;
      const counting: RetrievalScorer = { name: scorer!.name, supports: (f) => scorer!.supports(f), topK: (...a) => (gpuCalls++, scorer!.topK(...a)) };
      const onGpu: EmbeddingModelLike = {
        kind: 'encoder', meta: enc.meta, similarityFn: enc.similarityFn, retrievalScorer: counting,
        encode: async (texts, o) => {
          const rows = await enc.encode(texts, o);
          texts.forEach((t, i) => kept.set(key(t, o), rows[i]));
          return rows;
        },
      };
      const onCpu: EmbeddingModelLike = { kind: 'encoder', meta: enc.meta, similarityFn: enc.similarityFn, encode: async (texts, o) => texts.map((t) => kept.get(key(t, o))!) };
      const words = ['protein', 'cell', 'gene', 'cancer', 'mouse', 'drug', 'trial', 'dose', 'virus', 'immune'];
      const data: RetrievalSplitData = {
        corpus: Array.from({ length: 3000 }, (_, i) => ({ id: `d${i}`, title: i % 3 ? '' : `title ${i % 50}`, text: `${words[i % 10]} ${words[(i * 7) % 10]} study ${i % 400}` })),
        queries: Array.from({ length: 40 }, (_, i) => ({ id: `q${i}`, text: `${words[i % 10]} effect ${i}` })),
        qrels: new Map(),
        topRanked: null,
      };
      const gpu = await searchWithEncoder(onGpu, data, 1000, { taskName: 'T' });
      expect(gpuCalls).to.equal(1);
      const cpu = await searchWithEncoder(onCpu, data, 1000, { taskName: 'T' });
      let swaps = 0;
      for (const [q, docs] of cpu) {
        const want = [...docs], got = [...gpu.get(q)!];
        expect(got.length, q).to.equal(want.length);
        got.forEach(([id, s], r) => {
          expect(Math.abs(s - want[r][1]), `${q} rank ${r}`).to.be.at.most(1e-5);
          if (id !== want[r][0]) {
            // a near tie swapped (fp32 vs float64 rounding); at the cut-off the CPU may not list it
            const cpuScore = docs.get(id);
            if (cpuScore === undefined) expect(r, `${q}: ${id} not in the CPU's top list`).to.be.at.least(want.length - 5);
            expect(Math.abs((cpuScore ?? s) - want[r][1]), `${q} rank ${r}: ${id} vs ${want[r][0]}`).to.be.at.most(2e-6);
            swaps++;
          }
        });
      }
      // Every swap above is a near tie (checked one by one); this synthetic corpus repeats a few
      // words, so ties are dense. At most 1% of ranks, the bound the random-data cases use.
      expect(swaps).to.be.at.most(0.01 * 40 * 1000);
    } finally {
      await enc.close();
    }
  });
});

/** Whether a top list holds two copies of one row. */
function hasDuplicatePair(indices: Int32Array, origin: Int32Array): boolean {
  const s = new Set<number>();
  for (const j of indices) {
    if (s.has(origin[j])) return true;
    s.add(origin[j]);
  }
  return false;
}
