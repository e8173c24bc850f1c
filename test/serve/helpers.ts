// Helpers of the serving and remote suites: a server on a free loopback port around an already
// loaded model, JSON requests that return status and body, and L2 normalisation.
import { createServer, type EmbedServer } from '../../src/serve/server.js';
import type { ServeOptions } from '../../src/serve/options.js';
import type { ServedModel } from '../../src/serve/service.js';

export interface Running {
  url: string;
  server: EmbedServer;
}

export async function startServer(model: ServedModel, opts: Partial<ServeOptions> = {}, before?: (s: EmbedServer) => void): Promise<Running> {
  const server = createServer(model, { servedModelName: 'test-model', ...opts });
  before?.(server);
  const url = await server.listen(0, '127.0.0.1');
  return { url, server };
}

export interface Answer<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

/** POSTs JSON (or a raw string body) and parses the answer as JSON when it is JSON. */
export async function postJson<T = any>(url: string, body: unknown, raw = false): Promise<Answer<T>> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw ? (body as string) : JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // keep text
  }
  return { status: res.status, body: parsed as T, headers: res.headers };
}

export async function getText(url: string): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(url);
  return { status: res.status, text: await res.text(), headers: res.headers };
}

export function l2normalize(a: ArrayLike<number>): Float32Array {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  const inv = 1 / Math.sqrt(s);
  return Float32Array.from(a, (x) => x * inv);
}

export function decodeBase64F32(s: string): Float32Array {
  const b = Buffer.from(s, 'base64');
  const out = new Float32Array(b.length / 4);
  Buffer.from(out.buffer).set(b);
  return out;
}
