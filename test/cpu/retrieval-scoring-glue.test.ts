// GPU retrieval scoring's host side without a GPU: a stand-in addon (EMBEDRANK_CUDA_ADDON) whose
// similarityTopK computes in fp32 in JavaScript (torch's F.normalize, then fp32 dot products) and
// records its calls. Checks that CudaRetrievalScorer refuses bad input before the addon sees it,
// hands the addon what it needs, and that searchWithEncoder with the scorer gives the CPU path's
// run (same documents in the same order up to fp32 near-ties, scores within 1e-5) for cosine and
// dot over several corpus chunks, while euclidean and manhattan stay on the CPU. What the kernel
// computes is test/gpu/retrieval-scoring.gpu.ts's job.
import { expect } from 'chai';
import { CudaRetrievalScorer } from '../../src/backends/cuda/retrieval-scoring.js';
import { Encoder } from '../../src/encoder.js';
import { InputError } from '../../src/errors.js';
import type { RetrievalSplitData } from '../../src/eval/data/load.js';
import type { QueryTopK, SimilarityFn } from '../../src/eval/model.js';
import { CORPUS_CHUNK_SIZE, searchWithEncoder } from '../../src/eval/retrieval.js';
import { Rng } from '../../scripts/make-test-model.js';
import { HashEncoder } from '../eval/helpers/fakes.js';
import { useStandInAddon } from './helpers.js';
import { compareTopK, cpuScores, cpuTopK, duplicateRow, randomRows } from '../eval/helpers/retrieval-topk.js';

const FAKE = `
const f = Math.fround;
const calls = [];
function normalise(m, n, dim) {
  const out = new Float32Array(m);
  for (let i = 0; i < n; i++) {
    let ss = 0;
    for (let k = 0; k < dim; k++) ss = f(ss + f(out[i * dim + k] * out[i * dim + k]));
    const den = Math.max(f(Math.sqrt(ss)), 1e-12);
    for (let k = 0; k < dim; k++) out[i * dim + k] = f(out[i * dim + k] / den);
  }
  return out;
}
async function similarityTopK(Q, nq, D, nd, dim, cosine, k, device, tileDocs, queryBlock) {
  calls.push({ nq, nd, dim, cosine, k, device, tileDocs, queryBlock });
  const q = cosine ? normalise(Q, nq, dim) : Q, d = cosine ? normalise(D, nd, dim) : D;
  const kk = Math.min(k, nd);
  const indices = new Int32Array(nq * kk), scores = new Float32Array(nq * kk);
  const row = new Float32Array(nd);
  for (let i = 0; i < nq; i++) {
    for (let j = 0; j < nd; j++) {
      let s = 0;
      for (let t = 0; t < dim; t++) s = f(s + f(q[i * dim + t] * d[j * dim + t]));
      row[j] = s;
    }
    const idx = Array.from({ length: nd }, (_, j) => j).sort((a, b) => row[b] - row[a] || a - b).slice(0, kk);
    idx.forEach((j, r) => { indices[i * kk + r] = j; scores[i * kk + r] = row[j]; });
  }
  return { indices, scores };
}
module.exports = { similarityTopK, calls, deviceCount: () => 1 };
`;

