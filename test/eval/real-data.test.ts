// The real data sets in ../shared/data (beside the clone; read its README.md): STS12 (SemEval 2012,
// all five sources), STS Benchmark test, BIOSSES and SciFact, each loaded from its original
// release layout and from mteb's Hugging Face layout (written by the test from the same rows),
// with mteb's sizes; then `embedrank evaluate` on them with a generated model on the CPU.
// Every test skips with a message when the folder is absent.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { allSplits, loadRetrievalData, loadStsData, type RetrievalSplitData, type StsPairs } from '../../src/eval/data/load.js';
import { parsePyJson } from '../../src/eval/results.js';
import { getTask } from '../../src/eval/tasks.js';
import { testModel } from '../cpu/helpers.js';
import { writeParquet } from './helpers/parquet-writer.js';
import { SHARED_DATA, SHARED_DATA_CANDIDATES } from '../shared-data.js';

const ROOT = process.cwd();
const CANDIDATES = SHARED_DATA_CANDIDATES;
const SHARED = SHARED_DATA && existsSync(join(SHARED_DATA, 'scifact')) ? SHARED_DATA : undefined;

function needShared(ctx: Mocha.Context): string {
  if (!SHARED) {
    console.log(`      skipped: no shared data folder (looked in ${CANDIDATES.join(', ')}; set EMBEDRANK_SHARED_DATA)`);
    ctx.skip();
  }
  return SHARED!;
}

async function sts(name: string, dataDir: string): Promise<{ pairs: StsPairs; notes: string[]; source: string }> {
  const t = getTask(name);
  const d = await loadStsData(t, allSplits(t), { dataDir, offline: true });
  return { pairs: d.splits.get('test')!.get('default')!, notes: d.notes, source: d.source };
}

async function retrieval(dataDir: string): Promise<{ data: RetrievalSplitData; source: string }> {
  const t = getTask('SciFact');
  const d = await loadRetrievalData(t, allSplits(t), { dataDir, offline: true });
  return { data: d.splits.get('test')!.get('default')!, source: d.source };
}

function qrelCount(d: RetrievalSplitData): number {
  let n = 0;
  for (const m of d.qrels.values()) n += m.size;
  return n;
}

