// A float64 forward pass of the Qwen3 decoder (src/models/qwen3.ts) in plain TypeScript: the ground
// truth the CPU engine's ONNX graph and the CUDA kernels are tested against. One unpadded sequence
// at a time, textbook loops, every intermediate in float64; shares nothing with the ONNX exporter
// but the weight plan (engine keys → checkpoint names). transformers' modeling_qwen3:
//
//   x = W_emb[ids]
//   each layer  a = RMSNorm₁(x);  q = a W_qᵀ, k = a W_kᵀ, v = a W_vᵀ  (split into heads of d)
//               q, k ← per-head RMSNorm (q_norm, k_norm), then NeoX rotary at the token's position:
//                 θ_i = rope_theta^(−2i/d), i < d/2;  (x₁, x₂) ← (x₁ cos pθ − x₂ sin pθ, x₂ cos pθ + x₁ sin pθ)
//                 with x₁ = x[:d/2], x₂ = x[d/2:]
//               head h attends with K/V head ⌊h / (heads/kvHeads)⌋, causally: softmax(q kᵀ/√d + causal) v
//               x = x + attn W_oᵀ;   x = x + (SiLU(b W_gateᵀ) ⊙ b W_upᵀ) W_downᵀ with b = RMSNorm₂(x)
//   final       h = RMSNorm(x)
//   RMSNorm(x)  = w ⊙ x / √(mean(x²) + eps)
//   embedding   h at the last token (Qwen3-Embedding's last-token pooling), then L2-normalised
//   reranker    logits = W_head h_last (score.weight, or lm_head[yes] − lm_head[no]; models/qwen3-reranker.ts)
import type { ModelFolder } from '../model/folder.js';
import type { EncoderDims } from '../models/family.js';
import { qwen3HeadMatrix } from '../models/qwen3-reranker.js';
import { l2NormalizeF64 } from './encoder-f64.js';

interface LayerF64 {
  ln1: Float64Array;
  q: Float64Array;
  k: Float64Array;
  v: Float64Array;
  qNorm: Float64Array;
  kNorm: Float64Array;
  o: Float64Array;
  ln2: Float64Array;
  gate: Float64Array;
  up: Float64Array;
  down: Float64Array;
}

export interface DecoderF64 {
  dims: EncoderDims;
  word: Float64Array;
  layers: LayerF64[];
  norm: Float64Array;
  /** [labels, hidden] sequence-classification head (rerankers). */
  head?: Float64Array;
}

export type DecoderF64Source = Pick<ModelFolder, 'dims' | 'weights' | 'kind'>;

/** Loads every tensor as float64 (F16/BF16 widen exactly). */
export function loadDecoderF64(src: DecoderF64Source): DecoderF64 {
  const d = src.dims;
  if (!d.decoder) throw new Error(`${d.family} is not a decoder family`);
  const t = (key: string) => Float64Array.from(src.weights.f32(key));
  const layers: LayerF64[] = [];
  for (let i = 0; i < d.layers; i++) {
    const k = (x: string) => t(`L${i}.${x}`);
    layers.push({
      ln1: k('ln1.g'), q: k('q.w'), k: k('k.w'), v: k('v.w'), qNorm: k('q_norm.g'), kNorm: k('k_norm.g'),
      o: k('o.w'), ln2: k('ln2.g'), gate: k('gate.w'), up: k('up.w'), down: k('down.w'),
    });
  }
  const m: DecoderF64 = { dims: d, word: t('emb.word'), layers, norm: t('norm.g') };
  if (src.kind === 'cross-encoder' && d.decoder.scoreHead) m.head = Float64Array.from(qwen3HeadMatrix(src.weights, d.decoder.scoreHead));
  return m;
}

/** y = x Wᵀ for `rows` rows; W is [out, in]. */
export function matmulT(x: Float64Array, rows: number, w: Float64Array, out: number, inp: number): Float64Array {
  const y = new Float64Array(rows * out);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < out; o++) {
      let s = 0;
      for (let i = 0; i < inp; i++) s += x[r * inp + i] * w[o * inp + i];
      y[r * out + o] = s;
    }
  }
  return y;
}

