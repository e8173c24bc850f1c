// --save-predictions and two-stage reranking (mteb's prediction_folder and convert_to_reranking):
// a bi-encoder's saved top documents become the candidates a cross-encoder reranks.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluate } from '../../src/eval/evaluate.js';
import { loadPreviousResults } from '../../src/eval/predictions.js';
import { parsePyJson } from '../../src/eval/results.js';
import { getTask } from '../../src/eval/tasks.js';
import { BowEncoder, OverlapCrossEncoder } from './helpers/fakes.js';
import { writeMiniature } from './helpers/miniatures.js';

describe('eval/predictions: saved predictions and two-stage reranking', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'embedrank-2stage-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a bi-encoder run saves its top documents; a cross-encoder reranks the top k of them', async () => {
    const data = join(dir, 'data');
    const task = getTask('SciFact');
    writeMiniature(data, task, 3);
    const preds = join(dir, 'preds');
    const first = await evaluate(new BowEncoder('cosine', 'test-org/bow-encoder', 'rev1', 64), task, { dataDir: data, outputFolder: join(dir, 'res'), predictionFolder: preds, warnings: false });
    const file = parsePyJson(readFileSync(join(preds, 'SciFact_predictions.json'), 'utf8')) as Record<string, Record<string, Record<string, Record<string, number>>>>;
    expect(file.mteb_model_meta).to.deep.equal({ model_name: 'test-org/bow-encoder', revision: 'rev1' });
    const run = file.default.test;
    expect(Object.keys(run)).to.have.length(10);
    expect(Object.keys(run.q0)).to.have.length(40); // every document (fewer than 1000)

    const ce = new OverlapCrossEncoder();
    const second = await evaluate(ce, task, { dataDir: data, outputFolder: join(dir, 'res'), previousResults: preds, previousResultsTopK: 5, warnings: false });
    const pairs = ce.calls.flatMap((c) => c.pairs);
    expect(pairs).to.have.length(10 * 5);
    // the candidates of q0 are the bi-encoder's best 5
    const best5 = Object.entries(run.q0).sort((a, b) => b[1] - a[1]).slice(0, 5).map(([id]) => id);
    expect(loadPreviousResults(preds, 'SciFact', 5).topRanked.get('default')!.get('test')!.get('q0')).to.deep.equal(best5);
    const entry = second.task_results[0].scores.test[0];
    expect(entry.previous_results_model_meta).to.deep.equal({ model_name: 'test-org/bow-encoder', revision: 'rev1' });
    expect(Number(entry.main_score)).to.be.within(0, 1);
    expect(first.task_results[0].scores.test[0]).to.not.have.property('previous_results_model_meta');

    // only-missing: the same first stage is skipped; another top-k is another input, evaluated again with a warning.
    const notes: string[] = [];
    const onEvent = (e: { type: string; message?: string }) => e.type === 'note' && notes.push(e.message!);
    const again = new OverlapCrossEncoder();
    await evaluate(again, task, { dataDir: data, outputFolder: join(dir, 'res'), previousResults: preds, previousResultsTopK: 5, warnings: false, onEvent });
    expect(again.calls, 'same first stage: skipped').to.have.length(0);
    await evaluate(again, task, { dataDir: data, outputFolder: join(dir, 'res'), previousResults: preds, previousResultsTopK: 3, warnings: false, onEvent });
    expect(again.calls.flatMap((c) => c.pairs), 'top 3: evaluated again').to.have.length(10 * 3);
    expect(notes.join('\n')).to.match(/first stage .* differs .*top 5 of .*; now top 3 of /);
  });

  it('saves STS similarities as mteb\'s STS evaluator returns them (cosine_scores, negated distances, the model\'s own)', async () => {
    const data = join(dir, 'data');
    writeMiniature(data, getTask('BIOSSES'), 11);
    const preds = join(dir, 'preds-sts');
    const m = new BowEncoder('cosine', 'test-org/bow-encoder', 'rev1', 64);
    await evaluate(m, 'BIOSSES', { dataDir: data, outputFolder: null, predictionFolder: preds, warnings: false });
    const p = JSON.parse(readFileSync(join(preds, 'BIOSSES_predictions.json'), 'utf8'));
    const t = p.default.test as Record<string, number[]>;
    expect(Object.keys(t).sort()).to.deep.equal(['cosine_scores', 'euclidean_distances', 'manhattan_distances', 'similarity_scores']);
    const n = t.cosine_scores.length;
    expect(n).to.be.above(1);
    for (const k of Object.keys(t)) expect(t[k], k).to.have.length(n);
    t.cosine_scores.forEach((c, i) => {
      expect(c).to.be.within(-1 - 1e-9, 1 + 1e-9);
      expect(Math.abs(c - t.similarity_scores[i]), 'cosine model: its own similarity is the cosine').to.be.below(1e-6);
      expect(t.manhattan_distances[i]).to.be.at.most(0);
      expect(t.euclidean_distances[i]).to.be.at.most(0);
    });
  });

  it('saves classification labels and cluster assignments; refuses previous results for other task types and missing files', async () => {
    const data = join(dir, 'data');
    for (const [i, n] of ['Banking77Classification', 'TwentyNewsgroupsClustering.v2'].entries()) writeMiniature(data, getTask(n), i + 7);
    const preds = join(dir, 'preds');
    const m = new BowEncoder('cosine', 'test-org/bow-encoder', 'rev1', 64);
    await evaluate(m, ['Banking77Classification', 'TwentyNewsgroupsClustering.v2'], { dataDir: data, outputFolder: null, predictionFolder: preds, warnings: false });
    const cls = JSON.parse(readFileSync(join(preds, 'Banking77Classification_predictions.json'), 'utf8'));
    expect(cls.default.test).to.have.length(10);
    expect(cls.default.test[0]).to.have.length(40);
    const clu = JSON.parse(readFileSync(join(preds, 'TwentyNewsgroupsClustering.v2_predictions.json'), 'utf8'));
    expect(clu.default.test['Level 0']).to.have.length(10);
    expect(clu.default.test['Level 0'][0]).to.have.length(16384);
    await expectReject(evaluate(m, 'Banking77Classification', { dataDir: data, outputFolder: null, previousResults: preds, warnings: false }), /only turn retrieval tasks into reranking/);
    writeFileSync(join(dir, 'bad.json'), '{"x": 1}');
    await expectReject(evaluate(new OverlapCrossEncoder(), 'SciFact', { dataDir: data, outputFolder: null, previousResults: join(dir, 'bad.json'), warnings: false }), /bad\.json is not an mteb prediction file/);
    await expectReject(evaluate(new OverlapCrossEncoder(), 'ArguAna', { dataDir: data, outputFolder: null, previousResults: join(dir, 'nope'), warnings: false }), /Can't find previous results for ArguAna: .*nope.* does not exist/);
  });
});

async function expectReject(p: Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    expect((e as Error).message).to.match(re);
    return;
  }
  expect.fail(`expected a rejection matching ${re}`);
}
