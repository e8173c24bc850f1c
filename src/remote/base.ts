// What RemoteEncoder and RemoteCrossEncoder share: the endpoint pool, the server probe (limits,
// model type), batch sizing, the on-disk cache, and running cache misses in batches spread over
// the endpoints.
import { InputError } from '../errors.js';
import { VectorCache, cacheKey, defaultRemoteCacheDir } from './cache.js';
import { EndpointPool, type EndpointPoolOptions } from './endpoints.js';
import { probeAll, type ServerInfo } from './probe.js';

export interface RemoteOptions extends EndpointPoolOptions {
  /** Base URLs of servers serving the same model, OpenAI style (e.g. http://10.0.0.2:8080/v1). */
  endpoints: string[];
  /** Model name sent as `model` in every request and recorded in results. */
  model: string;
  /** Recorded in results and part of the cache identity (default: the server's model_sha, else null). */
  revision?: string;
  /** Inputs per request (default: the smallest max_client_batch_size the servers state, else 32). */
  batchSize?: number;
  /** Cache folder (default defaultRemoteCacheDir()); false disables the cache. */
  cacheDir?: string | false;
}

/** TEI's default max_client_batch_size, used when no server states one. */
export const DEFAULT_BATCH = 32;

export abstract class RemoteModel {
  readonly pool: EndpointPool;
  protected infos: ServerInfo[] = [];
  private readonly caches = new Map<string, VectorCache>();
  private probing?: Promise<void>;
  /** Requests sent and inputs answered from the cache over this object's life. */
  readonly stats = { requests: 0, cached: 0, computed: 0 };

  protected constructor(readonly options: RemoteOptions, private readonly what: string) {
    if (!options || typeof options.model !== 'string' || !options.model) throw new InputError(`${what}: options.model must name the served model`);
    if (options.batchSize !== undefined && (!Number.isInteger(options.batchSize) || options.batchSize < 1)) {
      throw new InputError(`${what}: batchSize must be a positive integer, got ${options.batchSize}`);
    }
    this.pool = new EndpointPool(options.endpoints, options);
  }

  /** Probes the endpoints once (limits, model type); later calls return the same promise. */
  ready(): Promise<void> {
    this.probing ??= probeAll(this.pool).then((infos) => {
      this.infos = infos;
      this.checkKind();
    });
    return this.probing;
  }

  protected abstract checkKind(): void;

  /** Model type as the servers report it (undefined when none says). */
  get serverKind(): 'encoder' | 'cross-encoder' | undefined {
    return this.infos.find((i) => i.kind)?.kind;
  }

  get batchSize(): number {
    if (this.options.batchSize) return this.options.batchSize;
    const stated = this.infos.map((i) => i.maxClientBatchSize).filter((x): x is number => x !== undefined && x > 0);
    return stated.length ? Math.min(...stated) : DEFAULT_BATCH;
  }

  private warnedNoRevision = false;

  get revision(): string | null {
    return this.options.revision ?? this.infos.find((i) => i.revision)?.revision ?? null;
  }

  protected cache(kind: string, width: number): VectorCache | undefined {
    if (this.options.cacheDir === false) return undefined;
    if (this.revision === null) {
      // Without a revision (a server that reports no model_sha, and no `revision` option) a cache
      // keyed by the model name would hand a re-served, different checkpoint the old vectors.
      if (!this.warnedNoRevision) {
        process.emitWarning(`remote model "${this.options.model}": the server reports no model_sha and no revision was given; the on-disk cache is off (pass a revision to use it)`, { code: 'EMBEDRANK_REMOTE_NO_REVISION' });
        this.warnedNoRevision = true;
      }
      return undefined;
    }
    const k = `${kind}/${width}`;
    let c = this.caches.get(k);
    if (!c) {
      c = new VectorCache(this.options.cacheDir ?? defaultRemoteCacheDir(), { model: this.options.model, revision: this.revision, kind, width });
      this.caches.set(k, c);
    }
    return c;
  }

  protected key(parts: string[]): Buffer {
    return cacheKey(parts);
  }

  /**
   * Looks every item up in the cache, sends the misses (deduplicated) in batches of batchSize
   * over the endpoints, stores each batch as it arrives, and returns one row per item.
   * `fetchBatch` gets the unique items of one batch and returns batch.length × width values.
   */
  protected async cachedRun<T>(
    items: T[],
    keyOf: (x: T) => Buffer,
    kind: string,
    width: number | undefined,
    fetchBatch: (batch: T[]) => Promise<{ values: Float32Array; width: number }>,
  ): Promise<{ rows: Float32Array[]; width: number }> {
    await this.ready();
    const n = items.length;
    const rows: Float32Array[] = new Array(n);
    const keys = items.map(keyOf);
    const pending = new Map<string, { item: T; key: Buffer; at: number[] }>();
    const lookup = width !== undefined ? this.cache(kind, width) : undefined;
    for (let i = 0; i < n; i++) {
      const hit = lookup?.get(keys[i]);
      if (hit) {
        rows[i] = hit;
        this.stats.cached++;
        continue;
      }
      const hex = keys[i].toString('hex');
      const p = pending.get(hex);
      if (p) p.at.push(i);
      else pending.set(hex, { item: items[i], key: keys[i], at: [i] });
    }
    let w = width;
    const misses = [...pending.values()];
    const bs = this.batchSize;
    const batches: Array<typeof misses> = [];
    for (let s = 0; s < misses.length; s += bs) batches.push(misses.slice(s, s + bs));
    // Each batch waits for a free endpoint slot inside the pool, so this is bounded concurrency.
    await Promise.all(
      batches.map(async (b) => {
        const r = await fetchBatch(b.map((m) => m.item));
        this.stats.requests++;
        if (w === undefined) w = r.width;
        if (r.width !== w) throw new InputError(`${this.what}: the servers answered rows of ${r.width} values after rows of ${w}; do all endpoints serve the same model?`);
        if (r.values.length !== b.length * w) throw new InputError(`${this.what}: got ${r.values.length} values for ${b.length} inputs × ${w}`);
        this.cache(kind, w)?.putMany(b.map((m) => m.key), r.values);
        b.forEach((m, k) => {
          const row = r.values.subarray(k * w!, (k + 1) * w!);
          for (const i of m.at) rows[i] = row;
        });
        this.stats.computed += b.length;
      }),
    );
    return { rows, width: w ?? 0 };
  }

  async close(): Promise<void> {
    // Nothing held open: fetch connections are pooled by undici and closed when idle.
  }
}
