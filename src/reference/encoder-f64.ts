// A float64 encoder forward pass in plain TypeScript, for every family in src/models/ (BERT,
// RoBERTa, XLM-R, DistilBERT): the ground truth every backend (onnxruntime on the CPU, the CUDA
// kernels) is tested against. It is written to be read, not to be fast: one unpadded sequence at a
// time, textbook loops, every intermediate in float64. It shares nothing with the ONNX exporter
// except the family's weight plan (engine keys → checkpoint names) and position rule.
//
//   embeddings  e_t = W_word[id_t] + W_pos[p_t] (+ W_type[type_t] when the model has types);  x = LN(e)
//               p_t = t (BERT, DistilBERT) or padding_idx + 1 + t (RoBERTa/XLM-R; models/family.ts)
//   each layer  q,k,v = x W_{q,k,v}ᵀ + b;  per head a = softmax(q kᵀ / √d) v
//               h = LN(x + a W_oᵀ + b_o);   x = LN(h + GELU(h W_upᵀ + b_up) W_downᵀ + b_down)
//   GELU(z)     = z · ½ · (1 + erf(z / √2))  (exact, with erf accurate to ~1e-16)
//   head        logits = W_out act(W_dense x_first + b_dense) + b_out, act = tanh (BERT pooler,
//               RoBERTa classifier.dense/out_proj) or ReLU (DistilBERT pre_classifier/classifier)
import { fakeQuantizeRowsE4m3 } from './fp8-e4m3.js';
import type { ModelFolder, PoolingMode } from '../model/folder.js';
import { layerKey, positionIds, type EncoderDims, type HeadActivationKind, type LayerTensor } from '../models/family.js';

// ---------------------------------------------------------------------------------------------
// erf in float64
//
// |x| < 1.5: erf(x) = 2/√π · e^{−x²} · Σ_{n≥0} 2ⁿ x^{2n+1} / (1·3·5···(2n+1))
//            (Abramowitz & Stegun 7.1.6). Every term is positive, so there is no cancellation;
//            e^{−x²} is computed with x² split exactly (expMinusSquare), so the result is good
//            to a few ulps.
// |x| ≥ 1.5: erfc(x) = e^{−x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …)))))
//            (A&S 7.1.14), evaluated with the modified Lentz algorithm; erf = 1 − erfc.
// Against mpmath on [−6.5, 6.5] the max abs error is 7.8e-16 (a few ulps of 1); the crossover
// at 1.5 balances the series' accumulated rounding against the fraction's slow convergence.

const TWO_OVER_SQRT_PI = 1.1283791670955126; // 2/√π
const ONE_OVER_SQRT_PI = 0.5641895835477563; // 1/√π
const SERIES_LIMIT = 1.5;

/**
 * e^{−x²} without the x²·ε relative error of Math.exp(−x*x): x is split as xh + xl with xh a
 * float32 (so xh² is exact in float64) and e^{−x²} = e^{−xh²} · e^{−(x − xh)(x + xh)}.
 */
function expMinusSquare(x: number): number {
  const xh = Math.fround(x);
  const r = (x - xh) * (x + xh);
  return Math.exp(-xh * xh) * Math.exp(-r);
}

/** erf(x) for 0 ≤ x < 1.5 (the series is odd; callers pass |x|). */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return TWO_OVER_SQRT_PI * expMinusSquare(x) * sum;
}

/** erfc(x) for x ≥ 1.5 by the Laplace continued fraction. */
function erfcContinuedFraction(x: number): number {
  // f = x + a1/(x + a2/(x + a3/(x + …))) with a_k = k/2.
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let k = 1; k < 500; k++) {
    const a = k / 2;
    d = x + a * d;
    d = d === 0 ? 1 / tiny : 1 / d;
    c = x + a / c;
    if (c === 0) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return (ONE_OVER_SQRT_PI * expMinusSquare(x)) / f;
}

/** The error function in float64 (max abs error < 1e-15). */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < SERIES_LIMIT) return x < 0 ? -erfSeries(ax) : erfSeries(ax);
  if (ax > 6) return Math.sign(x); // erfc(6) ≈ 2e-17
  const r = 1 - erfcContinuedFraction(ax);
  return x < 0 ? -r : r;
}

