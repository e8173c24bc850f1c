// RemoteEncoder: an embedding model behind one or more HTTP endpoints speaking OpenAI's
// embeddings API (embedrank serve, text-embeddings-inference, vLLM, OpenAI itself). Prompts are
// chosen with mteb's lookup (as Encoder does) and prepended client-side; rows come back as float32
// (encoding_format base64) and are cached on disk by (model, revision, prompt, text).
import { lookupPromptName, type EncodeOptions } from '../encoder.js';
import { InputError } from '../errors.js';
import type { EmbeddingModelLike, ModelMeta, SimilarityFn } from '../eval/model.js';
import { RemoteModel, type RemoteOptions } from './base.js';

export interface RemoteEncoderOptions extends RemoteOptions {
  /** Prompts by task name, task type or prompt type (mteb's lookup); default: the server's model prompts (embedrank serve's /info), else none. */
  promptDict?: Record<string, string>;
  /** How results compare embeddings (default: what the server's /info says, else cosine). */
  similarityFn?: SimilarityFn;
  /** Matryoshka truncation requested from the server (OpenAI `dimensions`). */
  dimensions?: number;
  /** 'base64' (default: exact float32, a third of the bytes) or 'float'. */
  encodingFormat?: 'base64' | 'float';
}

interface EmbeddingResponse {
  data?: Array<{ index?: number; embedding?: number[] | string }>;
}

/** Float32 rows from an OpenAI embeddings response, in input order; throws on a malformed answer. */
export function parseEmbeddings(j: unknown, n: number, where: string): { values: Float32Array; width: number } {
  const data = (j as EmbeddingResponse)?.data;
  if (!Array.isArray(data) || data.length !== n) throw new InputError(`${where}: expected ${n} embeddings in \`data\`, got ${Array.isArray(data) ? data.length : typeof data}`);
  const rows: Float32Array[] = new Array(n);
  for (let k = 0; k < n; k++) {
    const d = data[k];
    const idx = typeof d?.index === 'number' ? d.index : k;
    if (!(idx >= 0 && idx < n) || rows[idx]) throw new InputError(`${where}: bad or repeated index ${d?.index}`);
    const e = d.embedding;
    let row: Float32Array;
    if (typeof e === 'string') {
      const b = Buffer.from(e, 'base64');
      if (b.length % 4) throw new InputError(`${where}: base64 embedding of ${b.length} bytes is not float32`);
      row = new Float32Array(b.length / 4);
      Buffer.from(row.buffer).set(b);
    } else if (Array.isArray(e)) {
      row = Float32Array.from(e);
    } else {
      throw new InputError(`${where}: embedding ${idx} is ${typeof e}`);
    }
    for (let t = 0; t < row.length; t++) if (!Number.isFinite(row[t])) throw new InputError(`${where}: embedding ${idx} has a non-finite value`);
    rows[idx] = row;
  }
  const width = rows[0].length;
  if (!width || rows.some((r) => r.length !== width)) throw new InputError(`${where}: embeddings of different or zero sizes`);
  const values = new Float32Array(n * width);
  rows.forEach((r, i) => values.set(r, i * width));
  return { values, width };
}

export class RemoteEncoder extends RemoteModel implements EmbeddingModelLike {
  readonly kind = 'encoder' as const;
  private dim?: number;

  constructor(override readonly options: RemoteEncoderOptions) {
    super(options, 'RemoteEncoder');
    if (options.dimensions !== undefined && (!Number.isInteger(options.dimensions) || options.dimensions < 1)) {
      throw new InputError(`RemoteEncoder: dimensions must be a positive integer, got ${options.dimensions}`);
    }
  }

  static async create(options: RemoteEncoderOptions): Promise<RemoteEncoder> {
    const e = new RemoteEncoder(options);
    await e.ready();
    return e;
  }

  protected checkKind(): void {
    if (this.serverKind === 'cross-encoder') throw new InputError(`RemoteEncoder: ${this.pool.bases.join(', ')} serves a cross-encoder; use RemoteCrossEncoder`);
  }

  get similarityFn(): SimilarityFn {
    return this.options.similarityFn ?? this.infos.find((i) => i.similarityFn)?.similarityFn ?? 'cosine';
  }

  get meta(): ModelMeta {
    const info = this.infos[0];
    return {
      name: this.options.model,
      revision: this.revision,
      n_parameters: null,
      embed_dim: this.options.dimensions ?? this.dim ?? info?.embedDim ?? null,
      max_tokens: info?.maxInputLength ?? null,
      similarity_fn_name: this.similarityFn,
      framework: ['embedrank'],
      loader: 'embedrank.RemoteEncoder',
    };
  }

  /** The prefix for this call: mteb's prompt lookup over promptDict (or the server's prompts). */
  promptFor(o: EncodeOptions = {}): string {
    if (o.prompt !== undefined) return o.prompt;
    const dict = this.options.promptDict ?? this.infos.find((i) => i.prompts)?.prompts ?? {};
    const name = lookupPromptName(dict, o);
    return name !== undefined ? dict[name] : '';
  }

  /**
   * Embeds texts on the endpoints: one float32 row per text (the served dimension, or
   * `dimensions`), in input order; cached rows are not requested again, duplicates are sent once.
   * Throws InputError for bad input or a malformed answer, EndpointError when a request fails
   * (after retries for network errors, 408, 429 and 5xx).
   */
  async encode(texts: string[], o: EncodeOptions = {}): Promise<Float32Array[]> {
    if (!Array.isArray(texts)) throw new InputError(`texts must be an array of strings, got ${typeof texts}`);
    texts.forEach((t, i) => {
      if (typeof t !== 'string') throw new InputError(`texts[${i}] must be a string, got ${typeof t}`);
    });
    if (!texts.length) return [];
    await this.ready();
    const prompt = this.promptFor(o);
    const dims = this.options.dimensions;
    const format = this.options.encodingFormat ?? 'base64';
    const { rows, width } = await this.cachedRun(
      texts,
      (t) => this.key([prompt, String(dims ?? ''), t]),
      'embedding',
      dims ?? this.dim ?? this.infos.find((i) => i.embedDim)?.embedDim ?? undefined,
      async (batch) => {
        const payload: Record<string, unknown> = { model: this.options.model, input: batch.map((t) => prompt + t), encoding_format: format };
        if (dims !== undefined) payload.dimensions = dims;
        return parseEmbeddings(await this.pool.post('/embeddings', payload), batch.length, 'embeddings response');
      },
    );
    this.dim = width;
    return rows;
  }
}
