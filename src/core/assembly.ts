// Result assembly: each batch's rows (in batch order) written into the n × dim output at their
// input indices. Scheduling sorts by length, so a batch's rows land all over the output: on the
// caller's thread that is a random write of dim × 4 bytes per sequence into a fresh buffer (a page
// fault per few rows, a TLB miss per row), measured as the largest per-sentence cost of the main
// thread (MiniLM-L6 STS: ~1.6 of ~4.2 µs/sentence, bench/host-path.ts). RowAssembler does it on a
// thread of its own and hands the finished matrix back by transfer: the caller gets a plain
// ArrayBuffer-backed Float32Array without copying, and never touches a row.
import { Worker } from 'node:worker_threads';
import type { AssembleMessage, AssembleReply } from '../../workers/assemble.worker.js';

/**
 * Copies row r of `rows` (r < indices.length, `dim` values each, row-major) to row indices[r] of
 * `out` (n × dim, row-major). The caller checks rows.length === indices.length × dim.
 */
export function scatterRows(out: Float32Array, rows: Float32Array, indices: Int32Array, dim: number): void {
  for (let r = 0; r < indices.length; r++) out.set(rows.subarray(r * dim, (r + 1) * dim), indices[r] * dim);
}

/** Where one call's batch results go: put() per finished batch, then result() or discard(), once. */
export interface RowSink {
  /**
   * Resolves once the output is allocated (rejects with the allocation's error, e.g. a RangeError
   * for a matrix too large): wait for it before starting work that would be wasted.
   */
  readonly ready: Promise<void>;
  /** Rows of one batch for the inputs `indices` (copied: the caller keeps its array); `rows` is taken over. */
  put(indices: Int32Array, rows: Float32Array): void;
  /** The n × dim matrix once every put() has been applied. */
  result(): Promise<Float32Array>;
  /** Frees the output (the call failed). */
  discard(): void;
}

/** A sink that assembles on the calling thread (small outputs, where a thread hop costs more than the copy). */
export function localRows(n: number, dim: number): RowSink {
  const out = new Float32Array(n * dim);
  return {
    ready: Promise.resolve(),
    put: (indices, rows) => scatterRows(out, rows, indices, dim),
    result: async () => out,
    discard: () => undefined,
  };
}

const WORKER_URL = new URL('../../workers/assemble.worker.js', import.meta.url);

interface Pending {
  resolve(value: Float32Array | undefined): void;
  reject(e: Error): void;
}

/** An Error of the thread's error's class (RangeError for an allocation too large), same name and message. */
function revive(error: { name: string; message: string }): Error {
  const e = error.name === 'RangeError' ? new RangeError(error.message) : new Error(error.message);
  e.name = error.name;
  return e;
}

/**
 * A worker thread that assembles batch results into n × dim matrices, any number of calls at once
 * (one output per open sink). Messages to one thread are handled in order, so a call's result
 * comes back after all of its rows. The thread keeps the process alive only while a sink is open.
 */
export class RowAssembler {
  private worker?: Worker;
  /** Bumped when a thread is lost: sinks opened on an earlier thread fail instead of waiting. */
  private generation = 0;
  private nextCall = 1;
  private nextAsk = 1;
  /** Answers awaited, by `ask`. */
  private readonly pending = new Map<number, Pending>();
  private open = 0;
  private closing = false;

  /** Starts the thread; resolves once it answers (Runtime.create waits for it beside the engine workers). */
  async ready(): Promise<void> {
    await this.request({ op: 'ping', ask: this.nextAsk++ });
  }

  /**
   * A sink for one call's n × dim matrix (row-major float32), allocated on the assembly thread;
   * its result() is the matrix, moved to this thread (a plain ArrayBuffer, no copy).
   * @throws Error once close() was called.
   */
  sink(n: number, dim: number): RowSink {
    if (this.closing) throw new Error('the result assembler is closed');
    const id = this.nextCall++;
    const ready = this.request({ op: 'begin', id, ask: this.nextAsk++, n, dim }).then(() => undefined);
    ready.catch(() => undefined); // the caller awaits it; result() reports it again
    const generation = this.generation;
    this.retain();
    let ended = false;
    return {
      ready,
      put: (indices, rows) => {
        if (ended) throw new Error("put() after the call's result was taken or discarded");
        if (generation !== this.generation) return; // result() reports the lost thread
        // The rows' buffer moves to the thread; a view into a larger (or shared) buffer is copied out first.
        const own = rows.byteOffset === 0 && rows.buffer instanceof ArrayBuffer && rows.byteLength === rows.buffer.byteLength ? rows : rows.slice();
        this.post({ op: 'put', id, indices, rows: own }, [own.buffer as ArrayBuffer]);
      },
      result: async () => {
        if (ended) throw new Error("result() after the call's result was taken or discarded");
        ended = true;
        try {
          if (generation !== this.generation) throw new Error('the result assembly thread was lost during the call');
          // Answered with the allocation's error when `ready` failed.
          return (await this.request({ op: 'finish', id, ask: this.nextAsk++ }))!;
        } finally {
          this.release();
        }
      },
      discard: () => {
        if (ended) return;
        ended = true;
        if (generation === this.generation) this.post({ op: 'drop', id });
        this.release();
      },
    };
  }

  /** Ends the thread once no sink is open (at once when none is): open calls still get their results. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.open === 0) await this.stop();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(WORKER_URL);
    if (this.open === 0) w.unref();
    w.on('message', (m: AssembleReply) => {
      const p = this.pending.get(m.ask);
      if (!p) return;
      this.pending.delete(m.ask);
      if (m.error) p.reject(revive(m.error));
      else p.resolve(m.out);
    });
    // Not expected (the thread only copies rows), but a lost thread must not leave calls hanging.
    w.on('error', (e) => this.lose(w, e));
    w.on('exit', (code) => this.lose(w, new Error(`the result assembly thread exited (code ${code})`)));
    return (this.worker = w);
  }

  /** Forgets thread `w` (if still current) and fails what waits on it. */
  private lose(w: Worker, e: Error): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    this.generation++;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private post(m: AssembleMessage, transfer: ArrayBuffer[] = []): void {
    this.thread().postMessage(m, transfer);
  }

  private request(m: AssembleMessage & { ask: number }): Promise<Float32Array | undefined> {
    return new Promise((resolve, reject) => {
      this.pending.set(m.ask, { resolve, reject });
      this.post(m);
    });
  }

  private retain(): void {
    if (this.open++ === 0) this.worker?.ref();
  }

  private release(): void {
    if (--this.open > 0) return;
    this.worker?.unref();
    if (this.closing) void this.stop();
  }

  private async stop(): Promise<void> {
    const w = this.worker;
    if (!w) return;
    this.lose(w, new Error('the result assembler is closed'));
    await w.terminate();
  }
}
