// `embedrank serve`: a fastify HTTP server in front of one loaded model, speaking OpenAI's
// embeddings API, the Cohere/Jina rerank API and vLLM's /score (as vLLM serves them), and
// text-embeddings-inference's /embed, /rerank, /tokenize, /info, /health and /metrics, with TEI's
// limits and error bodies. Every request's sequences go through one batching queue (ServeBatcher)
// into the runtime's coordinator, so concurrent requests share engine batches.
//
// Shutdown (close(), or SIGTERM/SIGINT through serveUntilSignal): stop accepting connections,
// answer what was admitted, then release the model — nothing accepted is lost.
import Fastify, { type FastifyInstance } from 'fastify';
import type { Socket } from 'node:net';
import { dieOfSignal } from '../main.js';
import { classify, errorBody, styleOf } from './http.js';
import { resolveServeOptions, type ServeOptions } from './options.js';
import { registerEmbeddingRoutes } from './routes/embeddings.js';
import { registerMetaRoutes } from './routes/meta.js';
import { registerRerankRoutes } from './routes/rerank.js';
import { ModelService, type ServedModel } from './service.js';

export interface EmbedServer {
  readonly app: FastifyInstance;
  readonly service: ModelService;
  /** Starts listening; resolves with the base URL (port 0 picks a free port). */
  listen(port: number, host?: string): Promise<string>;
  /** Stops accepting, answers every admitted request, then resolves (the model stays open). */
  close(): Promise<void>;
}

/** Builds the server for an already loaded Encoder or CrossEncoder. */
export function createServer(model: ServedModel, options: ServeOptions): EmbedServer {
  const opts = resolveServeOptions(options);
  const service = new ModelService(model, opts);
  const app = Fastify({ bodyLimit: opts.payloadLimit, logger: false, return503OnClosing: true, forceCloseConnections: 'idle' });

  // JSON bodies only, as TEI (axum's Json): fastify would otherwise parse text/plain into a string.
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((err, req, reply) => {
    const c = classify(err);
    if (reply.raw.destroyed) return;
    void reply.code(c.status).send(errorBody(styleOf(req), c.status, c.type, c.message));
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(errorBody(styleOf(req), 404, 'validation', `no route ${req.method} ${req.url}`));
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    service.metrics.requests.inc({ route, status: String(reply.statusCode) });
    service.metrics.requestDuration.observe({ route }, reply.elapsedTime / 1000);
  });

  // While draining, answers close their connection: a keep-alive socket left idle after its last
  // response would otherwise hold close() open for the whole keep-alive timeout.
  app.addHook('onSend', async (_req, reply) => {
    if (service.draining) reply.header('connection', 'close');
  });

  // Connections with a request whose answer is not yet fully handed to the OS ('finish'). Node's
  // server.closeIdleConnections() — which server.close() also calls (Node ≥ 19) — destroys a
  // connection as soon as its answer has ended, while Node may still be writing it: large answers
  // (8–16 MB) reached their clients cut off when a drain began. The server's own method is replaced
  // by one that ends only connections with nothing in flight, gracefully (end(): buffered bytes go
  // out first).
  const sockets = new Set<Socket>();
  const busy = new Map<Socket, number>();
  app.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      busy.delete(socket);
    });
  });
  app.server.on('request', (req, res) => {
    const socket = req.socket;
    busy.set(socket, (busy.get(socket) ?? 0) + 1);
    let done = false;
    const settle = () => {
      if (done) return;
      done = true;
      const n = (busy.get(socket) ?? 1) - 1;
      if (n > 0) busy.set(socket, n);
      else busy.delete(socket);
    };
    res.once('finish', settle);
    res.once('close', settle);
  });
  const endIdleConnections = () => {
    for (const socket of sockets) if (!busy.has(socket)) socket.end();
  };
  app.server.closeIdleConnections = endIdleConnections;

  registerEmbeddingRoutes(app, service);
  registerRerankRoutes(app, service);
  registerMetaRoutes(app, service);

  let closing: Promise<void> | undefined;
  return {
    app,
    service,
    async listen(port, host = '127.0.0.1') {
      await app.listen({ port, host });
      const addr = app.server.address();
      const p = typeof addr === 'object' && addr ? addr.port : port;
      return `http://${host.includes(':') ? `[${host}]` : host}:${p}`;
    },
    close() {
      closing ??= (async () => {
        service.draining = true;
        const sweep = setInterval(endIdleConnections, 200);
        try {
          await app.close(); // waits for in-flight requests; new ones on open connections get 503
        } finally {
          clearInterval(sweep);
        }
        await service.batcher.idle();
      })();
      return closing;
    },
  };
}

/** A repeat of the first stop signal this soon after it is the same request delivered twice. */
export const REPEATED_SIGNAL_MS = 1000;

/**
 * Serves until SIGTERM or SIGINT, then drains (close()), closes the model and resolves; the CLI
 * exits 0 after it. A second signal during the drain ends the process at once by that signal (its
 * default action, status 128 + n: process.exit there aborted inside an addon's threads), except the
 * same signal within REPEATED_SIGNAL_MS of the first: a supervisor that signals every process of the
 * service (systemd's KillMode=control-group) reaches this process both directly and through the
 * `embedrank` launcher's relaunch (src/cli/allocator.ts), which passes signals on.
 */
export async function serveUntilSignal(server: EmbedServer, model: ServedModel, log: (s: string) => void): Promise<void> {
  const stops: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];
  await new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      for (const s of stops) process.off(s, onSignal);
      log(`embedrank serve: ${sig}: draining ${server.service.admittedInputs} admitted inputs, then exiting`);
      const first = performance.now();
      const again = (s: NodeJS.Signals) => {
        if (s === sig && performance.now() - first < REPEATED_SIGNAL_MS) return;
        dieOfSignal(s);
      };
      for (const s of stops) process.on(s, again);
      resolve();
    };
    for (const s of stops) process.on(s, onSignal);
  });
  await server.close();
  await model.close();
  log('embedrank serve: drained, bye');
}
