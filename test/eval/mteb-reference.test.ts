// The four embedding-only evaluators against values computed independently with mteb's formulas in
// numpy / scipy / scikit-learn (scripts/gpu/mteb_reference.py) on the committed inputs
// (test/fixtures/eval/mteb-inputs). The scikit-learn parts (classification.json, clustering.json)
// are made on the GPU machine; while they are absent their tests skip with a message.
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { averageScores, classificationFromEmbeddings, undersample } from '../../src/eval/classification.js';
import { classificationScores, type ClassificationScores, type Label } from '../../src/eval/classification-metrics.js';
import { adjustedMutualInfoScore, vMeasureScore } from '../../src/eval/cluster-metrics.js';
import { clusteringFromEmbeddings, documentsToEmbed } from '../../src/eval/clustering.js';
import { LogisticRegression } from '../../src/eval/logistic-regression.js';
import { pairClassificationMetrics, pairScores } from '../../src/eval/pair-classification.js';
import { stratifiedTestIndices, trainTestSplitTestIndices } from '../../src/eval/data/load.js';
import { NumpyRandomState, PCG64, PythonRandom } from '../../src/eval/rng.js';
import { summarizationScores } from '../../src/eval/summarization.js';
import { FIXTURES } from './helpers/fixtures.js';

const INPUTS = join(FIXTURES, 'mteb-inputs');
const REFERENCE = join(FIXTURES, 'mteb-reference');
const SCRIPT = 'python3 scripts/gpu/mteb_reference.py --out test/fixtures/eval/mteb-reference';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
const input = (name: string): Json => JSON.parse(readFileSync(join(INPUTS, name), 'utf8'));
const reference = (name: string): Json | null => {
  const p = join(REFERENCE, name);
  return existsSync(p) ? JSON.parse(readFileSync(p, 'utf8').replace(/\bNaN\b/g, 'null')) : null;
};

function skipWithout(ctx: Mocha.Context, name: string): Json {
  const r = reference(name);
  if (!r) {
    console.log(`      skipped: ${join(REFERENCE, name)} is absent; it needs scikit-learn: run \`${SCRIPT}\` on the GPU machine and commit it`);
    ctx.skip();
  }
  return r;
}

describe('eval/rng: NumPy RandomState and CPython random, bit for bit', () => {
  it('RandomState(42) gives numpy\'s first 32-bit outputs', () => {
    const u = reference('classification-undersampling.json');
    const rs = new NumpyRandomState(42);
    expect(Array.from({ length: 8 }, () => rs.nextUint32())).to.deep.equal(u.mt19937_first_uint32);
  });

  it('random.Random(42): random(), sample() and the clustering draws equal CPython\'s', () => {
    const c = reference('clustering-sampling.json');
    const r = new PythonRandom(42);
    expect(Array.from({ length: 5 }, () => r.random())).to.deep.equal(c.random_first);
    expect(new PythonRandom(42).sampleRange(10, 7)).to.deep.equal(c.sample_small);
    const inp = input('clustering.json');
    const rng = new PythonRandom(42);
    const chosen = documentsToEmbed(inp.labels.length, { maxFractionOfDocumentsToEmbed: inp.max_fraction_of_documents_to_embed }, rng);
    expect(chosen).to.deep.equal(c.example_indices);
    for (const level of c.levels) {
      const n = level.valid.filter(Boolean).length;
      for (let b = 0; b < inp.n_clusters; b++) {
        const d = rng.choicesRange(n, inp.max_documents_per_cluster);
        let sum = 0;
        let wsum = 0;
        d.forEach((x, j) => {
          sum += x;
          wsum += (j + 1) * x;
        });
        expect(Array.from(d.slice(0, 64))).to.deep.equal(level.bootstrap_head[b]);
        expect(sum).to.equal(level.bootstrap_sum[b]);
        expect(wsum).to.equal(level.bootstrap_weighted_sum[b]);
      }
    }
  });
});

