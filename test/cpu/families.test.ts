// Every family against Hugging Face's own outputs: tiny random models written by transformers'
// save_pretrained and saved by sentence-transformers 6.0.1 (test/fixtures/hf, README there), fed
// the very token ids sentence-transformers fed them. The CPU engine and the float64 reference must
// reproduce SentenceTransformer.encode / CrossEncoder.predict (CPU fp32) to 1e-5, and each other
// to 1e-5. Pooling and normalisation are read here straight from the fixture's module files, so
// this tests the family layer and the engines, not the sentence-transformers config reader.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpuEngine } from '../../src/backends/cpu/engine.js';
import type { TokenBatch } from '../../src/backends/engine.js';
import { CrossEncoder } from '../../src/cross-encoder.js';
import { Encoder } from '../../src/encoder.js';
import { parsePyJson } from '../../src/eval/index.js';
import { resolveDtype } from '../../src/core/options.js';
import { loadModelFolder, type ModelFolder, type PoolingMode } from '../../src/model/folder.js';
import { positionIds } from '../../src/models/family.js';
import { crossEncoderLogitsF64, encoderHiddenF64, l2NormalizeF64, loadEncoderF64, poolF64 } from '../../src/reference/encoder-f64.js';
import { applyActivation, l2NormalizeRows, poolSequence } from '../../src/pooling.js';
import { Rng } from '../../scripts/make-test-model.js';
import { maxAbsDiff, runSeed, SMALL, testModel } from './helpers.js';

const HF = 'test/fixtures/hf';
const TOL = 1e-5;

interface StReference {
  texts: string[];
  input_ids: number[][];
  embeddings: number[][];
  batch1: number[][];
}
interface CeReference {
  pairs: [string, string][];
  input_ids: number[][];
  logits: Array<number[] | number>;
  scores: number[][] | number[];
}

const json = <T>(f: string): T => JSON.parse(readFileSync(f, 'utf8')) as T;

/** Pooling mode and Normalize straight from modules.json / 1_Pooling/config.json. */
function stModules(dir: string): { pooling: PoolingMode; normalize: boolean; dense: boolean } {
  const mods = json<Array<{ path: string; type: string }>>(join(dir, 'modules.json'));
  const pool = mods.find((m) => /Pooling$/.test(m.type));
  const cfg = json<{ pooling_mode?: string }>(join(dir, pool!.path, 'config.json'));
  const mode = cfg.pooling_mode === 'cls' ? 'cls' : cfg.pooling_mode === 'lasttoken' ? 'last' : 'mean';
  return { pooling: mode, normalize: mods.some((m) => /Normalize$/.test(m.type)), dense: mods.some((m) => /Dense$/.test(m.type)) };
}

function batchOf(seqs: number[][], types?: number[][]): TokenBatch {
  const cu = [0];
  for (const s of seqs) cu.push(cu[cu.length - 1] + s.length);
  return {
    ids: Int32Array.from(seqs.flat()),
    typeIds: types ? Int32Array.from(types.flat()) : undefined,
    cuSeqlens: Int32Array.from(cu),
  };
}

const ENCODERS = [
  ['xlmr-st', 'xlm-roberta'],
  ['roberta-st', 'roberta'],
  ['distilbert-st', 'distilbert'],
] as const;
const RERANKERS = [
  ['xlmr-ce', 'xlm-roberta'],
  ['roberta-ce', 'roberta'],
  ['distilbert-ce', 'distilbert'],
  ['bert-ce3', 'bert'],
] as const;

const worst = new Map<string, number>();
const note = (k: string, v: number) => worst.set(k, Math.max(worst.get(k) ?? 0, v));

