// Embedding routes: OpenAI's POST /v1/embeddings (as vLLM serves it: strings or token ids,
// encoding_format float|base64, dimensions, usage) and TEI's POST /embed (inputs, truncate,
// prompt_name, normalize, dimensions).
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../errors.js';
import { post, type RouteContext } from '../http.js';
import { embedInputs, optBool, optEnum, optInt, optString, rightTruncationOnly, type Json } from '../parse.js';
import type { ModelService } from '../service.js';

/**
 * Rows of n × dim values cut to `dimensions` (Matryoshka truncation) and, when `normalize`,
 * L2-normalised after the cut (vLLM and TEI normalise after truncating). Returns n rows.
 */
export function finishRows(values: Float32Array, n: number, dim: number, dimensions: number | undefined, normalize: boolean): Float32Array[] {
  const d = dimensions ?? dim;
  const rows: Float32Array[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const row = values.slice(i * dim, i * dim + d);
    if (normalize) {
      let ss = 0;
      for (let k = 0; k < d; k++) ss += row[k] * row[k];
      const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
      for (let k = 0; k < d; k++) row[k] *= inv;
    }
    rows[i] = row;
  }
  return rows;
}

function checkDimensions(dimensions: number | undefined, dim: number): void {
  if (dimensions === undefined) return;
  if (dimensions < 1) throw new ApiError(422, 'validation', '`dimensions` should be positive');
  if (dimensions > dim) throw new ApiError(422, 'validation', `\`dimensions\` (${dimensions}) should be at most the model's embedding dimension (${dim})`);
}

/** Little-endian float32 bytes in base64, as OpenAI's encoding_format "base64". */
export function base64Row(row: Float32Array): string {
  return Buffer.from(row.buffer, row.byteOffset, row.byteLength).toString('base64');
}

export function registerEmbeddingRoutes(app: FastifyInstance, service: ModelService): void {
  const openai = async (b: Json, ctx: RouteContext) => {
    service.checkModelName(optString(b, 'model'));
    if (b.input === undefined) throw new ApiError(400, 'validation', '`input` is required');
    const { inputs } = embedInputs(b.input, 'input');
    const format = optEnum(b, 'encoding_format', ['float', 'base64'] as const) ?? 'float';
    const dimensions = optInt(b, 'dimensions');
    const truncateTo = optInt(b, 'truncate_prompt_tokens');
    service.checkBatch(inputs.length, 'input');
    ctx.admit(inputs.length);
    const r = await service.embed({ inputs, truncate: service.opts.autoTruncate, truncateTo, signal: ctx.signal });
    checkDimensions(dimensions, r.width);
    const normalize = dimensions !== undefined && dimensions < r.width && service.model.kind === 'encoder' && service.model.pooling.normalize;
    const rows = finishRows(r.values, inputs.length, r.width, dimensions, normalize);
    return {
      id: `embd-${randomUUID()}`,
      object: 'list',
      created: Math.floor(Date.now() / 1000),
      model: service.opts.servedModelName,
      data: rows.map((row, index) => ({ object: 'embedding', embedding: format === 'base64' ? base64Row(row) : Array.from(row), index })),
      usage: { prompt_tokens: r.tokens, total_tokens: r.tokens },
    };
  };
  post(app, service, '/v1/embeddings', 'openai', openai);
  post(app, service, '/embeddings', 'openai', openai);

  post(app, service, '/embed', 'tei', async (b, ctx, reply) => {
    if (b.inputs === undefined) throw new ApiError(400, 'validation', '`inputs` is required');
    const { inputs } = embedInputs(b.inputs, 'inputs');
    const truncate = optBool(b, 'truncate') ?? service.opts.autoTruncate;
    rightTruncationOnly(b);
    const promptName = optString(b, 'prompt_name');
    const normalize = optBool(b, 'normalize') ?? true;
    const dimensions = optInt(b, 'dimensions');
    service.checkBatch(inputs.length, 'inputs');
    ctx.admit(inputs.length);
    const r = await service.embed({ inputs, truncate, promptName, signal: ctx.signal });
    checkDimensions(dimensions, r.width);
    const rows = finishRows(r.values, inputs.length, r.width, dimensions, normalize);
    reply.header('x-compute-tokens', String(r.tokens));
    reply.header('x-compute-characters', String(inputs.reduce<number>((s, x) => s + (typeof x === 'string' ? [...x].length : x.length), 0)));
    return rows.map((row) => Array.from(row));
  });
}
