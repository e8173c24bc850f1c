// Routes about the server rather than computing embeddings: GET /health, /info (TEI's model and
// router limits, which RemoteEncoder reads to batch to them), /v1/models (OpenAI), /metrics
// (Prometheus), and POST /tokenize in TEI's form ({inputs} → tokens with byte offsets) and vLLM's
// ({prompt} → ids and count), through Hugging Face's tokenizers binding.
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Tokenizer } from 'tokenizers';
import { errorBody, post } from '../http.js';
import { optBool, optString, reqString, stringArray } from '../parse.js';
import type { ModelService } from '../service.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface SimpleToken {
  id: number;
  text: string;
  special: boolean;
  /** UTF-8 byte offsets into the (prompted) input, as TEI gives them; null for special tokens. */
  start: number | null;
  stop: number | null;
}

/** TEI's /info body: the model and the limits clients must respect. */
export function infoBody(service: ModelService): Record<string, unknown> {
  const m = service.model;
  const l = m.limits;
  const modelType =
    m.kind === 'encoder'
      ? { embedding: { pooling: m.pooling.mode } }
      : { reranker: { id2label: Object.fromEntries(Array.from({ length: m.numLabels }, (_, i) => [String(i), `LABEL_${i}`])), label2id: Object.fromEntries(Array.from({ length: m.numLabels }, (_, i) => [`LABEL_${i}`, i])) } };
  return {
    model_id: service.opts.servedModelName,
    // The revision results are filed under (a hub snapshot, or the content hash of a local folder):
    // remote clients key their caches by it, so a re-served retrained checkpoint is never mixed up.
    model_sha: m.revision,
    model_dtype: m.dtype,
    served_model_name: service.opts.servedModelName,
    model_type: modelType,
    max_concurrent_requests: service.opts.maxConcurrentRequests,
    max_input_length: m.maxLength,
    max_batch_tokens: l.maxNumBatchedTokens,
    max_batch_requests: l.maxNumSeqs,
    max_client_batch_size: service.opts.maxClientBatchSize,
    auto_truncate: service.opts.autoTruncate,
    tokenization_workers: null,
    version: VERSION,
    sha: null,
    docker_label: null,
    // embedrank's additions: what RemoteEncoder records as model metadata.
    embedrank: {
      kind: m.kind,
      device: m.device,
      embed_dim: m.kind === 'encoder' ? m.dim : null,
      similarity_fn_name: m.kind === 'encoder' ? m.similarityFn : null,
      normalize: m.kind === 'encoder' ? m.pooling.normalize : null,
      prompts: m.kind === 'encoder' ? m.prompts : null,
      num_labels: m.kind === 'cross-encoder' ? m.numLabels : null,
    },
  };
}

/** Converts the tokenizer's character (code point) offsets into UTF-8 byte offsets of `input`. */
function byteOffsets(input: string): Int32Array {
  const cps = Array.from(input);
  const out = new Int32Array(cps.length + 1);
  for (let i = 0; i < cps.length; i++) out[i + 1] = out[i] + Buffer.byteLength(cps[i]);
  return out;
}

export function registerMetaRoutes(app: FastifyInstance, service: ModelService): void {
  // Loaded on first use: importing the server must not load a native binding /tokenize may never need.
  let tokenizer: Promise<Tokenizer> | undefined;
  const tok = () =>
    (tokenizer ??= import('tokenizers').then(({ Tokenizer }) => {
      const t = Tokenizer.fromFile(service.model.tokenizerFile);
      t.disablePadding();
      t.disableTruncation();
      return t;
    }));

  app.get('/health', { config: { style: 'tei' } }, async (_req, reply) => {
    if (service.draining) return reply.code(503).send(errorBody('tei', 503, 'unhealthy', 'the server is shutting down'));
    return reply.code(200).send('');
  });
  app.get('/info', async () => infoBody(service));
  app.get('/v1/models', { config: { style: 'openai' } }, async () => ({
    object: 'list',
    data: [
      {
        id: service.opts.servedModelName,
        object: 'model',
        created: Math.floor(Date.now() / 1000),
        owned_by: 'embedrank',
        root: service.opts.servedModelName,
        parent: null,
        max_model_len: service.model.maxLength,
      },
    ],
  }));
  app.get('/metrics', async (_req, reply) => {
    const m = await service.metrics.render();
    return reply.header('content-type', m.contentType).send(m.body);
  });

  // TEI sends {inputs}, vLLM {prompt}.
  post(app, service, '/tokenize', (b) => (b.inputs !== undefined ? 'tei' : 'openai'), async (b) => {
    const addSpecial = optBool(b, 'add_special_tokens') ?? true;
    if (b.inputs === undefined) {
      service.checkModelName(optString(b, 'model'));
      const prompt = reqString(b, 'prompt');
      const e = await (await tok()).encode(prompt, null, { addSpecialTokens: addSpecial });
      const ids = e.getIds();
      return { count: ids.length, max_model_len: service.model.maxLength, tokens: ids, token_strs: null };
    }
    const single = typeof b.inputs === 'string';
    const inputs = single ? [b.inputs as string] : stringArray(b.inputs, 'inputs');
    service.checkBatch(inputs.length, 'inputs');
    const promptName = optString(b, 'prompt_name');
    const prompt = promptName !== undefined ? service.resolvePrompt(undefined, promptName) ?? '' : '';
    const t = await tok();
    return Promise.all(
      inputs.map(async (raw) => {
        const input = prompt + raw;
        const e = await t.encode(input, null, { addSpecialTokens: addSpecial });
        const ids = e.getIds();
        const offsets = e.getOffsets();
        const special = e.getSpecialTokensMask();
        const tokens = e.getTokens();
        const bytes = byteOffsets(input);
        const buf = Buffer.from(input);
        return ids.map((id, i): SimpleToken => {
          if (special[i]) return { id, text: tokens[i], special: true, start: null, stop: null };
          const start = bytes[offsets[i][0]];
          const stop = bytes[offsets[i][1]];
          return { id, text: buf.subarray(start, stop).toString('utf8'), special: false, start, stop };
        });
      }),
    );
  });
}
