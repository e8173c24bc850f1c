// Limits of `embedrank serve`, named and defaulted as text-embeddings-inference names them
// (router/src/main.rs), and checked before the server starts.
import { InputError } from '../errors.js';

export interface ServeOptions {
  /** Name the OpenAI-compatible routes report and accept as `model` (TEI's --served-model-name). */
  servedModelName: string;
  /** Most inputs in one request; more is a 413 (TEI --max-client-batch-size, default 32). At most maxConcurrentRequests (InputError otherwise). */
  maxClientBatchSize?: number;
  /**
   * Inputs of admitted, unanswered requests; a request that would pass it is answered 429 at once
   * (TEI --max-concurrent-requests, default 512; counted per input as TEI takes one permit per input).
   */
  maxConcurrentRequests?: number;
  /** Cut over-long inputs (default) rather than answer 422 (TEI --auto-truncate); TEI routes may override per request. */
  autoTruncate?: boolean;
  /** Seconds a request may take from arrival to answer before it gets a 503 (0: no limit). Default 300. */
  requestTimeoutSeconds?: number;
  /** Largest request body in bytes (TEI --payload-limit, default 2 MB). */
  payloadLimit?: number;
  /** Name of the sentence-transformers prompt applied when a request names none (TEI --default-prompt-name). */
  defaultPromptName?: string;
  /** Literal prompt applied when a request names none (TEI --default-prompt). */
  defaultPrompt?: string;
  /** Recorded in /info and /v1/models. */
  revision?: string;
}

export type ResolvedServeOptions = Required<Omit<ServeOptions, 'defaultPromptName' | 'defaultPrompt' | 'revision'>> &
  Pick<ServeOptions, 'defaultPromptName' | 'defaultPrompt' | 'revision'>;

function positiveInt(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 1) throw new InputError(`${what} must be a positive integer, got ${v}`);
  return v;
}

export function resolveServeOptions(o: ServeOptions): ResolvedServeOptions {
  if (!o || typeof o.servedModelName !== 'string' || !o.servedModelName) throw new InputError('servedModelName must be a non-empty string');
  const timeout = o.requestTimeoutSeconds ?? 300;
  if (!(timeout >= 0) || !Number.isFinite(timeout)) throw new InputError(`requestTimeoutSeconds must be ≥ 0, got ${timeout}`);
  if (o.defaultPrompt !== undefined && o.defaultPromptName !== undefined) throw new InputError('give defaultPrompt or defaultPromptName, not both (as TEI)');
  const maxClientBatchSize = positiveInt(o.maxClientBatchSize ?? 32, 'maxClientBatchSize');
  const maxConcurrentRequests = positiveInt(o.maxConcurrentRequests ?? 512, 'maxConcurrentRequests');
  // Admission counts inputs: a full-size request above the concurrency limit would get 429
  // (retry later) forever, and a client reading max_client_batch_size from /info would retry in vain.
  if (maxClientBatchSize > maxConcurrentRequests) {
    throw new InputError(
      `maxClientBatchSize (${maxClientBatchSize}) is more than maxConcurrentRequests (${maxConcurrentRequests}): a request of that many inputs could never be admitted; raise --max-concurrent-requests or lower --max-client-batch-size`,
    );
  }
  return {
    servedModelName: o.servedModelName,
    maxClientBatchSize,
    maxConcurrentRequests,
    autoTruncate: o.autoTruncate ?? true,
    requestTimeoutSeconds: timeout,
    payloadLimit: positiveInt(o.payloadLimit ?? 2_000_000, 'payloadLimit'),
    defaultPromptName: o.defaultPromptName,
    defaultPrompt: o.defaultPrompt,
    revision: o.revision,
  };
}
