// `quantization: 'fp8'` without a GPU: the option's validation and refusals (resolveQuantization),
// and its way from the command line through the runtime, the worker thread and CudaEngine to the
// addon's config key (a stand-in addon records the config in a file, since the model is made in
// a worker thread of a child process). What the FP8 kernels compute is test/gpu/fp8.gpu.ts's job.
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveQuantization, validateEngineOptions, type GpuCapability } from '../../src/core/options.js';
import { InputError, UnsupportedOptionError } from '../../src/errors.js';
import { loadModelFolder, type ModelFolder } from '../../src/model/folder.js';
import { e4m3Code, e4m3Value, fakeQuantizeRowsE4m3 } from '../../src/reference/fp8-e4m3.js';
import { embedF64, encoderHiddenF64, encoderLayerF64, loadEncoderF64 } from '../../src/reference/encoder-f64.js';
import { encodeOnStandIn, recordingAddonSource, testModel } from './helpers.js';

/** A folder as resolveQuantization reads it: its path and dims. */
function folderWith(dims: Record<string, unknown>): ModelFolder {
  return { dir: '/models/x', dims: { family: 'bert', hidden: 768, heads: 12, headDim: 64, intermediate: 3072, ...dims } } as unknown as ModelFolder;
}

const H200: GpuCapability = { device: 0, name: 'NVIDIA H200', computeCapability: '9.0', totalMemory: 143771 * 2 ** 20 };

function refusal(fn: () => unknown, ...patterns: RegExp[]): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a refusal').to.be.instanceOf(UnsupportedOptionError);
  for (const p of patterns) expect((err as Error).message).to.match(p);
}