describe('cpu/families: every family vs sentence-transformers outputs (test/fixtures/hf)', function () {
  this.timeout(120_000);
  const engines: CpuEngine[] = [];
  after(async () => {
    for (const e of engines) await e.close();
    const rows = [...worst].map(([k, v]) => `      ${k.padEnd(44)} ${v.toExponential(2)}`);
    if (rows.length) process.stdout.write(`    worst |Δ| vs sentence-transformers:\n${rows.join('\n')}\n`);
  });

  for (const [name, family] of ENCODERS) {
    const dir = join(HF, name);
    it(`${name}: ${family} encoder — CPU engine and float64 reference = SentenceTransformer.encode (≤ ${TOL})`, async function () {
      if (!existsSync(dir)) this.skip();
      const folder = loadModelFolder(dir);
      expect(folder.family.name).to.equal(family);
      expect(folder.kind).to.equal('encoder');
      const ref = json<StReference>(join(dir, 'reference.json'));
      const st = stModules(dir);
      expect(st.dense).to.equal(false);
      const H = folder.dims.hidden;
      const engine = await CpuEngine.create(folder);
      engines.push(engine);
      // Ragged: every text of the fixture in one batch (lengths 2..40, one at max_seq_length).
      const batch = batchOf(ref.input_ids);
      const hidden = await engine.lastHiddenState(batch);
      const pooled = new Float32Array(ref.input_ids.length * H);
      ref.input_ids.forEach((ids, i) => poolSequence(hidden, batch.cuSeqlens[i], ids.length, H, st.pooling, pooled, i * H));
      if (st.normalize) l2NormalizeRows(pooled, H);
      const f64 = loadEncoderF64(folder);
      ref.input_ids.forEach((ids, i) => {
        const want = ref.embeddings[i];
        expect(want.length).to.equal(H);
        const eEngine = maxAbsDiff(pooled, want, i * H, 0);
        const h = encoderHiddenF64(f64, ids);
        let r = poolF64(h, ids.length, H, st.pooling);
        if (st.normalize) r = l2NormalizeF64(r);
        const eRef = maxAbsDiff(r, want);
        const eCross = maxAbsDiff(pooled, r, i * H, 0);
        note(`${name} CPU engine`, eEngine);
        note(`${name} float64 reference`, eRef);
        expect(eEngine, `text ${i} (${ids.length} tokens): CPU engine vs sentence-transformers`).to.be.at.most(TOL);
        expect(eRef, `text ${i}: float64 reference vs sentence-transformers`).to.be.at.most(TOL);
        expect(eCross, `text ${i}: CPU engine vs float64 reference`).to.be.at.most(TOL);
      });
      // Batch of one: the first text alone (sentence-transformers' batch1 output).
      const one = await engine.lastHiddenState(batchOf([ref.input_ids[0]]));
      const p1 = new Float32Array(H);
      poolSequence(one, 0, ref.input_ids[0].length, H, st.pooling, p1, 0);
      if (st.normalize) l2NormalizeRows(p1, H);
      expect(maxAbsDiff(p1, ref.batch1[0]), 'batch of one').to.be.at.most(TOL);
    });
  }

  for (const [name, family] of RERANKERS) {
    const dir = join(HF, name);
    it(`${name}: ${family} sequence classification — CPU engine and float64 reference = CrossEncoder logits (≤ ${TOL})`, async function () {
      if (!existsSync(dir)) this.skip();
      const folder = loadModelFolder(dir);
      expect(folder.family.name).to.equal(family);
      expect(folder.kind).to.equal('cross-encoder');
      const ref = json<CeReference>(join(dir, 'reference.json'));
      // No token types: sentence-transformers 6.0.1's CrossEncoder.predict gave bert-ce3 all-zero
      // token_type_ids (its logits match zeros to 3e-8 and segment ids 0/1 by only 2e-2), so the
      // batch carries none, which the engines read as zeros.
      const engine = await CpuEngine.create(folder);
      engines.push(engine);
      const L = folder.numLabels;
      const raw = await engine.score(batchOf(ref.input_ids), 'identity');
      expect(raw.length).to.equal(ref.input_ids.length * L);
      const f64 = loadEncoderF64(folder);
      ref.input_ids.forEach((ids, i) => {
        const want = [ref.logits[i]].flat(); // one label: a bare number per pair
        expect(want.length).to.equal(L);
        const r = crossEncoderLogitsF64(f64, ids);
        const eEngine = maxAbsDiff(raw, want, i * L, 0);
        const eRef = maxAbsDiff(r, want);
        note(`${name} CPU engine logits`, eEngine);
        note(`${name} float64 reference logits`, eRef);
        expect(eEngine, `pair ${i}: CPU engine vs CrossEncoder logits`).to.be.at.most(TOL);
        expect(eRef, `pair ${i}: float64 reference vs CrossEncoder logits`).to.be.at.most(TOL);
        expect(maxAbsDiff(raw, r, i * L, 0), `pair ${i}: CPU engine vs float64 reference`).to.be.at.most(TOL);
      });
      if (L === 1) {
        // CrossEncoder.predict's default activation for one label is the sigmoid.
        const scores = applyActivation(raw.slice(), 'sigmoid');
        const want = (ref.scores as unknown[]).flat() as number[];
        expect(maxAbsDiff(scores, want)).to.be.at.most(TOL);
      }
    });
  }

  it('RoBERTa / XLM-R positions start at padding_idx + 1 and a pad token keeps padding_idx, as transformers', () => {
    const folder = loadModelFolder(join(HF, 'xlmr-st'));
    const d = folder.dims;
    expect([d.paddingIdx, d.positionOffset, d.typeVocab, folder.maxLength <= d.maxPositions - 2]).to.deep.equal([1, 2, 1, true]);
    const ids = Int32Array.from([0, 5, 6, 2, 0, 7, 1, 8, 2]);
    expect(Array.from(positionIds(d, ids, Int32Array.from([0, 4, 9])))).to.deep.equal([2, 3, 4, 5, 2, 3, 1, 4, 5]);
    const distil = loadModelFolder(join(HF, 'distilbert-st')).dims;
    expect([distil.typeVocab, distil.positionOffset, distil.paddingIdx]).to.deep.equal([0, 0, undefined]);
    expect(Array.from(positionIds(distil, Int32Array.from([2, 9, 3]), Int32Array.from([0, 3])))).to.deep.equal([0, 1, 2]);
  });

  it('a pad token inside an XLM-R sequence: engine, float64 reference and the rule agree', async () => {
    const folder = loadModelFolder(join(HF, 'xlmr-st'));
    const engine = await CpuEngine.create(folder);
    engines.push(engine);
    const ids = [0, 40, 366, 1, 279, 51, 2];
    const h = await engine.lastHiddenState(batchOf([ids, [0, 40, 2]]));
    const r = encoderHiddenF64(loadEncoderF64(folder), ids);
    expect(maxAbsDiff(h, r, 0, 0)).to.be.at.most(TOL);
  });
});

