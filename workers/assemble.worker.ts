// The result assembly thread (src/core/assembly.ts RowAssembler): holds one n × dim output per
// open call, writes each batch's rows at their input indices as they arrive, and transfers the
// finished matrix back. Messages arrive in the order they were posted, so `finish` sees every
// `put` of its call before it.
import { parentPort } from 'node:worker_threads';
import { scatterRows } from '../src/core/assembly.js';
import { trace } from '../src/core/trace.js';

/** To the thread: `id` names a call; `ask`, on the messages that are answered, names the answer. */
export type AssembleMessage =
  | { op: 'ping'; ask: number }
  /** Allocates call `id`'s n × dim output; answered (with the allocation's error, if any). */
  | { op: 'begin'; id: number; ask: number; n: number; dim: number }
  /** Row r of `rows` is input indices[r]'s; not answered. */
  | { op: 'put'; id: number; indices: Int32Array; rows: Float32Array }
  /** Answered with the output (transferred) or the allocation's error; the call is forgotten. */
  | { op: 'finish'; id: number; ask: number }
  /** The call failed: its output is freed; not answered. */
  | { op: 'drop'; id: number };

export interface AssembleReply {
  ask: number;
  out?: Float32Array;
  error?: { name: string; message: string };
}

interface Call {
  out?: Float32Array;
  dim: number;
  error?: { name: string; message: string };
}

const calls = new Map<number, Call>();
const port = parentPort!;

/** Floats per 4 KiB page. */
const PAGE_FLOATS = 1024;

/**
 * Writes a zero into every page of a fresh output, so that the kernel maps its pages now, in
 * order, rather than one page fault per few rows in the middle of the scatter (measured on a
 * 2-core VM: faulting took ~55% of the scatter's time). Runs after `begin` is answered, while the
 * first batches are still being tokenized and computed.
 */
function touchPages(out: Float32Array): void {
  for (let i = 0; i < out.length; i += PAGE_FLOATS) out[i] = 0;
}

function begin(id: number, ask: number, n: number, dim: number): void {
  try {
    const out = new Float32Array(n * dim);
    calls.set(id, { out, dim });
    port.postMessage({ ask } satisfies AssembleReply);
    touchPages(out);
  } catch (e) {
    const error = { name: (e as Error).name, message: (e as Error).message };
    calls.set(id, { dim, error });
    port.postMessage({ ask, error } satisfies AssembleReply);
  }
}

function finish(id: number, ask: number): void {
  const call = calls.get(id);
  calls.delete(id);
  if (!call?.out) {
    port.postMessage({ ask, error: call?.error ?? { name: 'Error', message: `no output for call ${id}` } } satisfies AssembleReply);
    return;
  }
  port.postMessage({ ask, out: call.out } satisfies AssembleReply, [call.out.buffer as ArrayBuffer]);
}

port.on('message', (m: AssembleMessage) => {
  switch (m.op) {
    case 'ping':
      port.postMessage({ ask: m.ask } satisfies AssembleReply);
      break;
    case 'begin':
      trace('assemble-begin', { rows: m.n });
      begin(m.id, m.ask, m.n, m.dim);
      trace('assemble-end', { rows: m.n });
      break;
    case 'put': {
      const call = calls.get(m.id);
      trace('assemble-begin', { rows: m.indices.length });
      if (call?.out) scatterRows(call.out, m.rows, m.indices, call.dim);
      trace('assemble-end', { rows: m.indices.length });
      break;
    }
    case 'finish':
      finish(m.id, m.ask);
      break;
    case 'drop':
      calls.delete(m.id);
      break;
  }
});
