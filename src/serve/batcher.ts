// The server's one batching queue: every request's tokenized sequences wait here, and each engine
// run takes sequences from as many queued requests as fit (maxRunTokens tokens, maxRunSeqs
// sequences), oldest first, so concurrent requests share batches — the shape of
// text-embeddings-inference's queue (core/src/queue.rs) in front of the runtime's coordinator.
// A run may span a few engine batches: the runtime's scheduler then sorts it by length and packs
// it by the engine's token budget, which wastes less padding on the CPU; under light load a run
// is just what is queued, so latency stays low. A large request is split across runs, so small
// requests behind it are not starved.
import { ApiError } from '../errors.js';
import type { TokenizedChunk } from '../tokenize/packed.js';

/** Runs one merged run: n sequences → n × width values, row-major. */
export type BatchRunner = (chunk: TokenizedChunk, poolSkip: Int32Array) => Promise<Float32Array>;

export interface BatcherLimits {
  /** Tokens in one run (a few of the engine's maxNumBatchedTokens). */
  maxRunTokens: number;
  /** Sequences in one run (a few of the engine's maxNumSeqs). */
  maxRunSeqs: number;
  /** Runs in flight at once: the engine's slots plus one, so the next batch is ready when a slot frees. */
  maxInFlight: number;
}

export interface RunStats {
  sequences: number;
  tokens: number;
  seconds: number;
  ok: boolean;
}

interface Entry {
  /** Entries merge only with entries of the same key (same op, same activation). */
  key: string;
  run: BatchRunner;
  chunk: TokenizedChunk;
  poolSkip?: Int32Array;
  width: number;
  out: Float32Array;
  /** Next sequence to dispatch, sequences answered. */
  next: number;
  done: number;
  settled: boolean;
  enqueuedAt: number;
  startedAt?: number;
  onStart?: (queuedSeconds: number) => void;
  resolve: (v: Float32Array) => void;
  reject: (e: unknown) => void;
}

interface Part {
  entry: Entry;
  from: number;
  to: number;
}

export interface SubmitOptions {
  key: string;
  run: BatchRunner;
  /** Output values per sequence. */
  width: number;
  /** Per sequence, leading tokens pooling skips (the prompt's); none by default. */
  poolSkip?: Int32Array;
  /** Aborting drops the sequences not yet dispatched and rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called once, when the first of its sequences is dispatched (queue time ends). */
  onStart?: (queuedSeconds: number) => void;
}

