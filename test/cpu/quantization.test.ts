// `quantization: 'fp8'` without a GPU: the option's validation and refusals (resolveQuantization),
// and its way from the command line through the runtime, the worker thread and CudaEngine to the
// addon's config key (a stand-in addon records the config in a file, since the model is made in
// a worker thread of a child process). What the FP8 kernels compute is test/gpu/fp8.gpu.ts's job.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveQuantization, validateEngineOptions, type GpuCapability } from '../../src/core/options.js';
import { InputError, UnsupportedOptionError } from '../../src/errors.js';
import type { ModelFolder } from '../../src/model/folder.js';
import { testModel } from './helpers.js';

const BIN = join(process.cwd(), 'dist/src/cli/main.js');

/** A folder as resolveQuantization reads it: its path and dims. */
function folderWith(dims: Record<string, unknown>): ModelFolder {
  return { dir: '/models/x', dims: { family: 'bert', hidden: 768, heads: 12, headDim: 64, intermediate: 3072, ...dims } } as unknown as ModelFolder;
}

const H200: GpuCapability = { device: 0, name: 'NVIDIA H200', computeCapability: '9.0' };

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
        () => resolveQuantization('fp8', folderWith({}), 'cuda', 'float16', 2, [H200, { device: 1, name: 'NVIDIA A100-SXM4-80GB', computeCapability: '8.0' }]),
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

  describe('command line → runtime → worker → CudaEngine → addon config (stand-in addon)', () => {
    const work = mkdtempSync(join(tmpdir(), 'embedrank-fp8-'));
    const encoderDir = testModel('tiny-mean', { shape: 'tiny', pooling: 'mean' });
    const addonFile = join(work, 'stand-in-addon.cjs');
    const input = join(work, 'texts.txt');
    // Every Model the worker makes appends its config to $FAKE_LOG; the GPU reports $FAKE_CC.
    writeFileSync(
      addonFile,
      `const fs = require('node:fs');
class Model {
  constructor(cfg) { fs.appendFileSync(process.env.FAKE_LOG, JSON.stringify(cfg) + '\\n'); }
  setWeight() {}
  async connect() {}
  async forward(slot, ids, types, positions, cu, skip, mode, pool, normalize, stop, out) { out.fill(0.5); }
  destroy() {}
  weightBytes() { return 0; }
  profile() { return {}; }
}
module.exports = {
  Model,
  deviceCount: () => 1,
  deviceInfo: () => ({ name: 'Stand-in GPU', multiprocessors: 132, computeCapability: process.env.FAKE_CC, totalMemory: 1e11, freeMemory: 1e11, l2Bytes: 5e7 }),
};
`,
    );
    writeFileSync(input, 'a first sentence\nand a second one\n');
    after(() => rmSync(work, { recursive: true, force: true }));

    function encode(cc: string, extra: string[], device = 'cuda'): { code: number | null; err: string; configs: Array<Record<string, unknown>> } {
      const log = join(work, `log-${Math.random().toString(36).slice(2)}.jsonl`);
      const r = spawnSync(process.execPath, [BIN, 'encode', '-m', encoderDir, '-i', input, '-o', join(work, 'out.npy'), '--device', device, ...extra], {
        encoding: 'utf8',
        env: { ...process.env, EMBEDRANK_CUDA_ADDON: addonFile, EMBEDRANK_DISABLE_CUDA: '', FAKE_CC: cc, FAKE_LOG: log },
      });
      const configs = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) : [];
      return { code: r.status, err: r.stderr, configs };
    }

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
