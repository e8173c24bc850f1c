// The HTTP plumbing every route shares: error bodies in the caller's dialect (TEI's
// {"error", "error_type"}, or OpenAI's {"error": {"message", "type", "param", "code"}} on the
// OpenAI/vLLM routes), a per-request AbortSignal (request timeout, client gone), and admission
// that is always released.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, InputError, type ApiErrorType } from '../errors.js';
import { body, type Json } from './parse.js';
import type { ModelService } from './service.js';

export type ErrorStyle = 'tei' | 'openai';

export interface RouteContext {
  service: ModelService;
  signal: AbortSignal;
  /** Admits n inputs (429 when the queue is full); released when the handler returns. */
  admit(n: number): void;
}

export type PostHandler = (b: Json, ctx: RouteContext, reply: FastifyReply) => Promise<unknown>;

/** The JSON body for an error in a route's dialect. */
export function errorBody(style: ErrorStyle, status: number, type: ApiErrorType, message: string): unknown {
  return style === 'openai' ? { error: { message, type, param: null, code: status } } : { error: message, error_type: type };
}

/** Maps anything thrown while serving to (status, type, message). */
export function classify(err: unknown): { status: number; type: ApiErrorType; message: string } {
  if (err instanceof ApiError) return { status: err.status, type: err.type, message: err.message };
  if (err instanceof InputError) return { status: 422, type: 'validation', message: err.message };
  const e = err as { statusCode?: number; code?: string; message?: string };
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    // Fastify's own refusals: bad JSON (400), body too large (413), unsupported media type (415).
    const msg = e.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || e instanceof SyntaxError ? `invalid JSON body: ${e.message}` : String(e.message);
    return { status: e.statusCode, type: e.statusCode === 400 && /empty/i.test(msg) ? 'empty' : 'validation', message: msg };
  }
  return { status: 424, type: 'backend', message: `Backend error: ${(err as Error)?.message ?? String(err)}` };
}

/** Routes that serve two dialects (/rerank, /tokenize) decide per request, from the body. */
const chosen = new WeakMap<FastifyRequest, ErrorStyle>();

export function styleOf(req: FastifyRequest): ErrorStyle {
  const picked = chosen.get(req);
  if (picked) return picked;
  const c = req.routeOptions?.config as { style?: ErrorStyle } | undefined;
  if (c?.style) return c.style;
  return req.url.startsWith('/v1/') || req.url.startsWith('/v2/') ? 'openai' : 'tei';
}

/** Registers a POST route whose handler gets a parsed JSON object, an abort signal and admission. */
export function post(app: FastifyInstance, service: ModelService, url: string, style: ErrorStyle | ((b: Json) => ErrorStyle), handler: PostHandler): void {
  app.post(url, { config: { style: typeof style === 'string' ? style : undefined } }, async (req, reply) => {
    const b = body(req.body);
    if (typeof style === 'function') chosen.set(req, style(b));
    const ac = new AbortController();
    const timeoutS = service.opts.requestTimeoutSeconds;
    const timer = timeoutS > 0 ? setTimeout(() => ac.abort(new ApiError(503, 'timeout', `request timed out after ${timeoutS} s`)), timeoutS * 1000) : undefined;
    const onClose = () => {
      if (!reply.raw.writableFinished) ac.abort(new ApiError(499, 'backend', 'client closed the connection'));
    };
    reply.raw.once('close', onClose);
    const releases: Array<() => void> = [];
    let finished = false;
    try {
      const ctx: RouteContext = {
        service,
        signal: ac.signal,
        admit: (n) => {
          const release = service.admit(n);
          // A handler still running after its request timed out must not hold admission.
          if (finished) release();
          else releases.push(release);
        },
      };
      const out = await Promise.race([
        handler(b, ctx, reply),
        new Promise<never>((_, reject) => {
          if (ac.signal.aborted) reject(ac.signal.reason);
          ac.signal.addEventListener('abort', () => reject(ac.signal.reason), { once: true });
        }),
      ]);
      return out;
    } finally {
      finished = true;
      clearTimeout(timer);
      for (const r of releases) r();
    }
  });
}
