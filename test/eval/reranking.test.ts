import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluate, getTask, loadRetrievalData, readTaskResult, type TaskMetadata } from '../../src/eval/index.js';
import type { RetrievalSplitData } from '../../src/eval/data/load.js';
import { evaluateRetrieval, searchWithEncoder, topKIndices } from '../../src/eval/retrieval.js';
import { ProgressBar } from '../../src/core/progress.js';
import { readRows } from '../../src/eval/data/files.js';
import { BowEncoder, bowVector, OverlapCrossEncoder, overlapScore } from './helpers/fakes.js';
import { ASKUBUNTU_FIXTURE, ASKUBUNTU_QRELS, HF_FIXTURES, askUbuntuQrelsParquet } from './helpers/fixtures.js';

// ---- independent reference: rank, average precision, reciprocal rank ----------------------

function cos(a: Float32Array, b: Float32Array): number {
  let d = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i] * b[i];
    na += a[i] ** 2;
    nb += b[i] ** 2;
  }
  return d / Math.sqrt(na * nb);
}
/** trec_eval order: float32 score descending, then id descending */
function rank(scores: Map<string, number>): string[] {
  return [...scores.keys()].sort((x, y) => Math.fround(scores.get(y)!) - Math.fround(scores.get(x)!) || (x < y ? 1 : x > y ? -1 : 0));
}
function averagePrecision(ranked: string[], rel: Map<string, number>): number {
  let hits = 0, sum = 0;
  ranked.forEach((d, i) => {
    if ((rel.get(d) ?? 0) >= 1) sum += ++hits / (i + 1);
  });
  const R = [...rel.values()].filter((v) => v >= 1).length;
  return R ? sum / R : 0;
}
function reciprocalRank(ranked: string[], rel: Map<string, number>, k: number): number {
  const i = ranked.slice(0, k).findIndex((d) => (rel.get(d) ?? 0) > 0);
  return i < 0 ? 0 : 1 / (i + 1);
}

const QUERIES: Record<string, string> = {
  q1: 'how to install nvidia drivers on ubuntu',
  q2: 'wifi not working after upgrade',
  q3: 'change default terminal font size',
  q4: 'ubuntu boot hangs at black screen',
  q5: 'how to mount a usb drive',
};
function corpusTexts(): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of readFileSync(join(ASKUBUNTU_FIXTURE, 'corpus', 'test-00000-of-00001.jsonl'), 'utf8').split('\n').filter(Boolean)) {
    const r = JSON.parse(line) as { id: string; title: string; text: string };
    m.set(r.id, r.title ? `${r.title} ${r.text}` : r.text);
  }
  return m;
}
function topRanked(): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const line of readFileSync(join(ASKUBUNTU_FIXTURE, 'top_ranked', 'test-00000-of-00001.jsonl'), 'utf8').split('\n').filter(Boolean)) {
    const r = JSON.parse(line) as { 'query-id': string; 'corpus-ids': string[] };
    m.set(r['query-id'], r['corpus-ids']);
  }
  return m;
}
function qrelsOf(q: string): Map<string, number> {
  return new Map(ASKUBUNTU_QRELS.filter((r) => r[0] === q).map((r) => [r[1], r[2]]));
}
function reference(score: (query: string, doc: string) => number): { map: number; mrr10: number } {
  const docs = corpusTexts();
  const tr = topRanked();
  let map = 0, mrr = 0;
  const qs = Object.keys(QUERIES);
  for (const q of qs) {
    const scores = new Map(tr.get(q)!.map((d) => [d, score(QUERIES[q], docs.get(d)!)]));
    const r = rank(scores);
    map += averagePrecision(r, qrelsOf(q));
    // mteb's MRR sorts the double scores, also ties by id descending
    const rr = [...scores.keys()].sort((x, y) => scores.get(y)! - scores.get(x)! || (x < y ? 1 : -1));
    mrr += reciprocalRank(rr, qrelsOf(q), 10);
  }
  return { map: map / qs.length, mrr10: mrr / qs.length };
}