describe('eval/data: the real data sets in ../shared/data', function () {
  this.timeout(120_000);
  let hf: string;
  before(() => (hf = mkdtempSync(join(tmpdir(), 'embedrank-hf-'))));
  after(() => rmSync(hf, { recursive: true, force: true }));

  it('STS12 from the SemEval 2012 release: all five sources, 3108 pairs', async function () {
    const dir = needShared(this);
    const r = await sts('STS12', dir);
    expect(r.pairs.score).to.have.length(3108);
    expect(r.source).to.equal(join(dir, 'sts', '2012'));
    expect(r.notes.join('\n')).to.contain('read 5 of 5 sources').and.not.contain('missing');
    for (const s of r.pairs.score) expect(s).to.be.within(0, 5);
  });

  it('STSBenchmark from sts-test.csv (TABs, no quoting): 1379 pairs, including lines with the two extra source fields', async function () {
    const dir = needShared(this);
    const r = await sts('STSBenchmark', dir);
    expect(r.pairs.score).to.have.length(1379);
    expect(r.source).to.equal(join(dir, 'stsbenchmark', 'sts-test.csv'));
    const quoted = r.pairs.sentence1.concat(r.pairs.sentence2).filter((s) => s.includes('"'));
    expect(quoted.length).to.be.greaterThan(0); // a csv reader with quoting would have merged lines here
    expect(r.pairs.sentence2.every((s) => !s.includes('\t'))).to.equal(true);
  });

  it('BIOSSES from all.tsv (csv quoting, a TAB inside one sentence): 100 pairs equal to biosses.test.jsonl', async function () {
    const dir = needShared(this);
    const r = await sts('BIOSSES', dir);
    expect(r.pairs.score).to.have.length(100);
    const jsonl = readFileSync(join(dir, 'biosses', 'biosses.test.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { sentence1: string; sentence2: string; score: number });
    expect(r.pairs.sentence1).to.deep.equal(jsonl.map((x) => x.sentence1));
    expect(r.pairs.sentence2).to.deep.equal(jsonl.map((x) => x.sentence2));
    r.pairs.score.forEach((s, i) => expect(s).to.be.closeTo(jsonl[i].score, 1e-12));
    expect(r.pairs.sentence2.some((s) => s.includes('\t'))).to.equal(true);
  });

  it('SciFact from the BEIR layout: 5183 documents, 300 test queries (of 1109), 339 qrels', async function () {
    const dir = needShared(this);
    const { data, source } = await retrieval(dir);
    expect(source).to.contain(join(dir, 'scifact'));
    expect(data.corpus).to.have.length(5183);
    expect(data.queries).to.have.length(300);
    expect(data.qrels.size).to.equal(300);
    expect(qrelCount(data)).to.equal(339);
    expect(data.topRanked).to.equal(null);
  });

  it('the same four read from mteb\'s Hugging Face layouts give the same rows', async function () {
    const dir = needShared(this);
    // STS: mteb/<name>-sts repositories hold <split>.jsonl.gz with sentence1, sentence2, score
    for (const [name, repo] of [['STS12', 'mteb__sts12-sts'], ['STSBenchmark', 'mteb__stsbenchmark-sts'], ['BIOSSES', 'mteb__biosses-sts']]) {
      const orig = await sts(name, dir);
      mkdirSync(join(hf, repo), { recursive: true });
      const rows = orig.pairs.score.map((s, i) => JSON.stringify({ sentence1: orig.pairs.sentence1[i], sentence2: orig.pairs.sentence2[i], score: s }));
      writeFileSync(join(hf, repo, 'test.jsonl.gz'), gzipSync(rows.join('\n') + '\n'));
      const viaHf = await sts(name, hf);
      expect(viaHf.source, name).to.contain(join(hf, repo));
      expect(viaHf.pairs, name).to.deep.equal(orig.pairs);
    }
    // SciFact: mteb/scifact's configs corpus, queries and default (qrels, parquet)
    const orig = await retrieval(dir);
    const repo = join(hf, 'mteb__scifact');
    mkdirSync(join(repo, 'corpus'), { recursive: true });
    mkdirSync(join(repo, 'queries'), { recursive: true });
    mkdirSync(join(repo, 'data'), { recursive: true });
    const corpusRows = readFileSync(join(dir, 'scifact', 'corpus.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { _id: string; title: string; text: string });
    writeFileSync(join(repo, 'corpus', 'test-00000-of-00001.jsonl'), corpusRows.map((d) => JSON.stringify({ _id: d._id, title: d.title, text: d.text })).join('\n'));
    writeFileSync(join(repo, 'queries', 'test-00000-of-00001.jsonl'), readFileSync(join(dir, 'scifact', 'queries.jsonl')));
    const q = readFileSync(join(dir, 'scifact', 'qrels', 'test.tsv'), 'utf8').trim().split(/\r?\n/).slice(1).map((l) => l.split('\t'));
    writeFileSync(
      join(repo, 'data', 'test-00000-of-00001.parquet'),
      writeParquet([
        { name: 'query-id', type: 'string', values: q.map((r) => r[0]) },
        { name: 'corpus-id', type: 'string', values: q.map((r) => r[1]) },
        { name: 'score', type: 'int64', values: q.map((r) => Number(r[2])) },
      ]),
    );
    writeFileSync(
      join(repo, 'README.md'),
      ['---', 'configs:', ...['corpus', 'queries'].flatMap((c) => [`- config_name: ${c}`, '  data_files:', '  - split: test', `    path: ${c}/test-*`]), '- config_name: default', '  data_files:', '  - split: test', '    path: data/test-*', '---', ''].join('\n'),
    );
    const viaHf = await retrieval(hf);
    expect(viaHf.source).to.contain(repo);
    expect(viaHf.data.corpus).to.deep.equal(orig.data.corpus);
    expect(viaHf.data.queries).to.deep.equal(orig.data.queries);
    expect([...viaHf.data.qrels].map(([k, v]) => [k, [...v]])).to.deep.equal([...orig.data.qrels].map(([k, v]) => [k, [...v]]));
  });

  it('`embedrank evaluate -t STS12 STSBenchmark BIOSSES SciFact --data-dir ../shared/data` runs on a generated model (CPU)', function () {
    const dir = needShared(this);
    this.timeout(300_000);
    const out = mkdtempSync(join(tmpdir(), 'embedrank-real-'));
    try {
      const model = testModel('tiny-mean', { shape: 'tiny', pooling: 'mean' });
      const r = spawnSync(process.execPath, [join(ROOT, 'dist/src/cli/main.js'), 'evaluate', '-m', model, '-t', 'STS12', 'STSBenchmark', 'BIOSSES', 'SciFact', '--data-dir', dir, '-o', out, '--device', 'cpu'], {
        encoding: 'utf8',
        env: { ...process.env, EMBEDRANK_DISABLE_CUDA: '1' },
      });
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stderr).to.contain('3108 pairs');
      for (const [task, score] of [['STS12', 'cosine_spearman'], ['STSBenchmark', 'cosine_spearman'], ['BIOSSES', 'cosine_spearman'], ['SciFact', 'ndcg_at_10']]) {
        expect(r.stdout).to.match(new RegExp(`^${task}\\s+\\S+\\s+${score}\\s+-?\\d\\.\\d{5}`, 'm'));
      }
      const sts12 = parsePyJson(readFileSync(join(out, 'cpu-v1-tiny-mean', onlyRevision(join(out, 'cpu-v1-tiny-mean')), 'STS12.json'), 'utf8')) as { notes: string[]; scores: { test: Array<{ main_score: number }> } };
      expect(sts12.notes.join('\n')).to.contain('3108 pairs');
      expect(Number.isFinite(sts12.scores.test[0].main_score)).to.equal(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

/** The one revision folder a local model's results went to (a content hash, src/model/revision.ts). */
function onlyRevision(modelDir: string): string {
  const revs = readdirSync(modelDir).filter((d) => d.startsWith('local-'));
  expect(revs, `revision folders under ${modelDir}`).to.have.length(1);
  return revs[0];
}
