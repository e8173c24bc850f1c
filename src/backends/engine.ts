// The contract between the coordinator and a compute backend (CPU onnxruntime, CUDA worker).
// Batches arrive unpadded — concatenated tokens plus cu_seqlens — as on the GPU; a backend that
// needs padding (onnxruntime) pads internally.
import type { HeadActivation, PoolingMode } from '../model/folder.js';
import { positionIds, type EncoderDims } from '../models/family.js';

export interface TokenBatch {
  /** Concatenated token ids of every sequence, no padding. */
  ids: Int32Array;
  /**
   * Position ids, same length as ids, as the model's family computes them (models/family.ts
   * positionIds: 0.. for BERT/DistilBERT, padding_idx + 1.. for RoBERTa/XLM-R). Absent: the backend
   * computes them with the family's rule, so producers that do not know the family need not.
   */
  positions?: Int32Array;
  /** Token type (segment) ids, same length as ids; absent means all 0 (and models without token types ignore them). */
  typeIds?: Int32Array;
  /** Prefix sums of sequence lengths: n + 1 entries, cuSeqlens[0] = 0. */
  cuSeqlens: Int32Array;
  /** Per sequence, how many leading tokens pooling skips (prompt tokens when include_prompt is false). */
  poolSkip?: Int32Array;
}

export interface PoolingSpec {
  mode: PoolingMode;
  normalize: boolean;
}

export interface RunOptions {
  /** Which preallocated buffer set (and stream) to use; backends with one ignore it. */
  slot?: number;
}

export interface EngineBackend {
  readonly name: string;
  /** Pooled (and L2-normalised when the model says so) embeddings, n × hidden, row-major, fp32. */
  embed(batch: TokenBatch, opts?: RunOptions): Promise<Float32Array>;
  /** Cross-encoder scores, n × numLabels, with `activation` applied. */
  score(batch: TokenBatch, activation: HeadActivation, opts?: RunOptions): Promise<Float32Array>;
  close(): Promise<void>;
}

export function batchSize(b: TokenBatch): number {
  return b.cuSeqlens.length - 1;
}

export function validateBatch(b: TokenBatch): void {
  const n = batchSize(b);
  if (n < 1) throw new Error('empty batch');
  if (b.cuSeqlens[0] !== 0 || b.cuSeqlens[n] !== b.ids.length) {
    throw new Error(`inconsistent batch: cu_seqlens [0..${b.cuSeqlens[n]}] vs ${b.ids.length} ids`);
  }
  if (b.typeIds !== undefined && b.typeIds.length !== b.ids.length) throw new Error(`inconsistent batch: ${b.typeIds.length} type ids for ${b.ids.length} ids`);
  if (b.positions !== undefined && b.positions.length !== b.ids.length) throw new Error(`inconsistent batch: ${b.positions.length} positions for ${b.ids.length} ids`);
  for (let i = 0; i < n; i++) {
    if (b.cuSeqlens[i + 1] <= b.cuSeqlens[i]) throw new Error(`sequence ${i} is empty`);
  }
}

/**
 * The batch's position ids: its own when it carries them (checked against the table), else the
 * family's rule. Throws when a position falls outside [0, maxPositions).
 */
export function batchPositions(b: TokenBatch, dims: EncoderDims): Int32Array {
  const pos = b.positions ?? positionIds(dims, b.ids, b.cuSeqlens);
  for (let t = 0; t < pos.length; t++) {
    if (pos[t] < 0 || pos[t] >= dims.maxPositions) throw new Error(`token ${t}: position ${pos[t]} is outside the model's ${dims.maxPositions} position embeddings`);
  }
  return pos;
}

/** Token type ids for the model: the batch's, or zeros; empty for a model without token types. */
export function batchTypeIds(b: TokenBatch, dims: EncoderDims): Int32Array {
  if (dims.typeVocab === 0) return new Int32Array(0);
  // Absent: all 0, inside [0, typeVocab) for any model with token types.
  if (!b.typeIds) return new Int32Array(b.ids.length);
  const ty = b.typeIds;
  for (let t = 0; t < ty.length; t++) {
    if (ty[t] < 0 || ty[t] >= dims.typeVocab) throw new Error(`token ${t}: type id ${ty[t]} is outside [0, ${dims.typeVocab})`);
  }
  return ty;
}
