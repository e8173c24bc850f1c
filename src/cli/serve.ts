// `embedrank serve -m MODEL`: loads an embedding model or a cross-encoder (whichever the folder
// is) and serves it over HTTP until SIGTERM/SIGINT, then drains and exits 0. Options after
// text-embeddings-inference's router flags.
import { existsSync } from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import { CrossEncoder } from '../cross-encoder.js';
import { Encoder } from '../encoder.js';
import { loadModelFolder } from '../model/folder.js';
import { resolveModel } from '../model/hub.js';
import { createServer, serveUntilSignal } from '../serve/server.js';
import { allocatorLabel } from './allocator.js';
import { parseHfOverrides, toEngineOptions, usageCheck, withEngineOptions, type EngineArgs } from './engine-options.js';

export interface ServeArgs extends EngineArgs {
  host: string;
  port: number;
  servedModelName?: string;
  maxClientBatchSize: number;
  maxConcurrentRequests: number;
  autoTruncate: boolean;
  requestTimeout: number;
  payloadLimit: number;
  defaultPromptName?: string;
  defaultPrompt?: string;
}

export async function serveCmd(a: ServeArgs): Promise<void> {
  const dir = await resolveModel(a.model, { revision: a.revision });
  const kind = loadModelFolder(dir, { hfOverrides: parseHfOverrides(a.hfOverrides) }).kind;
  const engine = { ...toEngineOptions(a), model: dir };
  const model = kind === 'cross-encoder' ? await CrossEncoder.create(engine) : await Encoder.create(engine);
  const name = a.servedModelName ?? (existsSync(a.model) ? dir.replace(/\/+$/, '').split('/').pop()! : a.model);
  const options = {
    servedModelName: name,
    maxClientBatchSize: a.maxClientBatchSize,
    maxConcurrentRequests: a.maxConcurrentRequests,
    autoTruncate: a.autoTruncate,
    requestTimeoutSeconds: a.requestTimeout,
    payloadLimit: a.payloadLimit,
    defaultPromptName: a.defaultPromptName,
    defaultPrompt: a.defaultPrompt,
    revision: a.revision,
  };
  let server: ReturnType<typeof createServer>;
  try {
    server = createServer(model, options);
  } catch (e) {
    await model.close(); // the loaded model's threads would keep the process alive
    throw e;
  }
  const url = await server.listen(a.port, a.host);
  const l = model.limits;
  process.stderr.write(
    `embedrank serve: ${name} (${kind}, ${model.device} ${model.dtype}, max ${l.maxLength} tokens, batches of ≤ ${l.maxNumBatchedTokens} tokens / ${l.maxNumSeqs} sequences, ${allocatorLabel()}) listening on ${url}\n`,
  );
  await serveUntilSignal(server, model, (s) => process.stderr.write(`${s}\n`));
}

export function serveCommand(): CommandModule<object, ServeArgs> {
  return {
    command: 'serve',
    describe: 'Serve a model over HTTP: OpenAI /v1/embeddings, /v1/rerank, /score, TEI /embed, /rerank, /tokenize, /health, /metrics',
    builder: (y: Argv<object>) =>
      withEngineOptions(y)
        .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to listen on (0.0.0.0 to accept other hosts)' })
        .option('port', { alias: 'p', type: 'number', default: 8080, describe: 'port (0: any free port, printed at start)' })
        .option('served-model-name', { type: 'string', describe: 'model name the OpenAI routes report and accept (default: the id or folder name)' })
        .option('max-client-batch-size', { type: 'number', default: 32, describe: 'most inputs in one request; more is a 413 (as TEI)' })
        .option('max-concurrent-requests', { type: 'number', default: 512, describe: 'admitted inputs not yet answered; past it requests get 429 (as TEI)' })
        .option('auto-truncate', { type: 'boolean', default: true, describe: 'cut over-long inputs; --no-auto-truncate answers them 422 (TEI routes may override per request)' })
        .option('request-timeout', { type: 'number', default: 300, describe: 'seconds a request may take before it is answered 503 (0: no limit)' })
        .option('payload-limit', { type: 'number', default: 2_000_000, describe: 'largest request body in bytes; larger is a 413' })
        .option('default-prompt-name', { type: 'string', describe: "name of the model's sentence-transformers prompt applied when a request names none" })
        .option('default-prompt', { type: 'string', describe: 'literal prompt applied when a request names none' })
        .check(usageCheck((a: Record<string, unknown>) => {
          for (const k of ['port', 'max-client-batch-size', 'max-concurrent-requests', 'request-timeout', 'payload-limit']) {
            const v = a[k] as number;
            if (!Number.isFinite(v) || v < 0 || !Number.isInteger(v)) throw new Error(`--${k} must be a non-negative integer, got ${String(a[k])}`);
          }
          if ((a.port as number) > 65535) throw new Error(`--port must be at most 65535, got ${String(a.port)}`);
          const batch = a['max-client-batch-size'] as number, concurrent = a['max-concurrent-requests'] as number;
          if (batch > concurrent) {
            throw new Error(
              `--max-client-batch-size ${batch} is more than --max-concurrent-requests ${concurrent}: a request of that many inputs could never be admitted (429 forever); raise --max-concurrent-requests`,
            );
          }
          if (a['default-prompt'] !== undefined && a['default-prompt-name'] !== undefined) throw new Error('give --default-prompt or --default-prompt-name, not both');
          return true;
        }))
        .example('$0 serve -m ./models/minilm --port 8080', 'serve an embedding model on localhost:8080')
        .example('$0 serve -m BAAI/bge-reranker-base --host 0.0.0.0 --device cuda', 'serve a reranker to other hosts') as unknown as Argv<ServeArgs>,
    handler: (a) => serveCmd(a),
  };
}
