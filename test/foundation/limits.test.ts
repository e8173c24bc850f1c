// Batch limits an engine runs with when the user gives none (resolveLimits): the CPU's, and on CUDA
// vLLM's EngineArgs.get_batch_defaults rule for max_num_seqs (1024 on GPUs of ≥ 70 GiB that are
// not A100s, else 256), decided from every GPU of the run.
import { expect } from 'chai';
import { defaultCudaMaxNumSeqs, resolveLimits, type GpuCapability } from '../../src/core/options.js';
import { InputError } from '../../src/errors.js';
import type { ModelFolder } from '../../src/model/folder.js';

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
});
