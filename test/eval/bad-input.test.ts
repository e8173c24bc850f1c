import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataNotFoundError, evaluate, getTask, getTasks, ModelOutputError, UnknownTaskError, type EvaluableModel } from '../../src/eval/index.js';
import { BowEncoder, OverlapCrossEncoder, ShortEncoder } from './helpers/fakes.js';
import { HF_FIXTURES, STS_FIXTURE } from './helpers/fixtures.js';

describe('eval: registry and bad input', function () {
  this.timeout(30000);
  let out: string;
  beforeEach(() => (out = mkdtempSync(join(tmpdir(), 'embedrank-bad-'))));
  afterEach(() => rmSync(out, { recursive: true, force: true }));

  it('has mteb\'s metadata for the registered tasks', () => {
    const sts12 = getTask('STS12');
    expect(sts12.dataset).to.deep.equal({ path: 'mteb/sts12-sts', revision: 'a0d554a64d88156834ff5ae9920b964011b16384' });
    expect(sts12.mainScore).to.equal('cosine_spearman');
    expect(sts12.evalSplits).to.deep.equal(['test']);
    expect(sts12.nSamples).to.equal(3108);
    const au = getTask('AskUbuntuDupQuestions');
    expect(au.dataset.revision).to.equal('c5691e3c48741d5f83b5cc8e630653d7a8cfc048');
    expect(au.mainScore).to.equal('map_at_1000');
    expect(au.type).to.equal('Reranking');
    expect(getTask('ArguAna').ignoreIdenticalIds).to.equal(true);
    expect(getTask('SciFact').mainScore).to.equal('ndcg_at_10');
    expect(getTask('sts12').name).to.equal('STS12'); // case-insensitive
  });

  it('unknown task names: an error listing close names', () => {
    expect(() => getTask('STS-12')).to.throw(UnknownTaskError, /did you mean "STS12"/);
    expect(() => getTask('AskUbuntu')).to.throw(/"AskUbuntuDupQuestions"/);
    try {
      getTask('Banking78Classification');
      expect.fail('should throw');
    } catch (e) {
      expect((e as Error).message).to.match(/unknown task "Banking78Classification"; did you mean "Banking77Classification"/).and.match(/known tasks: STS12/);
    }
  });

  it('filters tasks by type and language', () => {
    expect(getTasks({ types: ['reranking'] }).map((t) => t.name)).to.deep.equal(['AskUbuntuDupQuestions', 'SciDocsRR', 'StackOverflowDupQuestions', 'MindSmallReranking']);
    expect(getTasks({ languages: ['deu'] }).map((t) => t.name)).to.deep.equal(['STS17', 'AmazonCounterfactualClassification', 'MTOPDomainClassification', 'MassiveIntentClassification', 'MassiveScenarioClassification', 'STS22.v2']);
    expect(getTasks({ types: ['STS'], languages: ['eng-Latn'] })).to.have.length(10); // + STS22.v2
    expect(() => getTasks({ types: ['Clusterring'] })).to.throw(/unknown task type "clusterring"/);
  });

  it('evaluate() rejects unknown task names before doing any work', async () => {
    const model = new BowEncoder();
    try {
      await evaluate(model, ['STS12', 'STS99'], { dataDir: STS_FIXTURE, outputFolder: join(out, 'results') });
      expect.fail('should throw');
    } catch (e) {
      expect(e).to.be.instanceOf(UnknownTaskError);
    }
    expect(model.calls).to.have.length(0);
    expect(existsSync(join(out, 'results'))).to.equal(false);
  });

  it('a missing data folder: a clear error naming the path', async () => {
    const model = new BowEncoder();
    const missing = join(out, 'no-such-folder');
    try {
      await evaluate(model, ['STS12'], { dataDir: missing, outputFolder: null, warnings: false });
      expect.fail('should throw');
    } catch (e) {
      expect(e).to.be.instanceOf(DataNotFoundError);
      expect((e as Error).message).to.equal(`data folder ${missing} does not exist`);
    }
    expect(model.calls).to.have.length(0);
  });

  it('a dataset folder lacking a config: the error names the config and what was found', async () => {
    const dir = join(out, 'data', 'mteb__AskUbuntuDupQuestions', 'corpus');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'test.jsonl'), '{"id": "d1", "text": "x"}\n');
    try {
      await evaluate(new BowEncoder(), ['AskUbuntuDupQuestions'], { dataDir: join(out, 'data'), outputFolder: null, offline: true, warnings: false });
      expect.fail('should throw');
    } catch (e) {
      expect((e as Error).message).to.match(/no relevance judgements/).and.contain('mteb__AskUbuntuDupQuestions');
    }
  });

  it('a model returning the wrong number of embeddings: a clear error', async () => {
    try {
      await evaluate(new ShortEncoder(), ['STS12'], { dataDir: STS_FIXTURE, outputFolder: null, warnings: false });
      expect.fail('should throw');
    } catch (e) {
      expect(e).to.be.instanceOf(ModelOutputError);
      expect((e as Error).message).to.match(/returned 159 embeddings for 160 texts \(STS12 sentence1\)/);
    }
  });

  it('a cross-encoder returning the wrong number of scores: a clear error', async () => {
    class TwoLabel extends OverlapCrossEncoder {
      override async predict(pairs: Array<[string, string]>): Promise<Float32Array> {
        return new Float32Array(pairs.length * 2);
      }
    }
    try {
      await evaluate(new TwoLabel(), ['AskUbuntuDupQuestions'], { dataDir: HF_FIXTURES, outputFolder: null, offline: true, warnings: false });
      expect.fail('should throw');
    } catch (e) {
      expect(e).to.be.instanceOf(ModelOutputError);
      expect((e as Error).message).to.match(/returned 40 scores for 20 pairs \(a model with 2 labels\?/);
    }
  });

  it('raiseError: false records a failing task and goes on with the next', async () => {
    const model = new BowEncoder();
    const r = await evaluate(model, ['STS13', 'STS12'], { dataDir: STS_FIXTURE, cacheDir: join(out, 'hub'), outputFolder: null, offline: true, raiseError: false, warnings: false });
    expect(r.exceptions.map((x) => x.task_name)).to.deep.equal(['STS13']);
    expect(r.task_results.map((x) => x.task_name)).to.deep.equal(['STS12']);
  });

  it('rejects malformed models and options', async () => {
    const bad = { kind: 'encoder', meta: { name: 'x/y', revision: null }, similarityFn: 'cosine' } as unknown as EvaluableModel;
    try {
      await evaluate(bad, ['STS12']);
      expect.fail('should throw');
    } catch (e) {
      expect((e as Error).message).to.match(/encode\(texts, options\)/);
    }
    try {
      await evaluate(new BowEncoder(), ['STS12'], { overwriteStrategy: 'sometimes' as never });
      expect.fail('should throw');
    } catch (e) {
      expect((e as Error).message).to.match(/overwriteStrategy must be one of always, never, only-missing, only-cache/);
    }
  });
});
