// MTEB(eng, v2) as a whole: the registry entries and the benchmark's task selection, then every
// task type end to end on miniature datasets (written by the test), in process with a
// bag-of-words model and through the `embedrank` binary with a generated model on the CPU.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runEvaluate, selectTasks } from '../../src/cli/evaluate.js';
import { getBenchmark, getBenchmarks, summarizeBenchmark } from '../../src/eval/benchmarks.js';
import { parsePyJson, type TaskResult } from '../../src/eval/results.js';
import { allTasks, getTask, hfSubsets, TASK_TYPES } from '../../src/eval/tasks.js';
import { testModel } from '../cpu/helpers.js';
import { BowEncoder } from './helpers/fakes.js';
import { writeMiniature } from './helpers/miniatures.js';

const ROOT = process.cwd();
const BIN = join(ROOT, 'dist/src/cli/main.js');

describe('eval/benchmarks: MTEB(eng, v2)', () => {
  it('has mteb\'s 41 tasks: 10 retrieval, 8 classification, 8 clustering, 9 STS, 3 pair classification, 2 reranking, 1 summarization', () => {
    const b = getBenchmark('MTEB(eng, v2)');
    expect(b.tasks).to.have.length(41);
    expect(new Set(b.tasks.map((t) => t.name)).size).to.equal(41);
    const count = (type: string) => b.tasks.filter((t) => t.type === type).length;
    expect([count('Retrieval'), count('Classification'), count('Clustering'), count('STS'), count('PairClassification'), count('Reranking'), count('Summarization')]).to.deep.equal([10, 8, 8, 9, 3, 2, 1]);
    expect(getBenchmark('mteb(eng)')).to.equal(getBenchmarks()[0]);
    expect(() => getBenchmark('MTEB(deu)')).to.throw(/unknown benchmark "MTEB\(deu\)".*MTEB\(eng, v2\)/);
  });

  it('evaluates only the test split and English-only subsets, as mteb\'s exclusive language filter does', () => {
    const b = getBenchmark('MTEB(eng, v2)');
    const byName = new Map(b.tasks.map((t) => [t.name, t]));
    for (const t of b.tasks) expect(t.evalSplits, t.name).to.deep.equal(['test']);
    expect(hfSubsets(byName.get('MassiveIntentClassification')!)).to.deep.equal(['en']);
    expect(hfSubsets(byName.get('MTOPDomainClassification')!)).to.deep.equal(['en']);
    expect(hfSubsets(byName.get('AmazonCounterfactualClassification')!)).to.deep.equal(['en']);
    expect(hfSubsets(byName.get('STS17')!)).to.deep.equal(['en-en']);
    expect(hfSubsets(byName.get('STS22.v2')!)).to.deep.equal(['en']);
    // the registry entry itself keeps every split and subset
    expect(getTask('MassiveIntentClassification').evalSplits).to.deep.equal(['validation', 'test']);
    expect(hfSubsets(getTask('MassiveIntentClassification')).length).to.be.greaterThan(50);
  });

  it('every registry entry carries mteb metadata: pinned 40-hex revision, a main score, a known type, languages', () => {
    for (const t of allTasks()) {
      expect(t.dataset.revision, t.name).to.match(/^[0-9a-f]{40}$/);
      expect(t.dataset.path, t.name).to.match(/^[\w-]+\/[\w.-]+$/);
      expect(TASK_TYPES, t.name).to.include(t.type);
      expect(t.mainScore, t.name).to.be.a('string').and.not.equal('');
      expect(hfSubsets(t).length, t.name).to.be.greaterThan(0);
    }
    expect(getTask('ToxicConversationsClassification').samplesPerLabel).to.equal(16);
    expect(getTask('TweetSentimentExtractionClassification').samplesPerLabel).to.equal(32);
    expect(getTask('STS22.v2')).to.include({ minScore: 1, maxScore: 4 });
    expect(getTask('MindSmallReranking').mainScore).to.equal('max_over_subqueries_map_at_1000');
    expect(getTask('SummEvalSummarization.v2').mainScore).to.equal('cosine_spearman');
    expect(getTask('SprintDuplicateQuestions').mainScore).to.equal('max_ap');
  });

  it('selects tasks by benchmark, type and language; rejects what matches nothing', () => {
    const { tasks } = selectTasks({ benchmark: 'MTEB(eng, v2)', taskTypes: ['Clustering', 'pairclassification'] });
    expect(tasks.map((t) => t.type).sort()).to.deep.equal([...Array(8).fill('Clustering'), ...Array(3).fill('PairClassification')]);
    expect(selectTasks({ taskTypes: 'Summarization' }).tasks.map((t) => t.name)).to.deep.equal(['SummEvalSummarization.v2']);
    expect(selectTasks({ languages: ['kor'] }).tasks.map((t) => t.name)).to.include('STS17');
    expect(() => selectTasks({ benchmark: 'MTEB(eng, v2)', languages: ['kor'] })).to.throw(/no task matches --languages kor in MTEB\(eng, v2\)/);
    expect(() => selectTasks({ taskTypes: ['Clusterin'] })).to.throw(/unknown task type "clusterin"/);
    expect(() => selectTasks({ benchmark: 'MTEB(eng, v2)', tasks: ['STS16'] })).to.throw(/STS16 is not part of MTEB\(eng, v2\)/);
    expect(() => selectTasks({})).to.throw(/no tasks given/);
  });

  it('summarises like the leaderboard: type means, Mean (Task), Mean (TaskType); n/a when a task is missing', () => {
    const tasks = ['STS12', 'STS13', 'Banking77Classification'].map(getTask);
    const r = (name: string, s: number): TaskResult => ({ task_name: name, dataset_revision: '', mteb_version: null, scores: { test: [{ main_score: s, hf_subset: 'default', languages: [] }] }, evaluation_time: 0, kg_co2_emissions: null, date: null, evaluation_phases: null });
    const s = summarizeBenchmark(tasks, [r('STS12', 0.5), r('STS13', 0.7), r('Banking77Classification', 0.9)]);
    expect(s.perType.STS).to.be.closeTo(0.6, 1e-15);
    expect(s.meanTask).to.be.closeTo(0.7, 1e-15);
    expect(s.meanTaskType).to.be.closeTo(0.75, 1e-15);
    const partial = summarizeBenchmark(tasks, [r('STS12', 0.5)]);
    expect(partial.meanTask).to.equal(null);
    expect(partial.missing).to.deep.equal(['STS13', 'Banking77Classification']);
  });
});

