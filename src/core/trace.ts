// A timeline of where an end-to-end run's time goes, for developers (issue 14's host path):
// EMBEDRANK_TRACE=<prefix> (see tracePrefix) makes every thread that records events append them, as JSON lines
// {t, thread, ev, ...fields}, to <prefix>.<pid>.<threadId>.jsonl (the folder is created; use a
// prefix once: files are appended to). `t` is process.hrtime in µs, the clock V8's CPU profiles
// (node --cpu-prof) stamp their samples with, so a trace and the profiles of the same process line
// up. bench/trace-summary.mjs reads them. When the variable is unset, an event costs one test and
// its fields object.
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { isMainThread, threadId } from 'node:worker_threads';

/**
 * The prefix EMBEDRANK_TRACE names: unset, empty, 0, false, off or no → none (off); 1, true, on or
 * yes → `embedrank-trace` in the working directory; anything else is the prefix itself.
 */
export function tracePrefix(value: string | undefined): string | undefined {
  const v = (value ?? '').trim();
  if (/^(|0|false|off|no)$/i.test(v)) return undefined;
  return /^(1|true|on|yes)$/i.test(v) ? 'embedrank-trace' : v;
}

const prefix = tracePrefix(process.env.EMBEDRANK_TRACE);
let file = prefix ? `${prefix}.${process.pid}.${threadId}.jsonl` : undefined;
let lines: string[] = [];

function flush(): void {
  if (!file || !lines.length) return;
  try {
    appendFileSync(file, lines.join('\n') + '\n');
  } catch (e) {
    // A trace must never fail the run it watches: say so once and stop tracing.
    process.stderr.write(`embedrank: EMBEDRANK_TRACE: cannot write ${file} (${(e as Error).message}); tracing off\n`);
    file = undefined;
  }
  lines = [];
}

// The main thread buffers (its events are many: several per batch), flushed every 200 ms and at
// exit. A worker thread writes each event at once (a few per task): a pool's terminate() ends the
// thread without an exit event, which would lose a buffer.
const buffered = isMainThread;
if (file) {
  try {
    mkdirSync(dirname(file), { recursive: true });
  } catch {
    /* reported by the first write */
  }
  if (buffered) {
    process.stderr.write(`embedrank: EMBEDRANK_TRACE: writing ${prefix}.${process.pid}.<thread>.jsonl (summary: node bench/trace-summary.mjs ${prefix})\n`);
    setInterval(flush, 200).unref();
    process.on('exit', flush);
  }
}

/** Records one event with its fields (numbers), stamped now. No-op unless EMBEDRANK_TRACE is set. */
export function trace(ev: string, fields: Record<string, number> = {}): void {
  if (!file) return;
  lines.push(JSON.stringify({ t: Number(process.hrtime.bigint() / 1000n), thread: threadId, ev, ...fields }));
  if (!buffered || lines.length >= 4096) flush();
}
