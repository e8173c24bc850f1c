// The CUDA engine of one GPU worker thread: uploads this rank's slice of the weights (Megatron
// layout: Q/K/V and FFN-up split by output rows, attention-out and FFN-down by input columns)
// as raw stored bytes, joins the NCCL group, then runs batches on the native model's slots.
import type { ModelFolder } from '../../model/folder.js';
import { readCols, readRows, type TensorInfo } from '../../model/safetensors.js';
import { EMBEDDING_NAMES, HEAD_NAMES, layerNames } from '../../models/bert.js';
import { applyActivation } from '../../pooling.js';
import type { EngineBackend, RunOptions, TokenBatch } from '../engine.js';
import { validateBatch } from '../engine.js';
import { DTYPE_CODE, STORED_DTYPE_CODE, loadAddon, type AddonModel } from './addon.js';
import type { HeadActivation } from '../../model/folder.js';
import type { ComputeDtype } from '../../core/options.js';

export interface CudaEngineOptions {
  dtype: ComputeDtype;
  device: number;
  rank: number;
  worldSize: number;
  ncclIds?: Uint8Array[];
  maxTokens: number;
  maxSeqs: number;
  slots: number;
  allowTf32?: boolean;
}

const POOL_CODE = { cls: 0, mean: 1, last: 2 } as const;
const MODE = { embed: 0, score: 1, hidden: 2 } as const;

export class CudaEngine implements EngineBackend {
  readonly name = 'cuda';

  private constructor(private readonly folder: ModelFolder, private readonly model: AddonModel) {}

  static async create(folder: ModelFolder, o: CudaEngineOptions): Promise<CudaEngine> {
    const addon = loadAddon();
    const d = folder.dims;
    const k = o.worldSize;
    if (d.heads % k || d.intermediate % k) throw new Error(`tensor parallel size ${k} must divide ${d.heads} heads and intermediate size ${d.intermediate}`);
    const model = new addon.Model({
      device: o.device,
      dtype: DTYPE_CODE[o.dtype],
      hidden: d.hidden,
      layers: d.layers,
      heads: d.heads / k,
      headDim: d.headDim,
      intermediate: d.intermediate / k,
      vocab: d.vocab,
      maxPositions: d.maxPositions,
      typeVocab: d.typeVocab,
      numLabels: folder.kind === 'cross-encoder' ? folder.numLabels : 0,
      positionOffset: d.positionOffset,
      eps: d.eps,
      maxTokens: o.maxTokens,
      maxSeqs: o.maxSeqs,
      slots: o.slots,
      rank: o.rank,
      worldSize: k,
      allowTf32: Boolean(o.allowTf32),
    });
    try {
      uploadWeights(folder, model, o.rank, k);
      if (k > 1) {
        if (!o.ncclIds || o.ncclIds.length !== o.slots) throw new Error('tensor parallelism needs one NCCL unique id per slot');
        await model.connect(o.ncclIds);
      }
    } catch (e) {
      model.destroy();
      throw e;
    }
    return new CudaEngine(folder, model);
  }

  async embed(batch: TokenBatch, opts: RunOptions = {}): Promise<Float32Array> {
    validateBatch(batch);
    const n = batch.cuSeqlens.length - 1;
    // Poisoned: a row the GPU failed to write shows up as NaN, never as a plausible zero vector.
    const out = new Float32Array(n * this.folder.dims.hidden).fill(NaN);
    const st = this.folder.st;
    await this.model.forward(opts.slot ?? 0, batch.ids, batch.typeIds, batch.cuSeqlens, batch.poolSkip ?? null, MODE.embed, POOL_CODE[st.pooling], st.normalize, -1, out);
    return out;
  }

  async score(batch: TokenBatch, activation: HeadActivation, opts: RunOptions = {}): Promise<Float32Array> {
    if (this.folder.kind !== 'cross-encoder') throw new Error(`${this.folder.dir} is not a cross-encoder`);
    validateBatch(batch);
    const n = batch.cuSeqlens.length - 1;
    const out = new Float32Array(n * this.folder.numLabels).fill(NaN);
    await this.model.forward(opts.slot ?? 0, batch.ids, batch.typeIds, batch.cuSeqlens, null, MODE.score, 0, false, -1, out);
    return applyActivation(out, activation);
  }

