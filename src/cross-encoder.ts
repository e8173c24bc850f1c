// CrossEncoder: the reranking API, mirroring mteb's VllmCrossEncoderWrapper (query_prefix,
// document_prefix). Each (query, document) pair is one sequence; the score is the classifier
// head's output with sentence-transformers' default activation (sigmoid for one label).
import { InputError } from './errors.js';
import type { HeadActivation } from './model/folder.js';
import { ModelHandle, type HandleOptions, type ModelMeta } from './core/model-handle.js';
import { validateTexts, type EncodeOptions } from './encoder.js';
import type { TokenizedChunk } from './tokenize/packed.js';
import { QWEN3_RERANKER_DEFAULT_INSTRUCTION, QWEN3_RERANKER_PREFIX, QWEN3_RERANKER_SUFFIX, qwen3RerankerBody } from './models/qwen3-reranker.js';

export interface CrossEncoderOptions extends HandleOptions {
  queryPrefix?: string;
  documentPrefix?: string;
  /** 'default' follows the model (sigmoid for one label); 'identity' gives raw logits. */
  activation?: 'default' | HeadActivation;
  /**
   * Qwen3-Reranker folders: the `<Instruct>` line of its prompt (default the model card's
   * "Given a web search query, retrieve relevant passages that answer the query").
   */
  instruction?: string;
}

function checkActivation(options: CrossEncoderOptions): CrossEncoderOptions {
  const act = options?.activation ?? 'default';
  if (!['default', 'sigmoid', 'identity'].includes(act)) throw new InputError(`activation "${act}" is not one of default, sigmoid, identity`);
  return options;
}

export class CrossEncoder extends ModelHandle {
  readonly kind = 'cross-encoder' as const;

  constructor(readonly options: CrossEncoderOptions) {
    super(checkActivation(options), 'cross-encoder', 'CrossEncoder');
  }

  static async create(options: CrossEncoderOptions): Promise<CrossEncoder> {
    const c = new CrossEncoder(options);
    await c.ready();
    return c;
  }

  get numLabels(): number {
    return this.rt.folder.numLabels;
  }

  get meta(): ModelMeta {
    const d = this.rt.folder.dims;
    // Qwen3 rerankers: the one-row (or per-token-row) score head, no pooler.
    return this.baseMeta(null, null, d.decoder ? this.numLabels * d.hidden : d.hidden * d.hidden + d.hidden + this.numLabels * (d.hidden + 1));
  }

  /**
   * Scores (query, document) pairs in input order, as sentence-transformers' CrossEncoder.predict:
   * one-label models give one score per pair (a Float32Array of n values); models with more labels
   * give one row of numLabels values per pair (n Float32Array rows, views of one buffer). Pairs
   * longer than the model's maximum are cut longest-first. The activation is the model's
   * (sigmoid for one label unless its config names another; identity for several).
   * @throws InputError for malformed pairs, before any work starts.
   */
  async predict(pairs: Array<[string, string]>, o: EncodeOptions = {}): Promise<Float32Array | Float32Array[]> {
    const flat = await this.scoreMatrix(pairs, o);
    const k = this.rt.folder.numLabels;
    if (k === 1) return flat;
    return Array.from({ length: pairs.length }, (_, i) => flat.subarray(i * k, (i + 1) * k));
  }

  /** Like predict, as one row-major n × numLabels matrix. */
  async scoreMatrix(pairs: Array<[string, string]>, o: EncodeOptions = {}): Promise<Float32Array> {
    if (!Array.isArray(pairs)) throw new InputError(`pairs must be an array of [query, document] tuples, got ${typeof pairs}`);
    const queries: string[] = new Array(pairs.length);
    const docs: string[] = new Array(pairs.length);
    const qp = this.options.queryPrefix ?? '';
    const dp = this.options.documentPrefix ?? '';
    for (let i = 0; i < pairs.length; i++) {
      const p = pairs[i];
      if (!Array.isArray(p) || p.length !== 2) throw new InputError(`pairs[${i}] must be a [query, document] tuple`);
      validateTexts(p, `pairs[${i}]`);
      queries[i] = qp + p[0];
      docs[i] = dp + p[1];
    }
    await this.loading;
    const act = this.options.activation ?? 'default';
    const activation: HeadActivation = act === 'default' ? this.rt.folder.activation : act;
    if (this.rt.folder.dims.decoder) {
      const chunk = await this.qwen3RerankerChunk(queries, docs);
      const r = await this.rt.runTokenized({ kind: 'score', activation }, this.rt.folder.numLabels, chunk);
      // runTokenized takes ids as they are; the cut happened in qwen3RerankerChunk.
      this.lastTruncated = chunk.truncated.reduce((a, b) => a + b, 0);
      return r.values;
    }
    const r = await this.rt.run({ kind: 'score', activation }, this.rt.folder.numLabels, {
      texts: queries,
      pairs: docs,
      showProgress: o.showProgress,
      label: o.taskName ? `rerank ${o.taskName}` : 'rerank',
    });
    this.lastTruncated = r.truncated;
    return r.values;
  }

  /**
   * Tokenizes (query, document) pairs as predict would (prefixes applied, longest-first cut to
   * `maxLength`, default the model maximum; truncated[i] = 1 where cut) without running the model.
   */
  async tokenizePairs(pairs: Array<[string, string]>, maxLength?: number): Promise<TokenizedChunk> {
    const qp = this.options.queryPrefix ?? '';
    const dp = this.options.documentPrefix ?? '';
    validateTexts(pairs.map((p) => p[0]), 'queries');
    validateTexts(pairs.map((p) => p[1]), 'documents');
    await this.loading;
    if (this.rt.folder.dims.decoder) return this.qwen3RerankerChunk(pairs.map((p) => qp + p[0]), pairs.map((p) => dp + p[1]), maxLength);
    return this.rt.tokenize(pairs.map((p) => qp + p[0]), pairs.map((p) => dp + p[1]), maxLength);
  }