describe('cpu/retrieval-scoring-glue: GPU retrieval scoring host side (stand-in addon)', function () {
  this.timeout(120_000);
  const addon = useStandInAddon<{ calls: Array<Record<string, unknown>> }>(FAKE);

  it('refuses bad input with an InputError before the addon is called', async () => {
    const s = new CudaRetrievalScorer(0);
    const q = new Float32Array(8), d = new Float32Array(12);
    const before = addon().calls.length;
    const bad: Array<[string, () => Promise<QueryTopK[]>]> = [
      ['euclidean', () => s.topK(q, 2, d, 3, 4, 'euclidean', 1)],
      ['manhattan', () => s.topK(q, 2, d, 3, 4, 'manhattan', 1)],
      ['queries length', () => s.topK(q, 3, d, 3, 4, 'cosine', 1)],
      ['docs length', () => s.topK(q, 2, d, 2, 4, 'cosine', 1)],
      ['k = 0', () => s.topK(q, 2, d, 3, 4, 'dot', 0)],
      ['k fractional', () => s.topK(q, 2, d, 3, 4, 'dot', 1.5)],
      ['nq = 0', () => s.topK(new Float32Array(0), 0, d, 3, 4, 'dot', 1)],
      ['float64 queries', () => s.topK(new Float64Array(8) as unknown as Float32Array, 2, d, 3, 4, 'dot', 1)],
    ];
    for (const [what, call] of bad) {
      let err: unknown;
      try {
        await call();
      } catch (e) {
        err = e;
      }
      expect(err, what).to.be.instanceOf(InputError);
    }
    expect(() => new CudaRetrievalScorer(-1)).to.throw(InputError);
    expect(addon().calls.length).to.equal(before);
    expect(s.supports('cosine') && s.supports('dot')).to.equal(true);
    expect(s.supports('euclidean') || s.supports('manhattan')).to.equal(false);
  });

  it('hands the addon the shapes, similarity, device and tiling; splits min(k, nd) hits per query (k > nd, nq = 1, ties)', async () => {
    const rng = new Rng(5);
    for (const [nq, nd, dim, k, fn] of [[1, 9, 5, 1001, 'cosine'], [3, 40, 7, 6, 'dot'], [4, 1, 3, 10, 'cosine']] as Array<[number, number, number, number, SimilarityFn]>) {
      const Q = randomRows(rng, nq, dim), D = randomRows(rng, nd, dim, 'int');
      if (nd > 2) duplicateRow(D, dim, 0, nd - 1);
      const s = new CudaRetrievalScorer(1, { tileDocs: 7, queryBlock: 2 });
      const got = await s.topK(Q, nq, D, nd, dim, fn, k);
      expect(addon().calls[addon().calls.length - 1]).to.deep.equal({ nq, nd, dim, cosine: fn === 'cosine', k, device: 1, tileDocs: 7, queryBlock: 2 });
      expect(got).to.have.length(nq);
      got.forEach((g) => expect(g.indices.length).to.equal(Math.min(k, nd)));
      const scores = cpuScores(Q, nq, D, nd, dim, fn);
      const cmp = compareTopK(got, cpuTopK(scores, k), scores);
      expect(cmp.problems, cmp.problems.join('\n')).to.deep.equal([]);
    }
  });

  function dataset(nd: number, nq: number): RetrievalSplitData {
    return {
      corpus: Array.from({ length: nd }, (_, i) => ({ id: `d${i}`, title: '', text: `document ${i % 997}` })), // repeats: exact ties
      queries: Array.from({ length: nq }, (_, i) => ({ id: `q${i}`, text: `query ${i}` })),
      qrels: new Map(),
      topRanked: null,
    };
  }

  const data = dataset(CORPUS_CHUNK_SIZE + 1234, 3);
  for (const fn of ['cosine', 'dot'] as SimilarityFn[]) {
    it(`${fn}: searchWithEncoder with the GPU scorer gives the CPU run, one addon call per corpus chunk`, async () => {
      const cpu = await searchWithEncoder(Object.assign(new HashEncoder(6), { similarityFn: fn }), data, 20, { taskName: 'T' });
      const before = addon().calls.length;
      const gpuModel = Object.assign(new HashEncoder(6), { similarityFn: fn, retrievalScorer: new CudaRetrievalScorer(0) });
      const gpu = await searchWithEncoder(gpuModel, data, 20, { taskName: 'T' });
      expect(addon().calls.slice(before).map((c) => [c.nd, c.k])).to.deep.equal([[CORPUS_CHUNK_SIZE, 21], [1234, 21]]);
      expect(gpu.size).to.equal(cpu.size);
      for (const [q, docs] of cpu) {
        const want = [...docs], got = [...gpu.get(q)!];
        expect(got.map(([id]) => id), q).to.deep.equal(want.map(([id]) => id));
        got.forEach(([, s], r) => expect(Math.abs(s - want[r][1])).to.be.at.most(1e-5));
      }
    });
  }

  for (const fn of ['euclidean', 'manhattan'] as SimilarityFn[]) {
    it(`${fn}: stays on the CPU path`, async () => {
      const before = addon().calls.length;
      const small = dataset(50, 2);
      const run = await searchWithEncoder(Object.assign(new HashEncoder(6), { similarityFn: fn, retrievalScorer: new CudaRetrievalScorer(0) }), small, 5, { taskName: 'T' });
      expect(addon().calls.length).to.equal(before);
      expect(run.get('q0')!.size).to.equal(5);
    });
  }

  it('an Encoder on the CPU brings no GPU scorer', async () => {
    const enc = await Encoder.create({ model: 'test/fixtures/hf/roberta-st', device: 'cpu' });
    try {
      expect(enc.retrievalScorer).to.equal(undefined);
    } finally {
      await enc.close();
    }
  });
});
