import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Rng } from '../../scripts/make-test-model.js';
import { CpuEngine } from '../../src/backends/cpu/engine.js';
import {
  buildBertGraph,
  exportBertOnnx,
  EXTERNAL_DATA_THRESHOLD,
  needsExternalData,
  writeBertOnnx,
  writeOnnxToModelFolder,
} from '../../src/backends/cpu/export-bert.js';
import type { TokenBatch } from '../../src/backends/engine.js';
import { InputError, UnsupportedOptionError } from '../../src/errors.js';
import { loadModelFolder, type ModelFolder } from '../../src/model/folder.js';
import { parseBertConfig, type BertWeights } from '../../src/models/bert.js';
import { bertHiddenF64, crossEncoderLogitsF64, embedF64, loadBertF64, type BertF64 } from '../../src/reference/bert-f64.js';
import { cosine, maxAbsDiff, randomSequence, recordError, runSeed, SMALL, testModel, toBatch, worstErrors, type Sequence } from './helpers.js';

const TOL = 1e-4;

interface Loaded {
  folder: ModelFolder;
  ref: BertF64;
  engine: CpuEngine;
}

const engines: CpuEngine[] = [];
async function load(dir: string, opts: Parameters<typeof CpuEngine.create>[1] = {}): Promise<Loaded> {
  const folder = loadModelFolder(dir);
  const engine = await CpuEngine.create(folder, opts);
  engines.push(engine);
  return { folder, ref: loadBertF64(folder), engine };
}

/** Last hidden states and embeddings of a random ragged batch vs the float64 reference. */
async function checkEncoder(m: Loaded, lens: number[], seed: number, label: string, poolSkip?: number[]): Promise<void> {
  const rng = new Rng(seed);
  const d = m.folder.dims;
  const seqs = lens.map((l) => randomSequence(rng, l, d.vocab));
  const batch = toBatch(seqs, poolSkip);
  const hidden = await m.engine.lastHiddenState(batch);
  const emb = await m.engine.embed(batch);
  const ctx = `${label} seed=${seed} lens=[${lens}] (rerun with EMBEDRANK_TEST_SEED=${seed})`;
  for (let i = 0; i < seqs.length; i++) {
    const s = seqs[i];
    const refH = bertHiddenF64(m.ref, s.ids, s.typeIds);
    const eh = maxAbsDiff(hidden, refH, batch.cuSeqlens[i] * d.hidden, 0);
    recordError(`${label} hidden`, eh);
    expect(eh, `hidden state error, sequence ${i}, ${ctx}`).to.be.at.most(TOL);
    const refE = embedF64(m.ref, s.ids, s.typeIds, m.folder.st.pooling, m.folder.st.normalize, poolSkip?.[i] ?? 0);
    const ee = maxAbsDiff(emb, refE, i * d.hidden, 0);
    recordError(`${label} embedding`, ee);
    expect(ee, `embedding error, sequence ${i}, ${ctx}`).to.be.at.most(TOL);
  }
}

function ragged(rng: Rng, max: number): number[] {
  const few = 2 + Math.floor(rng.uniform() * 6);
  const mid = 8 + Math.floor(rng.uniform() * (max - 16));
  return [1, few, mid, max];
}

after(async () => {
  for (const e of engines) await e.close();
  if (worstErrors.size) {
    const rows = [...worstErrors].map(([k, v]) => `      ${k.padEnd(36)} ${v.toExponential(2)}`);
    process.stdout.write(`    worst |engine − float64 reference|:\n${rows.join('\n')}\n`);
  }
});