/** RMSNorm over consecutive groups of `dim` values, in place. */
export function rmsNormF64(x: Float64Array, dim: number, w: Float64Array, eps: number): Float64Array {
  for (let o = 0; o < x.length; o += dim) {
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[o + i] * x[o + i];
    const inv = 1 / Math.sqrt(ss / dim + eps);
    for (let i = 0; i < dim; i++) x[o + i] = x[o + i] * inv * w[i];
  }
  return x;
}

/** NeoX-style rotary on rows of `heads` heads × d at the given positions, in place. */
export function rotaryF64(x: Float64Array, len: number, heads: number, d: number, theta: number, positions: ArrayLike<number>): void {
  const half = d / 2;
  for (let t = 0; t < len; t++) {
    for (let i = 0; i < half; i++) {
      const a = positions[t] * Math.pow(theta, (-2 * i) / d);
      const c = Math.cos(a);
      const s = Math.sin(a);
      for (let h = 0; h < heads; h++) {
        const o = (t * heads + h) * d;
        const x1 = x[o + i];
        const x2 = x[o + half + i];
        x[o + i] = x1 * c - x2 * s;
        x[o + half + i] = x2 * c + x1 * s;
      }
    }
  }
}

/**
 * The K and V (after k_norm and rotary) of the tokens a sequence has processed so far, per layer:
 * rows of kvHeads · headDim values. What the paged KV cache holds on the GPU, here unpaged.
 */
export interface KvCacheF64 {
  k: number[][];
  v: number[][];
  /** Tokens cached; the next token's position. */
  len: number;
}

export function newKvCacheF64(m: DecoderF64): KvCacheF64 {
  return { k: m.layers.map(() => []), v: m.layers.map(() => []), len: 0 };
}

/**
 * A copy of the first `upTo` cached tokens that grows independently: a shared prompt prefix (the
 * prefix-cache hit) reused by several candidates.
 */
export function forkKvCacheF64(c: KvCacheF64, upTo = c.len): KvCacheF64 {
  if (!(upTo >= 0 && upTo <= c.len)) throw new Error(`cannot fork ${upTo} of ${c.len} cached tokens`);
  const w = c.len ? c.k[0].length / c.len : 0;
  return { k: c.k.map((l) => l.slice(0, upTo * w)), v: c.v.map((l) => l.slice(0, upTo * w)), len: upTo };
}

/**
 * Runs `ids` as the next tokens of the sequence whose earlier tokens are in `cache` (positions
 * cache.len …): each token attends to every cached token and causally within the chunk; the
 * chunk's K/V are appended. Returns the chunk's final hidden states (len × hidden, after the last
 * RMSNorm). Chunked prefill and prefix reuse are this with a non-empty cache.
 * @throws Error for an empty chunk or an id outside the vocabulary.
 */
