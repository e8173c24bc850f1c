// RemoteCrossEncoder: a reranker behind one or more HTTP endpoints. Pairs that share a query go
// out as one rerank request per batch of documents: the Cohere/Jina API as vLLM and embedrank
// serve it (POST {base}/rerank), vLLM's POST {base}/score, or TEI's POST /rerank ({query, texts}).
// Scores are cached on disk by (model, revision, query, document), prefixes applied.
import type { EncodeOptions } from '../encoder.js';
import { InputError } from '../errors.js';
import type { CrossEncoderLike, ModelMeta } from '../eval/model.js';
import { RemoteModel, type RemoteOptions } from './base.js';
import { serverRoot } from './endpoints.js';

export type RerankApi = 'rerank' | 'score' | 'tei';

export interface RemoteCrossEncoderOptions extends RemoteOptions {
  /** Which API to call (default 'rerank': {base}/rerank with {query, documents}). */
  api?: RerankApi;
  queryPrefix?: string;
  documentPrefix?: string;
}

function finite(x: unknown, where: string): number {
  if (typeof x !== 'number' || !Number.isFinite(x)) throw new InputError(`${where}: score ${String(x)} is not a finite number`);
  return x;
}

export class RemoteCrossEncoder extends RemoteModel implements CrossEncoderLike {
  readonly kind = 'cross-encoder' as const;

  constructor(override readonly options: RemoteCrossEncoderOptions) {
    super(options, 'RemoteCrossEncoder');
    if (options.api !== undefined && !['rerank', 'score', 'tei'].includes(options.api)) throw new InputError(`RemoteCrossEncoder: api "${options.api}" is not one of rerank, score, tei`);
  }

  static async create(options: RemoteCrossEncoderOptions): Promise<RemoteCrossEncoder> {
    const c = new RemoteCrossEncoder(options);
    await c.ready();
    return c;
  }

  protected checkKind(): void {
    if (this.serverKind === 'encoder') throw new InputError(`RemoteCrossEncoder: ${this.pool.bases.join(', ')} serves an embedding model; use RemoteEncoder`);
  }

  get meta(): ModelMeta {
    return {
      name: this.options.model,
      revision: this.revision,
      n_parameters: null,
      embed_dim: null,
      max_tokens: this.infos[0]?.maxInputLength ?? null,
      similarity_fn_name: null,
      framework: ['embedrank'],
      loader: 'embedrank.RemoteCrossEncoder',
    };
  }

  /** Scores for one query and its documents, in document order. */
  private async rerank(query: string, docs: string[]): Promise<Float32Array> {
    const api = this.options.api ?? 'rerank';
    const out = new Float32Array(docs.length);
    const where = `${api} response`;
    if (api === 'score') {
      const j = (await this.pool.post('/score', { model: this.options.model, text_1: query, text_2: docs })) as { data?: Array<{ index?: number; score?: unknown }> };
      if (!Array.isArray(j?.data) || j.data.length !== docs.length) throw new InputError(`${where}: expected ${docs.length} scores`);
      j.data.forEach((d, k) => (out[d.index ?? k] = finite(d.score, where)));
      return out;
    }
    let results: Array<{ index?: number; score?: unknown; relevance_score?: unknown }>;
    if (api === 'tei') {
      // TEI's /rerank lives at the server root, not under /v1.
      results = (await this.postRoot('/rerank', { query, texts: docs, raw_scores: false, return_text: false })) as typeof results;
    } else {
      const j = (await this.pool.post('/rerank', { model: this.options.model, query, documents: docs, top_n: docs.length, return_documents: false })) as { results?: typeof results };
      results = j?.results as typeof results;
    }
    if (!Array.isArray(results) || results.length !== docs.length) throw new InputError(`${where}: expected ${docs.length} results, got ${Array.isArray(results) ? results.length : typeof results}`);
    const seen = new Uint8Array(docs.length);
    for (const r of results) {
      const i = r.index;
      if (typeof i !== 'number' || !(i >= 0 && i < docs.length) || seen[i]) throw new InputError(`${where}: bad or repeated index ${String(i)}`);
      seen[i] = 1;
      out[i] = finite(r.relevance_score ?? r.score, where);
    }
    return out;
  }

  private postRoot(path: string, payload: unknown): Promise<unknown> {
    // Same balancing and retries; endpoints given as .../v1 are addressed at their root.
    return this.pool.post(path, payload, serverRoot);
  }

  /**
   * One float32 score per (query, document) pair, in input order, as the server computes it
   * (relevance_score / score: the model's activation applied). Cached pairs are not requested
   * again. Throws InputError for bad input or a malformed answer, EndpointError when a request
   * fails after retries.
   */
  async predict(pairs: Array<[string, string]>, _o: EncodeOptions = {}): Promise<Float32Array> {
    if (!Array.isArray(pairs)) throw new InputError(`pairs must be an array of [query, document] tuples, got ${typeof pairs}`);
    pairs.forEach((p, i) => {
      if (!Array.isArray(p) || p.length !== 2 || typeof p[0] !== 'string' || typeof p[1] !== 'string') throw new InputError(`pairs[${i}] must be a [query, document] tuple of strings`);
    });
    if (!pairs.length) return new Float32Array(0);
    await this.ready();
    const qp = this.options.queryPrefix ?? '';
    const dp = this.options.documentPrefix ?? '';
    const items = pairs.map(([q, d]) => ({ q: qp + q, d: dp + d }));
    const { rows } = await this.cachedRun(
      items,
      (x) => this.key([x.q, x.d]),
      'score',
      1,
      async (batch) => {
        // A batch may mix queries: one request per query, documents in batch order.
        const values = new Float32Array(batch.length);
        const byQuery = new Map<string, number[]>();
        batch.forEach((x, k) => {
          const l = byQuery.get(x.q);
          if (l) l.push(k);
          else byQuery.set(x.q, [k]);
        });
        await Promise.all(
          [...byQuery].map(async ([q, ks]) => {
            const s = await this.rerank(q, ks.map((k) => batch[k].d));
            ks.forEach((k, j) => (values[k] = s[j]));
          }),
        );
        return { values, width: 1 };
      },
    );
    const out = new Float32Array(pairs.length);
    rows.forEach((r, i) => (out[i] = r[0]));
    return out;
  }
}