describe('cpu/engine: CpuEngine vs the float64 reference', function () {
  this.timeout(120_000);
  let tiny: Loaded;
  let small: Loaded;
  before(async () => {
    tiny = await load(testModel('tiny-mean-norm', { shape: 'tiny', pooling: 'mean', normalize: true }));
    small = await load(testModel('small-mean', { shape: SMALL, pooling: 'mean', normalize: false, seed: 77 }));
  });

  it('exports in memory and only exposes the CPU provider', () => {
    expect(tiny.engine.source).to.equal('export-memory');
    expect(tiny.engine.name).to.equal('cpu-onnxruntime');
  });

  it('tiny model, ragged batch (1, a few, some, 128 tokens), mean pooling + normalise', async () => {
    const seed = runSeed();
    await checkEncoder(tiny, ragged(new Rng(seed), 128), seed, 'tiny');
  });

  it('hidden 128 model, ragged batch up to 128 tokens, mean pooling without normalise', async () => {
    const seed = runSeed();
    await checkEncoder(small, ragged(new Rng(seed), 128), seed, 'small');
  });

  it('batch of one (length 1 and length 128)', async () => {
    const seed = runSeed();
    await checkEncoder(tiny, [1], seed, 'tiny');
    await checkEncoder(small, [128], seed + 1, 'small');
  });

  it('mean pooling honours poolSkip (prompt tokens excluded)', async () => {
    const seed = runSeed();
    await checkEncoder(tiny, [9, 6, 3], seed, 'tiny poolSkip', [4, 0, 2]);
  });

  for (const pooling of ['cls', 'last'] as const) {
    it(`${pooling} pooling`, async () => {
      const m = await load(testModel(`tiny-${pooling}`, { shape: 'tiny', pooling, normalize: pooling === 'cls', seed: 5 }));
      expect(m.folder.st.pooling).to.equal(pooling);
      const seed = runSeed();
      await checkEncoder(m, ragged(new Rng(seed), 100), seed, `tiny ${pooling}`);
    });
  }

  it('padding within a batch does not change a sequence’s results', async () => {
    const seed = runSeed();
    const rng = new Rng(seed);
    const d = small.folder.dims;
    const short = randomSequence(rng, 5, d.vocab);
    const long = randomSequence(rng, 120, d.vocab);
    const alone = await small.engine.embed(toBatch([short]));
    const padded = await small.engine.embed(toBatch([long, short, short]));
    const aloneH = await small.engine.lastHiddenState(toBatch([short]));
    const paddedH = await small.engine.lastHiddenState(toBatch([short, long]));
    const ctx = `seed=${seed}`;
    expect(maxAbsDiff(padded, alone, d.hidden, 0, d.hidden), ctx).to.be.at.most(1e-5);
    expect(maxAbsDiff(padded, alone, 2 * d.hidden, 0, d.hidden), ctx).to.be.at.most(1e-5);
    expect(maxAbsDiff(paddedH, aloneH, 0, 0, 5 * d.hidden), ctx).to.be.at.most(1e-5);
  });

  it('minilm-l6-shaped model (hidden 384, 6 layers, 12 heads), 2 sequences', async function () {
    this.timeout(300_000);
    const m = await load(testModel('minilm-l6', { shape: 'minilm-l6', pooling: 'mean', normalize: true, seed: 9 }));
    const seed = runSeed();
    await checkEncoder(m, [3, 48], seed, 'minilm-l6');
  });
});

