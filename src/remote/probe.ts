// What the remote client learns from a server before the first request: TEI's GET /info (which
// `embedrank serve` also answers, with an `embedrank` block of model metadata) gives the model
// type and the limits to batch to; vLLM and OpenAI-compatible servers without /info fall back to
// GET /v1/models (max_model_len) and documented defaults.
import type { EndpointPool } from './endpoints.js';
import { serverRoot } from './endpoints.js';

export interface ServerInfo {
  base: string;
  /** 'encoder' or 'cross-encoder' where the server says, else undefined. */
  kind?: 'encoder' | 'cross-encoder';
  maxClientBatchSize?: number;
  maxInputLength?: number;
  revision?: string | null;
  embedDim?: number | null;
  similarityFn?: 'cosine' | 'dot' | 'euclidean' | 'manhattan' | null;
  prompts?: Record<string, string> | null;
  servedModelName?: string;
}

const PROBE_MS = 10_000;

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Asks one endpoint about itself (single attempts, no retries); undefined when it will not say. */
export async function probeServer(pool: EndpointPool, base: string): Promise<ServerInfo | undefined> {
  const root = serverRoot(base);
  try {
    const j = (await pool.attempt(root, '/info', undefined, PROBE_MS)) as Record<string, unknown>;
    const mt = (j.model_type ?? {}) as Record<string, unknown>;
    const er = (j.embedrank ?? {}) as Record<string, unknown>;
    return {
      base,
      kind: 'reranker' in mt || 'classifier' in mt ? 'cross-encoder' : 'embedding' in mt ? 'encoder' : undefined,
      maxClientBatchSize: num(j.max_client_batch_size),
      maxInputLength: num(j.max_input_length),
      revision: typeof j.model_sha === 'string' ? j.model_sha : null,
      embedDim: num(er.embed_dim) ?? null,
      similarityFn: (er.similarity_fn_name as ServerInfo['similarityFn']) ?? null,
      prompts: (er.prompts as Record<string, string> | null) ?? null,
      servedModelName: typeof j.served_model_name === 'string' ? j.served_model_name : typeof j.model_id === 'string' ? j.model_id : undefined,
    };
  } catch {
    // not TEI-like; try the OpenAI model list
  }
  try {
    const j = (await pool.attempt(base, '/models', undefined, PROBE_MS)) as { data?: Array<Record<string, unknown>> };
    const m = j.data?.[0];
    if (!m) return undefined;
    return { base, maxInputLength: num(m.max_model_len), servedModelName: typeof m.id === 'string' ? m.id : undefined };
  } catch {
    return undefined;
  }
}

/** Probes every endpoint; the client batches to the smallest limit any of them states. */
export async function probeAll(pool: EndpointPool): Promise<ServerInfo[]> {
  const infos = await Promise.all(pool.bases.map((b) => probeServer(pool, b)));
  return infos.filter((x): x is ServerInfo => Boolean(x));
}
