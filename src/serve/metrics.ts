// Prometheus metrics of `embedrank serve`, through prom-client on a registry of its own: request
// counts and latency histograms per route, the batching queue's depth, engine batch sizes in
// sequences and tokens, engine time per run, and computed tokens (a counter for rate(), plus a gauge of
// tokens/s over the last window for dashboards without PromQL). Names follow TEI's te_* metrics
// (router/src/prometheus.rs) under the embedrank_ prefix, in Prometheus base units (seconds).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RunStats } from './batcher.js';

/** 10 µs × 1.5^k, as TEI's duration buckets (35 of them, up to ~15 hours; trimmed to 25 ≈ 4 min). */
const DURATION_BUCKETS = Array.from({ length: 25 }, (_, k) => 1e-5 * 1.5 ** (k + 1));
const POW2 = (n: number) => Array.from({ length: n }, (_, k) => 2 ** k);

export class ServeMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'status'>;
  readonly requestDuration: Histogram<'route'>;
  readonly queueDuration: Histogram;
  readonly inputLength: Histogram;
  readonly batchSize: Histogram;
  readonly batchTokens: Histogram;
  readonly runDuration: Histogram;
  readonly runFailures: Counter;
  readonly tokens: Counter;
  private window: Array<{ t: number; tokens: number }> = [];

  constructor(opts: { queueSize: () => number; inFlight: () => number; admitted: () => number; windowSeconds?: number }) {
    const registers = [this.registry];
    const windowMs = (opts.windowSeconds ?? 10) * 1000;
    collectDefaultMetrics({ register: this.registry, prefix: 'embedrank_' });
    this.requests = new Counter({ name: 'embedrank_requests_total', help: 'HTTP requests by route and status code', labelNames: ['route', 'status'], registers });
    this.requestDuration = new Histogram({
      name: 'embedrank_request_duration_seconds',
      help: 'Time from receiving a request to answering it',
      labelNames: ['route'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.queueDuration = new Histogram({ name: 'embedrank_request_queue_duration_seconds', help: 'Time a request waited in the batching queue before its first batch ran', buckets: DURATION_BUCKETS, registers });
    this.inputLength = new Histogram({ name: 'embedrank_request_input_length', help: 'Tokens per input sequence', buckets: POW2(14), registers });
    this.batchSize = new Histogram({ name: 'embedrank_batch_size', help: 'Sequences per engine batch', buckets: POW2(13), registers });
    this.batchTokens = new Histogram({ name: 'embedrank_batch_tokens', help: 'Tokens per engine batch', buckets: POW2(21), registers });
    this.runDuration = new Histogram({ name: 'embedrank_run_duration_seconds', help: 'Engine time per run (the sequences taken from the queue at once: one or a few batches)', buckets: DURATION_BUCKETS, registers });
    this.runFailures = new Counter({ name: 'embedrank_run_failures_total', help: 'Engine runs that failed', registers });
    this.tokens = new Counter({ name: 'embedrank_tokens_total', help: 'Tokens computed by the engine', registers });
    new Gauge({
      name: 'embedrank_queue_size',
      help: 'Sequences waiting in the batching queue',
      registers,
      collect() {
        this.set(opts.queueSize());
      },
    });
    new Gauge({
      name: 'embedrank_batches_in_flight',
      help: 'Engine batches running or handed to the engine',
      registers,
      collect() {
        this.set(opts.inFlight());
      },
    });
    new Gauge({
      name: 'embedrank_admitted_inputs',
      help: 'Inputs of admitted requests not yet answered (bounded by --max-concurrent-requests)',
      registers,
      collect() {
        this.set(opts.admitted());
      },
    });
    const win = this;
    new Gauge({
      name: 'embedrank_tokens_per_second',
      help: `Tokens computed per second over the last ${windowMs / 1000} s`,
      registers,
      collect() {
        const now = performance.now();
        win.prune(now, windowMs);
        this.set(win.window.reduce((s, w) => s + w.tokens, 0) / (windowMs / 1000));
      },
    });
    this.windowMs = windowMs;
  }

  private readonly windowMs: number;

  private prune(now: number, ms: number): void {
    while (this.window.length && this.window[0].t < now - ms) this.window.shift();
  }

  /** Records one run taken from the queue. */
  run(s: RunStats): void {
    if (!s.ok) this.runFailures.inc();
    else this.runDuration.observe(s.seconds);
  }

  /** Records one engine batch as it finishes. */
  batch(sequences: number, tokens: number): void {
    this.batchSize.observe(sequences);
    this.batchTokens.observe(tokens);
    this.tokens.inc(tokens);
    const now = performance.now();
    this.window.push({ t: now, tokens });
    this.prune(now, this.windowMs);
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