/** erfc(x) = 1 − erf(x), accurate in relative terms for large positive x. */
export function erfc(x: number): number {
  if (x >= SERIES_LIMIT) return x > 27 ? 0 : erfcContinuedFraction(x);
  return 1 - erf(x);
}

/** Exact (erf) GELU, as torch.nn.GELU() and transformers' "gelu". */
export function geluExact(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}

// ---------------------------------------------------------------------------------------------
// Weights

export interface LinearF64 {
  /** [out, in], row-major (torch Linear layout). */
  w: Float64Array;
  b: Float64Array;
  out: number;
  in: number;
}

export interface LayerNormF64 {
  gamma: Float64Array;
  beta: Float64Array;
}

export interface LayerF64 {
  q: LinearF64;
  k: LinearF64;
  v: LinearF64;
  attnOut: LinearF64;
  ln1: LayerNormF64;
  up: LinearF64;
  down: LinearF64;
  ln2: LayerNormF64;
}

export interface EncoderF64 {
  dims: EncoderDims;
  word: Float64Array;
  pos: Float64Array;
  /** Token-type table; absent for models without token types (DistilBERT). */
  type?: Float64Array;
  embLn: LayerNormF64;
  layers: LayerF64[];
  /** Classification head: dense → act → classifier on the first token (cross-encoders). */
  pooler?: LinearF64;
  classifier?: LinearF64;
  headActivation: HeadActivationKind;
  /**
   * quantization 'fp8' emulated: the six linear weights of every layer hold their e4m3 values
   * (per output channel) and encoderHiddenF64 quantises each linear's input per token
   * (reference/fp8-e4m3.ts), everything else exact.
   */
  fp8?: boolean;
}

/** The parts of a ModelFolder the reference reads. */
export type EncoderF64Source = Pick<ModelFolder, 'dims' | 'weights' | 'family'>;

/**
 * Loads every tensor as float64. F16/BF16 checkpoints are widened exactly (every half and bfloat16
 * value is a float32 and a float64), so the reference sees the same numbers as any backend.
 */
export function loadEncoderF64(src: EncoderF64Source, opts: { fp8?: boolean } = {}): EncoderF64 {
  const d = src.dims;
  const t = (key: string) => Float64Array.from(src.weights.f32(key));
  const linear = (wKey: string, bKey: string, out: number, inp: number, quantize = false): LinearF64 => ({
    w: quantize ? fakeQuantizeRowsE4m3(src.weights.f32(wKey), out, inp) : t(wKey),
    b: src.weights.has(bKey) ? t(bKey) : new Float64Array(out),
    out,
    in: inp,
  });
  const ln = (g: string, b: string): LayerNormF64 => ({ gamma: t(g), beta: t(b) });
  const Hl = d.heads * d.headDim;
  const fp8 = Boolean(opts.fp8);
  const layers: LayerF64[] = [];
  for (let i = 0; i < d.layers; i++) {
    const k = (x: LayerTensor) => layerKey(i, x);
    layers.push({
      q: linear(k('q.w'), k('q.b'), Hl, d.hidden, fp8),
      k: linear(k('k.w'), k('k.b'), Hl, d.hidden, fp8),
      v: linear(k('v.w'), k('v.b'), Hl, d.hidden, fp8),
      attnOut: linear(k('o.w'), k('o.b'), d.hidden, Hl, fp8),
      ln1: ln(k('ln1.g'), k('ln1.b')),
      up: linear(k('up.w'), k('up.b'), d.intermediate, d.hidden, fp8),
      down: linear(k('down.w'), k('down.b'), d.hidden, d.intermediate, fp8),
      ln2: ln(k('ln2.g'), k('ln2.b')),
    });
  }
  const model: EncoderF64 = {
    dims: d,
    word: t('emb.word'),
    pos: t('emb.pos'),
    type: d.typeVocab > 0 ? t('emb.type') : undefined,
    embLn: ln('emb.ln.g', 'emb.ln.b'),
    layers,
    headActivation: src.family.headActivation,
    fp8,
  };
  if (src.weights.has('head.pool.w')) model.pooler = linear('head.pool.w', 'head.pool.b', d.hidden, d.hidden);
  if (src.weights.has('head.cls.w')) {
    const labels = src.weights.shape('head.cls.w')[0];
    model.classifier = linear('head.cls.w', 'head.cls.b', labels, d.hidden);
  }
  return model;
}

