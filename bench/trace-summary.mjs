// Reads the timeline EMBEDRANK_TRACE=<prefix> wrote (src/core/trace.ts) and, optionally, the V8 CPU
// profiles of the same process (node --cpu-prof --cpu-prof-dir DIR), and says per call
// (Runtime.run: run-begin → run-end on the main thread; an evaluation makes one per encode call)
// when each stage started and ended and how busy each thread was. Times are ms from the call's start.
// The profiles see JavaScript only: a tokenizer thread's Rust work runs on libuv's threads, so its
// profile shows it waiting where the trace shows its task running.
//   node bench/trace-summary.mjs <prefix> [--profiles DIR] [--runs last|all] [--top N]
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const USAGE = `usage: node bench/trace-summary.mjs <prefix> [--profiles DIR] [--runs last|all] [--top N]
  <prefix>        what EMBEDRANK_TRACE was set to (its files are <prefix>.<pid>.<thread>.jsonl)
  --profiles DIR  node --cpu-prof's folder for the same process(es): busy time and top functions per thread
  --runs last     only the last call (default all)
  --top N         functions listed for the main thread's profile (default 12)`;
const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(USAGE);
  process.exit(0);
}
if (!args.length || args[0].startsWith('--')) {
  console.error(USAGE);
  process.exit(2);
}
const prefix = args[0];
const arg = (k, d) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
const profDir = arg('--profiles');
const which = arg('--runs', 'all');
const topN = Number(arg('--top', 12));
function fail(msg) {
  console.error(`trace-summary: ${msg}`);
  process.exit(2);
}
if (!['all', 'last'].includes(which)) fail(`--runs is last or all, got ${which}`);
if (profDir !== undefined && !existsSync(profDir)) fail(`--profiles ${profDir}: no such folder`);
if (!existsSync(dirname(prefix))) fail(`no folder ${dirname(prefix)} (the prefix's folder)`);

const dir = dirname(prefix);
const escaped = basename(prefix).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const traceName = new RegExp(`^${escaped}\\.(\\d+)\\.(\\d+)\\.jsonl$`); // <prefix>.<pid>.<thread>.jsonl
const events = [];
for (const f of readdirSync(dir)) {
  const m = traceName.exec(f);
  if (!m) continue;
  for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) if (line) events.push({ ...JSON.parse(line), pid: Number(m[1]) });
}
events.sort((a, b) => a.t - b.t);
if (!events.length) fail(`no trace files ${prefix}.<pid>.<thread>.jsonl`);

// V8 CPU profiles: per file, its sample timestamps (µs, same clock) and whether each was idle.
const profiles = [];
if (profDir) {
  // Node's default names: CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile (others are skipped).
  const profName = /^CPU\.\d+\.\d+\.(\d+)\.(\d+)\.\d+\.cpuprofile$/;
  for (const f of readdirSync(profDir)) {
    const m = profName.exec(f);
    if (!m) {
      if (f.endsWith('.cpuprofile')) console.error(`skipped ${f}: not node's default profile name`);
      continue;
    }
    const p = JSON.parse(readFileSync(join(profDir, f), 'utf8'));
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const times = new Float64Array(p.samples.length);
    let t = p.startTime;
    for (let i = 0; i < p.samples.length; i++) times[i] = t += p.timeDeltas[i];
    profiles.push({ file: f, pid: Number(m[1]), thread: Number(m[2]), byId, samples: p.samples, times });
  }
}
const label = (n) => `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').at(-1)}:${n.callFrame.lineNumber + 1}`;

