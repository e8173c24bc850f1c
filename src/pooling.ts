// Poolers and heads in fp32 on the CPU, shared by the onnxruntime engine and used as the
// reference for the CUDA pooling kernel.
import type { HeadActivation, PoolingMode } from './model/folder.js';

/**
 * Pools per-token hidden states of one sequence. `hidden` holds `len` rows of `dim` starting at
 * row `start`; `skip` leading tokens are excluded from mean pooling (prompt tokens).
 */
export function poolSequence(
  hidden: Float32Array,
  start: number,
  len: number,
  dim: number,
  mode: PoolingMode,
  out: Float32Array,
  outOffset: number,
  skip = 0,
): void {
  if (mode === 'cls') {
    for (let d = 0; d < dim; d++) out[outOffset + d] = hidden[start * dim + d];
  } else if (mode === 'last') {
    const r = (start + len - 1) * dim;
    for (let d = 0; d < dim; d++) out[outOffset + d] = hidden[r + d];
  } else {
    const from = Math.min(skip, len - 1);
    const acc = new Float64Array(dim);
    for (let t = from; t < len; t++) {
      const r = (start + t) * dim;
      for (let d = 0; d < dim; d++) acc[d] += hidden[r + d];
    }
    const inv = 1 / (len - from);
    for (let d = 0; d < dim; d++) out[outOffset + d] = acc[d] * inv;
  }
}

/** L2-normalises each row in place (rows of zeros stay zero), as torch.nn.functional.normalize. */
export function l2NormalizeRows(x: Float32Array, dim: number): void {
  for (let r = 0; r < x.length; r += dim) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += x[r + d] * x[r + d];
    const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
    for (let d = 0; d < dim; d++) x[r + d] *= inv;
  }
}

export function applyActivation(x: Float32Array, act: HeadActivation): Float32Array {
  if (act === 'sigmoid') for (let i = 0; i < x.length; i++) x[i] = 1 / (1 + Math.exp(-x[i]));
  return x;
}