  /** Hidden states [tokens, hidden] after `layers` layers (all when omitted), fp32: for tests. */
  async hidden(batch: TokenBatch, layers = -1, slot = 0): Promise<Float32Array> {
    validateBatch(batch);
    const out = new Float32Array(batch.ids.length * this.folder.dims.hidden);
    await this.model.forward(slot, batch.ids, batch.typeIds, batch.cuSeqlens, null, MODE.hidden, 0, false, layers, out);
    return out;
  }

  /** Per-operation GPU time since the last call (EMBEDRANK_PROFILE=1 at load; otherwise empty). */
  profile(): Record<string, { ms: number; count: number }> {
    return this.model.profile();
  }

  async close(): Promise<void> {
    this.model.destroy();
  }
}

function bytes(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Uploads this rank's shard; every tensor is read straight from the safetensors file(s). */
export function uploadWeights(folder: ModelFolder, model: AddonModel, rank: number, world: number): void {
  const W = folder.weights;
  const info = (canonical: string): TensorInfo => W.store.info(W.name(canonical));
  const put = (name: string, canonical: string, data?: Buffer) => {
    const t = info(canonical);
    const code = STORED_DTYPE_CODE[t.dtype];
    if (code === undefined) throw new Error(`${t.name}: dtype ${t.dtype} cannot be uploaded`);
    model.setWeight(name, bytes(data ?? W.store.raw(t.name)), code);
  };
  const d = folder.dims;
  const hl = d.hidden / world;
  const il = d.intermediate / world;
  put('emb.word', EMBEDDING_NAMES.word);
  put('emb.pos', EMBEDDING_NAMES.pos);
  put('emb.type', EMBEDDING_NAMES.type);
  put('emb.ln.g', EMBEDDING_NAMES.lnW);
  put('emb.ln.b', EMBEDDING_NAMES.lnB);
  for (let i = 0; i < d.layers; i++) {
    const n = layerNames(i);
    const p = `L${i}.`;
    const dtypes = new Set([n.qW, n.kW, n.vW].map((c) => info(c).dtype));
    if (dtypes.size !== 1) throw new Error(`layer ${i}: query/key/value weights have different dtypes`);
    // Q, K and V become one [3·hidden/world, hidden] matrix: one GEMM instead of three.
    put(`${p}qkv.w`, n.qW, Buffer.concat([n.qW, n.kW, n.vW].map((c) => readRows(info(c), rank * hl, (rank + 1) * hl))));
    put(`${p}qkv.b`, n.qB, Buffer.concat([n.qB, n.kB, n.vB].map((c) => readRows(info(c), rank * hl, (rank + 1) * hl))));
    put(`${p}o.w`, n.aoW, world > 1 ? readCols(info(n.aoW), rank * hl, (rank + 1) * hl) : undefined);
    put(`${p}o.b`, n.aoB);
    put(`${p}ln1.g`, n.ln1W);
    put(`${p}ln1.b`, n.ln1B);
    put(`${p}up.w`, n.upW, world > 1 ? readRows(info(n.upW), rank * il, (rank + 1) * il) : undefined);
    put(`${p}up.b`, n.upB, world > 1 ? readRows(info(n.upB), rank * il, (rank + 1) * il) : undefined);
    put(`${p}down.w`, n.downW, world > 1 ? readCols(info(n.downW), rank * il, (rank + 1) * il) : undefined);
    put(`${p}down.b`, n.downB);
    put(`${p}ln2.g`, n.ln2W);
    put(`${p}ln2.b`, n.ln2B);
  }
  if (folder.kind === 'cross-encoder') {
    put('head.pool.w', HEAD_NAMES.poolerW);
    put('head.pool.b', HEAD_NAMES.poolerB);
    put('head.cls.w', HEAD_NAMES.clsW);
    put('head.cls.b', HEAD_NAMES.clsB);
  }
}
