// The model interface the evaluator needs. embedrank's Encoder and CrossEncoder satisfy it;
// tests use small fakes.

export type PromptType = 'query' | 'document';
export type SimilarityFn = 'cosine' | 'dot' | 'euclidean' | 'manhattan';

export interface EncodeOptions {
  /** 'query' for queries, 'document' for corpus texts, undefined for symmetric tasks (STS). */
  promptType?: PromptType;
  /** mteb task name, e.g. "STS12". */
  taskName?: string;
  /** mteb task type, e.g. "STS", "Reranking", "Retrieval". */
  taskType?: string;
  /**
   * The task's instruction (mteb TaskMetadata.prompt, or the task type's default instruction when
   * the task has none), for instruction-following models.
   */
  taskPrompt?: string | Partial<Record<PromptType, string>>;
  showProgress?: boolean;
  /** Dataset split and subset being evaluated (informational). */
  hfSplit?: string;
  hfSubset?: string;
}

/** Model metadata written to model_meta.json (mteb's ModelMeta fields; unknown ones are null). */
export interface ModelMeta {
  name: string;
  revision: string | null;
  release_date?: string | null;
  languages?: string[] | null;
  n_parameters?: number | null;
  n_active_parameters_override?: number | null;
  n_embedding_parameters?: number | null;
  memory_usage_mb?: number | null;
  max_tokens?: number | null;
  embed_dim?: number | null;
  license?: string | null;
  open_weights?: boolean | null;
  public_training_code?: string | null;
  public_training_data?: string | boolean | null;
  framework?: string[];
  reference?: string | null;
  similarity_fn_name?: SimilarityFn | null;
  use_instructions?: boolean | null;
  training_datasets?: string[] | null;
  adapted_from?: string | null;
  superseded_by?: string | null;
  modalities?: string[];
  model_type?: string[];
  citation?: string | null;
  contacts?: string[] | null;
  experiment_kwargs?: Record<string, unknown> | null;
  output_dtypes?: string | string[] | null;
  extra_requirements_groups?: string[] | null;
  loader?: string | null;
  loader_kwargs?: Record<string, unknown>;
}

/** Per query: document indices (best first) and their scores, as fp32. */
export interface QueryTopK {
  indices: Int32Array;
  scores: Float32Array;
}

/**
 * Full-corpus retrieval scoring on an accelerator (the CUDA engine's GPU): each query's top k
 * documents of a corpus chunk under the model's similarity, with the CPU path's order (score
 * descending, ties by lower document index; src/eval/retrieval.ts topKIndices) and scores within
 * fp32 rounding of it. Similarities it does not support stay on the CPU path.
 */
export interface RetrievalScorer {
  readonly name: string;
  supports(fn: SimilarityFn): boolean;
  /**
   * queries [nq x dim] and docs [nd x dim], row-major fp32 embeddings as the model returned them
   * (cosine normalises them itself); returns nq entries of min(k, nd) hits.
   */
  topK(queries: Float32Array, nq: number, docs: Float32Array, nd: number, dim: number, fn: SimilarityFn, k: number): Promise<QueryTopK[]>;
}

export interface EmbeddingModelLike {
  readonly kind: 'encoder';
  readonly meta: ModelMeta;
  readonly similarityFn: SimilarityFn;
  /** One row per input text, in input order (rows may be views into one buffer). */
  encode(texts: string[], opts?: EncodeOptions): Promise<Float32Array[]>;
  /** Where full-corpus retrieval scoring runs when not on CPU threads (Encoder on CUDA: its GPU). */
  readonly retrievalScorer?: RetrievalScorer;
}

export interface CrossEncoderLike {
  readonly kind: 'cross-encoder';
  readonly meta: ModelMeta;
  /** One score per (query, document) pair, in input order. */
  predict(pairs: Array<[string, string]>, opts?: EncodeOptions): Promise<Float32Array | Float64Array | Float32Array[]>;
}

export type EvaluableModel = EmbeddingModelLike | CrossEncoderLike;

/** Thrown when a model's output does not fit its input (row count, dimension, non-finite values). */
export class ModelOutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelOutputError';
  }
}

/** Encodes `texts` and checks the result: one row per text, all of one (non-zero) dimension. */
export async function encodeChecked(model: EmbeddingModelLike, texts: string[], opts: EncodeOptions, what: string): Promise<Float32Array[]> {
  if (texts.length === 0) return [];
  const rows = await model.encode(texts, opts);
  if (!Array.isArray(rows)) {
    throw new ModelOutputError(`model ${model.meta.name} returned ${typeof rows} from encode(); expected an array of Float32Array rows (${what})`);
  }
  if (rows.length !== texts.length) {
    throw new ModelOutputError(`model ${model.meta.name} returned ${rows.length} embeddings for ${texts.length} texts (${what})`);
  }
  const dim = rows[0]?.length;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (!r || typeof r.length !== 'number') throw new ModelOutputError(`model ${model.meta.name} returned no embedding for text ${i} (${what})`);
    if (r.length !== dim) {
      throw new ModelOutputError(`model ${model.meta.name} returned embeddings of different sizes (${dim} for text 0, ${r.length} for text ${i}) (${what})`);
    }
  }
  if (!dim) throw new ModelOutputError(`model ${model.meta.name} returned empty embeddings (${what})`);
  return rows;
}

/** Scores `pairs` and checks the result: one finite score per pair. */
export async function predictChecked(model: CrossEncoderLike, pairs: Array<[string, string]>, opts: EncodeOptions, what: string): Promise<Float32Array | Float64Array> {
  if (pairs.length === 0) return new Float32Array(0);
  const out = await model.predict(pairs, opts);
  if (!out || typeof out.length !== 'number') {
    throw new ModelOutputError(`model ${model.meta.name} returned ${typeof out} from predict(); expected one score per pair (${what})`);
  }
  if (out.length > 0 && typeof out[0] !== 'number') {
    const k = (out[0] as unknown as ArrayLike<number>)?.length;
    throw new ModelOutputError(`model ${model.meta.name} returned ${k} labels per pair; ranking needs one score per pair, as sentence-transformers' CrossEncoder.rank (${what})`);
  }
  if (out.length !== pairs.length) {
    const hint = out.length % pairs.length === 0 ? ` (a model with ${out.length / pairs.length} labels? ranking needs one score per pair)` : '';
    throw new ModelOutputError(`model ${model.meta.name} returned ${out.length} scores for ${pairs.length} pairs${hint} (${what})`);
  }
  for (let i = 0; i < out.length; i++) {
    if (Number.isNaN(out[i])) throw new ModelOutputError(`model ${model.meta.name} returned NaN for pair ${i} (${what})`);
  }
  return out as Float32Array | Float64Array;
}
