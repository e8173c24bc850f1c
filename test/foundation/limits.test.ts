// Batch limits an engine runs with when the user gives none (resolveLimits): the CPU's, and on CUDA
// vLLM's EngineArgs.get_batch_defaults rule for max_num_seqs (1024 on GPUs of ≥ 70 GiB that are
// not A100s, else 256), decided from every GPU of the run.
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultCudaMaxNumSeqs, resolveLimits, type GpuCapability } from '../../src/core/options.js';
import { Encoder } from '../../src/encoder.js';
import { InputError } from '../../src/errors.js';
import type { ModelFolder } from '../../src/model/folder.js';
import { encodeOnStandIn, fileLines, recordingAddonSource, testModel } from '../cpu/helpers.js';

const MiB = 2 ** 20;
const gpu = (name: string, mib: number, device = 0): GpuCapability => ({ device, name, computeCapability: '9.0', totalMemory: mib * MiB });
const H200 = gpu('NVIDIA H200', 143771);
const H100 = gpu('NVIDIA H100 80GB HBM3', 81559);
const A100 = gpu('NVIDIA A100-SXM4-80GB', 81920);
const L4 = gpu('NVIDIA L4', 23034);

/** A folder as resolveLimits reads it: an encoder of 512 positions, or a decoder. */
function folder(decoder = false): ModelFolder {
  return { dir: '/models/x', maxLength: 512, dims: { maxPositions: 514, positionOffset: 2, ...(decoder ? { decoder: { kvHeads: 8 } } : {}) } } as unknown as ModelFolder;
}

