// What every route shares: the served model (an Encoder or a CrossEncoder), admission control
// (a bounded number of admitted inputs, 429 past it), request validation as TEI does it (empty →
// 400, too many inputs → 413, too long → 422 unless truncating), tokenization, and the one
// batching queue in front of the engine.
import { ApiError } from '../errors.js';
import { CrossEncoder } from '../cross-encoder.js';
import { Encoder } from '../encoder.js';
import type { HeadActivation } from '../model/folder.js';
import type { TokenizedChunk } from '../tokenize/packed.js';
import { ServeBatcher } from './batcher.js';
import { ServeMetrics } from './metrics.js';
import type { ResolvedServeOptions } from './options.js';

export type ServedModel = Encoder | CrossEncoder;

/** One input: a text, or token ids as the model sees them (special tokens included, as vLLM and TEI take them). */
export type EmbedInput = string | number[];

export interface TruncationRequest {
  /** Cut over-long inputs instead of refusing them (422). */
  truncate: boolean;
  /** vLLM's truncate_prompt_tokens: cut every input to this many tokens (implies truncate). */
  truncateTo?: number;
  signal?: AbortSignal;
}

export interface EmbedRequest extends TruncationRequest {
  inputs: EmbedInput[];
  /** A literal prompt, or the name of one of the model's sentence-transformers prompts. */
  prompt?: string;
  promptName?: string;
}

export interface Computed {
  /** n × width row-major. */
  values: Float32Array;
  width: number;
  /** Tokens the engine computed (usage). */
  tokens: number;
}

/**
 * Engine batches one run may span: enough for the scheduler to sort a busy queue by length
 * (padding on the CPU), few enough that a request's rows are not held back for long.
 */
const RUN_WINDOW = 4;

/** Tokens a tokenizer may produce in one request without a cut; only used to measure over-long inputs. */
const MEASURE = 1 << 30;

export class ModelService {
  readonly batcher: ServeBatcher;
  readonly metrics: ServeMetrics;
  private admitted = 0;
  draining = false;

  constructor(readonly model: ServedModel, readonly opts: ResolvedServeOptions) {
    const l = model.limits;
    this.batcher = new ServeBatcher(
      { maxRunTokens: RUN_WINDOW * l.maxNumBatchedTokens, maxRunSeqs: RUN_WINDOW * l.maxNumSeqs, maxInFlight: model.engineSlots + 1 },
      (s) => this.metrics.run(s),
    );
    this.metrics = new ServeMetrics({ queueSize: () => this.batcher.queueSize, inFlight: () => this.batcher.inFlight, admitted: () => this.admitted });
    if (opts.defaultPromptName !== undefined && model instanceof Encoder && !(opts.defaultPromptName in model.prompts)) {
      throw new ApiError(422, 'validation', `default prompt name "${opts.defaultPromptName}" is not one of the model's prompts (${Object.keys(model.prompts).join(', ') || 'none'})`);
    }
  }

  get kind(): 'encoder' | 'cross-encoder' {
    return this.model.kind;
  }

  get maxInputLength(): number {
    return this.model.maxLength;
  }

  /** Inputs admitted and not yet answered. */
  get admittedInputs(): number {
    return this.admitted;
  }

  /** vLLM's check of an OpenAI-style `model` field: absent, or the served name (else 404). */
  checkModelName(model: string | undefined): void {
    if (model !== undefined && model !== this.opts.servedModelName) {
      throw new ApiError(404, 'validation', `The model \`${model}\` does not exist (this server serves \`${this.opts.servedModelName}\`).`);
    }
  }

  /** TEI's checks on a batch: empty → 400 (empty), more than maxClientBatchSize → 413 (validation). */
  checkBatch(n: number, field: string): void {
    if (n === 0) throw new ApiError(400, 'empty', `\`${field}\` cannot be empty`);
    if (n > this.opts.maxClientBatchSize) throw new ApiError(413, 'validation', `batch size ${n} > maximum allowed batch size ${this.opts.maxClientBatchSize}`);
  }

  /**
   * Admits n inputs or throws 429 (overloaded) when that would pass maxConcurrentRequests, and
   * 503 (unhealthy) while draining. Returns the release function; call it exactly once.
   */
  admit(n: number): () => void {
    if (this.draining) throw new ApiError(503, 'unhealthy', 'the server is shutting down');
    if (this.admitted + n > this.opts.maxConcurrentRequests) throw new ApiError(429, 'overloaded', 'Model is overloaded');
    this.admitted += n;
    let released = false;
    return () => {
      if (!released) {
        released = true;
        this.admitted -= n;
      }
    };
  }

  private encoder(): Encoder {
    if (!(this.model instanceof Encoder)) throw new ApiError(424, 'backend', 'model is not an embedding model');
    return this.model;
  }

  private crossEncoder(): CrossEncoder {
    if (!(this.model instanceof CrossEncoder)) throw new ApiError(424, 'backend', 'model is not a re-ranker model');
    return this.model;
  }

  /** The token limit for this request: the model's, or vLLM's truncate_prompt_tokens (-1: the model's). */
  private limit(r: TruncationRequest): number {
    const max = this.model.maxLength;
    if (r.truncateTo === undefined || r.truncateTo === -1) return max;
    if (!Number.isInteger(r.truncateTo) || r.truncateTo < 1) throw new ApiError(400, 'validation', `truncate_prompt_tokens must be -1 or a positive integer, got ${r.truncateTo}`);
    if (r.truncateTo > max) throw new ApiError(400, 'validation', `truncate_prompt_tokens value (${r.truncateTo}) is greater than max_model_len (${max}). Please request a smaller truncation size.`);
    return r.truncateTo;
  }

