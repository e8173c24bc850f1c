import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { calculateRetrievalScores, DEFAULT_K_VALUES, mrrQuery, nauc, trecEvalQuery, type Qrels, type Run } from '../../src/eval/retrieval-metrics.js';
import { FIXTURES } from './helpers/fixtures.js';

const K = DEFAULT_K_VALUES;
const toMap = (o: Record<string, number>): Map<string, number> => new Map(Object.entries(o));

function perQuery(qrel: Record<string, number>, run: Record<string, number>): Record<string, number> {
  const s = trecEvalQuery(toMap(qrel), toMap(run), K);
  const m = mrrQuery(toMap(qrel), toMap(run), K);
  const out: Record<string, number> = {};
  K.forEach((k, i) => {
    out[`ndcg_cut_${k}`] = s.ndcg[i];
    out[`map_cut_${k}`] = s.map[i];
    out[`recall_${k}`] = s.recall[i];
    out[`P_${k}`] = s.P[i];
    out[`success_${k}`] = s.success[i];
    out[`mrr_${k}`] = m[i];
  });
  return out;
}

describe('eval/retrieval-metrics: trec_eval and mteb semantics', () => {
  const fixture = JSON.parse(readFileSync(join(FIXTURES, 'retrieval-hand.json'), 'utf8')) as {
    cases: Array<{ name: string; qrels: Record<string, number>; run: Record<string, number>; expected: Record<string, number> }>;
  };
  for (const c of fixture.cases) {
    it(`hand-derived case: ${c.name}`, () => {
      const got = perQuery(c.qrels, c.run);
      for (const [k, v] of Object.entries(c.expected)) expect(got[k], k).to.be.closeTo(v, 1e-12);
    });
  }

  it('nDCG uses the qrel value as linear gain with a log2 discount', () => {
    // ranking c(0) a(2) b(1) x(unjudged): DCG@3 = 0 + 2/log2(3) + 1/log2(4)
    // ideal: a(2) b(1): IDCG@3 = 2/log2(2) + 1/log2(3)
    const got = perQuery({ a: 2, b: 1, c: 0 }, { c: 0.9, a: 0.8, b: 0.7, x: 0.6 });
    const dcg3 = 2 / Math.log2(3) + 1 / Math.log2(4);
    const idcg3 = 2 + 1 / Math.log2(3);
    expect(got.ndcg_cut_3).to.be.closeTo(dcg3 / idcg3, 1e-15);
    expect(got.ndcg_cut_1).to.equal(0); // c is judged non-relevant
    // IDCG@1 = 2, DCG@1 = 0; and at 1000 the same as at 3 (nothing more retrieved/relevant)
    expect(got.ndcg_cut_1000).to.be.closeTo(dcg3 / idcg3, 1e-15);
    // graded qrels count as relevant for MAP/recall/P when >= 1
    expect(got.recall_3).to.equal(1);
    expect(got.map_cut_3).to.be.closeTo((1 / 2 + 2 / 3) / 2, 1e-15);
  });

  it('nAUC: 1 for a perfect confidence signal, -1 for an inverted one, NaN when the metric is flat', () => {
    // two queries, metric [0, 1]. Abstaining on round(rate*2) queries: 0 for rates 0-0.2, 1 above.
    // Curves are [.5,.5,.5,1,1,1,1,1,1,1] for conf=[.1,.9] (same as the oracle) -> nAUC 1;
    // conf=[.9,.1] drops the good query: [.5,.5,.5,0,...] -> (0.125-0.45)/(0.775-0.45) = -1
    expect(nauc([0.1, 0.9], [0, 1])).to.be.closeTo(1, 1e-12);
    expect(nauc([0.9, 0.1], [0, 1])).to.be.closeTo(-1, 1e-12);
    expect(nauc([0.3, 0.2, 0.1], [1, 1, 1])).to.be.NaN;
  });

  it('averages over the queries that have qrels, rounds trec metrics to 5 decimals, keeps MRR unrounded, names keys like mteb', () => {
    const qrels: Qrels = new Map([
      ['q1', toMap({ a: 1, b: 1, c: 1, n: 0 })],
      ['q2', toMap({ d1: 1 })],
      ['q3', toMap({ a: 0 })],
    ]);
    const run: Run = new Map([
      ['q1', toMap({ a: 0.9, x: 0.8, b: 0.7, y: 0.6, n: 0.5 })],
      ['q2', toMap({ d1: 0.5, d2: 0.5, d3: 0.1 })],
      ['q3', toMap({ a: 1, b: 0.5 })],
      ['q-unjudged', toMap({ a: 1 })], // no qrels: ignored
    ]);
    const { scores, numQueries } = calculateRetrievalScores(run, qrels);
    expect(numQueries).to.equal(3);
    // MAP@3 = (5/9 + 1/2 + 0) / 3 = 0.351851... -> 0.35185
    expect(scores.map_at_3).to.equal(0.35185);
    // P@1 = (1 + 0 + 0)/3 rounded; MRR@1 the same mean, unrounded
    expect(scores.precision_at_1).to.equal(0.33333);
    expect(scores.mrr_at_1).to.equal(1 / 3);
    expect(scores.accuracy).to.equal(scores.recall_at_1);
    // hit rate@3: q1 and q2 have a relevant doc in the top 3
    expect(scores.hit_rate_at_3).to.equal(0.66667);

    const expectedKeys = [
      ...K.map((k) => `ndcg_at_${k}`),
      ...K.map((k) => `map_at_${k}`),
      ...K.map((k) => `recall_at_${k}`),
      'accuracy',
      ...K.map((k) => `precision_at_${k}`),
      ...K.map((k) => `mrr_at_${k}`),
      ...['ndcg', 'map', 'recall', 'precision', 'mrr'].flatMap((m) => K.flatMap((k) => ['max', 'std', 'diff1'].map((f) => `nauc_${m}_at_${k}_${f}`))),
      ...K.map((k) => `hit_rate_at_${k}`),
    ];
    expect(Object.keys(scores)).to.deep.equal(expectedKeys);
  });

  it('refuses runs with NaN scores and runs without any judged query', () => {
    expect(() => trecEvalQuery(toMap({ a: 1 }), toMap({ a: NaN }), K)).to.throw(/NaN/);
    expect(() => calculateRetrievalScores(new Map([['q', toMap({ a: 1 })]]), new Map())).to.throw(/no query/);
  });
});
