// The CUDA engine on folders sentence-transformers 6.0.1 saved itself (test/fixtures/hf, written
// by scripts/gpu/hf_fixtures.py), against the outputs sentence-transformers computed for them:
// embeddings (Dense and Normalize included) and cross-encoder scores, in fp32, fp16 and bf16.
// Folders of families this build does not load yet are reported as pending, not passed.
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CrossEncoder } from '../../src/cross-encoder.js';
import { Encoder } from '../../src/encoder.js';
import { loadModelFolder } from '../../src/model/folder.js';
import { WeightStore, writeSafetensors } from '../../src/model/safetensors.js';
import { makeTestModel, Rng } from '../../scripts/make-test-model.js';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { cosine } from './helpers.js';

const HF = join(process.cwd(), 'test/fixtures/hf');
const COS = { float32: 0.999999, float16: 0.9999, bfloat16: 0.999 } as const;
const ABS = { float32: 1e-5, float16: 2e-3, bfloat16: 1e-2 } as const;


describe('gpu: folders sentence-transformers saved, against its outputs', function () {
  this.timeout(600_000);
  const names = readdirSync(HF).filter((d) => existsSync(join(HF, d, 'reference.json')));
  for (const name of names) {
    const dir = join(HF, name);
    let loadable = true;
    let why = '';
    try {
      const f = loadModelFolder(dir);
      const hd = f.dims.headDim;
      // Their reference.json has another layout (ids and P(yes) rows); the CUDA decoder engine is
      // checked by test/gpu/qwen3-cuda.gpu.ts on transformers-written models of the same family.
      if (f.dims.decoder) throw new Error(`the ${f.dims.family} fixtures are checked on CUDA by qwen3-cuda.gpu.ts, on the CPU by the CPU suite`);
      // The tiny fixtures have head_dim 8; the CUDA attention kernel takes 32, 64 and 128 (the CPU
      // suite checks these folders; the generated models below check the same modules on the GPU).
      if (![32, 64, 128].includes(hd)) {
        loadable = false;
        why = `head_dim ${hd} is not one of the CUDA attention kernel's 32, 64, 128`;
      }
    } catch (e) {
      loadable = false;
      why = (e as Error).message;
    }
    for (const dtype of ['float32', 'float16', 'bfloat16'] as const) {
      it(`${name} ${dtype}`, async function () {
        if (!loadable) {
          console.log(`      ${name}: skipped on the GPU: ${why}`);
          this.skip();
        }
        const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8'));
        if (ref.texts) {
          const e = await Encoder.create({ model: dir, device: 'cuda', dtype });
          try {
            const got = await e.encode(ref.texts);
            const cos = got.map((r, i) => cosine(r, ref.embeddings[i]));
            const one = await e.encode(ref.texts.slice(0, 1));
            cos.push(cosine(one[0], ref.batch1[0]));
            const worst = Math.min(...cos);
            console.log(`      ${name} ${dtype}: worst cosine ${worst.toFixed(8)} over ${cos.length} (ragged, batch of 1, one over max length)`);
            expect(worst).to.be.at.least(COS[dtype]);
          } finally {
            await e.close();
          }
        } else {
          const ce = await CrossEncoder.create({ model: dir, device: 'cuda', dtype });
          try {
            const got = await ce.scoreMatrix(ref.pairs);
            const want = (ref.scores as Array<number | number[]>).flat();
            let worst = 0;
            for (let i = 0; i < want.length; i++) {
              if (!Number.isFinite(got[i])) throw new Error(`non-finite score ${i}`);
              worst = Math.max(worst, Math.abs(got[i] - want[i]));
            }
            console.log(`      ${name} ${dtype}: max |Δ| ${worst.toExponential(2)} over ${want.length} scores`);
            expect(worst).to.be.at.most(ABS[dtype]);
          } finally {
            await ce.close();
          }
        }
      });
    }
  }
});

