// Host-side cost of the CUDA decoder engine, without a GPU: a stand-in addon whose forwardDecoder
// returns at once, so what is timed is the engine's own work per batch (block allocation, prefix
// hashing, step planning, input arrays) and, for the reranker, the whole CrossEncoder.predict path
// (pair tokenization, scheduling, the worker hop). The tiny committed Qwen3 fixtures stand in for a
// model (host work depends on tokens, not on the model's size).
//
//   npm run build && node bench/decoder-host.mjs [DIST_ROOT]     # DIST_ROOT: a build of another commit (default ./dist)
//
// Prints ms per 64 × 512-token embedding batch (prefix caching on / off) and ms per rerank set of
// 16 queries × 20 candidates (on / off).
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = resolve(process.argv[2] ?? 'dist');
const root = resolve(dist, '..');
const stub = join(mkdtempSync(join(tmpdir(), 'decoder-host-')), 'stand-in.cjs');
writeFileSync(stub, `class Model { setWeight(){} allocateKvCache(){} kvBytesPerBlock(){ return 1; }
  async forwardDecoder(slot, ids, pos, cu, ctx, bt, sm, mode, norm, out) { out.fill(0.25); }
  destroy(){} weightBytes(){ return 0; } profile(){ return {}; } async connect(){} }
module.exports = { Model, deviceCount: () => 1, ncclUniqueId: () => new Uint8Array(128),
  deviceInfo: () => ({ name: 'stand-in', multiprocessors: 1, computeCapability: '9.0', totalMemory: 1e11, freeMemory: 9e10, l2Bytes: 0 }),
  deviceProperties: () => ({ name: 'stand-in', computeCapability: '9.0', totalMemory: 1e11 }) };`);
process.env.EMBEDRANK_CUDA_ADDON = stub;
const load = (p) => import(pathToFileURL(join(dist, p)).href);
const { CudaDecoderEngine } = await load('src/backends/cuda/decoder-engine.js');
const { loadModelFolder } = await load('src/model/folder.js');
const { CrossEncoder } = await load('src/cross-encoder.js');
const { QWEN3_RERANKER_OVERRIDES } = await load('src/models/qwen3-reranker.js');
const { runMain } = await load('src/main.js');

await runMain(import.meta, async () => {
  const emb = loadModelFolder(join(root, 'test/fixtures/hf/qwen3-emb'));
  for (const cache of [true, false]) {
    const e = await CudaDecoderEngine.create(emb, { dtype: 'bfloat16', device: 0, rank: 0, worldSize: 1, maxTokens: 32768, maxSeqs: 64, slots: 1, maxModelLen: 512, enablePrefixCaching: cache, numGpuBlocksOverride: 72000 });
    const batch = () => {
      const ids = new Int32Array(64 * 512).map(() => Math.floor(Math.random() * emb.dims.vocab));
      return { ids, cuSeqlens: Int32Array.from({ length: 65 }, (_, i) => i * 512) };
    };
    for (let i = 0; i < 3; i++) await e.embed(batch());
    const batches = Array.from({ length: 10 }, batch);
    const t0 = performance.now();
    for (const b of batches) await e.embed(b);
    console.log(`embed 64 × 512, prefix caching ${cache ? 'on ' : 'off'}: ${((performance.now() - t0) / 10).toFixed(1)} ms host per batch`);
    await e.close();
  }
  const words = 'the quick brown fox jumps over the lazy dog while a small cat watches from the warm window sill '.repeat(20).split(' ');
  for (const cache of [true, false]) {
    const ce = await CrossEncoder.create({ model: join(root, 'test/fixtures/hf/qwen3-lm'), hfOverrides: { ...QWEN3_RERANKER_OVERRIDES }, device: 'cuda', dtype: 'bfloat16', maxModelLen: 256, maxNumSeqs: 256, enablePrefixCaching: cache, numGpuBlocksOverride: 70000 }); // 256: the figure earlier commits ran at (the CUDA default is now 1024 on ≥ 70 GiB)
    const set = (s) => {
      const pairs = [];
      for (let q = 0; q < 16; q++) {
        const query = `${s} ${q} ${words.slice(q, q + 60).join(' ')}`;
        for (let c = 0; c < 20; c++) pairs.push([query, `document ${s} ${q} ${c} ${words.slice(c, c + 15).join(' ')}`]);
      }
      return pairs;
    };
    await ce.predict(set(-1));
    const t0 = performance.now();
    for (let s = 0; s < 5; s++) await ce.predict(set(s));
    console.log(`rerank 16 × 20 pairs, prefix caching ${cache ? 'on ' : 'off'}: ${((performance.now() - t0) / 5).toFixed(1)} ms host per set`);
    await ce.close();
  }
});