describe('eval/reranking: AskUbuntuDupQuestions-format data, bi-encoder and cross-encoder', function () {
  this.timeout(60000);
  let out: string;
  beforeEach(() => (out = mkdtempSync(join(tmpdir(), 'embedrank-rerank-'))));
  afterEach(() => rmSync(out, { recursive: true, force: true }));

  it('the fixture\'s qrels parquet file is what the test writer produces, and hyparquet reads it', async () => {
    const path = join(ASKUBUNTU_FIXTURE, 'data', 'test-00000-of-00001.parquet');
    expect(Buffer.compare(readFileSync(path), Buffer.from(askUbuntuQrelsParquet()))).to.equal(0);
    const rows = await readRows(path);
    expect(rows.map((r) => [r['query-id'], r['corpus-id'], r.score])).to.deep.equal(ASKUBUNTU_QRELS);
  });

  it('loads corpus / queries / qrels (default config) / top_ranked and drops queries without qrels', async () => {
    const task = getTask('AskUbuntuDupQuestions');
    const data = await loadRetrievalData(task, new Map([['test', ['default']]]), { dataDir: HF_FIXTURES, offline: true });
    const d = data.splits.get('test')!.get('default')!;
    expect(d.queries.map((q) => q.id)).to.deep.equal(['q1', 'q2', 'q3', 'q4', 'q5']);
    expect(d.corpus).to.have.length(13);
    expect(d.corpus.find((c) => c.id === 'd7')).to.deep.equal({ id: 'd7', title: 'Terminal', text: 'font size settings' });
    expect(d.qrels.get('q1')).to.deep.equal(new Map([['d1', 1], ['d2', 0], ['d3', 1], ['d4', 0]]));
    expect(d.topRanked!.get('q6')).to.deep.equal(['d6', 'd8']);
    expect(data.source).to.contain('mteb__AskUbuntuDupQuestions');
  });

  it('a bi-encoder ranks each query\'s top_ranked candidates; scores match an independent computation', async () => {
    const model = new BowEncoder();
    const res = await evaluate(model, ['AskUbuntuDupQuestions'], { dataDir: HF_FIXTURES, outputFolder: out, warnings: false, offline: true });
    // one call for the queries, one for the candidate documents
    expect(model.calls.map((c) => c.opts?.promptType)).to.deep.equal(['query', 'document']);
    expect(model.calls[0].texts).to.deep.equal(Object.values(QUERIES));
    expect(model.calls[1].texts).to.include('Terminal font size settings');
    expect(model.calls[1].texts).to.have.length(13);
    for (const c of model.calls) {
      expect(c.opts?.taskName).to.equal('AskUbuntuDupQuestions');
      expect(c.opts?.taskType).to.equal('Reranking');
      expect(c.opts?.taskPrompt).to.equal('Retrieve duplicate questions from AskUbuntu forum');
    }
    const s = res.task_results[0].scores.test[0];
    const ref = reference((q, d) => cos(bowVector(q), bowVector(d)));
    expect(s.main_score).to.equal(s.map_at_1000);
    expect(s.map_at_1000 as number).to.be.closeTo(ref.map, 5.1e-6); // rounded to 5 decimals like mteb
    expect(s.mrr_at_10 as number).to.be.closeTo(ref.mrr10, 1e-12);
    expect(s.recall_at_20).to.equal(1); // every relevant candidate is retrieved
    expect(s.nauc_recall_at_1000_max).to.be.NaN; // recall is 1 for every query: flat oracle

    const file = join(out, 'test-org__bow-encoder', 'rev1', 'AskUbuntuDupQuestions.json');
    const text = readFileSync(file, 'utf8');
    expect(text).to.contain('"nauc_recall_at_1000_max": NaN'); // as Python's json.dump writes it
    const back = readTaskResult(file);
    expect(back.scores.test[0].nauc_recall_at_1000_max).to.be.NaN;
    expect(back.dataset_revision).to.equal('c5691e3c48741d5f83b5cc8e630653d7a8cfc048');
    const meta = JSON.parse(readFileSync(join(out, 'test-org__bow-encoder', 'rev1', 'model_meta.json'), 'utf8')) as Record<string, unknown>;
    expect(meta.name).to.equal('test-org/bow-encoder');
    expect(meta.framework).to.deep.equal(['embedrank']);
    expect(meta.is_cross_encoder).to.equal(false);
    expect(readFileSync(join(out, 'test-org__bow-encoder', 'rev1', 'model_meta.json'), 'utf8')).to.match(/\n {4}"max_tokens": 512\.0,\n/);
  });

  it('a cross-encoder scores every (query, candidate) pair once', async () => {
    const model = new OverlapCrossEncoder();
    const res = await evaluate(model, ['AskUbuntuDupQuestions'], { dataDir: HF_FIXTURES, outputFolder: out, warnings: false, offline: true });
    expect(model.calls).to.have.length(1);
    const pairs = model.calls[0].pairs;
    expect(pairs).to.have.length(20); // q6 has no qrels
    const docs = corpusTexts();
    const tr = topRanked();
    const expected = Object.keys(QUERIES).flatMap((q) => tr.get(q)!.map((d) => [QUERIES[q], docs.get(d)!]));
    expect(pairs).to.deep.equal(expected);
    expect(model.calls[0].opts?.taskName).to.equal('AskUbuntuDupQuestions');
    const s = res.task_results[0].scores.test[0];
    const ref = reference((q, d) => Math.fround(overlapScore(q, d)));
    expect(s.map_at_1000 as number).to.be.closeTo(ref.map, 5.1e-6);
    expect(s.mrr_at_10 as number).to.be.closeTo(ref.mrr10, 1e-12);
    const meta = JSON.parse(readFileSync(join(out, 'test-org__overlap-reranker', 'abc123', 'model_meta.json'), 'utf8')) as Record<string, unknown>;
    expect(meta.is_cross_encoder).to.equal(true);
    expect(meta.model_type).to.deep.equal(['cross-encoder']);
  });

  it('a cross-encoder cannot do full-corpus retrieval (no top_ranked), and STS needs an embedding model', async () => {
    const data: RetrievalSplitData = {
      corpus: [{ id: 'a', title: '', text: 'x' }],
      queries: [{ id: 'q', text: 'x' }],
      qrels: new Map([['q', new Map([['a', 1]])]]),
      topRanked: null,
    };
    try {
      await evaluateRetrieval(new OverlapCrossEncoder(), data, { taskName: 'SciFact' });
      expect.fail('should throw');
    } catch (e) {
      expect((e as Error).message).to.match(/cross-encoder can only rerank/).and.match(/--previous-results/);
    }
    try {
      await evaluate(new OverlapCrossEncoder(), ['STS12'], { outputFolder: null, warnings: false, offline: true });
      expect.fail('should throw');
    } catch (e) {
      expect((e as Error).message).to.match(/needs an embedding model/);
    }
  });
});

