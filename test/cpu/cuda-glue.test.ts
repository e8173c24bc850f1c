// The CUDA engine's host side without a GPU: a stand-in addon (EMBEDRANK_CUDA_ADDON pointing at a
// CommonJS file) records what CudaEngine hands the native model — the model-agnostic description,
// every weight of the plan with the element count cuda/bert.cu's BertModel::expect requires, and
// per batch the token types and the family's positions. What the kernels then compute is
// test/gpu/families.gpu.ts's job.
import { expect } from 'chai';
import { join } from 'node:path';
import { CudaEngine } from '../../src/backends/cuda/engine.js';
import { loadModelFolder } from '../../src/model/folder.js';
import { useStandInAddon } from './helpers.js';

const HF = 'test/fixtures/hf';

const FAKE = `
const log = [];
class Model {
  constructor(cfg) { this.cfg = cfg; this.weights = new Map(); log.push(this); }
  setWeight(name, data, code) { this.weights.set(name, { bytes: data.byteLength, code }); }
  async connect() {}
  async forward(slot, ids, types, positions, cu, skip, mode, pool, normalize, stop, out) {
    this.last = { ids: Array.from(ids), types: Array.from(types), positions: Array.from(positions), cu: Array.from(cu), mode, pool, normalize };
    out.fill(0.5);
  }
  destroy() {}
  weightBytes() { return 0; }
  profile() { return {}; }
  graphStats() { return { captured: 0, replayed: 0, failed: 0 }; }
}
module.exports = { Model, log, deviceCount: () => 1 };
`;

/** Element counts cuda/bert.cu's BertModel::expect accepts for a config (its rules, restated). */
function cudaNumel(name: string, c: Record<string, number>): number | undefined {
  const H = c.hidden, Hl = c.heads * c.headDim, I = c.intermediate, L = Math.max(c.numLabels, 1);
  const top: Record<string, number> = {
    'emb.word': c.vocab * H, 'emb.pos': c.maxPositions * H, 'emb.ln.g': H, 'emb.ln.b': H,
    'head.pool.w': H * H, 'head.pool.b': H, 'head.cls.w': L * H, 'head.cls.b': L,
  };
  if (c.typeVocab > 0) top['emb.type'] = c.typeVocab * H;
  if (name in top) return top[name];
  const m = /^L(\d+)\.(.+)$/.exec(name);
  if (!m || Number(m[1]) >= c.layers) return undefined;
  const layer: Record<string, number> = {
    'qkv.w': 3 * Hl * H, 'qkv.b': 3 * Hl, 'o.w': H * Hl, 'o.b': H, 'down.b': H, 'up.w': I * H, 'up.b': I, 'down.w': H * I,
    'ln1.g': H, 'ln1.b': H, 'ln2.g': H, 'ln2.b': H,
  };
  return layer[m[2]];
}

describe('cpu/cuda-glue: what CudaEngine hands the addon, every family (stand-in addon)', () => {
  const addon = useStandInAddon<{ log: Array<{ cfg: Record<string, number>; weights: Map<string, { bytes: number; code: number }>; last: Record<string, unknown> }> }>(FAKE);

  const cases = [
    { name: 'xlmr-ce', act: 0, typeVocab: 1, pos: [2, 3, 4], types: [0, 0, 0] },
    { name: 'roberta-st', act: 0, typeVocab: 1, pos: [2, 3, 4], types: [0, 0, 0] },
    { name: 'distilbert-ce', act: 1, typeVocab: 0, pos: [0, 1, 2], types: [] },
    { name: 'bert-ce3', act: 0, typeVocab: 2, pos: [0, 1, 2], types: [0, 0, 0] },
  ];
  for (const c of cases) {
    for (const world of [1, 2]) {
      it(`${c.name}, tensor parallel ${world}: description, weights and inputs`, async () => {
        const folder = loadModelFolder(join(HF, c.name));
        const engine = await CudaEngine.create(folder, { dtype: 'float16', device: 0, rank: world - 1, worldSize: world, maxTokens: 64, maxSeqs: 4, slots: 1, ncclIds: world > 1 ? [new Uint8Array(128)] : undefined });
        const m = addon().log[addon().log.length - 1];
        const cfg = m.cfg;
        expect(cfg).to.include({ typeVocab: c.typeVocab, headActivation: c.act, heads: folder.dims.heads / world, headDim: folder.dims.headDim, intermediate: folder.dims.intermediate / world, positionOffset: folder.dims.positionOffset });
        for (const [name, w] of m.weights) {
          const numel = cudaNumel(name, cfg);
          expect(numel, `addon would refuse weight ${name}`).to.not.equal(undefined);
          expect(w.bytes / 4, name).to.equal(numel); // fixtures are F32: code 0, 4 bytes each
          expect(w.code).to.equal(0);
        }
        const want = 4 + (c.typeVocab > 0 ? 1 : 0) + 12 * folder.dims.layers + (folder.kind === 'cross-encoder' ? 4 : 0);
        expect(m.weights.size).to.equal(want);
        // Two sequences; the second has an XLM-R-style pad id inside for the RoBERTa families.
        const pad = folder.dims.paddingIdx ?? -1;
        const ids = Int32Array.from([5, 6, 7, 5, pad >= 0 ? pad : 6, 7]);
        const batch = { ids, cuSeqlens: Int32Array.from([0, 3, 6]) };
        const out = folder.kind === 'cross-encoder' ? await engine.score(batch, 'identity') : await engine.embed(batch);
        expect(out.every((v) => v === 0.5)).to.equal(true);
        const last = m.last as { positions: number[]; types: number[]; cu: number[] };
        expect(last.positions.slice(0, 3)).to.deep.equal(c.pos);
        expect(last.positions.slice(3)).to.deep.equal(pad >= 0 ? [2, pad, 3] : [0, 1, 2]);
        expect(last.types).to.deep.equal(c.typeVocab > 0 ? [...c.types, ...c.types] : []);
        expect(last.cu).to.deep.equal([0, 3, 6]);
        await engine.close();
      });
    }
  }

  it('a token type outside the table and a position outside it are refused before the GPU', async () => {
    const folder = loadModelFolder(join(HF, 'xlmr-st'));
    const engine = await CudaEngine.create(folder, { dtype: 'float32', device: 0, rank: 0, worldSize: 1, maxTokens: 64, maxSeqs: 4, slots: 1 });
    const fail = (p: Promise<unknown>) => p.then(() => 'no error', (e: Error) => e.message);
    expect(await fail(engine.embed({ ids: Int32Array.from([0, 5, 2]), typeIds: Int32Array.from([0, 1, 0]), cuSeqlens: Int32Array.from([0, 3]) }))).to.match(/type id 1 is outside \[0, 1\)/);
    expect(await fail(engine.embed({ ids: Int32Array.from([0, 5, 2]), positions: Int32Array.from([2, 3, 66]), cuSeqlens: Int32Array.from([0, 3]) }))).to.match(/position 66/);
    await engine.close();
  });
});
