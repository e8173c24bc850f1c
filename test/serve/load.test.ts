// Bounded load on loopback: far more concurrent requests than the server admits get 429s (never a
// crash or a wrong answer), every admitted request is answered with the right rows; and SIGTERM
// in the middle of load drains every admitted request before the process exits 0.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Encoder } from '../../src/encoder.js';
import { testModel } from '../cpu/helpers.js';
import { DIST, maxAbs, tinyEncoder } from '../foundation/helpers.js';
import { getText, postJson, startServer, type Running } from './helpers.js';

const TOL = 1e-5;

/** A model big enough that a few hundred inputs keep the CPU busy for a while. */
function busyModel(): string {
  return testModel('minilm-l6', { shape: 'minilm-l6', pooling: 'mean', normalize: true, seed: 9 });
}

function texts(n: number, salt: string): string[] {
  return Array.from({ length: n }, (_, i) => `${salt} request text number ${i} ${'about many things '.repeat(1 + (i % 7))}`);
}

/**
 * `embedrank serve` of the busy model on the CPU in a child process (run without any preload, as
 * main.js directly: no allocator relaunch), its stderr collected; `url` resolves once it listens.
 */
function startServe(): { child: ChildProcess; log: () => string; url: Promise<string>; exited: Promise<[number | null, NodeJS.Signals | null]> } {
  const env = { ...process.env };
  delete env.LD_PRELOAD;
  const child = spawn(process.execPath, [join(DIST, 'src/cli/main.js'), 'serve', '-m', busyModel(), '--device', 'cpu', '--port', '0', '--tokenizer-threads', '1', '--max-client-batch-size', '8'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env,
  });
  let log = '';
  child.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((r) => child.on('exit', (c, s) => r([c, s])));
  const url = new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server did not start: ${log}`)), 120_000);
    child.stderr!.on('data', () => {
      const m = log.match(/listening on (http:\/\/\S+)/);
      if (m) {
        clearTimeout(t);
        resolve(m[1]);
      }
    });
    child.on('exit', () => reject(new Error(`server exited: ${log}`)));
  });
  return { child, log: () => log, url, exited };
}

describe('serve: bounded load', function () {
  this.timeout(120_000);
  let enc: Encoder;
  let srv: Running;
  const CAP = 8; // admitted inputs
  const PER = 4; // inputs per request
  const N = 120; // concurrent requests: 60× the admission capacity in requests

  before(async () => {
    enc = await Encoder.create({ model: tinyEncoder(), device: 'cpu', tokenizerThreads: 1 });
    srv = await startServer(enc, { maxConcurrentRequests: CAP, maxClientBatchSize: PER });
  });
  after(async () => {
    await srv?.server.close();
    await enc?.close();
  });

  it(`${N} concurrent requests against room for ${CAP} inputs: 429s, no crash, every 200 correct`, async () => {
    const all = texts(N * PER, 'load');
    const want = await enc.encode(all);
    const t0 = Date.now();
    const answers = await Promise.all(
      Array.from({ length: N }, (_, r) => postJson(`${srv.url}/v1/embeddings`, { input: all.slice(r * PER, (r + 1) * PER) }).then((a) => ({ r, a }))),
    );
    expect(Date.now() - t0, 'the load test stays bounded').to.be.below(60_000);
    let ok = 0;
    let busy = 0;
    for (const { r, a } of answers) {
      if (a.status === 200) {
        ok++;
        a.body.data.forEach((d: any, k: number) => expect(maxAbs(d.embedding, want[r * PER + k]), `request ${r} row ${k}`).to.be.at.most(TOL));
      } else {
        expect(a.status, JSON.stringify(a.body)).to.equal(429);
        expect(a.body.error).to.include({ type: 'overloaded', code: 429, message: 'Model is overloaded' });
        busy++;
      }
    }
    expect(ok + busy).to.equal(N);
    expect(ok, 'some requests are admitted').to.be.above(0);
    expect(busy, 'a full queue answers 429').to.be.above(0);
    expect(srv.server.service.admittedInputs).to.equal(0);
    expect(srv.server.service.batcher.queueSize).to.equal(0);
    expect((await getText(`${srv.url}/health`)).status).to.equal(200);
    const m = (await getText(`${srv.url}/metrics`)).text;
    expect(Number(m.match(/^embedrank_requests_total\{route="\/v1\/embeddings",status="429"\} (\d+)/m)?.[1])).to.equal(busy);
  });
});

describe('serve: SIGTERM under load', function () {
  this.timeout(300_000);
  let enc: Encoder;
  before(async () => {
    enc = await Encoder.create({ model: busyModel(), device: 'cpu', tokenizerThreads: 1 });
  });
  after(async () => {
    await enc?.close();
  });

  it('stops accepting, answers every admitted request correctly, and exits 0 (a repeat of the signal 0.1 s later changes nothing)', async () => {
    const { child, log: logOf, url: listening, exited } = startServe();
    try {
      const url = await listening;
      const R = 24;
      const PER = 8;
      const all = texts(R * PER, 'drain');
      const want = await enc.encode(all);
      let signalled = 0;
      const results = await Promise.all(
        Array.from({ length: R }, (_, r) =>
          postJson(`${url}/v1/embeddings`, { input: all.slice(r * PER, (r + 1) * PER) }).then(
            (a) => {
              // The first answer means the server is mid-load: stop it now.
              // The same signal again 0.1 s later, as a supervisor that signals every process of a
              // service delivers it to a relaunched server (directly and through the launcher): one request.
              if (!signalled) {
                signalled = Date.now();
                child.kill('SIGTERM');
                setTimeout(() => child.exitCode === null && child.kill('SIGTERM'), 100);
              }
              return { r, a, at: Date.now() };
            },
            (e: Error) => ({ r, e, at: Date.now() }),
          ),
        ),
      );
      const [code] = await exited;
      const log = logOf();
      expect(code, log).to.equal(0);
      // Started without the launcher: the startup line names the allocator it runs on.
      expect(log).to.match(/, glibc malloc\) listening on http/);
      const drained = Number(log.match(/SIGTERM: draining (\d+) admitted inputs/)?.[1]);
      expect(drained, log).to.be.above(0);
      let answeredAfter = 0;
      for (const x of results) {
        if ('a' in x) {
          // Admitted requests are answered 200 with the right rows; later ones may be refused with 503.
          if (x.a.status === 200) {
            x.a.body.data.forEach((d: any, k: number) => expect(maxAbs(d.embedding, want[x.r * PER + k]), `request ${x.r} row ${k}`).to.be.at.most(TOL));
            if (x.at >= signalled) answeredAfter += PER;
          } else {
            expect(x.a.status, JSON.stringify(x.a.body)).to.equal(503);
          }
        }
        // A connection error here is a request the server never accepted (the listener was closed).
      }
      expect(answeredAfter, `inputs answered after SIGTERM vs ${drained} admitted at SIGTERM`).to.be.at.least(drained);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

describe('serve: a second signal during the drain', function () {
  this.timeout(120_000);

  it('a repeat more than 1 s into the drain ends the process at once, killed by that signal', async () => {
    const { child, log, url: listening, exited } = startServe();
    try {
      const url = await listening;
      // Long texts, so that the admitted work outlasts the 1 s window by far on this machine.
      const long = Array.from({ length: 64 * 8 }, (_, i) => `drain ${i} ${'about many different things '.repeat(40)}`);
      let first = 0;
      const pending = Array.from({ length: 64 }, (_, r) =>
        postJson(`${url}/v1/embeddings`, { input: long.slice(r * 8, (r + 1) * 8) }).catch(() => undefined),
      );
      await new Promise((r) => setTimeout(r, 300));
      child.kill('SIGTERM');
      first = Date.now();
      await new Promise((r) => setTimeout(r, 1300));
      expect(child.exitCode, `still draining 1.3 s after the first signal: ${log()}`).to.equal(null);
      child.kill('SIGTERM');
      const [code, signal] = await exited;
      expect([code, signal], log()).to.deep.equal([null, 'SIGTERM']);
      expect(Date.now() - first, 'it ended at once, not after the drain').to.be.below(5000);
      await Promise.all(pending);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});

describe('serve: a large answer in flight when the drain starts', function () {
  this.timeout(120_000);
  let enc: Encoder;
  let srv: Running;
  const N = 20_000; // rows of the tiny model's embeddings as JSON: ~10 MB, past the socket buffers

  before(async () => {
    enc = await Encoder.create({ model: tinyEncoder(), device: 'cpu', tokenizerThreads: 1 });
    srv = await startServer(enc, { maxConcurrentRequests: N, maxClientBatchSize: N });
  });
  after(async () => {
    await srv?.server.close();
    await enc?.close();
  });

  it('arrives whole: the client reads it only after close() began and its sweeps ran', async () => {
    const input = Array.from({ length: N }, (_, i) => `drain text ${i}`);
    const { request } = await import('node:http');
    const url = new URL(`${srv.url}/v1/embeddings`);
    const payload = JSON.stringify({ input });
    let closed: Promise<void> | undefined;
    const body = await new Promise<string>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
        // Hold the answer unread (the server's writes back up), start the drain, let its sweeps
        // run, and only then read: every byte must still come.
        res.pause();
        closed = srv.server.close();
        setTimeout(() => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
          res.on('error', reject);
          res.on('aborted', () => reject(new Error('the answer was cut off')));
          res.resume();
        }, 1000);
      });
      req.on('error', reject);
      req.end(payload);
    });
    expect(body.length, 'an answer bigger than the socket buffers').to.be.above(4 << 20);
    const parsed = JSON.parse(body);
    expect(parsed.data).to.have.length(N);
    expect(parsed.data[N - 1].index).to.equal(N - 1);
    await closed;
  });
});