describe('cpu/quantization: the fp8 option, its refusals and its plumbing', function () {
  this.timeout(120_000);
  const saved = process.env.EMBEDRANK_EXPERIMENTAL_FP8;
  before(() => {
    process.env.EMBEDRANK_EXPERIMENTAL_FP8 = '1';
  });
  after(() => {
    if (saved === undefined) delete process.env.EMBEDRANK_EXPERIMENTAL_FP8;
    else process.env.EMBEDRANK_EXPERIMENTAL_FP8 = saved;
  });

  it('is refused as experimental unless EMBEDRANK_EXPERIMENTAL_FP8=1', () => {
    delete process.env.EMBEDRANK_EXPERIMENTAL_FP8;
    try {
      expect(() => resolveQuantization('fp8', folderWith({}), 'cuda', 'float16', 1, [H200])).to.throw(UnsupportedOptionError, /experimental.*EMBEDRANK_EXPERIMENTAL_FP8=1/);
      expect(resolveQuantization(undefined, folderWith({}), 'cuda', 'float16', 1, [H200])).to.equal(undefined);
    } finally {
      process.env.EMBEDRANK_EXPERIMENTAL_FP8 = '1';
    }
  });

  describe('validateEngineOptions', () => {
    it('accepts "fp8" or nothing; anything else is an InputError naming the option', () => {
      expect(() => validateEngineOptions({ model: 'm', quantization: 'fp8' })).to.not.throw();
      expect(() => validateEngineOptions({ model: 'm' })).to.not.throw();
      for (const bad of ['int8', 'FP8', 'fp8_e5m2', '', 1, null]) {
        expect(() => validateEngineOptions({ model: 'm', quantization: bad as never }), String(bad)).to.throw(InputError, /options\.quantization must be "fp8"/);
      }
    });
  });

  describe('resolveQuantization', () => {
    it('none stays none, whatever the device', () => {
      expect(resolveQuantization(undefined, folderWith({}), 'cpu', 'float32', 1, [])).to.equal(undefined);
    });

    it('fp8 on a BERT-base-shaped encoder, fp16 or bf16, on a Hopper or Ada GPU (and newer)', () => {
      for (const dtype of ['float16', 'bfloat16'] as const) {
        for (const cc of ['8.9', '9.0', '10.0', '12.0']) {
          expect(resolveQuantization('fp8', folderWith({}), 'cuda', dtype, 1, [{ ...H200, computeCapability: cc }])).to.equal('fp8');
        }
      }
    });

    it('refuses decoders, the CPU engine (with the reason CUDA is missing), float32, and GPUs below 8.9', () => {
      refusal(() => resolveQuantization('fp8', folderWith({ family: 'qwen3', decoder: { kvHeads: 8 } }), 'cuda', 'float16', 1, [H200]), /encoder models/, /qwen3 decoder/);
      refusal(() => resolveQuantization('fp8', folderWith({}), 'cpu', 'float32', 1, [], 'no CUDA device visible'), /needs device "cuda"/, /no CUDA device visible/);
      refusal(() => resolveQuantization('fp8', folderWith({}), 'cuda', 'float32', 1, [H200]), /float16 or bfloat16/, /got float32/);
      refusal(
        () => resolveQuantization('fp8', folderWith({}), 'cuda', 'float16', 2, [H200, { device: 1, name: 'NVIDIA A100-SXM4-80GB', computeCapability: '8.0', totalMemory: 81920 * 2 ** 20 }]),
        /compute capability 8\.9/,
        /GPU 1 \(NVIDIA A100-SXM4-80GB\) has 8\.0/,
      );
      refusal(() => resolveQuantization('fp8', folderWith({}), 'cuda', 'bfloat16', 1, [{ ...H200, computeCapability: '8.6' }]), /has 8\.6/);
    });

    it('refuses GEMM widths that are not multiples of 16, per tensor-parallel rank', () => {
      refusal(() => resolveQuantization('fp8', folderWith({ hidden: 776 }), 'cuda', 'float16', 1, [H200]), /multiples of 16/, /hidden size is 776/);
      // 12 heads of 64 over 8 GPUs: 96 per GPU passes; intermediate 3072 / 8 = 384 passes; 3 heads of 40 over 1 GPU: 120 fails
      expect(resolveQuantization('fp8', folderWith({}), 'cuda', 'float16', 4, [H200])).to.equal('fp8');
      refusal(() => resolveQuantization('fp8', folderWith({ heads: 3, headDim: 40, hidden: 128, intermediate: 512 }), 'cuda', 'float16', 1, [H200]), /attention width per GPU is 120/);
      refusal(() => resolveQuantization('fp8', folderWith({ intermediate: 3080 }), 'cuda', 'float16', 2, [H200, H200]), /intermediate size per GPU is 1540/);
    });
  });

  describe('reference/fp8-e4m3: the quantisation rule the GPU suite checks the kernels against', () => {
    it('codes 0..126 are increasing e4m3 values up to 448; every finite code round-trips; 0x7f / 0xff are NaN', () => {
      expect(e4m3Value(126)).to.equal(448);
      expect(e4m3Value(1)).to.equal(2 ** -9); // smallest subnormal
      expect(e4m3Value(8)).to.equal(2 ** -6); // smallest normal
      expect(e4m3Value(0x7f)).to.be.NaN;
      expect(e4m3Value(0xff)).to.be.NaN;
      for (let c = 0; c < 255; c++) {
        if (c === 0x7f || c === 0x80) continue;
        if (c > 0 && c < 127) expect(e4m3Value(c)).to.be.greaterThan(e4m3Value(c - 1));
        expect(e4m3Code(e4m3Value(c)), `code ${c}`).to.equal(c);
      }
    });

    it('rounds to nearest, ties to the even code, keeps the sign of zero, saturates at ±448', () => {
      expect(e4m3Code(1.0625)).to.equal(56); // between 1 (56) and 1.125 (57): even
      expect(e4m3Code(1.1875)).to.equal(58); // between 1.125 (57) and 1.25 (58): even
      expect(e4m3Code(1.07)).to.equal(57);
      expect(e4m3Code(2 ** -10)).to.equal(0); // half the smallest subnormal: tie to 0
      expect(e4m3Code(-(2 ** -11))).to.equal(0x80);
      expect(e4m3Code(449)).to.equal(126);
      expect(e4m3Code(-1e9)).to.equal(0x80 | 126);
      expect(e4m3Code(NaN)).to.equal(0x7f);
    });

    it('fake-quantised rows: the row maximum maps to ±448 · scale exactly; relative error at most 1/16 in the normal range', () => {
      const x = Float64Array.from({ length: 4 * 96 }, (_, i) => Math.sin(i * 1.7) * 10 ** ((i % 7) - 3));
      const y = fakeQuantizeRowsE4m3(x, 4, 96);
      for (let r = 0; r < 4; r++) {
        const row = Array.from(x.subarray(r * 96, (r + 1) * 96));
        const amax = Math.max(...row.map(Math.abs));
        const i = row.findIndex((v) => Math.abs(v) === amax);
        expect(Math.abs(y[r * 96 + i] - row[i]) / amax).to.be.below(1e-6);
        row.forEach((v, k) => {
          if (Math.abs(v) >= (amax / 448) * 2 ** -6) expect(Math.abs(y[r * 96 + k] - v) / Math.abs(v)).to.be.at.most(1 / 16 + 1e-6);
        });
      }
      expect(Array.from(fakeQuantizeRowsE4m3(new Float64Array(8), 1, 8))).to.deep.equal(new Array(8).fill(0));
    });

    it('the float64 encoder with fp8 emulated stays close to, and differs from, the exact one (tiny model)', () => {
      const folder = loadModelFolder(testModel('tiny-mean', { shape: 'tiny', pooling: 'mean' }));
      const exact = loadEncoderF64(folder);
      const fp8 = loadEncoderF64(folder, { fp8: true });
      for (const ids of [[101, 2000, 3000, 102], [101, ...Array.from({ length: 60 }, (_, i) => 1000 + i * 37), 102]]) {
        const a = embedF64(exact, ids, undefined, 'mean', true);
        const b = embedF64(fp8, ids, undefined, 'mean', true);
        let dot = 0;
        a.forEach((v, i) => (dot += v * b[i]));
        expect(dot).to.be.below(1 - 1e-7);
        expect(dot).to.be.above(0.99);
        expect(encoderHiddenF64(fp8, ids).every(Number.isFinite)).to.equal(true);
      }
    });

    it('encoderLayerF64: one layer from given hidden states, as the GPU suite runs it per layer; bad sizes refused', () => {
      const folder = loadModelFolder(testModel('tiny-mean', { shape: 'tiny', pooling: 'mean' }));
      const exact = loadEncoderF64(folder);
      const fp8 = loadEncoderF64(folder, { fp8: true });
      const ids = [101, 2000, 3000, 4000, 102];
      const H = folder.dims.hidden;
      // The states after the last layer but one, then the last layer alone: the whole model's output.
      const before = encoderHiddenF64({ ...exact, layers: exact.layers.slice(0, -1) }, ids);
      const last = exact.layers[exact.layers.length - 1];
      const kept = before.slice();
      const out = encoderLayerF64(exact, last, before, ids.length);
      expect(Array.from(before), 'input untouched').to.deep.equal(Array.from(kept));
      const whole = encoderHiddenF64(exact, ids);
      out.forEach((v, i) => expect(Math.abs(v - whole[i]), `[${i}]`).to.be.below(1e-12));
      // fp8: a layer of the scheme moves the output, but not far (cosine per token)
      const q = encoderLayerF64(fp8, fp8.layers[fp8.layers.length - 1], before, ids.length);
      for (let t = 0; t < ids.length; t++) {
        let ab = 0, aa = 0, bb = 0;
        for (let d = t * H; d < (t + 1) * H; d++) { ab += q[d] * out[d]; aa += q[d] * q[d]; bb += out[d] * out[d]; }
        expect(ab / Math.sqrt(aa * bb)).to.be.within(0.99, 1 - 1e-9);
      }
      expect(() => encoderLayerF64(exact, last, before.subarray(H), ids.length)).to.throw(/hidden states of .* for 5 tokens/);
    });
  });

  describe('command line → runtime → worker → CudaEngine → addon config (stand-in addon)', () => {
    const work = mkdtempSync(join(tmpdir(), 'embedrank-fp8-'));
    const encoderDir = testModel('tiny-mean', { shape: 'tiny', pooling: 'mean' });
    const addonFile = join(work, 'stand-in-addon.cjs');
    // Every Model the worker makes is recorded (recordingAddonSource); the GPU reports $FAKE_CC.
    writeFileSync(
      addonFile,
      recordingAddonSource(`  deviceCount: () => 1,
  deviceInfo: () => ({ name: 'Stand-in GPU', multiprocessors: 132, computeCapability: process.env.FAKE_CC, totalMemory: 1e11, freeMemory: 1e11, l2Bytes: 5e7 }),
  deviceProperties: () => ({ name: 'Stand-in GPU', computeCapability: process.env.FAKE_CC, totalMemory: 1e11 }),`),
    );
    after(() => rmSync(work, { recursive: true, force: true }));

    const encode = (cc: string, extra: string[], device = 'cuda') => encodeOnStandIn(addonFile, encoderDir, work, ['--device', device, ...extra], { FAKE_CC: cc });

    it('--quantization fp8 reaches the addon as quantization 1 (fp16 compute); without it, 0', () => {
      const on = encode('9.0', ['--quantization', 'fp8']);
      expect(on.code, on.err).to.equal(0);
      expect(on.configs.length).to.be.greaterThan(0);
      for (const c of on.configs) expect(c).to.include({ quantization: 1, dtype: 1 });
      const bf16 = encode('8.9', ['--quantization', 'fp8', '--dtype', 'bfloat16']);
      expect(bf16.code, bf16.err).to.equal(0);
      for (const c of bf16.configs) expect(c).to.include({ quantization: 1, dtype: 2 });
      const off = encode('9.0', []);
      expect(off.code, off.err).to.equal(0);
      for (const c of off.configs) expect(c).to.include({ quantization: 0 });
    });

    it('an A100 (8.0), dtype float32 or the CPU engine are refused before any model is made', () => {
      const a100 = encode('8.0', ['--quantization', 'fp8']);
      expect(a100.code).to.not.equal(0);
      expect(a100.err).to.match(/compute capability 8\.9/).and.match(/Stand-in GPU\) has 8\.0/);
      expect(a100.configs).to.deep.equal([]);
      const f32 = encode('9.0', ['--quantization', 'fp8', '--dtype', 'float32']);
      expect(f32.code).to.not.equal(0);
      expect(f32.err).to.match(/float16 or bfloat16/);
      expect(f32.configs).to.deep.equal([]);
      const cpu = encode('9.0', ['--quantization', 'fp8'], 'cpu');
      expect(cpu.code).to.not.equal(0);
      expect(cpu.err).to.match(/needs device "cuda"/);
    });

    it('--quantization with a value vLLM has but this engine does not is a usage error (exit 2)', () => {
      const r = encode('9.0', ['--quantization', 'int8']);
      expect(r.code).to.equal(2);
      expect(r.err).to.match(/quantization/).and.match(/fp8/);
    });
  });
});