  /**
   * Qwen3-Reranker's inputs as its model card builds them (process_inputs): the user turn
   * `<Instruct>: …\n<Query>: …\n<Document>: …` tokenized and cut to maxLength minus the
   * prefix and suffix tokens, then system-line prefix + turn + suffix (ending in the empty think
   * block), so truncation never cuts the part the "yes"/"no" answer follows.
   * @throws InputError when prefix and suffix leave no room under maxLength.
   */
  private async qwen3RerankerChunk(queries: string[], docs: string[], maxLength = this.rt.limits.maxLength): Promise<TokenizedChunk> {
    const instruction = this.options.instruction ?? QWEN3_RERANKER_DEFAULT_INSTRUCTION;
    const frame = await this.rt.tokenize([QWEN3_RERANKER_PREFIX, QWEN3_RERANKER_SUFFIX], undefined, 1 << 20);
    const pre = frame.ids.subarray(frame.offsets[0], frame.offsets[1]);
    const suf = frame.ids.subarray(frame.offsets[1], frame.offsets[2]);
    const budget = maxLength - pre.length - suf.length;
    if (budget < 1) throw new InputError(`maxLength ${maxLength} leaves no room for the query and document after the Qwen3-Reranker prompt's ${pre.length + suf.length} tokens`);
    const body = await this.rt.tokenize(queries.map((q, i) => qwen3RerankerBody(q, docs[i], instruction)), undefined, budget);
    await this.refuseEmptiedDocuments(body, queries, instruction, maxLength, pre.length + suf.length);
    const n = body.n;
    const offsets = new Int32Array(n + 1);
    const ids = new Int32Array(body.ids.length + n * (pre.length + suf.length));
    for (let i = 0; i < n; i++) {
      const b = body.ids.subarray(body.offsets[i], body.offsets[i + 1]);
      let o = offsets[i];
      ids.set(pre, o);
      ids.set(b, (o += pre.length));
      ids.set(suf, (o += b.length));
      offsets[i + 1] = o + suf.length;
    }
    return { n, offsets, ids, typeIds: new Int32Array(ids.length), truncated: body.truncated };
  }

  /**
   * A cut user turn that no longer reaches past `<Document>: ` would score the query alone: every
   * document of it would get the same P(yes). Refused before any work, naming the pair and the
   * lengths (the turn up to the document is tokenized for the truncated pairs' distinct queries).
   * @throws InputError for the first such pair.
   */
  private async refuseEmptiedDocuments(body: TokenizedChunk, queries: string[], instruction: string, maxLength: number, frame: number): Promise<void> {
    const cut: number[] = [];
    for (let i = 0; i < body.n; i++) if (body.truncated[i]) cut.push(i);
    if (!cut.length) return;
    const distinct = [...new Set(cut.map((i) => queries[i]))];
    const heads = await this.rt.tokenize(distinct.map((q) => qwen3RerankerBody(q, '', instruction)), undefined, 1 << 20);
    const headLen = new Map(distinct.map((q, k) => [q, heads.offsets[k + 1] - heads.offsets[k]]));
    for (const i of cut) {
      const head = headLen.get(queries[i])!;
      if (body.offsets[i + 1] - body.offsets[i] <= head) {
        const posMax = this.rt.folder.dims.maxPositions;
        throw new InputError(
          `pair ${i}: the Qwen3-Reranker prompt leaves no token for the document within maxModelLen ${maxLength} ` +
            `(${frame} tokens of system line and answer turn + ${head} of instruction and query ≥ ${maxLength}); ` +
            `raise maxModelLen / --max-model-len${posMax ? ` (up to the model's ${posMax} position embeddings)` : ''} or shorten the query or instruction`,
        );
      }
    }
  }

  /**
   * Scores sequences that are already token ids (both segments, special tokens included):
   * n × numLabels float32. `activation` as in the options ('default' follows the model);
   * `onBatchDone` hears of each engine batch as it finishes (sequences, tokens).
   */
  async scoreTokens(
    chunk: TokenizedChunk,
    activation: 'default' | HeadActivation = this.options.activation ?? 'default',
    onBatchDone?: (sequences: number, tokens: number) => void,
  ): Promise<Float32Array> {
    await this.loading;
    const act: HeadActivation = activation === 'default' ? this.rt.folder.activation : activation;
    return (await this.rt.runTokenized({ kind: 'score', activation: act }, this.rt.folder.numLabels, chunk, undefined, onBatchDone)).values;
  }

  /**
   * Scores one query against many documents: one score per document, in input order.
   * @throws InputError for models with more than one label, as sentence-transformers'
   * CrossEncoder.rank refuses them ("only works for models with num_labels=1").
   */
  async rank(query: string, documents: string[], o: EncodeOptions = {}): Promise<Float32Array> {
    validateTexts([query], 'query');
    validateTexts(documents, 'documents');
    await this.loading;
    if (this.numLabels !== 1) {
      throw new InputError(`rank() only works for models with one label; ${this.rt.folder.dir} has ${this.numLabels} (use predict() for per-label scores), as sentence-transformers' CrossEncoder.rank`);
    }
    return this.scoreMatrix(documents.map((d) => [query, d] as [string, string]), o);
  }

  lastTruncated = 0;
}