  /** The prompt text for a request: explicit, named, or the server's default. */
  resolvePrompt(prompt: string | undefined, promptName: string | undefined): string | undefined {
    if (prompt !== undefined) return prompt;
    const enc = this.encoder();
    const name = promptName ?? this.opts.defaultPromptName;
    if (name !== undefined) {
      if (!(name in enc.prompts)) throw new ApiError(422, 'validation', `prompt_name "${name}" is not one of the model's prompts (${Object.keys(enc.prompts).join(', ') || 'none'})`);
      return enc.prompts[name];
    }
    return this.opts.defaultPrompt;
  }

  private tooLong(length: number, limit: number): ApiError {
    return new ApiError(422, 'validation', `Input validation error: \`inputs\` must have less than ${limit} tokens. Given: ${length}`);
  }

  /** Embeddings for texts and/or token-id inputs: n × dim, the model's pooling and normalisation. */
  async embed(r: EmbedRequest): Promise<Computed> {
    const enc = this.encoder();
    const limit = this.limit(r);
    const cut = r.truncate || r.truncateTo !== undefined;
    const prompt = this.resolvePrompt(r.prompt, r.promptName);
    const textIdx: number[] = [];
    for (let i = 0; i < r.inputs.length; i++) if (typeof r.inputs[i] === 'string') textIdx.push(i);
    const texts = textIdx.map((i) => r.inputs[i] as string);
    const tok = texts.length ? await enc.tokenize(texts, { prompt: prompt ?? '' }, limit) : undefined;
    if (tok && !cut) {
      for (let k = 0; k < texts.length; k++) {
        if (tok.chunk.truncated[k]) {
          const full = await enc.tokenize([texts[k]], { prompt: prompt ?? '' }, MEASURE);
          throw this.tooLong(full.chunk.offsets[1], limit);
        }
      }
    }
    // Assemble every input in request order.
    const seqs: Int32Array[] = new Array(r.inputs.length);
    const skip = new Int32Array(r.inputs.length);
    if (tok) {
      textIdx.forEach((i, k) => {
        seqs[i] = tok.chunk.ids.subarray(tok.chunk.offsets[k], tok.chunk.offsets[k + 1]);
        skip[i] = tok.poolSkip;
      });
    }
    const vocab = enc.vocabSize;
    for (let i = 0; i < r.inputs.length; i++) {
      const x = r.inputs[i];
      if (typeof x === 'string') continue;
      if (x.length === 0) throw new ApiError(400, 'empty', `input ${i} is an empty token-id array`);
      for (const id of x) {
        if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new ApiError(422, 'validation', `input ${i} has token id ${id}, outside the model's vocabulary [0, ${vocab})`);
      }
      if (x.length > limit && !cut) throw this.tooLong(x.length, limit);
      seqs[i] = Int32Array.from(x.length > limit ? x.slice(0, limit) : x);
    }
    const chunk = packSequences(seqs);
    this.observeLengths(chunk);
    const values = await this.batcher.submit(chunk, {
      key: 'embed',
      width: enc.dim,
      poolSkip: skip,
      run: (c, s) => enc.embedTokens(c, s, this.onEngineBatch),
      signal: r.signal,
      onStart: (q) => this.metrics.queueDuration.observe(q),
    });
    checkFinite(values, enc.dim);
    return { values, width: enc.dim, tokens: chunk.ids.length };
  }

  /**
   * Scores (query, document) pairs with the cross-encoder: n × numLabels. `raw` gives logits
   * (TEI raw_scores, vLLM use_activation: false); otherwise the model's activation.
   */
  async score(pairs: Array<[string, string]>, r: TruncationRequest & { raw?: boolean }): Promise<Computed> {
    const ce = this.crossEncoder();
    const limit = this.limit(r);
    const cut = r.truncate || r.truncateTo !== undefined;
    const chunk = await ce.tokenizePairs(pairs, limit);
    if (!cut) {
      for (let k = 0; k < pairs.length; k++) {
        if (chunk.truncated[k]) {
          const full = await ce.tokenizePairs([pairs[k]], MEASURE);
          throw this.tooLong(full.offsets[1], limit);
        }
      }
    }
    this.observeLengths(chunk);
    const activation: 'default' | HeadActivation = r.raw ? 'identity' : 'default';
    const values = await this.batcher.submit(chunk, {
      key: `score:${activation}`,
      width: ce.numLabels,
      run: (c) => ce.scoreTokens(c, activation, this.onEngineBatch),
      signal: r.signal,
      onStart: (q) => this.metrics.queueDuration.observe(q),
    });
    checkFinite(values, ce.numLabels);
    return { values, width: ce.numLabels, tokens: chunk.ids.length };
  }

  private readonly onEngineBatch = (sequences: number, tokens: number): void => this.metrics.batch(sequences, tokens);

  private observeLengths(c: TokenizedChunk): void {
    for (let i = 0; i < c.n; i++) this.metrics.inputLength.observe(c.offsets[i + 1] - c.offsets[i]);
  }
}

/** A NaN or infinity from the engine is a failure (424), never a number in a 200 answer. */
function checkFinite(v: Float32Array, width: number): void {
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i])) throw new ApiError(424, 'backend', `the engine produced a non-finite value (${v[i]}) for input ${Math.floor(i / width)}`);
  }
}

/** Single-segment sequences (type ids 0) packed as one chunk. */
function packSequences(seqs: Int32Array[]): TokenizedChunk {
  const n = seqs.length;
  let total = 0;
  for (const s of seqs) total += s.length;
  const offsets = new Int32Array(n + 1);
  const ids = new Int32Array(total);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    offsets[i] = pos;
    ids.set(seqs[i], pos);
    pos += seqs[i].length;
  }
  offsets[n] = pos;
  return { n, offsets, ids, typeIds: new Int32Array(total), truncated: new Int32Array(n) };
}
