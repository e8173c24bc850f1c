// Full-corpus retrieval scoring on worker threads gives exactly the single-threaded run: the same
// documents, scores and order for every query, for each similarity function.
import { expect } from 'chai';
import type { RetrievalSplitData } from '../../src/eval/data/load.js';
import type { SimilarityFn } from '../../src/eval/model.js';
import { searchWithEncoder } from '../../src/eval/retrieval.js';
import { closeScoringPool, PARALLEL_MIN_SCORES } from '../../src/eval/topk-pool.js';
import { HashEncoder } from './helpers/fakes.js';

function corpus(nd: number, nq: number): RetrievalSplitData {
  return {
    corpus: Array.from({ length: nd }, (_, i) => ({ id: `d${i}`, title: '', text: `document ${i % 9000}` })), // repeats: exact ties
    queries: Array.from({ length: nq }, (_, i) => ({ id: `q${i}`, text: `query ${i}` })),
    qrels: new Map(),
    topRanked: null,
  };
}

describe('eval/topk-pool: worker-thread retrieval scoring', function () {
  this.timeout(120_000);
  after(() => closeScoringPool());
  const data = corpus(24_000, 180);

  for (const fn of ['cosine', 'dot', 'euclidean', 'manhattan'] as SimilarityFn[]) {
    it(`${fn}: 4 threads return the single-threaded run exactly (ties included)`, async () => {
      expect(data.queries.length * data.corpus.length).to.be.at.least(PARALLEL_MIN_SCORES);
      const model = Object.assign(new HashEncoder(12), { similarityFn: fn });
      const prev = process.env.EMBEDRANK_SCORING_THREADS;
      try {
        process.env.EMBEDRANK_SCORING_THREADS = '1';
        const one = await searchWithEncoder(model, data, 100, { taskName: 'T' });
        process.env.EMBEDRANK_SCORING_THREADS = '4';
        const four = await searchWithEncoder(model, data, 100, { taskName: 'T' });
        expect(four.size).to.equal(one.size);
        for (const [q, docs] of one) expect([...four.get(q)!], q).to.deep.equal([...docs]);
        expect([...one.get('q0')!].length).to.equal(100);
      } finally {
        if (prev === undefined) delete process.env.EMBEDRANK_SCORING_THREADS;
        else process.env.EMBEDRANK_SCORING_THREADS = prev;
      }
    });
  }
});