describe('eval/benchmarks: MTEB(eng, v2) end to end on miniatures', function () {
  this.timeout(600_000);
  let data: string;
  let out: string;
  before(() => {
    data = mkdtempSync(join(tmpdir(), 'embedrank-mini-'));
    getBenchmark('MTEB(eng, v2)').tasks.forEach((t, i) => writeMiniature(data, t, i + 1));
  });
  beforeEach(() => (out = mkdtempSync(join(tmpdir(), 'embedrank-bench-'))));
  afterEach(() => rmSync(out, { recursive: true, force: true }));
  after(() => rmSync(data, { recursive: true, force: true }));

  const read = (name: string): Record<string, unknown> & { scores: Record<string, Array<Record<string, unknown>>> } =>
    parsePyJson(readFileSync(join(out, 'test-org__bow-encoder', 'rev1', `${name}.json`), 'utf8')) as never;

  it('runs all 41 tasks with a bag-of-words model and writes mteb-format results plus the summary', async () => {
    const io = { out: '', err: '' };
    const model = Object.assign(new BowEncoder('cosine', 'test-org/bow-encoder', 'rev1', 64), { close: async () => undefined });
    const prev = process.exitCode;
    const { results, failed } = await runEvaluate(
      { model: 'test-org/bow', tasks: [], benchmark: 'MTEB(eng, v2)', dataDir: data, outputFolder: out, device: 'cpu', dtype: 'auto', truncate: true, overwriteStrategy: 'only-missing', continueOnError: true, quiet: true },
      async () => model,
      { out: (s) => (io.out += s), err: (s) => (io.err += s) },
    );
    process.exitCode = prev;
    expect([...failed.entries()]).to.deep.equal([]);
    expect(results).to.have.length(41);
    for (const r of results) expect(Number(r.scores.test[0].main_score), r.task_name).to.be.a('number').and.satisfy(Number.isFinite);

    const cls = read('Banking77Classification').scores.test[0];
    expect(Object.keys(cls).slice(0, 10)).to.deep.equal(['scores_per_experiment', 'accuracy', 'f1', 'f1_weighted', 'precision', 'precision_weighted', 'recall', 'recall_weighted', 'ap', 'ap_weighted']);
    expect(cls.scores_per_experiment).to.have.length(10);
    expect(cls.main_score).to.equal(cls.accuracy);
    expect(cls.accuracy as number).to.be.greaterThan(0.5); // 3 topics: chance is 1/3
    const massive = read('MassiveIntentClassification').scores.test;
    expect(massive.map((s) => s.hf_subset)).to.deep.equal(['en']);
    expect(massive[0].languages).to.deep.equal(['eng-Latn']);

    const clu = read('ArXivHierarchicalClusteringP2P').scores.test[0];
    expect(Object.keys(clu.v_measures as object)).to.deep.equal(['Level 0', 'Level 1']);
    expect((clu.v_measures as Record<string, number[]>)['Level 0']).to.have.length(10);
    expect(clu).to.include.keys('v_measure', 'v_measure_std', 'ami_scores', 'ami', 'ami_std');
    const pc = read('SprintDuplicateQuestions').scores.test[0];
    expect(pc.main_score).to.equal(pc.max_ap);
    expect(pc).to.include.keys('cosine_accuracy', 'manhattan_f1', 'euclidean_precision', 'dot_recall', 'similarity_ap', 'max_f1');
    const sum = read('SummEvalSummarization.v2').scores.test[0];
    expect(Object.keys(sum).slice(0, 6)).to.deep.equal(['pearson', 'spearman', 'cosine_spearman', 'cosine_pearson', 'dot_pearson', 'dot_spearman']);
    const mind = read('MindSmallReranking').scores.test[0];
    expect(mind.main_score).to.equal(mind.max_over_subqueries_map_at_1000);

    expect(io.out).to.match(/MTEB\(eng, v2\)\s+Classification\s+8\s+\d+\.\d\d/);
    expect(io.out).to.match(/MTEB\(eng, v2\)\s+Mean \(Task\)\s+41\s+\d+\.\d\d/);
    expect(io.out).to.match(/MTEB\(eng, v2\)\s+Mean \(TaskType\)\s+7\s+\d+\.\d\d/);
  });

  it('`embedrank evaluate -b "MTEB(eng, v2)"` runs every task type on a generated model (CPU) through the binary', () => {
    const model = testModel('tiny-mean', { shape: 'tiny', pooling: 'mean' });
    const r = spawnSync(process.execPath, [BIN, 'evaluate', '-m', model, '-b', 'MTEB(eng, v2)', '--data-dir', data, '-o', out, '--device', 'cpu', '-q'], {
      encoding: 'utf8',
      env: { ...process.env, EMBEDRANK_DISABLE_CUDA: '1' },
    });
    expect(r.status, r.stderr).to.equal(0);
    const lines = r.stdout.split('\n');
    for (const type of TASK_TYPES) expect(r.stdout, type).to.match(new RegExp(`MTEB\\(eng, v2\\)\\s+${type}\\s+\\d+\\s+-?\\d+\\.\\d\\d`));
    expect(lines.filter((l) => /^\S+\s+(STS|Retrieval|Reranking|Classification|Clustering|PairClassification|Summarization)\s/.test(l))).to.have.length(41);
    expect(r.stdout).to.match(/Mean \(Task\)\s+41\s+-?\d+\.\d\d/);
  });
});
