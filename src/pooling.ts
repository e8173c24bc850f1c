// Poolers and heads in fp32 on the CPU, shared by the onnxruntime engine and used as the
// reference for the CUDA pooling kernel.
import type { HeadActivation, PoolingMode } from './model/folder.js';
import type { DenseActivation, PostPoolingModule } from './model/sentence-transformers.js';

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

/** erf to about 1.2e-7 absolute (W. J. Cody's rational form via Numerical Recipes' erfc), enough for fp32. */
function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z - 1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - r : r - 1;
}

const DENSE_ACT: Record<DenseActivation, (v: number) => number> = {
  identity: (v) => v,
  tanh: Math.tanh,
  relu: (v) => (v > 0 ? v : 0),
  sigmoid: (v) => 1 / (1 + Math.exp(-v)),
  gelu: (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)), // torch.nn.GELU() default: exact erf form
  silu: (v) => v / (1 + Math.exp(-v)),
};

/**
 * Runs sentence-transformers' post-pooling modules (Dense, Normalize), in order, on `n` pooled
 * rows of `dim` values (row-major fp32). Dense computes act(x W^T + b) (+ residual) with float64
 * sums, as sentence-transformers' Dense.forward; Normalize as torch.nn.functional.normalize.
 * Returns the new rows and their width.
 */
export function applyAfterPooling(x: Float32Array, n: number, dim: number, modules: PostPoolingModule[]): { values: Float32Array; dim: number } {
  let cur = x;
  let width = dim;
  for (const m of modules) {
    if (m.kind === 'normalize') {
      l2NormalizeRows(cur, width);
      continue;
    }
    if (m.inFeatures !== width) throw new Error(`Dense module ${m.dir} expects ${m.inFeatures} inputs, got ${width}`);
    const out = new Float32Array(n * m.outFeatures);
    const act = DENSE_ACT[m.activation];
    const { weight: w, bias: b, residual } = m;
    for (let i = 0; i < n; i++) {
      const xi = i * width;
      for (let o = 0; o < m.outFeatures; o++) {
        const wo = o * width;
        let s = b ? b[o] : 0;
        for (let k = 0; k < width; k++) s += cur[xi + k] * w[wo + k];
        let v = act(s);
        if (residual === 'identity') v += cur[xi + o];
        else if (residual) {
          let r = 0;
          for (let k = 0; k < width; k++) r += cur[xi + k] * residual[wo + k];
          v += r;
        }
        out[i * m.outFeatures + o] = v;
      }
    }
    cur = out;
    width = m.outFeatures;
  }
  return { values: cur, dim: width };
}
