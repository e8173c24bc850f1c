// The CUDA engine of one GPU worker thread: describes the model to the addon (shapes, dtype,
// token types, head activation — no family names), uploads this rank's slice of the weights by
// the family-agnostic weight plan (models/plan.ts) as raw stored bytes, joins the NCCL group,
// then runs batches on the native model's slots with the family's position ids.
import type { ModelFolder } from '../../model/folder.js';
import { UnsupportedOptionError } from '../../errors.js';
import { readPlanned, weightPlan, type PlannedTensor } from '../../models/plan.js';
import { applyActivation } from '../../pooling.js';
import type { EngineBackend, RunOptions, TokenBatch } from '../engine.js';
import { batchPositions, batchTypeIds, validateBatch } from '../engine.js';
import { DTYPE_CODE, STORED_DTYPE_CODE, loadAddon, type AddonModel, type GraphStats } from './addon.js';
import type { HeadActivation } from '../../model/folder.js';
import type { ComputeDtype, QuantizationOption } from '../../core/options.js';

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
  /** Decoders: the longest sequence in tokens (sizes the block table); default the folder's maxLength. */
  maxModelLen?: number;
  /** Decoders: tokens per KV block (vLLM block_size; default 16). */
  blockSize?: number;
  /** Decoders: reuse cached KV blocks of shared prompt prefixes (vLLM enable_prefix_caching; default true). */
  enablePrefixCaching?: boolean;
  /** Decoders: fraction of the GPU's memory weights, activations and the KV cache may use (default 0.9). */
  gpuMemoryUtilization?: number;
  /** Decoders: this many KV blocks instead of what gpuMemoryUtilization gives (vLLM num_gpu_blocks_override). */
  numGpuBlocksOverride?: number;
  /**
   * Decoders under tensor parallelism: a shared Int32Array [count, blocks of rank 0, …] through
   * which the ranks agree on the smallest KV pool (every rank must run the same steps).
   */
  kvBlockAgreement?: Int32Array;
  /** 'fp8': FP8 linears (EngineOptions.quantization; checked by resolveQuantization, and again by the addon). */
  quantization?: QuantizationOption;
}

const POOL_CODE = { cls: 0, mean: 1, last: 2 } as const;
/** forward / forwardDecoder modes. */
export const MODE = { embed: 0, score: 1, hidden: 2 } as const;

/**
 * Uploads every planned tensor's stored bytes (no conversion on the host), then joins the NCCL
 * group when tensor parallel. Destroys the model and rethrows on any failure.
 * @throws Error for a stored dtype the addon cannot take, or missing NCCL ids.
 */
export async function uploadPlan(model: AddonModel, folder: ModelFolder, plan: PlannedTensor[], o: CudaEngineOptions, extra: Array<{ name: string; data: Float32Array }> = []): Promise<void> {
  try {
    for (const t of plan) {
      const { bytes, dtype } = readPlanned(folder.weights, t);
      const code = STORED_DTYPE_CODE[dtype];
      if (code === undefined) throw new Error(`${t.engine}: stored dtype ${dtype} cannot be uploaded`);
      model.setWeight(t.engine, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), code);
    }
    for (const e of extra) model.setWeight(e.name, new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength), STORED_DTYPE_CODE.F32);
    if (o.worldSize > 1) {
      if (!o.ncclIds || o.ncclIds.length !== o.slots) throw new Error('tensor parallelism needs one NCCL unique id per slot');
      await model.connect(o.ncclIds);
    }
  } catch (e) {
    model.destroy();
    throw e;
  }
}
const HEAD_ACT_CODE = { tanh: 0, relu: 1 } as const;
const QUANTIZATION_CODE = { none: 0, fp8: 1 } as const;

export class CudaEngine implements EngineBackend {
  readonly name = 'cuda';

  private constructor(private readonly folder: ModelFolder, private readonly model: AddonModel) {}

  static async create(folder: ModelFolder, o: CudaEngineOptions): Promise<CudaEngine> {
    const d = folder.dims;
    if (d.decoder) throw new UnsupportedOptionError(`${folder.dir}: ${d.family} is a decoder; it runs on CudaDecoderEngine (backends/cuda/decoder-engine.ts)`);
    const addon = loadAddon();
    const k = o.worldSize;
    const plan = weightPlan(d, { rank: o.rank, world: k, classifier: folder.kind === 'cross-encoder' });
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
      headActivation: HEAD_ACT_CODE[folder.family.headActivation],
      eps: d.eps,
      maxTokens: o.maxTokens,
      maxSeqs: o.maxSeqs,
      slots: o.slots,
      rank: o.rank,
      worldSize: k,
      allowTf32: Boolean(o.allowTf32),
      quantization: o.quantization === 'fp8' ? QUANTIZATION_CODE.fp8 : QUANTIZATION_CODE.none,
    });
    await uploadPlan(model, folder, plan, o);
    return new CudaEngine(folder, model);
  }

  async embed(batch: TokenBatch, opts: RunOptions = {}): Promise<Float32Array> {
    validateBatch(batch);
    const n = batch.cuSeqlens.length - 1;
    // Poisoned: a row the GPU failed to write shows up as NaN, never as a plausible zero vector.
    const out = new Float32Array(n * this.folder.dims.hidden).fill(NaN);
    const st = this.folder.st;
    await this.model.forward(opts.slot ?? 0, batch.ids, ...this.inputs(batch), batch.cuSeqlens, batch.poolSkip ?? null, MODE.embed, POOL_CODE[st.pooling], st.normalize, -1, out);
    return out;
  }

  async score(batch: TokenBatch, activation: HeadActivation, opts: RunOptions = {}): Promise<Float32Array> {
    if (this.folder.kind !== 'cross-encoder') throw new Error(`${this.folder.dir} is not a cross-encoder`);
    validateBatch(batch);
    const n = batch.cuSeqlens.length - 1;
    const out = new Float32Array(n * this.folder.numLabels).fill(NaN);
    await this.model.forward(opts.slot ?? 0, batch.ids, ...this.inputs(batch), batch.cuSeqlens, null, MODE.score, 0, false, -1, out);
    return applyActivation(out, activation);
  }

  /** Hidden states [tokens, hidden] after `layers` layers (all when omitted), fp32: for tests. */
  async hidden(batch: TokenBatch, layers = -1, slot = 0): Promise<Float32Array> {
    validateBatch(batch);
    const out = new Float32Array(batch.ids.length * this.folder.dims.hidden);
    await this.model.forward(slot, batch.ids, ...this.inputs(batch), batch.cuSeqlens, null, MODE.hidden, 0, false, layers, out);
    return out;
  }

  /** Token types (empty for a model without them) and the family's positions, checked on the host. */
  private inputs(batch: TokenBatch): [Int32Array, Int32Array] {
    const d = this.folder.dims;
    return [batchTypeIds(batch, d), batchPositions(batch, d)];
  }

  /** Per-operation GPU time since the last call (EMBEDRANK_PROFILE=1 at load; otherwise empty). */
  profile(): Record<string, { ms: number; count: number }> {
    return this.model.profile();
  }

  /** CUDA graphs this engine's model captured and replayed (addon.ts GraphStats). */
  graphStats(): GraphStats {
    return this.model.graphStats();
  }

  async close(): Promise<void> {
    this.model.destroy();
  }
}