// ---------------------------------------------------------------------------------------------
// Building blocks (all on row-major [rows, cols] float64 matrices)

/** y = x Wᵀ + b for each of `rows` rows of x. */
export function linearF64(x: Float64Array, rows: number, l: LinearF64): Float64Array {
  const y = new Float64Array(rows * l.out);
  for (let r = 0; r < rows; r++) {
    const xr = r * l.in;
    for (let o = 0; o < l.out; o++) {
      const wr = o * l.in;
      let s = 0;
      for (let i = 0; i < l.in; i++) s += x[xr + i] * l.w[wr + i];
      y[r * l.out + o] = s + l.b[o];
    }
  }
  return y;
}

/** LayerNorm over the last dimension (biased variance, eps inside the square root), in place. */
export function layerNormF64<T extends Float64Array>(x: T, rows: number, dim: number, p: LayerNormF64, eps: number): T {
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let mean = 0;
    for (let i = 0; i < dim; i++) mean += x[o + i];
    mean /= dim;
    let variance = 0;
    for (let i = 0; i < dim; i++) variance += (x[o + i] - mean) ** 2;
    variance /= dim;
    const inv = 1 / Math.sqrt(variance + eps);
    for (let i = 0; i < dim; i++) x[o + i] = (x[o + i] - mean) * inv * p.gamma[i] + p.beta[i];
  }
  return x;
}