// Calls (Runtime.run) by process and call number. Calls that overlap in one process share the
// time range: their chunks are told apart (they carry the call number), their batches are not.
const runs = [];
for (const e of events) {
  if (e.ev === 'run-begin') runs.push({ begin: e.t, pid: e.pid, id: e.run, n: e.n });
  else if (e.ev === 'run-end') {
    const r = runs.find((x) => x.pid === e.pid && x.id === e.run && x.end === undefined);
    if (r) r.end = e.t;
  }
}
const chosen = runs.filter((r) => r.end !== undefined);
for (const r of which === 'last' ? chosen.slice(-1) : chosen) {
  const inRun = events.filter((e) => e.pid === r.pid && e.t >= r.begin && e.t <= r.end);
  const ms = (t) => ((t - r.begin) / 1000).toFixed(1);
  const firstOf = (ev) => inRun.find((e) => e.ev === ev);
  const lastOf = (ev) => inRun.findLast((e) => e.ev === ev);
  console.log(`\n=== call ${r.id ?? '?'} of process ${r.pid}: ${r.n} inputs, ${((r.end - r.begin) / 1000).toFixed(1)} ms (times below: ms from its start)`);
  const marks = [];
  const scan = firstOf('scan-end');
  if (scan) marks.push(`dedupe scan ends ${ms(scan.t)} (${scan.distinct} distinct texts, ${scan.tasks} tokenizer tasks)`);
  // Tokenization: chunks reaching the scheduler, as quantiles of inputs.
  const chunks = inRun.filter((e) => e.ev === 'chunk' && e.run === r.id);
  const total = chunks.reduce((s, e) => s + e.inputs, 0);
  let acc = 0;
  const q = [0.1, 0.5, 0.9, 1];
  const qt = [];
  for (const e of chunks) {
    acc += e.inputs;
    while (qt.length < q.length && acc >= q[qt.length] * total) qt.push(ms(e.t));
  }
  if (chunks.length) marks.push(`chunks at scheduler: first ${ms(chunks[0].t)}, 10/50/90/100% ${qt.join(' / ')}`);
  const tokEnd = lastOf('tokenize-end');
  if (tokEnd) marks.push(`last tokenize task ends ${ms(tokEnd.t)}`);
  const planned = inRun.filter((e) => e.ev === 'planned');
  if (planned.length) marks.push(`batches planned: ${planned.length}, first ${ms(planned[0].t)}, last ${ms(planned.at(-1).t)}`);
  const fb = firstOf('forward-begin');
  const fe = lastOf('forward-end');
  if (fb && fe) marks.push(`forwards: first begins ${ms(fb.t)}, last ends ${ms(fe.t)}`);
  const lastPut = lastOf('put');
  if (lastPut) marks.push(`last put ${ms(lastPut.t)}`);
  for (const m of marks) console.log('  ' + m);
  // Busy time per thread from begin/end events (forward, tokenize, assemble: the result-assembly
  // thread, used for outputs of 65 536 values or more): a thread is busy while at least
  // one of its tasks is in flight (an engine thread runs two slots at once); idle is the time with none
  // between its first begin and its last end.
  const span = r.end - r.begin;
  const perThread = new Map(); // "kind thread" → { inFlight, since, busy, first, last }
  for (const e of inRun) {
    const m = /^(forward|tokenize|assemble)-(begin|end)$/.exec(e.ev);
    if (!m) continue;
    const key = `${m[1]} ${e.thread}`;
    const s = perThread.get(key) ?? { kind: m[1], inFlight: 0, since: 0, busy: 0, first: e.t, last: e.t };
    if (m[2] === 'begin') {
      if (s.inFlight++ === 0) s.since = e.t;
    } else if (s.inFlight > 0 && --s.inFlight === 0) s.busy += e.t - s.since;
    s.last = e.t;
    perThread.set(key, s);
  }
  const byKind = new Map();
  for (const s of perThread.values()) {
    if (s.inFlight > 0) s.busy += r.end - s.since; // still running at the run's end
    const b = byKind.get(s.kind) ?? { threads: 0, sum: 0, max: 0, idle: 0 };
    b.threads++;
    b.sum += s.busy;
    b.max = Math.max(b.max, s.busy);
    b.idle += s.last - s.first - s.busy;
    byKind.set(s.kind, b);
  }
  for (const [k, b] of byKind) {
    console.log(
      `  ${k}: ${b.threads} thread${b.threads === 1 ? '' : 's'}, busy ${(b.sum / 1000).toFixed(1)} ms in all (each ${((100 * b.sum) / span / b.threads).toFixed(0)}% of the call on average, most ${(b.max / 1000).toFixed(1)} ms); ` +
        `idle between their first and last task ${(b.idle / 1000).toFixed(1)} ms in all`,
    );
  }
  // CPU profiles: per thread, non-idle samples in the run and the main thread's top self-time functions.
  for (const p of profiles.filter((x) => x.pid === r.pid)) {
    const self = new Map();
    let busyN = 0;
    let n = 0;
    for (let i = 0; i < p.samples.length; i++) {
      if (p.times[i] < r.begin || p.times[i] > r.end) continue;
      n++;
      const node = p.byId.get(p.samples[i]);
      const name = label(node);
      // Piscina's workers block in Atomics.wait (atomicsWaitLoop) between tasks: waiting, not work.
      if (name.startsWith('(idle)') || name.startsWith('atomicsWaitLoop ')) continue;
      busyN++;
      self.set(name, (self.get(name) ?? 0) + 1);
    }
    if (!n) continue;
    const per = span / 1000 / n;
    const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, p.thread === 0 ? topN : 3);
    console.log(`  profile thread ${p.thread}: busy ${((busyN * per)).toFixed(1)} ms (${((100 * busyN) / n).toFixed(0)}%)${top.length ? '; ' + top.map(([k, c]) => `${k} ${(c * per).toFixed(1)}`).join(', ') : ''}`);
  }
}
