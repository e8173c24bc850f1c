// The varlen attention kernels alone, old ('mma', FlashAttention-2 style, 64-row tiles) against
// 'mma128' (the same, 128-row tiles and 8 warps) and 'wgmma' (Hopper, FlashAttention-3 style) in one
// process on the same shapes: median ms of CUDA-event timings and TFLOP/s of the non-causal work
// (4·Σ len²·heads·head_dim), then each kernel's speed-up over the first.
//
//   node dist/bench/attention.js [--dtype fp16|bf16] [--iters 50] [--kernels mma,mma128,wgmma]
//
// Shapes: BERT-base attention (12 heads × 64) at 32 × 512, 128 × 512 and 128 sequences of 256..768
// tokens (the bench's varlen mix); XLM-R-large (16 × 64) at 32 × 512 and 128 × 512; a head_dim-128
// model (8 × 128) at 32 × 512; short sequences (1024 × 32 tokens, MTEB STS-like).
import { loadAddon, type AttentionKernelName } from '../src/backends/cuda/addon.js';
import { runMain } from '../src/main.js';
import { Rng } from '../scripts/make-test-model.js';

interface Shape {
  name: string;
  heads: number;
  headDim: number;
  lengths: number[];
}

function shapes(): Shape[] {
  const rng = new Rng(256768);
  const varlen = Array.from({ length: 128 }, () => 256 + Math.floor(rng.uniform() * 513));
  const fixed = (b: number, l: number) => Array(b).fill(l) as number[];
  return [
    { name: 'bert-base 32×512', heads: 12, headDim: 64, lengths: fixed(32, 512) },
    { name: 'bert-base 128×512', heads: 12, headDim: 64, lengths: fixed(128, 512) },
    { name: 'bert-base 128×(256..768)', heads: 12, headDim: 64, lengths: varlen },
    { name: 'xlmr-large 32×512', heads: 16, headDim: 64, lengths: fixed(32, 512) },
    { name: 'xlmr-large 128×512', heads: 16, headDim: 64, lengths: fixed(128, 512) },
    { name: 'd128 (8×128) 32×512', heads: 8, headDim: 128, lengths: fixed(32, 512) },
    { name: 'bert-base 1024×32', heads: 12, headDim: 64, lengths: fixed(1024, 32) },
  ];
}

await runMain(import.meta, async () => {
  const { default: yargs } = await import('yargs');
  const { hideBin } = await import('yargs/helpers');
  const argv = await yargs(hideBin(process.argv))
    .usage('$0 [options]\n\nThe attention kernels alone: old (mma) vs new (wgmma) TFLOP/s on BERT-base and XLM-R-large shapes.')
    .option('dtype', { choices: ['fp16', 'bf16'], default: 'fp16' })
    .option('iters', { type: 'number', default: 50 })
    .option('kernels', { type: 'string', default: 'mma,mma128,wgmma', describe: 'comma-separated: mma, mma128, wgmma (the first is the baseline)' })
    .option('device', { type: 'number', default: 0 })
    .strict().help().parse();
  const addon = loadAddon();
  const kernels = argv.kernels.split(',').map((k) => k.trim()) as AttentionKernelName[];
  for (const k of kernels) if (k !== 'mma' && k !== 'mma128' && k !== 'wgmma') throw new Error(`--kernels: '${k}' is not mma, mma128 or wgmma`);
  const dt = argv.dtype === 'bf16' ? 2 : 1;
  const info = addon.deviceInfo(argv.device);
  process.stdout.write(`# attention alone, ${argv.dtype}, ${info.name} (cc ${info.computeCapability}), ${argv.iters} iterations, median\n`);
  const rest = kernels.slice(1);
  process.stdout.write(`| shape | ${kernels.map((k) => `${k} ms | ${k} TFLOP/s`).join(' | ')}${rest.map((k) => ` | ${k}/${kernels[0]}`).join('')} |\n`);
  process.stdout.write(`| --- | ${kernels.map(() => '--- | ---').join(' | ')}${rest.map(() => ' | ---').join('')} |\n`);
  for (const s of shapes()) {
    const cu = new Int32Array(s.lengths.length + 1);
    s.lengths.forEach((l, i) => (cu[i + 1] = cu[i] + l));
    const cells: string[] = [];
    const tf: number[] = [];
    for (const k of kernels) {
      try {
        const r = addon.attentionBench(dt, cu, s.heads, s.headDim, k, argv.iters, argv.device);
        if (r.kernel !== k) throw new Error(`asked for ${k}, ran ${r.kernel}`);
        cells.push(r.ms.toFixed(3), r.tflops.toFixed(1));
        tf.push(r.tflops);
      } catch (e) {
        cells.push('error', (e as Error).message.slice(0, 120));
        tf.push(NaN);
      }
    }
    const speedup = rest.map((_, i) => (Number.isFinite(tf[i + 1] / tf[0]) ? ` | ${(tf[i + 1] / tf[0]).toFixed(2)}×` : ' | —')).join('');
    process.stdout.write(`| ${s.name} | ${cells.join(' | ')}${speedup} |\n`);
  }
});
