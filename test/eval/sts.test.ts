import { expect } from 'chai';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { CacheError, evaluate, getTask, readTaskResult, stsSimilarities, taskResultPath } from '../../src/eval/index.js';
import { BowEncoder, bowVector } from './helpers/fakes.js';
import { HF_FIXTURES, REAL_STS, STS_FIXTURE } from './helpers/fixtures.js';
import { averageRanks, naivePearson } from './helpers/reference-stats.js';

// ---- an independent reference for STS scores: plain parsing, cosine, ranks, Pearson ----------

function readSemEvalPairs(dir: string, files: string[]): { s1: string[]; s2: string[]; gold: number[] } {
  const out = { s1: [] as string[], s2: [] as string[], gold: [] as number[] };
  for (const f of files) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      const [score, a, b] = line.split('\t');
      if (score === undefined || score.trim() === '' || a === undefined) continue;
      out.gold.push(Number(score));
      out.s1.push(a);
      out.s2.push(b);
    }
  }
  return out;
}
/**
 * sklearn's paired cosine similarity, 1 - ||a/|a| - b/|b|||^2 / 2. Written this way (not as
 * a.b/(|a||b|)) because Spearman is sensitive to the last bit when similarities tie exactly in
 * real arithmetic, which bag-of-words vectors often do.
 */
function cosine(a: Float32Array, b: Float32Array): number {
  const na = Math.hypot(...a), nb = Math.hypot(...b);
  let d = 0;
  for (let i = 0; i < a.length; i++) d += (a[i] / na - b[i] / nb) ** 2;
  return 1 - d / 2;
}
function referenceCosineSpearman(p: { s1: string[]; s2: string[]; gold: number[] }, jitter = 0): number {
  const sims = p.s1.map((a, i) => cosine(bowVector(a, 256, jitter), bowVector(p.s2[i], 256, jitter)));
  return naivePearson(averageRanks(p.gold.map((g) => g / 5)), averageRanks(sims));
}

