// Full-corpus retrieval scoring on the CUDA engine's GPU (cuda/similarity_topk.cu through the
// addon's similarityTopK): exact fp32 Q·Dᵀ with TF32 off, as mteb's torch cos_sim / dot_score,
// cosine on rows normalised as torch.nn.functional.normalize; each query's top k in the CPU
// path's order (score descending, ties by lower document index). Euclidean and manhattan are not
// done here: they stay on the CPU path (src/eval/retrieval.ts, worker threads).
import { InputError } from '../../errors.js';
import type { QueryTopK, RetrievalScorer, SimilarityFn } from '../../eval/model.js';
import { loadAddon } from './addon.js';

export interface CudaRetrievalScorerOptions {
  /** Documents per GPU tile; 0 or absent: the op's default (65,536). Tests force small tiles. */
  tileDocs?: number;
  /** Queries per GEMM; 0 or absent: as many as fit 256 MiB of scores. */
  queryBlock?: number;
}

function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1 || v > 0x7fffffff) throw new InputError(`GPU retrieval scoring: ${name} must be a positive int32, got ${v}`);
}

export class CudaRetrievalScorer implements RetrievalScorer {
  readonly name: string;

  /** `device`: the CUDA ordinal the scoring runs on (the encoder's first GPU). */
  constructor(readonly device: number, private readonly opts: CudaRetrievalScorerOptions = {}) {
    if (!Number.isInteger(device) || device < 0) throw new InputError(`GPU retrieval scoring: device must be a CUDA ordinal, got ${device}`);
    this.name = `cuda:${device}`;
  }

  supports(fn: SimilarityFn): boolean {
    return fn === 'cosine' || fn === 'dot';
  }

  /**
   * Top min(k, nd) documents per query. queries [nq x dim], docs [nd x dim] fp32 row-major.
   * Any k (the reduction is on the host; mteb needs 1001). Throws InputError on bad shapes or an unsupported similarity (before any
   * GPU work); a CudaError (from the addon) on device failures or NaN scores.
   */
  async topK(queries: Float32Array, nq: number, docs: Float32Array, nd: number, dim: number, fn: SimilarityFn, k: number): Promise<QueryTopK[]> {
    if (!this.supports(fn)) throw new InputError(`GPU retrieval scoring supports cosine and dot, not ${fn}`);
    positiveInt('nq', nq);
    positiveInt('nd', nd);
    positiveInt('dim', dim);
    positiveInt('k', k);
    if (!(queries instanceof Float32Array) || queries.length !== nq * dim) throw new InputError(`GPU retrieval scoring: queries must be a Float32Array of nq x dim = ${nq * dim} values, got ${queries.length}`);
    if (!(docs instanceof Float32Array) || docs.length !== nd * dim) throw new InputError(`GPU retrieval scoring: docs must be a Float32Array of nd x dim = ${nd * dim} values, got ${docs.length}`);
    const addon = loadAddon();
    if (typeof addon.similarityTopK !== 'function') throw new Error('the CUDA addon has no similarityTopK; rebuild it (npm run build:cuda)');
    const r = await addon.similarityTopK(queries, nq, docs, nd, dim, fn === 'cosine', k, this.device, this.opts.tileDocs ?? 0, this.opts.queryBlock ?? 0);
    const kk = Math.min(k, nd);
    if (r.indices.length !== nq * kk || r.scores.length !== nq * kk) throw new Error(`similarityTopK returned ${r.indices.length} hits for ${nq} x ${kk}`);
    return Array.from({ length: nq }, (_, q) => ({ indices: r.indices.subarray(q * kk, (q + 1) * kk), scores: r.scores.subarray(q * kk, (q + 1) * kk) }));
  }
}
