// EMBEDRANK_TRACE (src/core/trace.ts): a real Encoder run in a child process writes one timeline file
// per thread that records, with every stage of every batch in order, and bench/trace-summary.mjs
// reads it back; without the variable nothing is written.
import { expect } from 'chai';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanupTemp, distUrl, REPO, runProcess, tempDir, tinyEncoder } from './helpers.js';

interface Ev {
  t: number;
  thread: number;
  ev: string;
  [k: string]: number | string;
}

/** Runs an Encoder over `n` texts (some repeated) on the CPU in a child process, tracing to `prefix` when given. */
async function tracedRun(dir: string, n: number, prefix?: string): Promise<{ stderr: string }> {
  // Run from `dir`, so a file written anywhere relative would show there.
  const script = join(dir, `run-${n}.mjs`);
  writeFileSync(
    script,
    `import { Encoder } from ${JSON.stringify(distUrl('src/encoder.js'))};
const e = await Encoder.create({ model: ${JSON.stringify(tinyEncoder())}, device: 'cpu', tokenizerThreads: 2, maxNumSeqs: 4 });
const texts = Array.from({ length: ${n} }, (_, i) => 'sentence number ' + (i % 7) + ' ' + 'word '.repeat(i % 5));
const m = await e.encode(texts);
console.log('rows', m.length);
await e.close();
`,
  );
  const env: NodeJS.ProcessEnv = { ...process.env, EMBEDRANK_FAST_TOKENIZE: '1' };
  delete env.EMBEDRANK_TRACE;
  delete env.EMBEDRANK_TOKENIZE_DEDUPE; // the dedupe scan's event is checked
  if (prefix !== undefined) env.EMBEDRANK_TRACE = prefix;
  const r = await runProcess(process.execPath, [script], { env, cwd: dir, timeoutMs: 60_000 });
  expect(r.code, r.stderr).to.equal(0);
  expect(r.stdout).to.contain(`rows ${n}`);
  return r;
}

function readTrace(dir: string, base: string): Ev[] {
  const files = readdirSync(dir).filter((f) => f.startsWith(base + '.') && f.endsWith('.jsonl'));
  return files.flatMap((f) =>
    readFileSync(join(dir, f), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Ev),
  );
}