/** Multi-head self-attention over one unpadded sequence (no mask needed): softmax(QKᵀ/√d)V. */
export function attentionF64(q: Float64Array, k: Float64Array, v: Float64Array, len: number, heads: number, headDim: number): Float64Array {
  const hidden = heads * headDim;
  const out = new Float64Array(len * hidden);
  const scale = 1 / Math.sqrt(headDim);
  const p = new Float64Array(len);
  for (let h = 0; h < heads; h++) {
    const c = h * headDim;
    for (let i = 0; i < len; i++) {
      let max = -Infinity;
      for (let j = 0; j < len; j++) {
        let s = 0;
        for (let e = 0; e < headDim; e++) s += q[i * hidden + c + e] * k[j * hidden + c + e];
        p[j] = s * scale;
        if (p[j] > max) max = p[j];
      }
      let sum = 0;
      for (let j = 0; j < len; j++) {
        p[j] = Math.exp(p[j] - max);
        sum += p[j];
      }
      for (let j = 0; j < len; j++) {
        const pj = p[j] / sum;
        for (let e = 0; e < headDim; e++) out[i * hidden + c + e] += pj * v[j * hidden + c + e];
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Forward passes

/** Last hidden state of one sequence: len × hidden, row-major. Positions follow the family's rule. */
export function encoderHiddenF64(m: EncoderF64, ids: ArrayLike<number>, typeIds?: ArrayLike<number>): Float64Array {
  const d = m.dims;
  const len = ids.length;
  const H = d.hidden;
  if (len < 1) throw new Error('empty sequence');
  if (len + d.positionOffset > d.maxPositions) throw new Error(`sequence of ${len} tokens exceeds ${d.maxPositions - d.positionOffset} positions`);
  if (typeIds && typeIds.length !== len) throw new Error(`${typeIds.length} type ids for ${len} tokens`);
  const pos = positionIds(d, Int32Array.from(ids), Int32Array.from([0, len]));

  let x: Float64Array = new Float64Array(len * H);
  for (let t = 0; t < len; t++) {
    const id = ids[t];
    const ty = typeIds ? typeIds[t] : 0;
    if (!(id >= 0 && id < d.vocab)) throw new Error(`token ${t}: id ${id} outside the vocabulary`);
    if (m.type && !(ty >= 0 && ty < d.typeVocab)) throw new Error(`token ${t}: type id ${ty} out of range`);
    const p = pos[t];
    for (let i = 0; i < H; i++) x[t * H + i] = m.word[id * H + i] + m.pos[p * H + i] + (m.type ? m.type[ty * H + i] : 0);
  }
  layerNormF64(x, len, H, m.embLn, d.eps);
  for (const L of m.layers) x = encoderLayerF64(m, L, x, len);
  return x;
}

/**
 * One post-LayerNorm encoder layer (BERT's: attention, add, LayerNorm, GELU FFN, add, LayerNorm)
 * over one sequence's hidden states x [len, hidden]; returns the layer's output, x untouched. Under
 * m.fp8 each linear's input is quantised per token first (every linear's weights already hold their
 * e4m3 values), as the GPU's fp8 path does.
 */
export function encoderLayerF64(m: EncoderF64, L: LayerF64, x: Float64Array, len: number): Float64Array {
  const d = m.dims;
  const H = d.hidden;
  if (x.length !== len * H) throw new Error(`hidden states of ${x.length} values for ${len} tokens of ${H}`);
  // A linear's input as the model sees it: per-token e4m3 under fp8, else as is.
  const input = (a: Float64Array, K: number) => (m.fp8 ? fakeQuantizeRowsE4m3(a, len, K) : a);
  const Hl = d.heads * d.headDim;
  const xi = input(x, H);
  const q = linearF64(xi, len, L.q);
  const k = linearF64(xi, len, L.k);
  const v = linearF64(xi, len, L.v);
  const a = linearF64(input(attentionF64(q, k, v, len, d.heads, d.headDim), Hl), len, L.attnOut);
  for (let i = 0; i < a.length; i++) a[i] += x[i];
  const h = layerNormF64(a, len, H, L.ln1, d.eps);
  const up = linearF64(input(h, H), len, L.up);
  for (let i = 0; i < up.length; i++) up[i] = geluExact(up[i]);
  const down = linearF64(input(up, d.intermediate), len, L.down);
  for (let i = 0; i < down.length; i++) down[i] += h[i];
  return layerNormF64(down, len, H, L.ln2, d.eps);
}

/**
 * Pools one sequence's hidden states (len × dim): CLS row, last row, or the mean of rows
 * skip..len−1 (skip = prompt tokens excluded from mean pooling, clamped to leave one token).
 */
export function poolF64(hidden: Float64Array, len: number, dim: number, mode: PoolingMode, skip = 0): Float64Array {
  const out = new Float64Array(dim);
  if (mode === 'cls') out.set(hidden.subarray(0, dim));
  else if (mode === 'last') out.set(hidden.subarray((len - 1) * dim, len * dim));
  else {
    const from = Math.min(skip, len - 1);
    for (let t = from; t < len; t++) for (let i = 0; i < dim; i++) out[i] += hidden[t * dim + i];
    for (let i = 0; i < dim; i++) out[i] /= len - from;
  }
  return out;
}

/** x / max(‖x‖₂, 1e-12), as torch.nn.functional.normalize. */
export function l2NormalizeF64(x: Float64Array): Float64Array {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  const inv = 1 / Math.max(Math.sqrt(s), 1e-12);
  return x.map((v) => v * inv);
}

/** Sentence embedding of one sequence: forward, pool, optionally normalise. */
export function embedF64(
  m: EncoderF64,
  ids: ArrayLike<number>,
  typeIds: ArrayLike<number> | undefined,
  pooling: PoolingMode,
  normalize: boolean,
  skip = 0,
): Float64Array {
  const h = encoderHiddenF64(m, ids, typeIds);
  const pooled = poolF64(h, ids.length, m.dims.hidden, pooling, skip);
  return normalize ? l2NormalizeF64(pooled) : pooled;
}

/** Cross-encoder logits of one (query, document) sequence: classifier(act(dense(first token))). */
export function crossEncoderLogitsF64(m: EncoderF64, ids: ArrayLike<number>, typeIds?: ArrayLike<number>): Float64Array {
  if (!m.pooler || !m.classifier) throw new Error('model has no classification head (not a cross-encoder)');
  const h = encoderHiddenF64(m, ids, typeIds);
  const act = m.headActivation === 'relu' ? (v: number) => Math.max(v, 0) : Math.tanh;
  const pooled = linearF64(h.subarray(0, m.dims.hidden), 1, m.pooler).map(act);
  return linearF64(pooled, 1, m.classifier);
}

/** Cross-encoder scores with an activation: sigmoid (default for one label) or identity. */
export function crossEncoderScoreF64(
  m: EncoderF64,
  ids: ArrayLike<number>,
  typeIds: ArrayLike<number> | undefined,
  activation: 'sigmoid' | 'identity',
): Float64Array {
  const z = crossEncoderLogitsF64(m, ids, typeIds);
  return activation === 'sigmoid' ? z.map((v) => 1 / (1 + Math.exp(-v))) : z;
}
