// CrossEncoder: the reranking API, mirroring mteb's VllmCrossEncoderWrapper (query_prefix,
// document_prefix). Each (query, document) pair is one sequence; the score is the classifier
// head's output with sentence-transformers' default activation (sigmoid for one label).
import { basename } from 'node:path';
import { InputError } from './errors.js';
import type { HeadActivation } from './model/folder.js';
import type { EngineOptions } from './core/options.js';
import { Runtime } from './core/runtime.js';
import { assertMainThread } from './main.js';
import { validateTexts, type EncodeOptions, type ModelMeta } from './encoder.js';

export interface CrossEncoderOptions extends EngineOptions {
  queryPrefix?: string;
  documentPrefix?: string;
  /** 'default' follows the model (sigmoid for one label); 'identity' gives raw logits. */
  activation?: 'default' | HeadActivation;
  modelName?: string;
}

export class CrossEncoder {
  readonly kind = 'cross-encoder' as const;
  private runtime?: Runtime;
  private readonly loading: Promise<Runtime>;

  constructor(readonly options: CrossEncoderOptions) {
    assertMainThread('CrossEncoder');
    const act = options.activation ?? 'default';
    if (!['default', 'sigmoid', 'identity'].includes(act)) throw new InputError(`activation "${act}" is not one of default, sigmoid, identity`);
    this.loading = Runtime.create(options, 'cross-encoder').then((r) => (this.runtime = r));
    this.loading.catch(() => undefined);
  }

  static async create(options: CrossEncoderOptions): Promise<CrossEncoder> {
    const c = new CrossEncoder(options);
    await c.ready();
    return c;
  }

  async ready(): Promise<void> {
    await this.loading;
  }

  private get rt(): Runtime {
    if (!this.runtime) throw new Error('CrossEncoder is not loaded yet: await crossEncoder.ready() first');
    return this.runtime;
  }

  get numLabels(): number {
    return this.rt.folder.numLabels;
  }

  get device(): 'cpu' | 'cuda' {
    return this.rt.device;
  }

  get maxLength(): number {
    return this.rt.maxLength;
  }

  get meta(): ModelMeta {
    const rt = this.rt;
    const d = rt.folder.dims;
    return {
      name: this.options.modelName ?? (this.options.model.includes('/') && !this.options.model.startsWith('/') && !this.options.model.startsWith('.') ? this.options.model : basename(rt.folder.dir)),
      revision: this.options.revision ?? null,
      n_parameters: d.vocab * d.hidden + d.layers * (4 * d.hidden * d.hidden + 2 * d.hidden * d.intermediate) + d.hidden * d.hidden,
      embed_dim: null,
      max_tokens: rt.maxLength,
      similarity_fn_name: null,
      framework: ['embedrank'],
      languages: null,
      loader: 'embedrank.CrossEncoder',
      dtype: rt.dtype,
      device: rt.device,
    };
  }

  /**
   * Scores (query, document) pairs: one value per pair for one-label models (n × numLabels values
   * otherwise), in input order. Pairs longer than the model's maximum are cut longest-first.
   */
  async predict(pairs: Array<[string, string]>, o: EncodeOptions = {}): Promise<Float32Array> {
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
    const r = await this.rt.run({ kind: 'score', activation }, this.rt.folder.numLabels, {
      texts: queries,
      pairs: docs,
      showProgress: o.showProgress,
      label: o.taskName ? `rerank ${o.taskName}` : 'rerank',
    });
    this.lastTruncated = r.truncated;
    return r.values;
  }

  /** Scores one query against many documents. */
  async rank(query: string, documents: string[], o: EncodeOptions = {}): Promise<Float32Array> {
    validateTexts([query], 'query');
    validateTexts(documents, 'documents');
    return this.predict(documents.map((d) => [query, d] as [string, string]), o);
  }

  lastTruncated = 0;

  async close(): Promise<void> {
    try {
      await this.loading;
    } catch {
      return;
    }
    await this.runtime?.close();
  }
}
