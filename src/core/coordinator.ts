// Dispatches planned batches to compute workers through p-queue, keeps each worker fed with
// several batches in flight so tokenizing, copying and computing overlap, balances replicas by
// queued tokens, and writes results back in input order. A crashed worker is replaced and its
// batch retried once (on another replica when there is one) before the error reaches the caller.
import PQueue from 'p-queue';
import type { TokenBatch } from '../backends/engine.js';
import type { HeadActivation } from '../model/folder.js';
import type { PlannedBatch } from './scheduler.js';
import { localRows, type RowAssembler, type RowSink } from './assembly.js';
import { trace } from './trace.js';

/** Batch numbers for EMBEDRANK_TRACE, unique within the process (calls may overlap). */
let nextBatchId = 0;

export type WorkOp = { kind: 'embed' } | { kind: 'score'; activation: HeadActivation };

export interface ComputeWorker {
  readonly label: string;
  /** Batches worth having in flight on this worker at once. */
  readonly inFlight: number;
  run(op: WorkOp, batch: TokenBatch): Promise<Float32Array>;
  /** Replaces a crashed worker (fresh thread, weights reloaded). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** Marks failures that a fresh worker may not repeat: a dead thread, a lost CUDA context. */
export class WorkerCrashedError extends Error {
  readonly retryable = true;
  constructor(message: string, readonly worker: string) {
    super(message);
    this.name = 'WorkerCrashedError';
  }
}

export function isRetryable(e: unknown): boolean {
  return Boolean(e && typeof e === 'object' && (e as { retryable?: boolean }).retryable);
}

export interface ExecuteOptions {
  onBatchDone?: (sequences: number, tokens: number) => void;
}

export interface CoordinatorOptions {
  /**
   * Assembles results off the calling thread (see ./assembly.ts). Without one, rows are written
   * into the output on the calling thread.
   */
  assembler?: RowAssembler;
  /**
   * Outputs of fewer values (n × dim) are assembled on the calling thread even with an assembler:
   * for them the thread hop (two round trips and a message per batch) costs more than the copy.
   * Default 65536 (256 KB: 170 rows of 384).
   */
  offThreadMinValues?: number;
}

export class Coordinator {
  private readonly queued: number[];
  private readonly restarting = new Map<number, Promise<void>>();
  private readonly assembler?: RowAssembler;
  private readonly offThreadMinValues: number;

  constructor(readonly workers: ComputeWorker[], opts: CoordinatorOptions = {}) {
    if (!workers.length) throw new Error('Coordinator needs at least one worker');
    this.queued = workers.map(() => 0);
    this.assembler = opts.assembler;
    this.offThreadMinValues = opts.offThreadMinValues ?? 65536;
  }

  /** Where a call of n × dim values is assembled. */
  private sink(n: number, dim: number): RowSink {
    return this.assembler && n * dim >= this.offThreadMinValues ? this.assembler.sink(n, dim) : localRows(n, dim);
  }

  /**
   * Runs every batch and returns an n × dim matrix in input order. `batches` may be produced
   * lazily (the tokenizer pool runs ahead); dispatch starts with the first one.
   */
  async execute(op: WorkOp, batches: AsyncIterable<PlannedBatch>, n: number, dim: number, opts: ExecuteOptions = {}): Promise<Float32Array> {
    const out = this.sink(n, dim);
    const concurrency = this.workers.reduce((s, w) => s + w.inFlight, 0);
    const queue = new PQueue({ concurrency });
    let failure: unknown;
    const fail = (e: unknown) => {
      failure ??= e;
      // Drops the batches not yet started. p-queue never settles the promises of cleared tasks,
      // so completion is awaited with onIdle() below, not through those promises.
      queue.clear();
    };
    try {
      let first = true;
      for await (const pb of batches) {
        if (failure) break;
        // The output is allocated by the time the first batch is ready: a failed allocation (a
        // matrix too large) is reported before any batch runs.
        if (first) await out.ready;
        first = false;
        const id = nextBatchId++;
        trace('planned', { id, seqs: pb.indices.length, tokens: pb.tokens });
        // Hold back when far ahead: bounded memory for huge inputs.
        if (queue.size > 4 * concurrency) await queue.onSizeLessThan(2 * concurrency);
        if (failure) break;
        // The task records its own failure before it settles, so the next task p-queue starts sees it.
        void queue.add(async () => {
          if (failure) return;
          try {
            trace('dispatch', { id });
            const rows = await this.runWithRetry(op, pb);
            trace('returned', { id });
            if (rows.length !== pb.indices.length * dim) {
              throw new Error(`worker returned ${rows.length} values for ${pb.indices.length} sequences × ${dim}`);
            }
            out.put(pb.indices, rows);
            trace('put', { id });
            opts.onBatchDone?.(pb.indices.length, pb.tokens);
          } catch (e) {
            fail(e);
          }
        });
      }
    } catch (e) {
      // The producer failed (tokenization, an over-long input): stop dispatching, let running batches end.
      fail(e);
    }
    await queue.onIdle();
    if (failure) {
      out.discard();
      throw failure;
    }
    return out.result();
  }

  private pickWorker(exclude?: number): number {
    let best = -1;
    for (let i = 0; i < this.workers.length; i++) {
      if (i === exclude && this.workers.length > 1) continue;
      if (best < 0 || this.queued[i] < this.queued[best]) best = i;
    }
    return best;
  }

  private async runOn(i: number, op: WorkOp, pb: PlannedBatch): Promise<Float32Array> {
    await this.restarting.get(i);
    this.queued[i] += pb.tokens;
    try {
      return await this.workers[i].run(op, pb.batch);
    } finally {
      this.queued[i] -= pb.tokens;
    }
  }

  private async runWithRetry(op: WorkOp, pb: PlannedBatch): Promise<Float32Array> {
    const first = this.pickWorker();
    try {
      return await this.runOn(first, op, pb);
    } catch (e) {
      if (!isRetryable(e)) throw e;
      this.restartWorker(first);
      const second = this.pickWorker(first);
      try {
        return await this.runOn(second, op, pb);
      } catch (e2) {
        if (isRetryable(e2)) this.restartWorker(second);
        const err = e2 as Error;
        err.message = `batch of ${pb.indices.length} sequences failed twice (first: ${(e as Error).message}); last error: ${err.message}`;
        throw err;
      }
    }
  }

  private restartWorker(i: number): void {
    if (this.restarting.has(i)) return;
    const p = this.workers[i]
      .restart()
      .catch((e) => {
        process.stderr.write(`embedrank: restarting ${this.workers[i].label} failed: ${(e as Error).message}\n`);
      })
      .finally(() => this.restarting.delete(i));
    this.restarting.set(i, p);
  }

  async close(): Promise<void> {
    await Promise.all([...this.workers.map((w) => w.close()), this.assembler?.close()]);
  }
}