describe('cpu/engine: cross-encoder', function () {
  this.timeout(120_000);
  let ce: Loaded;
  before(async () => {
    ce = await load(testModel('tiny-ce', { shape: 'tiny', kind: 'cross-encoder', seed: 11 }));
  });

  it('scores (sigmoid and identity) match the reference on a ragged batch of pairs', async () => {
    const seed = runSeed();
    const rng = new Rng(seed);
    const seqs: Sequence[] = ragged(rng, 128).map((l) => randomSequence(rng, l, ce.folder.dims.vocab, true));
    const batch = toBatch(seqs);
    expect(ce.folder.activation).to.equal('sigmoid');
    const sig = await ce.engine.score(batch, 'sigmoid');
    const raw = await ce.engine.score(batch, 'identity');
    expect(sig.length).to.equal(seqs.length * ce.folder.numLabels);
    seqs.forEach((s, i) => {
      const z = crossEncoderLogitsF64(ce.ref, s.ids, s.typeIds)[0];
      const ctx = `sequence ${i} seed=${seed}`;
      recordError('cross-encoder logit', Math.abs(raw[i] - z));
      expect(Math.abs(raw[i] - z), ctx).to.be.at.most(TOL);
      expect(Math.abs(sig[i] - 1 / (1 + Math.exp(-z))), ctx).to.be.at.most(TOL);
    });
  });

  it('padding does not change a pair’s score', async () => {
    const rng = new Rng(runSeed());
    const a = randomSequence(rng, 7, ce.folder.dims.vocab, true);
    const b = randomSequence(rng, 90, ce.folder.dims.vocab, true);
    const alone = await ce.engine.score(toBatch([a]), 'identity');
    const padded = await ce.engine.score(toBatch([b, a]), 'identity');
    expect(Math.abs(alone[0] - padded[1])).to.be.at.most(1e-5);
  });

  it('embed() on a cross-encoder and score() on an encoder are refused', async () => {
    const enc = await load(testModel('tiny-mean-norm', { shape: 'tiny', pooling: 'mean', normalize: true }));
    const batch = toBatch([{ ids: [101, 2000, 102], typeIds: [0, 0, 0] }]);
    await expectReject(ce.engine.embed(batch), UnsupportedOptionError, /cross-encoder.*score\(\)/);
    await expectReject(enc.engine.score(batch, 'sigmoid'), UnsupportedOptionError, /not a cross-encoder/);
  });
});

describe('cpu/engine: stored dtypes and checkpoint layouts', function () {
  this.timeout(120_000);
  const cases: Array<[string, Parameters<typeof testModel>[1]]> = [
    ['F16 weights', { shape: 'tiny', dtype: 'F16', seed: 21 }],
    ['BF16 weights', { shape: 'tiny', dtype: 'BF16', seed: 22 }],
    ['3 safetensors shards', { shape: 'tiny', shards: 3, seed: 23 }],
    ['"bert." prefixed names', { shape: 'tiny', prefixed: true, seed: 24 }],
    ['BF16 cross-encoder in 2 shards', { shape: 'tiny', dtype: 'BF16', shards: 2, kind: 'cross-encoder', seed: 25 }],
  ];
  for (const [label, opts] of cases) {
    it(`${label} load and match the reference`, async () => {
      const name = `tiny-${(opts.dtype ?? 'F32').toLowerCase()}-s${opts.shards ?? 1}-${opts.prefixed ? 'p' : 'n'}-${opts.kind ?? 'encoder'}`;
      const m = await load(testModel(name, opts));
      expect(m.folder.storedDtype).to.equal(opts.dtype ?? 'F32');
      const seed = runSeed();
      if (opts.kind === 'cross-encoder') {
        const rng = new Rng(seed);
        const seqs = [1, 6, 40].map((l) => randomSequence(rng, l, m.folder.dims.vocab, true));
        const raw = await m.engine.score(toBatch(seqs), 'identity');
        seqs.forEach((s, i) => expect(Math.abs(raw[i] - crossEncoderLogitsF64(m.ref, s.ids, s.typeIds)[0]), `seed=${seed}`).to.be.at.most(TOL));
      } else {
        await checkEncoder(m, [1, 4, 37], seed, label);
      }
    });
  }
});

