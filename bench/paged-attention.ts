// Paged causal GQA attention alone (cuda/paged_attention.cu through decoderOpTest's timeIters):
// the tensor-core kernel against the CUDA-core warp kernel on the same inputs, Qwen3-0.6B's head
// layout (16 query heads, 8 KV heads, head_dim 128), bf16, block size 16, blocks shuffled. Shapes:
// 20 × 400 fresh tokens (an embedding batch), 20 × (200 cached + 100 new) (reranker candidates
// after a prefix-cache hit), 1 × (3100 cached + 1000 new) (a chunk of a long document). Mean ms per
// call over --iters calls after one warm-up (CUDA events, kernel only); TFLOP/s counts the causal
// FLOPs (4·d per visible query-key pair). Prints a table; --out FILE appends one JSON line per row.
//
//   npm run build && node dist/bench/paged-attention.js [--iters 50] [--dtype bfloat16] [--out FILE]
import { appendFileSync } from 'node:fs';
import { DTYPE_CODE, loadAddon } from '../src/backends/cuda/addon.js';
import { Rng } from '../scripts/make-test-model.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

const HEADS = 16, KV_HEADS = 8, D = 128, BLOCK = 16;
const SHAPES: Array<{ name: string; seqs: Array<[cached: number, fresh: number]> }> = [
  { name: '20 x 400 fresh', seqs: Array.from({ length: 20 }, () => [0, 400] as [number, number]) },
  { name: '20 x (200 cached + 100 new)', seqs: Array.from({ length: 20 }, () => [200, 100] as [number, number]) },
  { name: '1 x (3100 cached + 1000 new)', seqs: [[3100, 1000]] },
];

function normals(n: number, rng: Rng): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

const iters = Number(arg('iters', '50'));
const dtype = arg('dtype', 'bfloat16') as keyof typeof DTYPE_CODE;
const out = process.argv.includes('--out') ? arg('out', '') : '';
const addon = loadAddon();
const rng = new Rng(7);
console.log(`paged attention, ${dtype}, ${HEADS}/${KV_HEADS} heads, head_dim ${D}, block size ${BLOCK}, ${iters} calls`);
console.log('shape | kernel | ms | TFLOP/s | speed-up');
for (const shape of SHAPES) {
  const n = shape.seqs.length;
  const cuQ = new Int32Array(n + 1);
  shape.seqs.forEach(([, f], i) => (cuQ[i + 1] = cuQ[i] + f));
  const T = cuQ[n];
  const ctxLen = Int32Array.from(shape.seqs.map(([c, f]) => c + f));
  const need = shape.seqs.map(([c, f]) => Math.ceil((c + f) / BLOCK));
  const blocks = need.reduce((a, b) => a + b, 0);
  const maxBlocks = Math.max(...need);
  // Blocks in a shuffled order, as a pool hands them out after evictions.
  const order = Array.from({ length: blocks }, (_, i) => i);
  for (let i = blocks - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const blockTables = new Int32Array(n * maxBlocks);
  let next = 0;
  need.forEach((k, i) => {
    for (let b = 0; b < k; b++) blockTables[i * maxBlocks + b] = order[next++];
  });
  const slots = new Int32Array(T);
  shape.seqs.forEach(([c, f], i) => {
    for (let j = 0; j < f; j++) slots[cuQ[i] + j] = blockTables[i * maxBlocks + Math.floor((c + j) / BLOCK)] * BLOCK + ((c + j) % BLOCK);
  });
  const args = {
    qkv: normals(T * (HEADS + 2 * KV_HEADS) * D, rng),
    kCache: normals(blocks * BLOCK * KV_HEADS * D, rng),
    vCache: normals(blocks * BLOCK * KV_HEADS * D, rng),
    slots, blockTables, cuQ, ctxLen, heads: HEADS, kvHeads: KV_HEADS, headDim: D, blockSize: BLOCK, maxBlocks, timeIters: iters,
  };
  let pairs = 0;
  shape.seqs.forEach(([c, f]) => (pairs += f * c + (f * (f + 1)) / 2));
  const flop = pairs * HEADS * 4 * D;
  const ms: Record<string, number> = {};
  for (const kernel of ['warp', 'auto']) {
    ms[kernel] = addon.decoderOpTest(DTYPE_CODE[dtype], 'attention', { ...args, kernel }, 0)[0];
    const row = { bench: 'paged-attention', shape: shape.name, dtype, heads: HEADS, kvHeads: KV_HEADS, headDim: D, blockSize: BLOCK, kernel: kernel === 'auto' ? 'tensor-core' : 'warp', ms: ms[kernel], tflops: flop / ms[kernel] / 1e9 };
    const up = kernel === 'auto' ? `${(ms.warp / ms.auto).toFixed(1)}x` : '';
    console.log(`${shape.name} | ${row.kernel} | ${ms[kernel].toFixed(4)} | ${row.tflops.toFixed(1)} | ${up}`);
    if (out) appendFileSync(out, JSON.stringify(row) + '\n');
  }
}
