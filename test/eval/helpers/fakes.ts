// Fake models for the evaluation tests: deterministic, cheap, and meaningful enough that scores
// are not noise (bag-of-words vectors, word-overlap cross-encoder).
import type { CrossEncoderLike, EmbeddingModelLike, EncodeOptions, ModelMeta, SimilarityFn } from '../../../src/eval/model.js';

export function tokens(text: string): string[] {
  return text.toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);
}

/** FNV-1a 32-bit */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * Hashed bag-of-words counts in `dim` buckets, plus a constant bucket so no vector is zero. With
 * `jitter`, every component also gets a small deterministic offset derived from the text, so
 * that different texts never have exactly tied similarities (Spearman is sensitive to the last
 * bit of tied values, which makes exact comparisons with an independent reference fragile).
 */
export function bowVector(text: string, dim = 256, jitter = 0): Float32Array {
  const v = new Float32Array(dim);
  for (const t of tokens(text)) v[fnv1a(t) % (dim - 1)] += 1;
  v[dim - 1] = 0.5;
  if (jitter) {
    let h = fnv1a(text);
    for (let i = 0; i < dim; i++) {
      h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
      v[i] += jitter * (h / 0xffffffff);
    }
  }
  return v;
}

export interface EncodeCall {
  texts: string[];
  opts: EncodeOptions | undefined;
}

export class BowEncoder implements EmbeddingModelLike {
  readonly kind = 'encoder' as const;
  readonly calls: EncodeCall[] = [];
  readonly meta: ModelMeta;

  constructor(
    readonly similarityFn: SimilarityFn = 'cosine',
    name = 'test-org/bow-encoder',
    revision: string | null = 'rev1',
    readonly dim = 256,
    readonly jitter = 0,
  ) {
    this.meta = { name, revision, n_parameters: 0, embed_dim: dim, max_tokens: 512, similarity_fn_name: similarityFn, framework: ['embedrank'], languages: ['eng-Latn'] };
  }

  async encode(texts: string[], opts?: EncodeOptions): Promise<Float32Array[]> {
    this.calls.push({ texts: [...texts], opts });
    // rows as views into one buffer, like the real Encoder
    const buf = new Float32Array(texts.length * this.dim);
    return texts.map((t, i) => {
      buf.set(bowVector(t, this.dim, this.jitter), i * this.dim);
      return buf.subarray(i * this.dim, (i + 1) * this.dim);
    });
  }

  get encodedTexts(): number {
    return this.calls.reduce((a, c) => a + c.texts.length, 0);
  }
}

/** Deterministic pseudo-random unit-free embeddings from a hash of the text. */
export class HashEncoder implements EmbeddingModelLike {
  readonly kind = 'encoder' as const;
  readonly similarityFn: SimilarityFn = 'cosine';
  readonly meta: ModelMeta = { name: 'test-org/hash-encoder', revision: null };
  calls = 0;

  constructor(readonly dim = 16) {}

  async encode(texts: string[]): Promise<Float32Array[]> {
    this.calls++;
    return texts.map((t) => {
      let h = fnv1a(t);
      const v = new Float32Array(this.dim);
      for (let i = 0; i < this.dim; i++) {
        h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
        v[i] = (h / 0xffffffff) * 2 - 1;
      }
      return v;
    });
  }
}

/** Returns one row too few. */
export class ShortEncoder extends BowEncoder {
  override async encode(texts: string[], opts?: EncodeOptions): Promise<Float32Array[]> {
    return (await super.encode(texts, opts)).slice(0, Math.max(0, texts.length - 1));
  }
}

/** Word overlap |q ∩ d| / |q ∪ d| (Jaccard) as the relevance score. */
export function overlapScore(query: string, doc: string): number {
  const a = new Set(tokens(query));
  const b = new Set(tokens(doc));
  let inter = 0;
  for (const t of a) if (b.has(t)) inter++;
  const union = new Set([...a, ...b]).size;
  return union ? inter / union : 0;
}

export class OverlapCrossEncoder implements CrossEncoderLike {
  readonly kind = 'cross-encoder' as const;
  readonly meta: ModelMeta = { name: 'test-org/overlap-reranker', revision: 'abc123', max_tokens: 512 };
  readonly calls: Array<{ pairs: Array<[string, string]>; opts: EncodeOptions | undefined }> = [];

  async predict(pairs: Array<[string, string]>, opts?: EncodeOptions): Promise<Float32Array> {
    this.calls.push({ pairs: pairs.map((p) => [p[0], p[1]] as [string, string]), opts });
    return Float32Array.from(pairs, ([q, d]) => overlapScore(q, d));
  }
}
