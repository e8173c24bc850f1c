// Spreads requests over several HTTP endpoints serving the same model: each request goes to the
// endpoint with the fewest outstanding requests (ties: the one used longest ago), failures that a
// retry may not repeat (network errors, 408, 429, 5xx) are retried with exponential backoff and
// jitter on another endpoint where there is one, honouring Retry-After, and an endpoint that just
// failed is avoided for a short while. Concurrency is bounded per endpoint.
import { EndpointError, InputError } from '../errors.js';

export interface EndpointPoolOptions {
  /** Requests in flight per endpoint (default 4). */
  concurrencyPerEndpoint?: number;
  /** Retries of one request after its first attempt (default 6). */
  retries?: number;
  /** First backoff in ms, doubled per retry with ±50% jitter, capped at 30 s (default 250). */
  backoffMs?: number;
  /** Per-attempt timeout in ms (default 300 000). */
  timeoutMs?: number;
  /** Sent as "Authorization: Bearer KEY" (OpenAI-compatible servers). */
  apiKey?: string;
  /** Test hook / logging: called before each retry. */
  onRetry?: (e: EndpointError, attempt: number, delayMs: number) => void;
}

interface Endpoint {
  base: string;
  outstanding: number;
  lastUsed: number;
  downUntil: number;
  requests: number;
}