describe('foundation: EMBEDRANK_TRACE timeline', function () {
  this.timeout(120_000);
  let dir: string;
  before(() => (dir = tempDir('trace')));
  after(cleanupTemp);

  it('records every stage of a real run, per thread, in order; trace-summary reads it', async () => {
    // Enough rows (n × 64 ≥ 65 536 values) that the result-assembly thread writes them.
    const n = 1100;
    // A folder that does not exist yet is created.
    const out = join(dir, 'new', 'folder');
    await tracedRun(dir, n, join(out, 't'));
    const evs = readTrace(out, 't').sort((a, b) => a.t - b.t);
    const main = evs.filter((e) => e.ev === 'run-begin')[0]?.thread;
    expect(main, 'a run-begin event').to.be.a('number');
    const on = (name: string) => evs.filter((e) => e.ev === name);
    expect(on('run-begin').map((e) => e.n)).to.deep.equal([n]);
    expect(on('run-end').map((e) => e.n)).to.deep.equal([n]);
    const [t0, t1] = [on('run-begin')[0].t, on('run-end')[0].t];
    const run = on('run-begin')[0].run;
    expect(on('run-end')[0].run).to.equal(run);
    expect(on('chunk').every((e) => e.run === run)).to.equal(true);
    // The tokenizer's chunks stand for every input (repeats included); 7 distinct texts × 5 widths.
    expect(on('chunk').reduce((s, e) => s + Number(e.inputs), 0)).to.equal(n);
    expect(on('scan-end')[0].inputs).to.equal(n);
    expect(on('scan-end')[0].distinct).to.equal(new Set(Array.from({ length: n }, (_, i) => `${i % 7} ${i % 5}`)).size);
    // Each batch: planned → dispatch → returned → put, on the main thread, within the run; sequences add up.
    const planned = on('planned');
    expect(planned.length).to.be.at.least(Math.ceil(n / 4));
    expect(planned.reduce((s, e) => s + Number(e.seqs), 0)).to.equal(n);
    for (const p of planned) {
      const stages = ['planned', 'dispatch', 'returned', 'put'].map((s) => evs.find((e) => e.ev === s && e.id === p.id));
      for (const [k, e] of stages.entries()) {
        expect(e, `batch ${p.id} stage ${k}`).to.not.equal(undefined);
        expect(e!.thread).to.equal(main);
        expect(e!.t).to.be.within(t0, t1);
        if (k > 0) expect(e!.t).to.be.at.least(stages[k - 1]!.t);
      }
    }
    // Forwards on the engine's thread, tokenizing on the tokenizer threads, rows written on the
    // assembly thread: begin/end pairs, not on main.
    for (const kind of ['forward', 'tokenize', 'assemble']) {
      const b = on(`${kind}-begin`);
      const e = on(`${kind}-end`);
      expect(b.length, kind).to.be.greaterThan(0);
      expect(e.length).to.equal(b.length);
      expect(b.every((x) => x.thread !== main)).to.equal(true);
    }
    expect(on('forward-begin').reduce((s, e) => s + Number(e.seqs), 0)).to.equal(n);
    expect(on('forward-end').every((e) => typeof e.slot === 'number')).to.equal(true);
    const summary = await runProcess(process.execPath, [join(REPO, 'bench/trace-summary.mjs'), join(out, 't')], { timeoutMs: 30_000 });
    expect(summary.code, summary.stderr).to.equal(0);
    expect(summary.stdout).to.contain(`=== call ${run} of process`);
    expect(summary.stdout).to.contain(`: ${n} inputs,`);
    expect(summary.stdout).to.contain(`batches planned: ${planned.length}`);
  });

  it('a trace that cannot be written says so once and the run goes on', async () => {
    const blocker = join(dir, 'a-file');
    writeFileSync(blocker, '');
    const r = await tracedRun(dir, 9, join(blocker, 't')); // a folder under a file: every write fails
    const warnings = r.stderr.split('\n').filter((l) => l.includes('EMBEDRANK_TRACE: cannot write'));
    // One warning per thread that tried (main, engine, tokenizer threads), never an error exit.
    expect(warnings.length).to.be.within(1, 4);
    expect(warnings[0]).to.contain('tracing off');
  });

  it('writes nothing without EMBEDRANK_TRACE, or with it 0, off or empty', async () => {
    for (const value of [undefined, '0', 'off', '']) {
      const quiet = tempDir('trace-off');
      const r = await tracedRun(quiet, 5, value);
      expect(readdirSync(quiet), String(value)).to.deep.equal(['run-5.mjs']);
      expect(r.stderr).to.not.contain('EMBEDRANK_TRACE');
    }
  });

  it('EMBEDRANK_TRACE=1 traces to embedrank-trace in the working directory, and says where', async () => {
    const here = tempDir('trace-on');
    const r = await tracedRun(here, 5, '1');
    expect(r.stderr).to.match(/EMBEDRANK_TRACE: writing embedrank-trace\.\d+\.<thread>\.jsonl/);
    expect(readdirSync(here).filter((f) => /^embedrank-trace\.\d+\.\d+\.jsonl$/.test(f)).length).to.be.greaterThan(0);
  });

  it('trace-summary: usage with --help, a clear error for a prefix with no files or a missing profile folder', async () => {
    const script = join(REPO, 'bench/trace-summary.mjs');
    const help = await runProcess(process.execPath, [script, '--help']);
    expect(help.code).to.equal(0);
    expect(help.stdout).to.contain('usage: node bench/trace-summary.mjs <prefix>');
    const none = await runProcess(process.execPath, [script, join(dir, 'nothing-here')]);
    expect(none.code).to.equal(2);
    expect(none.stderr).to.contain('no trace files');
    expect(none.stderr).to.not.contain('    at '); // a message, not a stack
    const noProf = await runProcess(process.execPath, [script, join(dir, 'nothing-here'), '--profiles', join(dir, 'no-such')]);
    expect(noProf.code).to.equal(2);
    expect(noProf.stderr).to.contain('no such folder');
  });
});