export class ServeBatcher {
  private queue: Entry[] = [];
  private running = 0;
  private queuedSeqs = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly limits: BatcherLimits, private readonly onBatch?: (s: RunStats) => void) {
    if (!(limits.maxRunTokens >= 1 && limits.maxRunSeqs >= 1 && limits.maxInFlight >= 1)) throw new Error('batcher limits must be positive');
  }

  /** Sequences waiting for a run. */
  get queueSize(): number {
    return this.queuedSeqs;
  }

  /** Runs in flight. */
  get inFlight(): number {
    return this.running;
  }

  /**
   * Queues every sequence of `chunk`; resolves with n × width values in sequence order once all
   * have run. Rejects with the engine's error if a run containing any of them fails.
   */
  submit(chunk: TokenizedChunk, o: SubmitOptions): Promise<Float32Array> {
    if (chunk.n === 0) return Promise.resolve(new Float32Array(0));
    return new Promise<Float32Array>((resolve, reject) => {
      const entry: Entry = {
        key: o.key,
        run: o.run,
        chunk,
        poolSkip: o.poolSkip,
        width: o.width,
        out: new Float32Array(chunk.n * o.width),
        next: 0,
        done: 0,
        settled: false,
        enqueuedAt: performance.now(),
        onStart: o.onStart,
        resolve,
        reject,
      };
      if (o.signal) {
        if (o.signal.aborted) return reject(o.signal.reason);
        o.signal.addEventListener('abort', () => this.cancel(entry, o.signal!.reason), { once: true });
      }
      this.queue.push(entry);
      this.queuedSeqs += chunk.n;
      this.pump();
    });
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (!this.queue.length && !this.running) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private cancel(entry: Entry, reason: unknown): void {
    if (entry.settled) return;
    const left = entry.chunk.n - entry.next;
    entry.next = entry.chunk.n; // nothing more of it is dispatched; parts in flight land in a dead buffer
    this.queuedSeqs -= left;
    this.queue = this.queue.filter((e) => e !== entry);
    this.settle(entry, reason ?? new ApiError(503, 'timeout', 'request cancelled'));
    this.checkIdle();
  }

  private settle(entry: Entry, error?: unknown): void {
    if (entry.settled) return;
    entry.settled = true;
    if (error !== undefined) entry.reject(error);
    else entry.resolve(entry.out);
  }

  private pump(): void {
    while (this.running < this.limits.maxInFlight && this.queue.length) {
      const parts = this.take();
      if (!parts.length) break;
      this.dispatch(parts);
    }
  }

  /** Sequences for one run: the head entry's key, oldest entries first, up to the budget. */
  private take(): Part[] {
    const key = this.queue[0].key;
    const parts: Part[] = [];
    let tokens = 0;
    let seqs = 0;
    const now = performance.now();
    outer: for (const e of this.queue) {
      if (e.key !== key) continue;
      const from = e.next;
      while (e.next < e.chunk.n) {
        const len = e.chunk.offsets[e.next + 1] - e.chunk.offsets[e.next];
        if (seqs > 0 && (tokens + len > this.limits.maxRunTokens || seqs >= this.limits.maxRunSeqs)) {
          if (e.next > from) parts.push({ entry: e, from, to: e.next });
          break outer;
        }
        tokens += len;
        seqs++;
        e.next++;
      }
      if (e.next > from) parts.push({ entry: e, from, to: e.next });
    }
    for (const p of parts) {
      if (p.entry.startedAt !== undefined) continue;
      p.entry.startedAt = now;
      p.entry.onStart?.((now - p.entry.enqueuedAt) / 1000);
    }
    this.queuedSeqs -= seqs;
    this.queue = this.queue.filter((e) => e.next < e.chunk.n);
    return parts;
  }

  private dispatch(parts: Part[]): void {
    let n = 0;
    let total = 0;
    for (const p of parts) {
      n += p.to - p.from;
      total += p.entry.chunk.offsets[p.to] - p.entry.chunk.offsets[p.from];
    }
    const offsets = new Int32Array(n + 1);
    const ids = new Int32Array(total);
    const typeIds = new Int32Array(total);
    const skip = new Int32Array(n);
    let i = 0;
    let pos = 0;
    for (const p of parts) {
      const c = p.entry.chunk;
      const a = c.offsets[p.from];
      const b = c.offsets[p.to];
      ids.set(c.ids.subarray(a, b), pos);
      typeIds.set(c.typeIds.subarray(a, b), pos);
      for (let k = p.from; k < p.to; k++, i++) {
        offsets[i] = pos + c.offsets[k] - a;
        skip[i] = p.entry.poolSkip ? p.entry.poolSkip[k] : 0;
      }
      pos += b - a;
    }
    offsets[n] = pos;
    const chunk: TokenizedChunk = { n, offsets, ids, typeIds, truncated: new Int32Array(n) };
    const run = parts[0].entry.run;
    const t0 = performance.now();
    this.running++;
    run(chunk, skip).then(
      (values) => {
        this.onBatch?.({ sequences: n, tokens: total, seconds: (performance.now() - t0) / 1000, ok: true });
        let row = 0;
        for (const p of parts) {
          const e = p.entry;
          const w = e.width;
          const count = p.to - p.from;
          if (!e.settled) e.out.set(values.subarray(row * w, (row + count) * w), p.from * w);
          row += count;
          e.done += count;
          if (e.done === e.chunk.n) this.settle(e);
        }
      },
      (err) => {
        this.onBatch?.({ sequences: n, tokens: total, seconds: (performance.now() - t0) / 1000, ok: false });
        for (const p of parts) {
          const e = p.entry;
          if (!e.settled) {
            // The rest of a failed request is not run.
            this.queuedSeqs -= e.chunk.n - e.next;
            e.next = e.chunk.n;
            this.queue = this.queue.filter((x) => x !== e);
            this.settle(e, err);
          }
        }
      },
    ).finally(() => {
      this.running--;
      this.pump();
      this.checkIdle();
    });
  }

  private checkIdle(): void {
    if (this.queue.length || this.running) return;
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const r of w) r();
  }
}
