// Cross-encoder routes: TEI's POST /rerank ({query, texts}), the Cohere/Jina rerank API as vLLM
// serves it (POST /v1/rerank, /v2/rerank, and /rerank with {query, documents}: top_n,
// return_documents, relevance_score), and vLLM's POST /score (text_1 × text_2, 1:N or N:N).
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../errors.js';
import { post, type RouteContext } from '../http.js';
import { optBool, optInt, optString, reqString, rightTruncationOnly, stringArray, type Json } from '../parse.js';
import type { Computed, ModelService } from '../service.js';

/** Indices sorted by score, best first; ties keep input order. */
export function rankOrder(scores: ArrayLike<number>): number[] {
  return Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
}

function oneScore(r: Computed): Float32Array {
  if (r.width !== 1) throw new ApiError(424, 'backend', `ranking needs one score per pair; this model has ${r.width} labels`);
  for (let i = 0; i < r.values.length; i++) if (Number.isNaN(r.values[i])) throw new ApiError(424, 'backend', 'score is NaN');
  return r.values;
}

/** vLLM's use_activation (and its deprecated spellings activation, softmax): false gives raw logits. */
function rawScores(b: Json): boolean {
  const use = optBool(b, 'use_activation') ?? optBool(b, 'activation') ?? optBool(b, 'softmax');
  return use === false;
}

/** Documents as Cohere's v1 API allows them: strings or {text} objects. */
function documentTexts(v: unknown): string[] {
  if (!Array.isArray(v)) throw new ApiError(400, 'validation', '`documents` must be an array of strings');
  return v.map((d, i) => {
    if (typeof d === 'string') return d;
    if (d && typeof d === 'object' && typeof (d as { text?: unknown }).text === 'string') return (d as { text: string }).text;
    throw new ApiError(400, 'validation', `\`documents[${i}]\` must be a string or an object with a string \`text\``);
  });
}

async function cohereRerank(service: ModelService, b: Json, ctx: RouteContext) {
  service.checkModelName(optString(b, 'model'));
  const query = reqString(b, 'query');
  if (b.documents === undefined) throw new ApiError(400, 'validation', '`documents` is required');
  const docs = documentTexts(b.documents);
  const topN = optInt(b, 'top_n');
  if (topN !== undefined && topN < 0) throw new ApiError(400, 'validation', '`top_n` must be ≥ 0');
  const returnDocuments = optBool(b, 'return_documents') ?? true;
  const truncateTo = optInt(b, 'truncate_prompt_tokens');
  service.checkBatch(docs.length, 'documents');
  ctx.admit(docs.length);
  const r = await service.score(
    docs.map((d) => [query, d] as [string, string]),
    { truncate: service.opts.autoTruncate, truncateTo, raw: rawScores(b), signal: ctx.signal },
  );
  const scores = oneScore(r);
  const order = rankOrder(scores).slice(0, topN ? topN : docs.length);
  return {
    id: `rerank-${randomUUID()}`,
    model: service.opts.servedModelName,
    usage: { total_tokens: r.tokens },
    results: order.map((i) => ({ index: i, ...(returnDocuments ? { document: { text: docs[i] } } : {}), relevance_score: scores[i] })),
  };
}

async function teiRerank(service: ModelService, b: Json, ctx: RouteContext) {
  const query = reqString(b, 'query');
  if (b.texts === undefined) throw new ApiError(400, 'validation', '`texts` is required');
  const texts = stringArray(b.texts, 'texts');
  if (!texts.length) throw new ApiError(400, 'empty', '`texts` cannot be empty');
  const truncate = optBool(b, 'truncate') ?? service.opts.autoTruncate;
  rightTruncationOnly(b);
  const raw = optBool(b, 'raw_scores') ?? false;
  const returnText = optBool(b, 'return_text') ?? false;
  service.checkBatch(texts.length, 'texts');
  ctx.admit(texts.length);
  const r = await service.score(texts.map((t) => [query, t] as [string, string]), { truncate, raw, signal: ctx.signal });
  const scores = oneScore(r);
  return rankOrder(scores).map((i) => ({ index: i, ...(returnText ? { text: texts[i] } : {}), score: scores[i] }));
}

async function vllmScore(service: ModelService, b: Json, ctx: RouteContext) {
  service.checkModelName(optString(b, 'model'));
  const side = (field: 'text_1' | 'text_2'): string[] => {
    const v = b[field];
    if (v === undefined) throw new ApiError(400, 'validation', `\`${field}\` is required`);
    return typeof v === 'string' ? [v] : stringArray(v, field);
  };
  const t1 = side('text_1');
  const t2 = side('text_2');
  if (!t1.length || !t2.length) throw new ApiError(400, 'empty', '`text_1` and `text_2` cannot be empty');
  let pairs: Array<[string, string]>;
  if (t1.length === 1) pairs = t2.map((t) => [t1[0], t] as [string, string]);
  else if (t1.length === t2.length) pairs = t1.map((t, i) => [t, t2[i]] as [string, string]);
  else throw new ApiError(400, 'validation', `text_1 has ${t1.length} items and text_2 ${t2.length}: give one text_1 (1:N) or equally many (N:N)`);
  service.checkBatch(pairs.length, 'text_2');
  ctx.admit(pairs.length);
  const r = await service.score(pairs, { truncate: service.opts.autoTruncate, truncateTo: optInt(b, 'truncate_prompt_tokens'), raw: rawScores(b), signal: ctx.signal });
  const scores = oneScore(r);
  return {
    id: `score-${randomUUID()}`,
    object: 'list',
    created: Math.floor(Date.now() / 1000),
    model: service.opts.servedModelName,
    data: Array.from(scores, (score, index) => ({ index, object: 'score', score })),
    usage: { prompt_tokens: r.tokens, total_tokens: r.tokens, completion_tokens: 0 },
  };
}

export function registerRerankRoutes(app: FastifyInstance, service: ModelService): void {
  for (const url of ['/v1/rerank', '/v2/rerank']) post(app, service, url, 'openai', (b, ctx) => cohereRerank(service, b, ctx));
  // TEI and vLLM both own /rerank; the body says which: TEI sends `texts`, Cohere/vLLM `documents`.
  post(app, service, '/rerank', (b) => (b.texts !== undefined ? 'tei' : 'openai'), (b, ctx) =>
    b.texts !== undefined ? teiRerank(service, b, ctx) : cohereRerank(service, b, ctx),
  );
  for (const url of ['/score', '/v1/score']) post(app, service, url, 'openai', (b, ctx) => vllmScore(service, b, ctx));
}
