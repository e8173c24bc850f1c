// The tensor-parallel weight plan (models/plan.ts) is generic over families: for every fixture
// family, the slices each rank uploads reassemble the full checkpoint tensors, and a size that does
// not divide heads / intermediate is refused before any upload. (The multi-GPU suite checks TP
// outputs on several GPUs; this checks the slicing itself.)
import { expect } from 'chai';
import { join } from 'node:path';
import { loadModelFolder } from '../../src/model/folder.js';
import { toFloat32, type StDType } from '../../src/model/safetensors.js';
import { readPlanned, weightPlan } from '../../src/models/plan.js';

const HF = 'test/fixtures/hf';

describe('cpu/plan: tensor-parallel slices reassemble the checkpoint, every family', () => {
  for (const name of ['bert-ce3', 'xlmr-ce', 'distilbert-ce', 'roberta-st']) {
    it(`${name}: world 1, 2, 4`, () => {
      const f = loadModelFolder(join(HF, name));
      const d = f.dims;
      const W = f.weights;
      const classifier = f.kind === 'cross-encoder';
      const full = new Map(weightPlan(d, { rank: 0, world: 1, classifier }).map((t) => [t.engine, t]));
      expect(full.has('emb.type')).to.equal(d.typeVocab > 0);
      for (const world of [2, 4]) {
        const ranks = Array.from({ length: world }, (_, rank) => new Map(weightPlan(d, { rank, world, classifier }).map((t) => [t.engine, t])));
        expect(ranks.every((r) => r.size === full.size)).to.equal(true);
        const read = (m: Map<string, ReturnType<typeof weightPlan>[number]>, k: string) => {
          const { bytes, dtype } = readPlanned(W, m.get(k)!);
          return toFloat32(bytes, dtype as StDType, k);
        };
        for (let l = 0; l < d.layers; l++) {
          const H = d.hidden;
          const hl = (d.heads / world) * d.headDim;
          const il = d.intermediate / world;
          // qkv.w: rank r holds rows [q_r; k_r; v_r] (each hl × H).
          const q = W.f32(`L${l}.q.w`), k = W.f32(`L${l}.k.w`), v = W.f32(`L${l}.v.w`);
          ranks.forEach((m, r) => {
            const got = read(m, `L${l}.qkv.w`);
            const want = [q, k, v].flatMap((t) => Array.from(t.subarray(r * hl * H, (r + 1) * hl * H)));
            expect(Array.from(got)).to.deep.equal(want);
          });
          // o.w [H, Hl] and down.w [H, I]: column blocks, laid side by side, are the full matrix.
          for (const [key, inner, per] of [[`L${l}.o.w`, d.heads * d.headDim, hl], [`L${l}.down.w`, d.intermediate, il]] as const) {
            const whole = W.f32(key);
            const parts = ranks.map((m) => read(m, key));
            for (let row = 0; row < H; row++) {
              const joined = parts.flatMap((p) => Array.from(p.subarray(row * per, (row + 1) * per)));
              expect(joined).to.deep.equal(Array.from(whole.subarray(row * inner, (row + 1) * inner)));
            }
          }
          // up.w / up.b: row blocks in rank order.
          for (const key of [`L${l}.up.w`, `L${l}.up.b`]) {
            expect(ranks.flatMap((m) => Array.from(read(m, key)))).to.deep.equal(Array.from(W.f32(key)));
          }
          // Replicated tensors are whole on every rank.
          for (const key of [`L${l}.o.b`, `L${l}.down.b`, `L${l}.ln2.g`]) {
            for (const m of ranks) expect(Array.from(read(m, key))).to.deep.equal(Array.from(W.f32(key)));
          }
        }
      }
    });
  }

  it('refuses a tensor-parallel size that does not divide the heads', () => {
    const f = loadModelFolder(join(HF, 'xlmr-ce'));
    expect(() => weightPlan(f.dims, { rank: 0, world: 3, classifier: true })).to.throw(/tensor parallel size 3 must divide 4 heads/);
  });
});