describe('eval/rng: numpy default_rng (SeedSequence + PCG64) as the datasets library uses it', () => {
  it('PCG64(42) outputs and train_test_split(test_size=k, seed=42) test indices equal numpy\'s', () => {
    const ref = reference('hf-train-test-split.json');
    const g = new PCG64(42);
    expect(Array.from({ length: 4 }, () => g.nextUint64().toString())).to.deep.equal(ref.pcg64_first_uint64);
    for (const c of ref.cases) {
      const t = trainTestSplitTestIndices(c.n, c.k, 42);
      expect(t.slice(0, 64)).to.deep.equal(c.head);
      expect(t.reduce((a, b) => a + b, 0)).to.equal(c.sum);
      expect(t.reduce((a, b, i) => a + (i + 1) * b, 0)).to.equal(c.weighted_sum);
    }
    expect(() => trainTestSplitTestIndices(10, 10, 42)).to.throw(/test_size=10 should be positive and smaller than the number of samples 10/);
  });

  it('the stratified train_test_split (mteb stratified_subsampling) keeps numpy\'s rows in numpy\'s order', () => {
    const ref = reference('hf-train-test-split.json');
    for (const c of ref.stratified) {
      const t = stratifiedTestIndices(c.labels, c.k, 42);
      expect(t).to.have.length(c.k);
      expect(t.slice(0, 64)).to.deep.equal(c.head);
      expect(t.reduce((a: number, b: number) => a + b, 0)).to.equal(c.sum);
      expect(t.reduce((a: number, b: number, i: number) => a + (i + 1) * b, 0)).to.equal(c.weighted_sum);
    }
    expect(() => stratifiedTestIndices(['a', 'a', 'b', 'c', 'c'], 2, 42)).to.throw(/fewer than 2 rows/);
  });
});

describe('eval/pair-classification: equals mteb on the same embeddings', () => {
  const inp = input('pairclassification.json');
  const ref = reference('pairclassification.json');

  it('every score (accuracy, f1, precision, recall, ap per similarity, and the max_*) is identical', () => {
    const m = pairClassificationMetrics(pairScores(inp.embeddings1, inp.embeddings2, inp.similarity_fn), inp.labels);
    expect(Object.keys(m)).to.deep.equal(Object.keys(ref.scores));
    for (const [k, v] of Object.entries(ref.scores)) expect(m[k], k).to.equal(v);
    expect(m.max_ap).to.be.greaterThan(0.7); // the fixture is informative, not a degenerate case
  });

  it('the pair similarities agree with mteb\'s float32 ones to float32 precision', () => {
    const s = pairScores(inp.embeddings1, inp.embeddings2, 'cosine');
    for (const name of ['cosine', 'manhattan', 'euclidean', 'dot'] as const) {
      ref.similarities[name].forEach((v: number, i: number) => expect(s[name][i], `${name}[${i}]`).to.be.closeTo(v, 1e-5 * Math.max(1, Math.abs(v))));
    }
  });
});

describe('eval/summarization: equals mteb on the same embeddings', () => {
  it('skips the same texts and gives the same correlations (float32 similarities: within 1e-7)', () => {
    const inp = input('summarization.json');
    const ref = reference('summarization.json');
    const r = summarizationScores(
      inp.texts.map((t: Json) => t.human),
      inp.texts.map((t: Json) => t.machine),
      inp.texts.map((t: Json) => t.relevance),
      inp.similarity_fn,
      inp.min_score,
      inp.max_score,
    );
    expect(r.skipped).to.deep.equal(ref.skipped_texts);
    r.cosineMax.forEach((row, t) => row.forEach((v, j) => expect(v).to.be.closeTo(ref.cosine_max_scores[t][j], 1e-6)));
    for (const [k, v] of Object.entries(ref.scores) as Array<[string, number]>) {
      expect((r as unknown as Record<string, number>)[k], k).to.be.closeTo(v, 1e-7);
    }
  });
});