describe('cpu/engine: external data (the >2 GiB path) on a small model', function () {
  this.timeout(120_000);

  it('an engine built through external data gives the same results as the in-memory export', async () => {
    const dir = testModel('tiny-ce', { shape: 'tiny', kind: 'cross-encoder', seed: 11 });
    const before = new Set(readdirSync(tmpdir()).filter((f) => f.startsWith('embedrank-onnx-')));
    const ext = await load(dir, { externalData: true });
    const mem = await load(dir, { externalData: false });
    expect(ext.engine.source).to.equal('export-external');
    // The temporary model files are gone once the session holds the weights (POSIX).
    if (process.platform !== 'win32') {
      const after = readdirSync(tmpdir()).filter((f) => f.startsWith('embedrank-onnx-') && !before.has(f));
      expect(after).to.deep.equal([]);
    }
    const rng = new Rng(runSeed());
    const batch = toBatch([randomSequence(rng, 30, 30522, true), randomSequence(rng, 3, 30522, true)]);
    const a = await ext.engine.score(batch, 'identity');
    const b = await mem.engine.score(batch, 'identity');
    expect(maxAbsDiff(a, b)).to.be.at.most(1e-6);
  });

  it('writeBertOnnx with externalData writes a small graph file plus an aligned side file', async () => {
    const folder = loadModelFolder(testModel('tiny-mean-norm', { shape: 'tiny', pooling: 'mean', normalize: true }));
    const out = mkdtempSync(join(tmpdir(), 'embedrank-test-ext-'));
    try {
      const w = writeBertOnnx(folder, join(out, 'model.onnx'), { externalData: true });
      expect(w.dataFile).to.equal(join(out, 'model.onnx_data'));
      const graphBytes = statSync(w.modelFile).size;
      const weightBytes = buildBertGraph(folder).weightBytes;
      expect(graphBytes).to.be.below(200_000);
      expect(statSync(w.dataFile!).size).to.be.at.least(weightBytes);
      const session = await ort.InferenceSession.create(w.modelFile);
      const n = 4;
      const t = (v: bigint[]) => new ort.Tensor('int64', BigInt64Array.from(v), [1, n]);
      const res = await session.run({
        input_ids: t([101n, 2023n, 2003n, 102n]),
        attention_mask: t([1n, 1n, 1n, 1n]),
        token_type_ids: t([0n, 0n, 0n, 0n]),
      });
      const ref = bertHiddenF64(loadBertF64(folder), [101, 2023, 2003, 102]);
      expect(maxAbsDiff(res.last_hidden_state.data as Float32Array, ref)).to.be.at.most(TOL);
      await session.release();
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('"auto" picks external data for models over protobuf’s limit (xlmr-large-sized, not materialised)', () => {
    const dims = parseBertConfig(
      { model_type: 'bert', hidden_size: 1024, num_attention_heads: 16, num_hidden_layers: 24, intermediate_size: 4096, vocab_size: 250002, max_position_embeddings: 514, type_vocab_size: 1 },
      'config.json',
    );
    const fakeWeights = { has: () => false, f32: () => { throw new Error('not materialised'); } } as unknown as BertWeights;
    const src = { dims, weights: fakeWeights, kind: 'encoder' as const, numLabels: 0 };
    expect(buildBertGraph(src).weightBytes).to.be.above(EXTERNAL_DATA_THRESHOLD);
    expect(needsExternalData(src)).to.equal(true);
    const tinyDims = parseBertConfig({ hidden_size: 64, num_attention_heads: 2, num_hidden_layers: 2, intermediate_size: 128, vocab_size: 30522 }, 'config.json');
    expect(needsExternalData({ ...src, dims: tinyDims })).to.equal(false);
  });
});

async function expectReject(p: Promise<unknown>, cls: new (...a: never[]) => Error, re: RegExp): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a rejection').to.be.instanceOf(cls);
  expect((err as Error).message).to.match(re);
}

describe('cpu/engine: broken inputs give clear errors', function () {
  this.timeout(60_000);
  let m: Loaded;
  before(async () => {
    m = await load(testModel('tiny-mean-norm', { shape: 'tiny', pooling: 'mean', normalize: true }));
  });
  const ok = (): TokenBatch => toBatch([{ ids: [101, 2000, 102], typeIds: [0, 0, 0] }, { ids: [101, 102], typeIds: [0, 0] }]);

  it('empty batch', async () => {
    const empty: TokenBatch = { ids: new Int32Array(0), typeIds: new Int32Array(0), cuSeqlens: Int32Array.from([0]) };
    await expectReject(m.engine.embed(empty), InputError, /empty batch/);
    await expectReject(m.engine.embed({ ...empty, cuSeqlens: new Int32Array(0) }), InputError, /empty batch/);
  });

  it('inconsistent cuSeqlens', async () => {
    await expectReject(m.engine.embed({ ...ok(), cuSeqlens: Int32Array.from([0, 3, 6]) }), InputError, /inconsistent batch/);
    await expectReject(m.engine.embed({ ...ok(), cuSeqlens: Int32Array.from([1, 3, 5]) }), InputError, /inconsistent batch/);
    await expectReject(m.engine.embed({ ...ok(), cuSeqlens: Int32Array.from([0, 0, 5]) }), InputError, /sequence 0 is empty/);
    await expectReject(m.engine.embed({ ...ok(), typeIds: new Int32Array(4) }), InputError, /type ids/);
  });

  it('ids outside the vocabulary, bad type ids, too long, bad poolSkip', async () => {
    const b = ok();
    b.ids[1] = 30522;
    await expectReject(m.engine.embed(b), InputError, /outside the vocabulary/);
    const c = ok();
    c.typeIds[0] = 2;
    await expectReject(m.engine.embed(c), InputError, /type id 2/);
    const long = toBatch([{ ids: new Array(129).fill(1000), typeIds: new Array(129).fill(0) }]);
    await expectReject(m.engine.embed(long), InputError, /129 tokens/);
    await expectReject(m.engine.embed({ ...ok(), poolSkip: Int32Array.from([0]) }), InputError, /poolSkip/);
  });

  it('a closed engine refuses work', async () => {
    const e = await CpuEngine.create(m.folder);
    await e.close();
    await e.close(); // idempotent
    let err: unknown;
    try {
      await e.embed(ok());
    } catch (x) {
      err = x;
    }
    expect(String(err)).to.match(/closed/);
  });

  it('the results of a good batch are still right after the refusals', async () => {
    const emb = await m.engine.embed(ok());
    const want = embedF64(m.ref, [101, 2000, 102], [0, 0, 0], 'mean', true);
    expect(cosine(emb, want, 0, 0)).to.be.above(0.999999);
  });
});

describe('cpu/engine: threading options', function () {
  this.timeout(60_000);
  it('intraOpThreads 1 gives the same numbers as the default pool (to fp32 rounding)', async () => {
    const dir = testModel('tiny-mean-norm', { shape: 'tiny', pooling: 'mean', normalize: true });
    const one = await load(dir, { intraOpThreads: 1, graphOptimizationLevel: 'disabled' });
    const dflt = await load(dir);
    const rng = new Rng(runSeed());
    const batch = toBatch([randomSequence(rng, 64, 30522), randomSequence(rng, 17, 30522)]);
    expect(maxAbsDiff(await one.engine.embed(batch), await dflt.engine.embed(batch))).to.be.at.most(1e-5);
    let err: unknown;
    try {
      await CpuEngine.create(one.folder, { intraOpThreads: -1 });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(InputError);
    expect(existsSync(dir)).to.equal(true);
  });
});

describe('cpu/engine: ONNX files and module loading', function () {
  this.timeout(60_000);

  it('onnx/model.onnx runs only when asked for by path (onnxFile); by default a stale one is ignored for model.safetensors', async () => {
    const work = mkdtempSync(join(tmpdir(), 'embedrank-test-onnxdir-'));
    try {
      const dir = join(work, 'ce');
      cpSync(testModel('tiny-ce', { shape: 'tiny', kind: 'cross-encoder', seed: 11 }), dir, { recursive: true });
      // A stale export: the ONNX file of another model (other seed) left in the folder.
      const stale = join(work, 'stale');
      cpSync(testModel('tiny-ce-other', { shape: 'tiny', kind: 'cross-encoder', seed: 12 }), stale, { recursive: true });
      writeOnnxToModelFolder(loadModelFolder(stale));
      cpSync(join(stale, 'onnx'), join(dir, 'onnx'), { recursive: true });
      const byDefault = await load(dir);
      expect(byDefault.engine.source).to.equal('export-memory');
      const seed0 = runSeed();
      const probe = [randomSequence(new Rng(seed0), 20, byDefault.folder.dims.vocab, true)];
      const fromWeights = await byDefault.engine.score(toBatch(probe), 'identity');
      expect(Math.abs(fromWeights[0] - crossEncoderLogitsF64(byDefault.ref, probe[0].ids, probe[0].typeIds)[0]), `seed=${seed0}`).to.be.at.most(TOL);
      const staleRun = await load(dir, { onnxFile: byDefault.folder.onnxFile });
      expect(staleRun.engine.source).to.equal('folder');
      expect(Math.abs((await staleRun.engine.score(toBatch(probe), 'identity'))[0] - fromWeights[0]), 'the stale file is another model').to.be.greaterThan(1e-3);

      writeOnnxToModelFolder(loadModelFolder(dir));
      const m = await load(dir, { onnxFile: join(dir, 'onnx', 'model.onnx') });
      expect(m.engine.source).to.equal('folder');
      const seed = runSeed();
      const rng = new Rng(seed);
      const seqs = [4, 33].map((l) => randomSequence(rng, l, m.folder.dims.vocab, true));
      const raw = await m.engine.score(toBatch(seqs), 'identity');
      seqs.forEach((s, i) => expect(Math.abs(raw[i] - crossEncoderLogitsF64(m.ref, s.ids, s.typeIds)[0]), `seed=${seed}`).to.be.at.most(TOL));
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('the fused-QKV export variant computes the same function', async () => {
    const folder = loadModelFolder(testModel('small-mean', { shape: SMALL, pooling: 'mean', normalize: false, seed: 77 }));
    const a = await ort.InferenceSession.create(exportBertOnnx(folder));
    const b = await ort.InferenceSession.create(exportBertOnnx(folder, { fuseQkv: true }));
    const rng = new Rng(runSeed());
    const s = randomSequence(rng, 40, folder.dims.vocab, true);
    const t = (v: number[]) => new ort.Tensor('int64', BigInt64Array.from(v, BigInt), [1, v.length]);
    const feeds = { input_ids: t(s.ids), attention_mask: t(s.ids.map(() => 1)), token_type_ids: t(s.typeIds) };
    const ya = (await a.run(feeds)).last_hidden_state.data as Float32Array;
    const yb = (await b.run(feeds)).last_hidden_state.data as Float32Array;
    expect(maxAbsDiff(ya, yb)).to.be.at.most(1e-5);
    await a.release();
    await b.release();
  });

  it('importing the CPU backend does not load onnxruntime until an engine is created', function () {
    if (process.platform !== 'linux') this.skip();
    const here = new URL('.', import.meta.url).pathname;
    const engineJs = join(here, '../../src/backends/cpu/engine.js');
    const exportJs = join(here, '../../src/backends/cpu/export-bert.js');
    const folderJs = join(here, '../../src/model/folder.js');
    const dir = testModel('tiny-mean-norm', { shape: 'tiny', pooling: 'mean', normalize: true });
    const script = `
      import { readFileSync } from 'node:fs';
      const ortLoaded = () => readFileSync('/proc/self/maps', 'utf8').includes('onnxruntime');
      const { CpuEngine } = await import(${JSON.stringify(engineJs)});
      await import(${JSON.stringify(exportJs)});
      const { loadModelFolder } = await import(${JSON.stringify(folderJs)});
      const before = ortLoaded();
      const e = await CpuEngine.create(loadModelFolder(${JSON.stringify(dir)}));
      const after = ortLoaded();
      await e.close();
      console.log(JSON.stringify({ before, after }));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(JSON.parse(out.trim().split('\n').pop()!)).to.deep.equal({ before: false, after: true });
  });
});