describe('foundation/limits: default batch limits', () => {
  it('CUDA: 1024 sequences on GPUs of at least 70 GiB that are not A100s, as vLLM', () => {
    expect(defaultCudaMaxNumSeqs([H200])).to.equal(1024);
    expect(defaultCudaMaxNumSeqs([H100, gpu('NVIDIA H100 80GB HBM3', 81559, 1)])).to.equal(1024);
    expect(defaultCudaMaxNumSeqs([gpu('AMD Instinct MI300X', 196592)])).to.equal(1024);
    expect(defaultCudaMaxNumSeqs([gpu('X', 70 * 1024)])).to.equal(1024); // exactly 70 GiB
  });

  it('CUDA: 256 on an A100 of any size, below 70 GiB, on a mix with a small GPU, and when no GPU is known', () => {
    expect(defaultCudaMaxNumSeqs([A100])).to.equal(256);
    expect(defaultCudaMaxNumSeqs([gpu('NVIDIA a100 80gb pcie', 81920)])).to.equal(256);
    expect(defaultCudaMaxNumSeqs([L4])).to.equal(256);
    expect(defaultCudaMaxNumSeqs([gpu('X', 70 * 1024 - 1)])).to.equal(256);
    expect(defaultCudaMaxNumSeqs([H200, gpu('NVIDIA L4', 23034, 1)])).to.equal(256);
    expect(defaultCudaMaxNumSeqs([])).to.equal(256);
  });

  it('resolveLimits: the CUDA default follows the GPUs; the CPU keeps 64; a given maxNumSeqs always wins', () => {
    expect(resolveLimits({ model: 'm' }, folder(), 'cuda', [H200])).to.deep.equal({ maxLength: 512, maxNumBatchedTokens: 32768, maxNumSeqs: 1024 });
    expect(resolveLimits({ model: 'm' }, folder(), 'cuda', [L4]).maxNumSeqs).to.equal(256);
    expect(resolveLimits({ model: 'm' }, folder(), 'cuda').maxNumSeqs).to.equal(256);
    expect(resolveLimits({ model: 'm' }, folder(true), 'cuda', [H200]).maxNumSeqs).to.equal(1024);
    expect(resolveLimits({ model: 'm' }, folder(), 'cpu', [H200])).to.deep.equal({ maxLength: 512, maxNumBatchedTokens: 8192, maxNumSeqs: 64 });
    expect(resolveLimits({ model: 'm', maxNumSeqs: 7 }, folder(), 'cuda', [H200]).maxNumSeqs).to.equal(7);
    expect(() => resolveLimits({ model: 'm', maxNumSeqs: 0 }, folder(), 'cuda', [H200])).to.throw(InputError, /maxNumSeqs must be a positive integer, got 0/);
  });

  it('an invalid limit is refused before the parallel-size checks and before any GPU is asked (CPU run)', async () => {
    const dir = testModel('tiny-mean', { shape: 'tiny', pooling: 'mean' });
    let err: unknown;
    try {
      await Encoder.create({ model: dir, device: 'cpu', maxModelLen: 100_000, tensorParallelSize: 2 });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(InputError);
    expect((err as Error).message).to.match(/maxModelLen 100000 exceeds/);
  });

  describe('command line → runtime → the addon (stand-in GPU)', () => {
    const work = mkdtempSync(join(tmpdir(), 'embedrank-limits-'));
    const dir = testModel('tiny-mean', { shape: 'tiny', pooling: 'mean' });
    const addonFile = join(work, 'stand-in-addon.cjs');
    // Every Model is recorded (recordingAddonSource), each deviceProperties call a line in $FAKE_CALLS;
    // deviceInfo (which opens a CUDA context) must not be reached from the runtime's main thread.
    writeFileSync(
      addonFile,
      recordingAddonSource(
        `  deviceCount: () => 1,
  deviceInfo: () => { throw new Error('deviceInfo called'); },
  deviceProperties: (d) => {
    fs.appendFileSync(process.env.FAKE_CALLS, d + '\\n');
    if (process.env.FAKE_FAIL) throw new Error('cudaErrorInitializationError');
    return { name: process.env.FAKE_NAME, computeCapability: '9.0', totalMemory: Number(process.env.FAKE_MIB) * 2 ** 20 };
  },`,
        'if (process.env.FAKE_OLD_ADDON) delete module.exports.deviceProperties;',
      ),
    );
    after(() => rmSync(work, { recursive: true, force: true }));

    function encode(name: string, mib: number, extra: string[] = [], fail = false, oldAddon = false) {
      const calls = join(work, `calls-${Math.random().toString(36).slice(2)}.txt`);
      const env = { FAKE_NAME: name, FAKE_MIB: String(mib), FAKE_CALLS: calls, FAKE_FAIL: fail ? '1' : '', FAKE_OLD_ADDON: oldAddon ? '1' : '' };
      return { ...encodeOnStandIn(addonFile, dir, work, ['--device', 'cuda', ...extra], env), calls: fileLines(calls) };
    }

    it('an H200 gets 1024 sequences per batch, an A100 or a 48 GB card 256, --max-num-seqs its own without asking the GPU', () => {
      for (const [name, mib, want] of [['NVIDIA H200', 143771, 1024], ['NVIDIA A100-SXM4-80GB', 81920, 256], ['NVIDIA L40S', 46068, 256]] as const) {
        const r = encode(name, mib);
        expect(r.code, r.err).to.equal(0);
        expect(r.configs.length, name).to.be.greaterThan(0);
        for (const c of r.configs) expect(c, name).to.include({ maxSeqs: want });
        expect(r.calls, name).to.deep.equal(['0']);
      }
      const own = encode('NVIDIA H200', 143771, ['--max-num-seqs', '8']);
      expect(own.code, own.err).to.equal(0);
      for (const c of own.configs) expect(c).to.include({ maxSeqs: 8 });
      expect(own.calls).to.deep.equal([]);
    });

    it('a GPU CUDA cannot describe, or an addon built before deviceProperties, fails the run before any model is made', () => {
      const r = encode('NVIDIA H200', 143771, [], true);
      expect(r.code).to.not.equal(0);
      expect(r.err).to.match(/GPU 0: CUDA cannot read its properties: cudaErrorInitializationError/);
      expect(r.configs).to.deep.equal([]);
      const old = encode('NVIDIA H200', 143771, [], false, true);
      expect(old.code).to.not.equal(0);
      expect(old.err).to.match(/built before deviceProperties existed: rebuild it \(`npm run build:cuda`\)/);
      expect(old.configs).to.deep.equal([]);
    });
  });
});
