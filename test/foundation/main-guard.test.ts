// The runMain guard: small entry scripts written to a temporary folder, run as real processes.
// The guard must run the entry's main function exactly when the file is the program's entry point
// (node file.js, an npm-style bin symlink, tsx file.ts) and never when imported or inside a worker
// thread, so the worker threads embedrank starts never repeat a script's side effects.
import { expect } from 'chai';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { cleanupTemp, distUrl, REPO, runProcess, tempDir, tinyCrossEncoder, tinyEncoder } from './helpers.js';

const MAIN = distUrl('src/main.js');
const ENCODER = distUrl('src/encoder.js');
const CROSS = distUrl('src/cross-encoder.js');

/** An entry that reports whether runMain ran its function (and what isMain said). */
function probeScript(tag: string): string {
  return `import { isMain, runMain } from ${JSON.stringify(MAIN)};
const ran = await runMain(import.meta, () => 'ran');
console.log(JSON.stringify({ tag: ${JSON.stringify(tag)}, ran: ran === 'ran', isMain: isMain(import.meta) }));
`;
}

function parseLines(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}

describe('foundation: main guard (runMain / isMain)', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => {
    dir = tempDir('main');
    // tsx compiles .ts files as ES modules only inside a "type": "module" package.
    writeFileSync(join(dir, 'package.json'), '{"type": "module"}');
  });
  after(cleanupTemp);

  it('runs the main function under `node file.mjs` and `node file.js` (type: module)', async () => {
    writeFileSync(join(dir, 'entry.mjs'), probeScript('mjs'));
    const r = await runProcess(process.execPath, [join(dir, 'entry.mjs')]);
    expect(r.code, r.stderr).to.equal(0);
    expect(parseLines(r.stdout)).to.deep.equal([{ tag: 'mjs', ran: true, isMain: true }]);

    const pkg = join(dir, 'pkg');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, 'package.json'), '{"type": "module"}');
    writeFileSync(join(pkg, 'entry.js'), probeScript('js'));
    const r2 = await runProcess(process.execPath, ['entry.js'], { cwd: pkg }); // relative argv[1]
    expect(r2.code, r2.stderr).to.equal(0);
    expect(parseLines(r2.stdout)).to.deep.equal([{ tag: 'js', ran: true, isMain: true }]);
  });

  it('runs through a symlink, as npm bin links do (extensionless link to the real file)', async () => {
    const real = join(dir, 'cli-real.mjs');
    writeFileSync(real, `#!/usr/bin/env node\n${probeScript('bin')}`);
    const bin = join(dir, 'node_modules', '.bin');
    mkdirSync(bin, { recursive: true });
    symlinkSync(real, join(bin, 'my-cli'));
    const r = await runProcess(process.execPath, [join(bin, 'my-cli')]);
    expect(r.code, r.stderr).to.equal(0);
    expect(parseLines(r.stdout)).to.deep.equal([{ tag: 'bin', ran: true, isMain: true }]);
    // Also when the link is reached through a symlinked folder.
    const linked = join(tempDir('main-link'), 'linked');
    symlinkSync(dir, linked, 'dir');
    const r2 = await runProcess(process.execPath, [join(linked, 'node_modules', '.bin', 'my-cli')]);
    expect(r2.code, r2.stderr).to.equal(0);
    expect(parseLines(r2.stdout)).to.deep.equal([{ tag: 'bin', ran: true, isMain: true }]);
  });

  it('runs under `npx tsx file.ts` (a TypeScript entry importing the built JS)', async () => {
    const ts = join(dir, 'entry.ts');
    writeFileSync(ts, `${probeScript('tsx')}const typed: number = 1;\nvoid typed;\n`);
    const r = await runProcess('npx', ['--no-install', 'tsx', ts], { cwd: REPO });
    expect(r.code, r.stderr).to.equal(0);
    expect(parseLines(r.stdout)).to.deep.equal([{ tag: 'tsx', ran: true, isMain: true }]);
  });

  it('does not run when the file is imported by another module', async () => {
    writeFileSync(join(dir, 'lib.mjs'), probeScript('lib'));
    writeFileSync(join(dir, 'importer.mjs'), `${probeScript('importer')}await import('./lib.mjs');\n`);
    const r = await runProcess(process.execPath, [join(dir, 'importer.mjs')]);
    expect(r.code, r.stderr).to.equal(0);
    const lines = parseLines(r.stdout);
    expect(lines).to.deep.include({ tag: 'importer', ran: true, isMain: true });
    expect(lines).to.deep.include({ tag: 'lib', ran: false, isMain: false });
    expect(lines).to.have.length(2);
  });

  it('does not run under `node -e` / `--input-type=module` (no entry file)', async () => {
    const code = `import { isMain, runMain } from ${JSON.stringify(MAIN)}; const r = await runMain(import.meta, () => 'ran'); console.log(JSON.stringify({ ran: r === 'ran', isMain: isMain(import.meta) }));`;
    const r = await runProcess(process.execPath, ['--input-type=module', '-e', code]);
    expect(r.code, r.stderr).to.equal(0);
    expect(parseLines(r.stdout)).to.deep.equal([{ ran: false, isMain: false }]);
  });

  it('does not run inside a worker thread, even one started from the entry file itself', async () => {
    const file = join(dir, 'self-worker.mjs');
    writeFileSync(
      file,
      `import { Worker, isMainThread } from 'node:worker_threads';
import { isMain, runMain } from ${JSON.stringify(MAIN)};
const ran = await runMain(import.meta, async () => {
  const w = new Worker(new URL(import.meta.url));
  await new Promise((res, rej) => { w.on('exit', res); w.on('error', rej); });
  return 'ran';
});
console.log(JSON.stringify({ thread: isMainThread ? 'main' : 'worker', ran: ran === 'ran', isMain: isMain(import.meta) }));
`,
    );
    const r = await runProcess(process.execPath, [file]);
    expect(r.code, r.stderr).to.equal(0);
    const lines = parseLines(r.stdout);
    expect(lines).to.deep.include({ thread: 'worker', ran: false, isMain: false });
    expect(lines).to.deep.include({ thread: 'main', ran: true, isMain: true });
    expect(lines).to.have.length(2);
  });

  it('turns a thrown error into one message on stderr and exit code 1 (stack only with EMBEDRANK_DEBUG)', async () => {
    const file = join(dir, 'fails.mjs');
    writeFileSync(file, `import { runMain } from ${JSON.stringify(MAIN)};\nawait runMain(import.meta, async () => { throw new TypeError('boom: bad thing'); });\nconsole.log('after');\n`);
    const r = await runProcess(process.execPath, [file], { env: { ...process.env, EMBEDRANK_DEBUG: '' } });
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('TypeError: boom: bad thing');
    expect(r.stderr).to.not.match(/\n\s+at /); // no stack trace
    expect(r.stderr).to.not.include('Unhandled');
    expect(r.stdout).to.include('after'); // the rest of the module still runs; the exit code carries the failure
    const d = await runProcess(process.execPath, [file], { env: { ...process.env, EMBEDRANK_DEBUG: '1' } });
    expect(d.code).to.equal(1);
    expect(d.stderr).to.match(/\n\s+at /);
    const sync = join(dir, 'fails-sync.mjs');
    writeFileSync(sync, `import { runMain } from ${JSON.stringify(MAIN)};\nawait runMain(import.meta, () => { throw new RangeError('sync failure'); });\n`);
    const s = await runProcess(process.execPath, [sync]);
    expect(s.code).to.equal(1);
    expect(s.stderr).to.include('RangeError: sync failure');
  });

  it('returns the main function\'s value and exits 0 on success', async () => {
    const file = join(dir, 'ok.mjs');
    writeFileSync(file, `import { runMain } from ${JSON.stringify(MAIN)};\nconst v = await runMain(import.meta, async () => 41 + 1);\nconsole.log(JSON.stringify({ v }));\n`);
    const r = await runProcess(process.execPath, [file]);
    expect(r.code).to.equal(0);
    expect(parseLines(r.stdout)).to.deep.equal([{ v: 42 }]);
  });

  describe('a script with a top-level side effect that encodes with worker threads', () => {
    function sideEffectScript(ext: 'mjs' | 'ts'): string {
      return `import { appendFileSync } from 'node:fs';
import { isMainThread, threadId } from 'node:worker_threads';
import { runMain } from ${JSON.stringify(MAIN)};
import { Encoder } from ${JSON.stringify(ENCODER)};
// The side effect every worker thread would repeat if it imported this file.
appendFileSync(process.env.SIDE_FILE${ext === 'ts' ? '!' : ''}, \`top-level \${isMainThread ? 'main' : 'worker ' + threadId}\\n\`);
await runMain(import.meta, async () => {
  const enc = await Encoder.create({ model: process.env.MODEL_DIR${ext === 'ts' ? '!' : ''}, device: 'cpu', tokenizerThreads: 2, maxNumSeqs: 4 });
  try {
    const texts = Array.from({ length: 600 }, (_, i) => 'text number ' + i + ' with a few words');
    const rows = await enc.encode(texts);
    console.log(JSON.stringify({ rows: rows.length, dim: rows[0].length, finite: rows.every((r) => r.every(Number.isFinite)) }));
  } finally {
    await enc.close();
  }
});
`;
    }

    for (const ext of ['mjs', 'ts'] as const) {
      it(`${ext === 'mjs' ? 'node' : 'npx tsx'}: the side-effect file has exactly one line afterwards`, async () => {
        const d = tempDir(`side-${ext}`);
        const file = join(d, `side.${ext}`);
        const side = join(d, 'side.log');
        writeFileSync(file, sideEffectScript(ext));
        writeFileSync(join(d, 'package.json'), '{"type": "module"}');
        // NODE_DEBUG=worker makes node report each worker thread it starts on stderr.
        const env = { ...process.env, SIDE_FILE: side, MODEL_DIR: tinyEncoder(), NODE_DEBUG: 'worker' };
        const r = ext === 'mjs' ? await runProcess(process.execPath, [file], { env }) : await runProcess('npx', ['--no-install', 'tsx', file], { cwd: REPO, env });
        expect(r.code, r.stderr.slice(-2000)).to.equal(0);
        expect(parseLines(r.stdout)).to.deep.equal([{ rows: 600, dim: 64, finite: true }]);
        const lines = readFileSync(side, 'utf8').split('\n').filter(Boolean);
        expect(lines).to.deep.equal(['top-level main']);
        // Worker threads did start: the engine thread and the tokenizer threads.
        const started = (r.stderr.match(/instantiating Worker\. url: \S*piscina\S*/g) ?? []).length;
        expect(started, 'worker threads started').to.be.at.least(2);
      });
    }
  });

  describe('pools never spawn pools', () => {
    async function inWorker(code: string): Promise<Record<string, unknown>> {
      const w = new Worker(code, { eval: true, workerData: { model: tinyEncoder(), ce: tinyCrossEncoder() } });
      return new Promise((res, rej) => {
        w.once('message', res);
        w.once('error', rej);
        w.once('exit', (c) => rej(new Error(`worker exited with ${c} before answering`)));
      });
    }

    it('creating an Encoder or CrossEncoder inside a worker thread fails with a clear error', async () => {
      const code = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { Encoder } = await import(${JSON.stringify(ENCODER)});
  const { CrossEncoder } = await import(${JSON.stringify(CROSS)});
  const out = {};
  try { new Encoder({ model: workerData.model, device: 'cpu' }); out.ctor = 'created'; } catch (e) { out.ctor = e.message; }
  try { await Encoder.create({ model: workerData.model, device: 'cpu' }); out.create = 'created'; } catch (e) { out.create = e.message; }
  try { await CrossEncoder.create({ model: workerData.ce, device: 'cpu' }); out.ce = 'created'; } catch (e) { out.ce = e.message; }
  parentPort.postMessage(out);
})();
`;
      const out = await inWorker(code);
      for (const k of ['ctor', 'create', 'ce']) {
        expect(out[k], k).to.be.a('string').and.match(/cannot be created inside a worker thread/);
        expect(out[k], k).to.include('runMain(import.meta');
      }
      expect(out.ctor).to.match(/^Encoder/);
      expect(out.ce).to.match(/^CrossEncoder/);
    });
  });
});