describe('eval/retrieval: full-corpus search with a bi-encoder', () => {
  const texts = ['red apple fruit', 'green apple pie', 'blue sky today', 'apple computer', 'fruit salad with apple', 'sky is blue and clear', 'red car', 'pie recipe'];
  const data: RetrievalSplitData = {
    corpus: texts.map((t, i) => ({ id: `doc${i}`, title: i === 3 ? 'Apple Inc' : '', text: t })),
    queries: [
      { id: 'qa', text: 'apple fruit' },
      { id: 'qb', text: 'clear blue sky' },
      { id: 'doc6', text: 'red car' }, // same id as a document (ArguAna-style)
    ],
    qrels: new Map([
      ['qa', new Map([['doc0', 1], ['doc4', 2], ['doc1', 0]])],
      ['qb', new Map([['doc2', 1], ['doc5', 1]])],
      ['doc6', new Map([['doc0', 1]])],
    ]),
    topRanked: null,
  };

  it('keeps the top k by (score, id) and matches a brute-force ranking', async () => {
    const model = new BowEncoder();
    const run = await searchWithEncoder(model, data, 3, { taskName: 'T' });
    const docText = (i: number): string => (i === 3 ? `Apple Inc ${texts[i]}` : texts[i]);
    for (const q of data.queries) {
      const all = texts.map((_, i) => [`doc${i}`, Math.fround(cos(bowVector(typeof q.text === 'string' ? q.text : ''), bowVector(docText(i))))] as [string, number]);
      all.sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? 1 : -1));
      const got = [...run.get(q.id)!.entries()].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? 1 : -1));
      expect(got).to.deep.equal(all.slice(0, 3));
    }
  });

  it('scores ndcg_at_10 like an independent computation, and ArguAna-style ignores the query\'s own id', async () => {
    const task: TaskMetadata = { ...getTask('SciFact') };
    const model = new BowEncoder('dot');
    const scores = await evaluateRetrieval(model, data, { taskName: task.name }, { ignoreIdenticalIds: true });
    let total = 0;
    for (const q of data.queries) {
      const qv = bowVector(q.text as string);
      const scoresQ = new Map(texts.map((_, i) => {
        const dv = bowVector(i === 3 ? `Apple Inc ${texts[i]}` : texts[i]);
        let dot = 0;
        for (let k = 0; k < dv.length; k++) dot += qv[k] * dv[k];
        return [`doc${i}`, dot] as [string, number];
      }));
      scoresQ.delete(q.id); // ignore identical ids
      const ranked = rank(scoresQ).slice(0, 10);
      const rel = data.qrels.get(q.id)!;
      const dcg = ranked.reduce((a, d, i) => a + Math.max(0, rel.get(d) ?? 0) / Math.log2(i + 2), 0);
      const ideal = [...rel.values()].filter((v) => v > 0).sort((a, b) => b - a);
      const idcg = ideal.slice(0, 10).reduce((a, g, i) => a + g / Math.log2(i + 2), 0);
      total += dcg / idcg;
    }
    expect(scores.ndcg_at_10 as number).to.be.closeTo(total / 3, 5.1e-6);
  });

  it('supports euclidean and manhattan similarity functions', async () => {
    for (const fn of ['euclidean', 'manhattan'] as const) {
      const run = await searchWithEncoder(new BowEncoder(fn), data, 1, { taskName: 'T' });
      const top = [...run.get('qb')!.keys()];
      expect(top).to.have.length(1);
      expect(run.get('qb')!.get(top[0])!).to.be.lessThan(0); // negative distances
    }
  });

  it('topKIndices selects the k largest (ties: lower index) like a full sort', () => {
    let seed = 3;
    const rnd = (): number => (seed = (seed * 16807) % 2147483647) / 2147483647;
    for (let trial = 0; trial < 50; trial++) {
      const n = 1 + Math.floor(rnd() * 300);
      const row = Float32Array.from({ length: n }, () => Math.round(rnd() * 20) / 20); // many ties
      const k = 1 + Math.floor(rnd() * n);
      const brute = Array.from({ length: n }, (_, i) => i).sort((a, b) => row[b] - row[a] || a - b).slice(0, k);
      expect(topKIndices(row, k)).to.deep.equal(brute);
    }
  });
});

describe('eval/progress: ProgressBar', () => {
  it('writes periodic plain lines when enabled off a terminal, nothing when disabled', () => {
    const lines: string[] = [];
    const stream = { isTTY: false, write: (s: string) => lines.push(s) };
    const bar = new ProgressBar('scoring', 4, { enabled: true, stream, intervalS: 3600 });
    bar.tick();
    bar.tick(3);
    bar.finish();
    expect(lines[0]).to.match(/^scoring 1\/4 \(25%\)/);
    expect(lines.at(-1)).to.match(/^scoring 4\/4 \(100%\).*\n$/);
    const quiet: string[] = [];
    const off = new ProgressBar('x', 2, { stream: { isTTY: false, write: (s: string) => quiet.push(s) } });
    off.tick(2);
    off.finish();
    expect(quiet).to.have.length(0);
  });
});