describe('eval/classification: mteb\'s undersampling and scikit-learn\'s scores', () => {
  const inp = input('classification.json');

  it('undersampling selects exactly the rows mteb selects in each of the 10 experiments', () => {
    const u = reference('classification-undersampling.json');
    for (const name of ['multiclass', 'binary']) {
      const t = inp[name];
      expect(undersample(t.train.labels, t.n_experiments, t.samples_per_label, 42)).to.deep.equal(u[name].selected);
    }
    expect(undersample(u.long.labels, 3, u.long.samples_per_label, 42)).to.deep.equal(u.long.selected);
  });

  it('accuracy / f1 / precision / recall / ap equal scikit-learn on fixed predictions', function () {
    const ref = skipWithout(this, 'classification.json');
    for (const c of ref.metrics) {
      const s = classificationScores(c.y_true, c.y_pred);
      for (const [k, v] of Object.entries(c.scores) as Array<[keyof ClassificationScores, number | null]>) {
        if (v === null) expect(s[k], k).to.equal(null);
        else expect(s[k] as number, k).to.be.closeTo(v, 1e-12);
      }
    }
  });

  it('logistic regression reaches scikit-learn\'s converged optimum', function () {
    const ref = skipWithout(this, 'classification.json');
    for (const name of ['multiclass', 'binary']) {
      const t = inp[name];
      for (const e of ref[name].experiments) {
        const clf = new LogisticRegression({ maxIter: 10000, tol: 1e-10 }).fit(
          e.selected.map((i: number) => t.train.embeddings[i]),
          e.selected.map((i: number) => t.train.labels[i]),
        );
        clf.coef.forEach((row, r) => row.forEach((w, k) => expect(w).to.be.closeTo(e.coef_converged[r][k], 1e-4 * Math.max(1, Math.abs(e.coef_converged[r][k])))));
        expect(clf.predict(t.test.embeddings)).to.deep.equal(e.predictions_converged);
      }
    }
  });

  it('the main score (mean accuracy of 10 experiments) is within 0.005 of mteb + scikit-learn', function () {
    const ref = skipWithout(this, 'classification.json');
    for (const name of ['multiclass', 'binary']) {
      const t = inp[name];
      const r = classificationFromEmbeddings(t.train.embeddings, t.train.labels as Label[], t.test.embeddings, t.test.labels, { samplesPerLabel: t.samples_per_label, nExperiments: t.n_experiments });
      let agree = 0, total = 0;
      r.predictions.forEach((p, e) => p.forEach((y, i) => ((total += 1), (agree += y === ref[name].experiments[e].predictions[i] ? 1 : 0))));
      console.log(`      ${name}: accuracy ${r.metrics.accuracy.toFixed(6)} vs sklearn ${ref[name].scores.accuracy.toFixed(6)} (|diff| ${Math.abs(r.metrics.accuracy - ref[name].scores.accuracy).toExponential(2)}); predictions agree ${agree}/${total}`);
      expect(Math.abs(r.metrics.accuracy - ref[name].scores.accuracy)).to.be.at.most(0.005);
      expect(Math.abs(r.metrics.f1 - ref[name].scores.f1)).to.be.at.most(0.01);
    }
  });

  it('averages scores as mteb does (ap only for binary tasks, NaN when never defined)', () => {
    const s: ClassificationScores = { accuracy: 0.5, f1: 0.25, f1_weighted: 0.5, precision: 0.5, precision_weighted: 0.5, recall: 0.5, recall_weighted: 0.5, ap: null, ap_weighted: null };
    const avg = averageScores([s, { ...s, accuracy: 1 }]);
    expect(avg.accuracy).to.equal(0.75);
    expect(avg.ap).to.be.NaN;
    expect(avg.scores_per_experiment).to.have.length(2);
  });
});

describe('eval/clustering: scikit-learn\'s MiniBatchKMeans, v_measure and AMI', () => {
  it('v_measure and AMI equal scikit-learn on fixed label pairs', function () {
    const ref = skipWithout(this, 'clustering.json');
    for (const c of ref.metrics) {
      expect(vMeasureScore(c.labels_true, c.labels_pred)).to.be.closeTo(c.v_measure, 1e-12);
      expect(adjustedMutualInfoScore(c.labels_true, c.labels_pred)).to.be.closeTo(c.ami, 1e-9);
    }
  });

  it('the main score (mean v_measure over levels and bootstraps) is within 0.005 of mteb + scikit-learn', function () {
    this.timeout(300_000);
    const ref = skipWithout(this, 'clustering.json');
    const inp = input('clustering.json');
    const rng = new PythonRandom(42);
    const chosen = documentsToEmbed(inp.labels.length, { maxFractionOfDocumentsToEmbed: inp.max_fraction_of_documents_to_embed }, rng);
    const r = clusteringFromEmbeddings(
      chosen.map((i) => inp.embeddings[i]),
      chosen.map((i) => inp.labels[i]),
      { maxDocumentsPerCluster: inp.max_documents_per_cluster, nClusters: inp.n_clusters, kMeansBatchSize: inp.k_mean_batch_size },
      rng,
    );
    console.log(`      v_measure ${r.metrics.v_measure.toFixed(6)} vs sklearn ${ref.scores.v_measure.toFixed(6)}; ami ${r.metrics.ami.toFixed(6)} vs ${ref.scores.ami.toFixed(6)}`);
    expect(Math.abs(r.metrics.v_measure - ref.scores.v_measure)).to.be.at.most(0.005);
    expect(Math.abs(r.metrics.ami - ref.scores.ami)).to.be.at.most(0.01);
    expect(Object.keys(r.metrics.v_measures)).to.deep.equal(Object.keys(ref.scores.v_measures));
  });
});