/** Normalises an endpoint URL: no trailing slash; a bare host gets http://. */
export function normalizeBase(url: string): string {
  if (typeof url !== 'string' || !url.trim()) throw new InputError('an endpoint must be a non-empty URL, e.g. http://127.0.0.1:8080/v1');
  let u = url.trim();
  if (!/^https?:\/\//i.test(u)) u = `http://${u}`;
  try {
    new URL(u);
  } catch {
    throw new InputError(`endpoint "${url}" is not a valid URL`);
  }
  return u.replace(/\/+$/, '');
}

/** The server root of an OpenAI-style base URL (".../v1" → "..."), where TEI's /info lives. */
export function serverRoot(base: string): string {
  return base.replace(/\/v\d+$/, '');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Error text from a TEI ({error, error_type}), OpenAI ({error: {message}}) or vLLM ({message}) body. */
function errorText(body: string): string {
  try {
    const j = JSON.parse(body) as { error?: unknown; message?: unknown; detail?: unknown };
    if (typeof j.error === 'string') return j.error;
    if (j.error && typeof j.error === 'object' && typeof (j.error as { message?: unknown }).message === 'string') return (j.error as { message: string }).message;
    if (typeof j.message === 'string') return j.message;
    if (j.detail !== undefined) return typeof j.detail === 'string' ? j.detail : JSON.stringify(j.detail);
  } catch {
    // not JSON
  }
  return body.slice(0, 500) || '(empty body)';
}

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

export class EndpointPool {
  private readonly eps: Endpoint[];
  private readonly perEndpoint: number;
  private readonly waiters: Array<() => void> = [];
  readonly opts: Required<Omit<EndpointPoolOptions, 'apiKey' | 'onRetry'>> & Pick<EndpointPoolOptions, 'apiKey' | 'onRetry'>;

  constructor(urls: string[], o: EndpointPoolOptions = {}) {
    if (!Array.isArray(urls) || !urls.length) throw new InputError('give at least one endpoint URL');
    const bases = urls.map(normalizeBase);
    if (new Set(bases).size !== bases.length) throw new InputError(`endpoints repeat: ${bases.join(', ')}`);
    this.eps = bases.map((base) => ({ base, outstanding: 0, lastUsed: 0, downUntil: 0, requests: 0 }));
    this.opts = {
      concurrencyPerEndpoint: o.concurrencyPerEndpoint ?? 4,
      retries: o.retries ?? 6,
      backoffMs: o.backoffMs ?? 250,
      timeoutMs: o.timeoutMs ?? 300_000,
      apiKey: o.apiKey,
      onRetry: o.onRetry,
    };
    for (const [k, v] of Object.entries({ concurrencyPerEndpoint: this.opts.concurrencyPerEndpoint, timeoutMs: this.opts.timeoutMs })) {
      if (!Number.isInteger(v) || v < 1) throw new InputError(`${k} must be a positive integer, got ${v}`);
    }
    if (!Number.isInteger(this.opts.retries) || this.opts.retries < 0) throw new InputError(`retries must be a non-negative integer, got ${this.opts.retries}`);
    this.perEndpoint = this.opts.concurrencyPerEndpoint;
  }

  get bases(): string[] {
    return this.eps.map((e) => e.base);
  }

  /** Requests each endpoint has answered or failed, by base URL. */
  get counts(): Record<string, number> {
    return Object.fromEntries(this.eps.map((e) => [e.base, e.requests]));
  }

  /** The least-loaded endpoint with a free slot (not `avoid` if another has one), or undefined. */
  private pick(avoid?: Endpoint): Endpoint | undefined {
    const now = Date.now();
    let best: Endpoint | undefined;
    for (const pass of [0, 1, 2]) {
      for (const e of this.eps) {
        if (e.outstanding >= this.perEndpoint) continue;
        if (pass === 0 && (e === avoid || e.downUntil > now)) continue;
        if (pass === 1 && e.downUntil > now && e !== avoid) continue;
        if (!best || e.outstanding < best.outstanding || (e.outstanding === best.outstanding && e.lastUsed < best.lastUsed)) best = e;
      }
      if (best) return best;
    }
    return undefined;
  }

  private async acquire(avoid?: Endpoint): Promise<Endpoint> {
    for (;;) {
      const e = this.pick(avoid);
      if (e) {
        e.outstanding++;
        e.lastUsed = performance.now();
        return e;
      }
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  private release(e: Endpoint): void {
    e.outstanding--;
    e.requests++;
    this.waiters.shift()?.();
  }

  /** One attempt: POST (or GET without body) JSON to base + path. */
  async attempt(base: string, path: string, payload?: unknown, timeoutMs = this.opts.timeoutMs): Promise<unknown> {
    const url = base + path;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload !== undefined) headers['content-type'] = 'application/json';
    if (this.opts.apiKey) headers.authorization = `Bearer ${this.opts.apiKey}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method: payload === undefined ? 'GET' : 'POST',
        headers,
        body: payload === undefined ? undefined : JSON.stringify(payload),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      const why = err.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (err.cause?.code ?? err.cause?.message ?? err.message);
      throw new EndpointError(url, 0, why, true);
    }
    const text = await res.text().catch(() => '');
    if (!res.ok) {
      const e = new EndpointError(url, res.status, errorText(text), isRetryableStatus(res.status));
      const ra = Number(res.headers.get('retry-after'));
      if (Number.isFinite(ra) && ra > 0) (e as EndpointError & { retryAfterMs?: number }).retryAfterMs = ra * 1000;
      throw e;
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new EndpointError(url, res.status, `the answer is not JSON: ${text.slice(0, 200)}`, false);
    }
  }

  /**
   * POSTs `payload` to `path` (under baseOf(base), default the base itself) on the least-loaded endpoint, retrying retryable failures with
   * backoff (on another endpoint when there is one). Throws the last EndpointError.
   */
  async post(path: string, payload: unknown, baseOf: (base: string) => string = (b) => b): Promise<unknown> {
    let avoid: Endpoint | undefined;
    for (let attempt = 0; ; attempt++) {
      const ep = await this.acquire(avoid);
      let err: unknown;
      try {
        return await this.attempt(baseOf(ep.base), path, payload);
      } catch (e) {
        err = e;
      } finally {
        this.release(ep);
      }
      if (!(err instanceof EndpointError) || !err.retryable || attempt >= this.opts.retries) throw err;
      avoid = ep;
      const base = Math.min(30_000, this.opts.backoffMs * 2 ** attempt);
      const delay = Math.max((err as EndpointError & { retryAfterMs?: number }).retryAfterMs ?? 0, base * (0.5 + Math.random()));
      // Network failures and 5xx mark the endpoint down for the backoff; a 429 is load, not failure.
      if (err.status === 0 || err.status >= 500) ep.downUntil = Date.now() + delay;
      this.opts.onRetry?.(err, attempt + 1, delay);
      await sleep(delay);
    }
  }
}