describe('cpu/families: end to end from raw text (tokenizer, sentence-transformers reader, engine)', function () {
  this.timeout(120_000);
  for (const [name] of ENCODERS) {
    it(`${name}: Encoder.encode = SentenceTransformer.encode (≤ ${TOL})`, async () => {
      const dir = join(HF, name);
      const ref = json<StReference>(join(dir, 'reference.json'));
      const enc = await Encoder.create({ model: dir, device: 'cpu' });
      try {
        const rows = await enc.encode(ref.texts);
        rows.forEach((r, i) => expect(maxAbsDiff(r, ref.embeddings[i]), `text ${i}`).to.be.at.most(TOL));
      } finally {
        await enc.close();
      }
    });
  }
  for (const [name] of RERANKERS.filter(([n]) => n !== 'bert-ce3')) {
    it(`${name}: CrossEncoder.predict = sentence-transformers' CrossEncoder.predict (≤ ${TOL})`, async () => {
      const dir = join(HF, name);
      const ref = json<CeReference>(join(dir, 'reference.json'));
      const ce = await CrossEncoder.create({ model: dir, device: 'cpu' });
      try {
        const got = (await ce.predict(ref.pairs)) as Float32Array;
        expect(maxAbsDiff(got, (ref.scores as unknown[]).flat() as number[])).to.be.at.most(TOL);
      } finally {
        await ce.close();
      }
    });
  }

  it('`embedrank evaluate` runs STS12 with the XLM-R encoder and AskUbuntuDupQuestions with the XLM-R reranker', () => {
    const out = mkdtempSync(join(tmpdir(), 'embedrank-families-cli-'));
    try {
      const bin = join(process.cwd(), 'dist/src/cli/main.js');
      const run = (args: string[]) => spawnSync(process.execPath, [bin, 'evaluate', ...args, '-o', out, '--device', 'cpu'], { encoding: 'utf8', env: { ...process.env, HF_HUB_OFFLINE: '1', EMBEDRANK_DISABLE_CUDA: '1' } });
      const sts = run(['-m', join(HF, 'xlmr-st'), '-t', 'STS12', '--data-dir', 'test/fixtures/eval/sts']);
      expect(sts.status, sts.stderr).to.equal(0);
      const rr = run(['-m', join(HF, 'xlmr-ce'), '-t', 'AskUbuntuDupQuestions', '--data-dir', 'test/fixtures/eval/hf']);
      expect(rr.status, rr.stderr).to.equal(0);
      const score = (model: string, task: string) => {
        // <out>/<model name>/<revision>/<task>.json, as mteb lays results out; the name and revision
        // folders are the result layer's business, so find the file under the model's folder.
        const files = (readdirSync(out, { recursive: true }) as string[]).filter((f) => f.includes(model) && f.endsWith(`${task}.json`));
        expect(files, `${task} result of ${model} under ${out}`).to.have.length(1);
        // mteb's result files may hold NaN (Python's json), hence parsePyJson.
        const j = parsePyJson(readFileSync(join(out, files[0]), 'utf8')) as { scores: { test: Array<{ main_score: number }> } };
        return j.scores.test[0].main_score;
      };
      const s = score('xlmr-st', 'STS12');
      const m = score('xlmr-ce', 'AskUbuntuDupQuestions');
      expect(Number.isFinite(s) && Math.abs(s) <= 1, `STS12 cosine_spearman ${s}`).to.equal(true);
      expect(m > 0 && m <= 1, `AskUbuntuDupQuestions map_at_1000 ${m}`).to.equal(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('cpu/families: generated models of every family (scripts/make-test-model.ts) vs the float64 reference', function () {
  this.timeout(180_000);
  for (const family of ['bert', 'roberta', 'xlm-roberta', 'distilbert'] as const) {
    for (const kind of ['encoder', 'cross-encoder'] as const) {
      it(`${family} ${kind}: ragged batch (1, a few, some, max length tokens), CPU engine ≤ 1e-4 from float64`, async () => {
        const seed = runSeed();
        const dir = testModel(`fam-${family}-${kind}`, { shape: SMALL, family, kind, pooling: 'mean', normalize: true, seed: 11 });
        const folder = loadModelFolder(dir);
        expect(folder.family.name).to.equal(family);
        expect(folder.kind).to.equal(kind);
        expect(folder.maxLength).to.equal(SMALL.maxPositions);
        const rng = new Rng(seed);
        const lens = [1, 2 + Math.floor(rng.uniform() * 6), 8 + Math.floor(rng.uniform() * 100), folder.maxLength];
        // Ids avoid the pad id so the sequences look like tokenizer output; the pad rule is tested above.
        const seqs = lens.map((l) => Array.from({ length: l }, () => 3 + Math.floor(rng.uniform() * (folder.dims.vocab - 3))));
        const engine = await CpuEngine.create(folder);
        const f64 = loadEncoderF64(folder);
        const ctx = `seed=${seed} (EMBEDRANK_TEST_SEED=${seed}) lens=[${lens}]`;
        try {
          if (kind === 'encoder') {
            const H = folder.dims.hidden;
            const h = await engine.lastHiddenState(batchOf(seqs));
            let off = 0;
            for (const s of seqs) {
              const e = maxAbsDiff(h, encoderHiddenF64(f64, s), off * H, 0);
              note(`generated ${family} hidden`, e);
              expect(e, ctx).to.be.at.most(1e-4);
              off += s.length;
            }
          } else {
            const z = await engine.score(batchOf(seqs), 'identity');
            seqs.forEach((s, i) => {
              const e = Math.abs(z[i] - crossEncoderLogitsF64(f64, s)[0]);
              note(`generated ${family} logits`, e);
              expect(e, ctx).to.be.at.most(1e-4);
            });
          }
        } finally {
          await engine.close();
        }
      });
    }
  }
});

describe("cpu/families: dtype 'auto' on the GPU as vLLM's for pooling models", () => {
  it('config dtype float32 → float16, bfloat16 stays, gemma-like → bfloat16; the CPU computes float32', () => {
    const folder = loadModelFolder(join(HF, 'xlmr-st'));
    expect(folder.config.dtype).to.equal('float32');
    const withDtype = (dtype: unknown, storedDtype = 'F32'): ModelFolder => ({ ...folder, config: { ...folder.config, dtype }, storedDtype });
    expect(resolveDtype('auto', folder, 'cuda')).to.equal('float16');
    expect(resolveDtype(undefined, withDtype('bfloat16'), 'cuda')).to.equal('bfloat16');
    expect(resolveDtype(undefined, withDtype('float16'), 'cuda')).to.equal('float16');
    // Without a declared dtype the stored weights decide (transformers 4 "torch_dtype" also counts).
    expect(resolveDtype(undefined, withDtype(undefined, 'BF16'), 'cuda')).to.equal('bfloat16');
    expect(resolveDtype(undefined, { ...withDtype(undefined), config: { ...folder.config, dtype: undefined, torch_dtype: 'bfloat16' } }, 'cuda')).to.equal('bfloat16');
    expect(resolveDtype(undefined, { ...folder, dims: { ...folder.dims, modelType: 'gemma2' } }, 'cuda')).to.equal('bfloat16');
    expect(resolveDtype('auto', withDtype('bfloat16'), 'cpu')).to.equal('float32');
  });
});
