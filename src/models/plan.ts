// The weight plan of one tensor-parallel rank: which engine tensors the CUDA model gets, each made
// of slices of checkpoint tensors (Megatron layout: Q/K/V and FFN-up split by output rows, attention
// out and FFN-down by input columns; embeddings, LayerNorms, row-parallel biases and the head
// replicated). Q, K and V are fused into one [3·heads·headDim/world, hidden] matrix per layer so a
// layer runs one QKV GEMM. Generic over families: the family only names the checkpoint tensors.
import { readCols, readRows, type TensorInfo } from '../model/safetensors.js';
import { layerKey, type EncoderDims, type LayerTensor, type ModelFamily } from './family.js';
import type { ModelWeights } from './weights.js';

/** A piece of one checkpoint tensor: whole, rows [r0, r1) or columns [c0, c1). */
export interface TensorSlice {
  key: string;
  rows?: [number, number];
  cols?: [number, number];
}

export interface PlannedTensor {
  /** Name the CUDA model expects (cuda/encoder.cu: emb.*, L{i}.qkv.w, head.*). */
  engine: string;
  /** Concatenated in order (rows of the result). */
  parts: TensorSlice[];
}

/** The tensors rank `rank` of `world` uploads. Throws when world does not divide heads and intermediate size. */
export function weightPlan(d: EncoderDims, opts: { rank: number; world: number; classifier: boolean }, family?: ModelFamily): PlannedTensor[] {
  if (family?.weightPlan) return family.weightPlan(d, opts);
  const { rank, world } = opts;
  if (!Number.isInteger(world) || world < 1 || d.heads % world || d.intermediate % world) {
    throw new Error(`tensor parallel size ${world} must divide ${d.heads} heads and intermediate size ${d.intermediate}`);
  }
  if (!Number.isInteger(rank) || rank < 0 || rank >= world) throw new Error(`rank ${rank} outside [0, ${world})`);
  const hl = (d.heads / world) * d.headDim;
  const il = d.intermediate / world;
  const whole = (engine: string, key = engine): PlannedTensor => ({ engine, parts: [{ key }] });
  const rows = (key: string, n: number): TensorSlice => (world > 1 ? { key, rows: [rank * n, (rank + 1) * n] } : { key });
  const cols = (key: string, n: number): TensorSlice => (world > 1 ? { key, cols: [rank * n, (rank + 1) * n] } : { key });
  const plan: PlannedTensor[] = [whole('emb.word'), whole('emb.pos')];
  if (d.typeVocab > 0) plan.push(whole('emb.type'));
  plan.push(whole('emb.ln.g'), whole('emb.ln.b'));
  for (let i = 0; i < d.layers; i++) {
    const k = (t: LayerTensor) => layerKey(i, t);
    const p = `L${i}.`;
    plan.push(
      { engine: `${p}qkv.w`, parts: [rows(k('q.w'), hl), rows(k('k.w'), hl), rows(k('v.w'), hl)] },
      { engine: `${p}qkv.b`, parts: [rows(k('q.b'), hl), rows(k('k.b'), hl), rows(k('v.b'), hl)] },
      { engine: `${p}o.w`, parts: [cols(k('o.w'), hl)] },
      whole(`${p}o.b`, k('o.b')),
      whole(`${p}ln1.g`, k('ln1.g')),
      whole(`${p}ln1.b`, k('ln1.b')),
      { engine: `${p}up.w`, parts: [rows(k('up.w'), il)] },
      { engine: `${p}up.b`, parts: [rows(k('up.b'), il)] },
      { engine: `${p}down.w`, parts: [cols(k('down.w'), il)] },
      whole(`${p}down.b`, k('down.b')),
      whole(`${p}ln2.g`, k('ln2.g')),
      whole(`${p}ln2.b`, k('ln2.b')),
    );
  }
  if (opts.classifier) plan.push(whole('head.pool.w'), whole('head.pool.b'), whole('head.cls.w'), whole('head.cls.b'));
  return plan;
}

/** The stored bytes of one planned tensor (slices read straight from the safetensors files) and its dtype. */
export function readPlanned(w: ModelWeights, t: PlannedTensor): { bytes: Buffer; dtype: string } {
  const infos: TensorInfo[] = t.parts.map((p) => w.info(p.key));
  const dtypes = new Set(infos.map((i) => i.dtype));
  if (dtypes.size !== 1) throw new Error(`${t.engine}: ${t.parts.map((p) => w.describe(p.key)).join(', ')} have different dtypes (${[...dtypes]})`);
  const bufs = t.parts.map((p, j) => {
    const info = infos[j];
    if (p.rows) return readRows(info, p.rows[0], p.rows[1]);
    if (p.cols) return readCols(info, p.cols[0], p.cols[1]);
    return w.store.raw(info.name);
  });
  return { bytes: bufs.length === 1 ? bufs[0] : Buffer.concat(bufs), dtype: infos[0].dtype };
}
