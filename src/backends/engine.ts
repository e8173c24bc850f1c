// The contract between the coordinator and a compute backend (CPU onnxruntime, CUDA worker).
// Batches arrive unpadded — concatenated tokens plus cu_seqlens — as on the GPU; a backend that
// needs padding (onnxruntime) pads internally.
import type { HeadActivation, PoolingMode } from '../model/folder.js';

export interface TokenBatch {
  /** Concatenated token ids of every sequence, no padding. */
  ids: Int32Array;
  /** Token type (segment) ids, same length as ids. */
  typeIds: Int32Array;
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
  if (b.cuSeqlens[0] !== 0 || b.cuSeqlens[n] !== b.ids.length || b.typeIds.length !== b.ids.length) {
    throw new Error(`inconsistent batch: cu_seqlens [0..${b.cuSeqlens[n]}] vs ${b.ids.length} ids, ${b.typeIds.length} type ids`);
  }
  for (let i = 0; i < n; i++) {
    if (b.cuSeqlens[i + 1] <= b.cuSeqlens[i]) throw new Error(`sequence ${i} is empty`);
  }
}