describe('eval/sts: STS evaluation and result files', function () {
  this.timeout(60000);
  let out: string;
  beforeEach(() => {
    out = mkdtempSync(join(tmpdir(), 'embedrank-sts-'));
  });
  afterEach(() => rmSync(out, { recursive: true, force: true }));

  it('computes cosine (sklearn), -manhattan, -euclidean and the model similarity in float64', () => {
    const s = stsSimilarities([Float32Array.of(1, 0), Float32Array.of(3, 4), Float32Array.of(0, 0)], [Float32Array.of(0, 1), Float32Array.of(3, 4), Float32Array.of(1, 0)], 'cosine');
    expect(Array.from(s.cosine)).to.deep.equal([1 - 0.5 * 2, 1, 0.5]); // sklearn keeps zero rows at zero: 1 - 0.5*|0 - e1|^2
    expect(Array.from(s.manhattan)).to.deep.equal([-2, -0, -1]);
    expect(s.euclidean[0]).to.equal(-Math.SQRT2);
    expect(s.model[2]).to.equal(0); // torch normalize(eps): zero vector -> similarity 0
    const dot = stsSimilarities([Float32Array.of(1, 2)], [Float32Array.of(3, 4)], 'dot');
    expect(dot.model[0]).to.equal(11);
  });

  it('evaluates STS12 from SemEval files, writes an mteb TaskResult, and only-missing skips it next time', async () => {
    const model = new BowEncoder();
    await evaluate(model, ['STS12'], { dataDir: STS_FIXTURE, outputFolder: out, warnings: false });
    const file = join(out, 'test-org__bow-encoder', 'rev1', 'STS12.json');
    expect(existsSync(file)).to.equal(true);
    expect(existsSync(join(out, 'test-org__bow-encoder', 'rev1', 'model_meta.json'))).to.equal(true);
    expect(existsSync(join(out, 'test-org__bow-encoder', 'rev1', 'run_settings.jsonl'))).to.equal(true);

    // two encode calls (sentence1, sentence2), symmetric task: no prompt type
    expect(model.calls).to.have.length(2);
    for (const c of model.calls) {
      expect(c.opts?.promptType).to.equal(undefined);
      expect(c.opts?.taskName).to.equal('STS12');
      expect(c.opts?.taskType).to.equal('STS');
    }

    const text = readFileSync(file, 'utf8');
    const json = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(json)).to.deep.equal(['dataset_revision', 'task_name', 'mteb_version', 'scores', 'evaluation_time', 'kg_co2_emissions', 'date', 'evaluation_phases', 'notes']);
    expect(json.dataset_revision).to.equal('a0d554a64d88156834ff5ae9920b964011b16384');
    expect(json.task_name).to.equal('STS12');
    expect(json.kg_co2_emissions).to.equal(null);
    const entry = (json.scores as Record<string, Array<Record<string, unknown>>>).test[0];
    expect(Object.keys(entry)).to.deep.equal([
      'pearson', 'spearman', 'cosine_pearson', 'cosine_spearman', 'manhattan_pearson', 'manhattan_spearman',
      'euclidean_pearson', 'euclidean_spearman', 'main_score', 'hf_subset', 'languages', 'mteb_version',
    ]);
    expect(entry.hf_subset).to.equal('default');
    expect(entry.languages).to.deep.equal(['eng-Latn']);
    expect(entry.main_score).to.equal(entry.cosine_spearman);
    expect(entry.pearson).to.equal(entry.cosine_pearson); // the model's similarity is cosine
    expect(text).to.match(/\n {2}"task_name": "STS12",\n/); // Python json.dump(indent=2) layout

    const ref = referenceCosineSpearman(readSemEvalPairs(join(STS_FIXTURE, '2012'), ['MSRpar.test.tsv', 'SMTeuroparl.test.tsv', 'OnWN.test.tsv', 'SMTnews.test.tsv']));
    // bag-of-words similarities tie exactly in real arithmetic; float64 rounding breaks such ties
    // differently in different formulas, hence a loose bound here and an exact check below
    expect(entry.cosine_spearman as number).to.be.closeTo(ref, 1e-3);
    const files2012 = ['MSRpar.test.tsv', 'SMTeuroparl.test.tsv', 'OnWN.test.tsv', 'SMTnews.test.tsv'];
    const jit = new BowEncoder('cosine', 'test-org/jitter', 'r', 256, 1e-3);
    const rj = await evaluate(jit, ['STS12'], { dataDir: STS_FIXTURE, outputFolder: null, warnings: false });
    expect(rj.task_results[0].scores.test[0].cosine_spearman as number).to.be.closeTo(referenceCosineSpearman(readSemEvalPairs(join(STS_FIXTURE, '2012'), files2012), 1e-3), 1e-12);

    const notes = json.notes as string[];
    expect(notes.join('\n')).to.match(/missing MSRvid/).and.match(/4 of 5 sources/);

    // resumed run: nothing to do, nothing encoded
    const again = new BowEncoder();
    const res2 = await evaluate(again, ['STS12'], { dataDir: STS_FIXTURE, outputFolder: out, warnings: false });
    expect(again.calls).to.have.length(0);
    expect(res2.task_results[0].scores.test[0].main_score).to.equal(entry.main_score);
    expect(readFileSync(file, 'utf8')).to.equal(text);

    // "never" also skips; "always" recomputes
    const never = new BowEncoder();
    await evaluate(never, ['STS12'], { dataDir: STS_FIXTURE, outputFolder: out, overwriteStrategy: 'never', warnings: false });
    expect(never.calls).to.have.length(0);
    const always = new BowEncoder();
    await evaluate(always, ['STS12'], { dataDir: STS_FIXTURE, outputFolder: out, overwriteStrategy: 'always', warnings: false });
    expect(always.calls).to.have.length(2);
  });

  it('only-cache fails without results; results of a model without revision go to no_revision_available', async () => {
    const model = new BowEncoder('cosine', 'org/model name', null);
    try {
      await evaluate(model, ['STS12'], { dataDir: STS_FIXTURE, outputFolder: out, overwriteStrategy: 'only-cache', warnings: false });
      expect.fail('should have thrown');
    } catch (e) {
      expect(e).to.be.instanceOf(CacheError);
      expect((e as Error).message).to.match(/only-cache/);
    }
    await evaluate(model, ['STS12'], { dataDir: STS_FIXTURE, outputFolder: out, warnings: false });
    expect(readdirSync(join(out, 'org__model_name'))).to.deep.equal(['no_revision_available']);
    expect(taskResultPath(out, model.meta, 'STS12')).to.equal(join(out, 'org__model_name', 'no_revision_available', 'STS12.json'));
  });

  it('reads SICK-R from SICK_test_annotated.txt and reports the missing train/trial files', async () => {
    const model = new BowEncoder();
    const notes: string[] = [];
    const r = await evaluate(model, ['SICK-R'], { dataDir: STS_FIXTURE, outputFolder: null, warnings: false, onEvent: (e) => e.type === 'note' && notes.push(e.message) });
    expect(model.calls[0].texts).to.have.length(30);
    expect(notes.join('\n')).to.match(/missing SICK_train\.txt, SICK_trial\.txt/);
    expect(r.task_results[0].scores.test[0].main_score).to.be.a('number');
  });

  it('skips unscored pairs (empty gold score) in SemEval files', async () => {
    const model = new BowEncoder();
    await evaluate(model, ['STS16'], { dataDir: STS_FIXTURE, outputFolder: null, warnings: false });
    const scored = readFileSync(join(STS_FIXTURE, '2016', 'headlines.test.tsv'), 'utf8').split('\n').filter((l) => l.split('\t')[0].trim() !== '' && l.trim() !== '');
    expect(model.calls[0].texts).to.have.length(scored.length);
  });

  it('writes after every subset, so an interrupted multi-subset task (STS17) resumes where it stopped', async () => {
    class FailingEncoder extends BowEncoder {
      override async encode(texts: string[], opts?: Parameters<BowEncoder['encode']>[1]): Promise<Float32Array[]> {
        if (this.calls.length >= 4) throw new Error('simulated crash');
        return super.encode(texts, opts);
      }
    }
    const dataDir = HF_FIXTURES;
    const first = new FailingEncoder();
    let failed = false;
    try {
      await evaluate(first, ['STS17'], { dataDir, outputFolder: out, warnings: false });
    } catch (e) {
      failed = /simulated crash/.test((e as Error).message);
    }
    expect(failed).to.equal(true);
    const path = join(out, 'test-org__bow-encoder', 'rev1', 'STS17.json');
    const partial = readTaskResult(path);
    expect(partial.scores.test.map((s) => s.hf_subset)).to.deep.equal(['ko-ko', 'ar-ar']); // two subsets done (4 encode calls)

    const second = new BowEncoder();
    const res = await evaluate(second, ['STS17'], { dataDir, outputFolder: out, warnings: false });
    expect(second.calls).to.have.length(2 * 9); // only the 9 missing subsets
    const subsets = res.task_results[0].scores.test.map((s) => s.hf_subset);
    expect(subsets).to.deep.equal(Object.keys(getTask('STS17').evalLangs));
    const enDe = res.task_results[0].scores.test.find((s) => s.hf_subset === 'en-de')!;
    expect(enDe.languages).to.deep.equal(['eng-Latn', 'deu-Latn']);
  });

  it('only-missing evaluates again when the data source differs from the one the results were computed from (another --data-dir); the same folder spelled otherwise does not', async () => {
    const a = join(out, 'data-a');
    const b = join(out, 'data-b');
    cpSync(STS_FIXTURE, a, { recursive: true });
    cpSync(STS_FIXTURE, b, { recursive: true });
    const msr = join(b, '2012', 'MSRpar.test.tsv');
    const lines = readFileSync(msr, 'utf8').split('\n').filter(Boolean);
    writeFileSync(msr, lines.slice(0, lines.length >> 1).join('\n') + '\n');
    const results = join(out, 'results');
    const model = new BowEncoder();
    const notes: string[] = [];
    const onEvent = (e: { type: string; message?: string }) => e.type === 'note' && notes.push(e.message!);
    const ra = await evaluate(model, ['STS12'], { dataDir: a, outputFolder: results, warnings: false });
    expect(model.calls).to.have.length(2);
    // The same folder, spelled relative and with a trailing separator: kept.
    await evaluate(model, ['STS12'], { dataDir: relative(process.cwd(), a) + '/', outputFolder: results, warnings: false, onEvent });
    expect(model.calls, 'same data, other spelling: skipped').to.have.length(2);
    expect(notes).to.deep.equal([]);
    // Other data: evaluated again, with a warning, and the file now holds the new score.
    const rb = await evaluate(model, ['STS12'], { dataDir: b, outputFolder: results, warnings: false, onEvent });
    expect(model.calls, 'other data: evaluated again').to.have.length(4);
    expect(notes.join('\n')).to.match(/data source differs/).and.contain(a).and.contain(b);
    const fresh = await evaluate(new BowEncoder(), ['STS12'], { dataDir: b, outputFolder: null, warnings: false });
    const score = (r: typeof ra) => r.task_results[0].scores.test[0].main_score;
    expect(score(rb)).to.equal(score(fresh));
    expect(score(rb)).to.not.equal(score(ra));
    expect(readTaskResult(taskResultPath(results, model.meta, 'STS12')).scores.test[0].main_score).to.be.closeTo(score(fresh), 1e-6);
    // "never" keeps what is there, and says the source differs.
    notes.length = 0;
    await evaluate(model, ['STS12'], { dataDir: a, outputFolder: results, warnings: false, onEvent, overwriteStrategy: 'never' });
    expect(model.calls).to.have.length(4);
    expect(notes.join('\n')).to.match(/differs from this run's .*keeps it/);
  });

  it('re-evaluates a partial result whose dataset revision differs (not mergeable)', async () => {
    const model = new BowEncoder();
    await evaluate(model, ['STS17'], { dataDir: HF_FIXTURES, outputFolder: out, warnings: false });
    const path = join(out, 'test-org__bow-encoder', 'rev1', 'STS17.json');
    const r = JSON.parse(readFileSync(path, 'utf8').replace(/NaN/g, 'null')) as { dataset_revision: string; scores: { test: unknown[] } };
    r.dataset_revision = 'some-other-revision';
    r.scores.test = r.scores.test.slice(0, 3);
    writeFileSync(path, JSON.stringify(r));
    const again = new BowEncoder();
    await evaluate(again, ['STS17'], { dataDir: HF_FIXTURES, outputFolder: out, warnings: false });
    expect(again.calls).to.have.length(22);
    expect(readTaskResult(path).dataset_revision).to.equal(getTask('STS17').dataset.revision);
  });

  const real = existsSync(REAL_STS) ? it : it.skip;
  real('end to end on the SemEval releases in /work/shared/data/sts: STS12-STS16 and SICK-R, with a report of missing sources', async () => {
    const model = new BowEncoder();
    const notes: string[] = [];
    const res = await evaluate(model, ['STS12', 'STS13', 'STS14', 'STS15', 'STS16', 'SICK-R'], {
      dataDir: REAL_STS,
      outputFolder: out,
      warnings: false,
      onEvent: (e) => e.type === 'note' && notes.push(e.message),
    });
    const all = notes.join('\n');
    // /work/shared/data/README.md: all 5 STS12 subsets (MSRvid added), 3108 pairs as mteb/sts12-sts
    expect(all).to.match(/STS12: read 5 of 5 sources .*MSRpar 750, MSRvid 750, SMTeuroparl 459, OnWN 750, SMTnews 399; 3108 pairs/);
    expect(all).to.not.match(/STS12: missing/);
    expect(all).to.match(/STS13: read 3 of 3 sources .*1500 pairs/);
    expect(all).to.match(/STS14: read 6 of 6 sources .*3750 pairs/);
    expect(all).to.match(/STS15: read 5 of 5 sources .*3000 pairs/);
    expect(all).to.match(/STS16: read 5 of 5 sources .*1186 pairs/);
    expect(all).to.match(/SICK-R: missing SICK_train\.txt, SICK_trial\.txt/);
    expect(res.task_results.map((r) => r.task_name)).to.deep.equal(['STS12', 'STS13', 'STS14', 'STS15', 'STS16', 'SICK-R']);
    for (const r of res.task_results) expect(existsSync(join(out, 'test-org__bow-encoder', 'rev1', `${r.task_name}.json`))).to.equal(true);

    const ref = referenceCosineSpearman(readSemEvalPairs(join(REAL_STS, '2012'), ['MSRpar.test.tsv', 'MSRvid.test.tsv', 'SMTeuroparl.test.tsv', 'OnWN.test.tsv', 'SMTnews.test.tsv']));
    expect(res.task_results[0].scores.test[0].cosine_spearman as number).to.be.closeTo(ref, 1e-4); // exact ties, see above
    const jit = new BowEncoder('cosine', 'test-org/jitter', 'r', 256, 1e-3);
    const rj = await evaluate(jit, ['STS12'], { dataDir: REAL_STS, outputFolder: null, warnings: false });
    const refJ = referenceCosineSpearman(readSemEvalPairs(join(REAL_STS, '2012'), ['MSRpar.test.tsv', 'MSRvid.test.tsv', 'SMTeuroparl.test.tsv', 'OnWN.test.tsv', 'SMTnews.test.tsv']), 1e-3);
    expect(rj.task_results[0].scores.test[0].cosine_spearman as number).to.be.closeTo(refJ, 1e-12);

    const before = model.calls.length;
    await evaluate(model, ['STS12', 'STS16'], { dataDir: REAL_STS, outputFolder: out, warnings: false });
    expect(model.calls.length).to.equal(before); // only-missing: nothing recomputed
  });
});