describe('gpu: sentence-transformers modules on generated models the kernels take (head_dim 32)', function () {
  this.timeout(600_000);
  const work = mkdtempSync(join(tmpdir(), 'embedrank-gpu-st-'));
  after(() => rmSync(work, { recursive: true, force: true }));

  it('Dense (64→24, tanh) then Normalize: the GPU path pools without normalising, then applies them; equals the CPU engine', async () => {
    const dir = join(work, 'dense');
    makeTestModel({ shape: 'tiny', out: dir, seed: 31, pooling: 'mean', normalize: false });
    const rng = new Rng(32);
    const w = Float32Array.from({ length: 24 * 64 }, () => 0.2 * rng.normal());
    const b = Float32Array.from({ length: 24 }, () => 0.1 * rng.normal());
    mkdirSync(join(dir, '2_Dense'));
    writeFileSync(join(dir, '2_Dense', 'config.json'), JSON.stringify({ in_features: 64, out_features: 24, bias: true, activation_function: 'torch.nn.modules.activation.Tanh' }));
    writeSafetensors(join(dir, '2_Dense', 'model.safetensors'), { 'linear.weight': { dtype: 'F32', shape: [24, 64], data: w }, 'linear.bias': { dtype: 'F32', shape: [24], data: b } });
    const modules = JSON.parse(readFileSync(join(dir, 'modules.json'), 'utf8')) as Array<Record<string, unknown>>;
    modules.push({ idx: modules.length, name: String(modules.length), path: '2_Dense', type: 'sentence_transformers.models.Dense' });
    modules.push({ idx: modules.length, name: String(modules.length), path: '3_Normalize', type: 'sentence_transformers.models.Normalize' });
    writeFileSync(join(dir, 'modules.json'), JSON.stringify(modules));
    const texts = ['a', 'two words', 'a somewhat longer sentence about the weather in spring', 'x '.repeat(200)];
    const cpu = await Encoder.create({ model: dir, device: 'cpu' });
    const want = await cpu.encode(texts);
    await cpu.close();
    for (const dtype of ['float32', 'float16'] as const) {
      const gpu = await Encoder.create({ model: dir, device: 'cuda', dtype });
      try {
        expect(gpu.dim).to.equal(24);
        const got = await gpu.encode(texts);
        const worst = Math.min(...got.map((r, i) => cosine(r, want[i])));
        console.log(`      Dense on the GPU ${dtype}: worst cosine to the CPU engine ${worst.toFixed(8)}`);
        expect(worst).to.be.at.least(COS[dtype]);
      } finally {
        await gpu.close();
      }
    }
  });

  it('a 3-label cross-encoder: GPU scores [n, 3] equal the CPU engine', async () => {
    const dir = join(work, 'ce3');
    makeTestModel({ shape: 'tiny', out: dir, seed: 33, kind: 'cross-encoder' });
    const store = WeightStore.openSingle(join(dir, 'model.safetensors'));
    const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
    for (const name of store.tensors.keys()) tensors[name] = { dtype: 'F32', shape: store.info(name).shape, data: store.f32(name) };
    const rng = new Rng(34);
    const clsW = Object.keys(tensors).find((n) => n.endsWith('classifier.weight'))!;
    const clsB = Object.keys(tensors).find((n) => n.endsWith('classifier.bias'))!;
    const hidden = tensors[clsW].shape[1];
    tensors[clsW] = { dtype: 'F32', shape: [3, hidden], data: Float32Array.from({ length: 3 * hidden }, () => 0.2 * rng.normal()) };
    tensors[clsB] = { dtype: 'F32', shape: [3], data: Float32Array.from({ length: 3 }, () => 0.1 * rng.normal()) };
    const out = join(work, 'ce3b');
    cpSync(dir, out, { recursive: true });
    writeSafetensors(join(out, 'model.safetensors'), tensors);
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    cfg.num_labels = 3;
    cfg.id2label = { 0: 'a', 1: 'b', 2: 'c' };
    cfg.label2id = { a: 0, b: 1, c: 2 };
    writeFileSync(join(out, 'config.json'), JSON.stringify(cfg));
    const pairs: Array<[string, string]> = [['a query', 'a document'], ['q', 'd '.repeat(150)], ['who', 'what where when']];
    const cpu = await CrossEncoder.create({ model: out, device: 'cpu' });
    const want = await cpu.scoreMatrix(pairs);
    await cpu.close();
    const gpu = await CrossEncoder.create({ model: out, device: 'cuda', dtype: 'float32' });
    try {
      const rows = (await gpu.predict(pairs)) as Float32Array[];
      expect(rows.length).to.equal(3);
      let worst = 0;
      rows.forEach((r, i) => r.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - want[i * 3 + k])))));
      console.log(`      3-label cross-encoder on the GPU float32: max |Δ| to the CPU engine ${worst.toExponential(2)}`);
      expect(worst).to.be.at.most(1e-5);
    } finally {
      await gpu.close();
    }
  });
});