export function decoderPrefillF64(m: DecoderF64, cache: KvCacheF64, ids: ArrayLike<number>): Float64Array {
  const d = m.dims;
  const dec = d.decoder!;
  const len = ids.length;
  const H = d.hidden;
  const hd = d.headDim;
  const nq = d.heads;
  const nkv = dec.kvHeads;
  const group = nq / nkv;
  const kvw = nkv * hd;
  if (len < 1) throw new Error('empty sequence');
  const past = cache.len;
  const pos = Array.from({ length: len }, (_, t) => past + t);
  const x = new Float64Array(len * H);
  for (let t = 0; t < len; t++) {
    const id = ids[t];
    if (!(id >= 0 && id < d.vocab)) throw new Error(`token ${t}: id ${id} outside the vocabulary`);
    x.set(m.word.subarray(id * H, (id + 1) * H), t * H);
  }
  const scale = 1 / Math.sqrt(hd);
  const total = past + len;
  const p = new Float64Array(total);
  m.layers.forEach((L, li) => {
    const a = rmsNormF64(x.slice(), H, L.ln1, d.eps);
    const q = rmsNormF64(matmulT(a, len, L.q, nq * hd, H), hd, L.qNorm, d.eps);
    const kNew = rmsNormF64(matmulT(a, len, L.k, kvw, H), hd, L.kNorm, d.eps);
    const vNew = matmulT(a, len, L.v, kvw, H);
    rotaryF64(q, len, nq, hd, dec.ropeTheta, pos);
    rotaryF64(kNew, len, nkv, hd, dec.ropeTheta, pos);
    for (let t = 0; t < len; t++) {
      cache.k[li].push(...kNew.subarray(t * kvw, (t + 1) * kvw));
      cache.v[li].push(...vNew.subarray(t * kvw, (t + 1) * kvw));
    }
    const k = cache.k[li];
    const v = cache.v[li];
    const ctx = new Float64Array(len * nq * hd);
    for (let h = 0; h < nq; h++) {
      const kh = Math.floor(h / group);
      for (let i = 0; i < len; i++) {
        const last = past + i; // causal: keys 0 … own position
        let max = -Infinity;
        for (let j = 0; j <= last; j++) {
          let s = 0;
          for (let e = 0; e < hd; e++) s += q[(i * nq + h) * hd + e] * k[j * kvw + kh * hd + e];
          p[j] = s * scale;
          if (p[j] > max) max = p[j];
        }
        let sum = 0;
        for (let j = 0; j <= last; j++) sum += p[j] = Math.exp(p[j] - max);
        for (let j = 0; j <= last; j++) {
          const w = p[j] / sum;
          for (let e = 0; e < hd; e++) ctx[(i * nq + h) * hd + e] += w * v[j * kvw + kh * hd + e];
        }
      }
    }
    const o = matmulT(ctx, len, L.o, H, nq * hd);
    for (let i = 0; i < x.length; i++) x[i] += o[i];
    const b = rmsNormF64(x.slice(), H, L.ln2, d.eps);
    const g = matmulT(b, len, L.gate, d.intermediate, H);
    const u = matmulT(b, len, L.up, d.intermediate, H);
    for (let i = 0; i < g.length; i++) g[i] = (g[i] / (1 + Math.exp(-g[i]))) * u[i];
    const down = matmulT(g, len, L.down, H, d.intermediate);
    for (let i = 0; i < x.length; i++) x[i] += down[i];
  });
  cache.len = total;
  return rmsNormF64(x, H, m.norm, d.eps);
}

/** Final hidden states of one whole sequence at positions 0 … len−1 (len × hidden). */
export function decoderHiddenF64(m: DecoderF64, ids: ArrayLike<number>): Float64Array {
  return decoderPrefillF64(m, newKvCacheF64(m), ids);
}

/** Qwen3-Embedding's sentence embedding: the last token's final hidden state, L2-normalised when asked. */
export function decoderEmbedF64(m: DecoderF64, ids: ArrayLike<number>, normalize = true): Float64Array {
  const h = decoderHiddenF64(m, ids);
  const last = h.slice((ids.length - 1) * m.dims.hidden, ids.length * m.dims.hidden);
  return normalize ? l2NormalizeF64(last) : last;
}

/** Reranker logits at the last token: head rows · h_last ([labels]). */
export function decoderScoreLogitsF64(m: DecoderF64, ids: ArrayLike<number>): Float64Array {
  if (!m.head) throw new Error('model has no sequence-classification head (not a reranker folder)');
  const H = m.dims.hidden;
  const h = decoderHiddenF64(m, ids);
  const last = h.subarray((ids.length - 1) * H, ids.length * H);
  return matmulT(last, 1, m.head, m.head.length / H, H);
}

/** Logits of the given vocabulary rows of the LM head at the last token (e.g. the "yes" and "no" ids). */
export function decoderTokenLogitsF64(m: DecoderF64, lmHead: Float64Array, ids: ArrayLike<number>, tokens: number[]): number[] {
  const H = m.dims.hidden;
  const h = decoderHiddenF64(m, ids);
  const last = h.subarray((ids.length - 1) * H, ids.length * H);
  return tokens.map((tok) => {
    let s = 0;
    for (let i = 0; i < H; i++) s += last[i] * lmHead[tok * H + i];
    return s;
  });
}
