// RemoteEncoder / RemoteCrossEncoder against `embedrank serve` on loopback (CPU engine, generated
// models): values equal the local model's, the on-disk cache answers repeats and survives a torn
// write, two endpoints share the work, 429/5xx and dead endpoints are retried, other errors are
// not; and `embedrank evaluate --endpoint` scores like the local run, resuming a killed run
// without re-querying anything cached.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer as netServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CrossEncoder } from '../../src/cross-encoder.js';
import { Encoder } from '../../src/encoder.js';
import { EndpointError, InputError } from '../../src/errors.js';
import { cacheKey, VectorCache } from '../../src/remote/cache.js';
import { RemoteCrossEncoder } from '../../src/remote/cross-encoder.js';
import { RemoteEncoder } from '../../src/remote/encoder.js';
import { openRemoteModel } from '../../src/remote/open.js';
import { HF_FIXTURES, STS_FIXTURE } from '../eval/helpers/fixtures.js';
import { DIST, expectReject, expectThrow, maxAbs, tinyCrossEncoder, tinyEncoder, tinyEncoderCls } from '../foundation/helpers.js';
import { startServer, type Running } from '../serve/helpers.js';

const TOL = 1e-5;

/** A loopback port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = netServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Counts /v1/embeddings (and rerank/score) requests a server receives, and can fail the first few. */
function instrument(srv: { app: Running['server']['app'] }, o: { failFirst?: number[] } = {}) {
  const seen = { requests: 0, inputs: [] as string[], auth: [] as Array<string | undefined> };
  const fails = [...(o.failFirst ?? [])];
  srv.app.addHook('preHandler', async (req, reply) => {
    if (req.method !== 'POST' || req.url === '/tokenize') return;
    seen.requests++;
    seen.auth.push(req.headers.authorization);
    const status = fails.shift();
    if (status) return reply.code(status).header('retry-after', '0').send({ error: 'injected', error_type: status === 429 ? 'overloaded' : 'backend' });
    const input = (req.body as { input?: unknown }).input;
    if (Array.isArray(input)) for (const t of input) if (typeof t === 'string') seen.inputs.push(t);
  });
  return seen;
}

describe('remote: RemoteEncoder and RemoteCrossEncoder', function () {
  this.timeout(120_000);
  let enc: Encoder;
  let ce: CrossEncoder;
  const temps: string[] = [];
  const servers: Running[] = [];
  const tmp = (tag: string) => {
    const d = mkdtempSync(join(tmpdir(), `embedrank-remote-${tag}-`));
    temps.push(d);
    return d;
  };
  async function serve(model: Encoder | CrossEncoder, opts = {}, hook?: (s: Running['server']) => void): Promise<Running> {
    const r = await startServer(model, opts, hook);
    servers.push(r);
    return r;
  }

  async function counted(model: Encoder | CrossEncoder, opts = {}, failFirst?: number[]) {
    let seen!: ReturnType<typeof instrument>;
    const r = await serve(model, opts, (srv) => {
      seen = instrument(srv, { failFirst });
    });
    return { ...r, seen };
  }

  before(async () => {
    [enc, ce] = await Promise.all([
      Encoder.create({ model: tinyEncoderCls(), device: 'cpu', tokenizerThreads: 1 }),
      CrossEncoder.create({ model: tinyCrossEncoder(), device: 'cpu', tokenizerThreads: 1 }),
    ]);
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.server.close()));
    await Promise.all([enc?.close(), ce?.close()]);
    for (const d of temps) rmSync(d, { recursive: true, force: true });
  });

  const TEXTS = Array.from({ length: 40 }, (_, i) => `sentence ${i % 30} about ${'things '.repeat(i % 5)}here`);

  it("encode equals the local Encoder's, prompts chosen by mteb's lookup over the server's prompts; duplicates sent once", async () => {
    const { url, seen } = await counted(enc);
    const s = { url };
    const r = await RemoteEncoder.create({ endpoints: [`${s.url}/v1`], model: 'test-model', cacheDir: tmp('a'), batchSize: 7, apiKey: 'sekret' });
    const rows = await r.encode(TEXTS, { promptType: 'query' });
    const want = await enc.encode(TEXTS, { promptType: 'query' });
    expect(rows).to.have.length(TEXTS.length);
    rows.forEach((row, i) => expect(maxAbs(row, want[i]), `row ${i}`).to.be.at.most(TOL));
    expect(seen.inputs).to.have.length(30);
    expect(seen.inputs.every((t) => t.startsWith('q: '))).to.equal(true);
    expect(seen.requests).to.equal(Math.ceil(30 / 7));
    expect(seen.auth.every((a) => a === 'Bearer sekret')).to.equal(true);
    expect(r.meta).to.include({ name: 'test-model', embed_dim: 64, similarity_fn_name: 'cosine', loader: 'embedrank.RemoteEncoder' });
    expect(r.batchSize).to.equal(7);
  });

  it('another checkpoint re-served under the same name never gets the first one\'s cached vectors (the cache is keyed by the server\'s model_sha)', async () => {
    const other = await Encoder.create({ model: tinyEncoder(), device: 'cpu', tokenizerThreads: 1 }); // enc is tinyEncoderCls()
    try {
      const dir = tmp('reserve');
      const texts = ['one text', 'another text', 'a third'];
      const a = await serve(enc, { servedModelName: 'same-name' });
      const fromA = await (await RemoteEncoder.create({ endpoints: [`${a.url}/v1`], model: 'same-name', cacheDir: dir })).encode(texts);
      const b = await serve(other, { servedModelName: 'same-name' });
      const rb = await RemoteEncoder.create({ endpoints: [`${b.url}/v1`], model: 'same-name', cacheDir: dir });
      const fromB = await rb.encode(texts);
      expect(rb.stats.requests, 'the second checkpoint is asked, not answered from the cache').to.be.above(0);
      const local = await other.encode(texts, { prompt: '' });
      fromB.forEach((row, i) => expect(maxAbs(row, local[i])).to.be.at.most(1e-5));
      expect(maxAbs(fromA[0], fromB[0])).to.be.above(1e-3);
    } finally {
      await other.close();
    }
  });

  it('the disk cache answers a rerun without any request, keys on the prompt, and survives a torn last record', async () => {
    const { url, seen } = await counted(enc);
    const s = { url };
    const dir = tmp('cache');
    const opts = { endpoints: [`${s.url}/v1`], model: 'test-model', cacheDir: dir };
    const first = await (await RemoteEncoder.create(opts)).encode(TEXTS);
    expect(seen.requests).to.equal(Math.ceil(30 / 32));
    const again = new RemoteEncoder(opts);
    const second = await again.encode(TEXTS);
    expect(seen.requests, 'no request for cached texts').to.equal(1);
    expect(again.stats).to.deep.include({ requests: 0, cached: 40 });
    second.forEach((row, i) => expect(Array.from(row)).to.deep.equal(Array.from(first[i])));
    await again.encode(TEXTS.slice(0, 3), { promptType: 'document' });
    expect(seen.requests, 'another prompt is another key').to.equal(2);
    // A write cut short by a kill leaves a partial record: it is dropped, the rest stays usable.
    const folder = readdirSync(dir)[0];
    const file = join(dir, folder, 'embedding-64.f32');
    const size = statSync(file).size;
    appendFileSync(file, Buffer.alloc(50, 7));
    // The server reports its model's revision (model_sha) and the cache is keyed by it.
    expect(again.revision).to.equal(enc.revision);
    const c = new VectorCache(dir, { model: 'test-model', revision: again.revision, kind: 'embedding', width: 64 });
    expect(c.loaded).to.equal(33);
    expect(statSync(file).size).to.equal(size);
    const third = new RemoteEncoder(opts);
    await third.encode(TEXTS);
    expect(third.stats.requests).to.equal(0);
  });

  it('spreads batches over two endpoints (least outstanding requests) with the same results', async () => {
    const [a, b] = [await counted(enc), await counted(enc)];
    const [sa, sb] = [a.seen, b.seen];
    const many = Array.from({ length: 200 }, (_, i) => `text number ${i}`);
    const r = await RemoteEncoder.create({ endpoints: [`${a.url}/v1`, `${b.url}/v1`], model: 'test-model', cacheDir: false, batchSize: 4 });
    const rows = await r.encode(many);
    const want = await enc.encode(many);
    rows.forEach((row, i) => expect(maxAbs(row, want[i])).to.be.at.most(TOL));
    expect(sa.requests + sb.requests).to.equal(50);
    expect(sa.requests, 'endpoint A got work').to.be.above(0);
    expect(sb.requests, 'endpoint B got work').to.be.above(0);
    expect(Object.values(r.pool.counts)).to.deep.equal([sa.requests, sb.requests]);
  });

  it('retries 503 and 429 with backoff, and a dead endpoint on the live one; other errors fail at once', async () => {
    const { url, seen } = await counted(enc, {}, [503, 429, 503]);
    const s = { url };
    const retries: number[] = [];
    const r = await RemoteEncoder.create({ endpoints: [`${s.url}/v1`], model: 'test-model', cacheDir: false, backoffMs: 1, onRetry: (e) => retries.push(e.status) });
    const rows = await r.encode(TEXTS.slice(0, 5));
    expect(retries).to.deep.equal([503, 429, 503]);
    expect(seen.requests).to.equal(4);
    const want5 = await enc.encode(TEXTS.slice(0, 5));
    rows.forEach((row, i) => expect(maxAbs(row, want5[i])).to.be.at.most(TOL));

    const dead = `http://127.0.0.1:${await deadPort()}/v1`;
    const errs: number[] = [];
    const two = new RemoteEncoder({ endpoints: [dead, `${s.url}/v1`], model: 'test-model', cacheDir: false, backoffMs: 1, batchSize: 2, onRetry: (e) => errs.push(e.status) });
    const got = await two.encode(TEXTS.slice(0, 10));
    const want = await enc.encode(TEXTS.slice(0, 10));
    got.forEach((row, i) => expect(maxAbs(row, want[i])).to.be.at.most(TOL));
    expect(errs.length, 'the dead endpoint was tried and retried elsewhere').to.be.above(0);
    expect(errs.every((x) => x === 0)).to.equal(true);

    const before = seen.requests;
    const wrong = new RemoteEncoder({ endpoints: [`${s.url}/v1`], model: 'not-served', cacheDir: false, backoffMs: 1 });
    const e = await expectReject(wrong.encode(['a']), EndpointError, /HTTP 404/, /does not exist/);
    expect(e.status).to.equal(404);
    expect(seen.requests - before, 'a 404 is not retried').to.equal(1);
  });

  it('RemoteCrossEncoder scores like CrossEncoder.predict through the rerank, score and TEI APIs, cached', async () => {
    const s = await serve(ce, { servedModelName: 'reranker' });
    const pairs: Array<[string, string]> = [
      ['what is the capital of france', 'paris is the capital of france'],
      ['what is the capital of france', 'bananas are yellow'],
      ['how do vaccines work', 'vaccines train the immune system'],
      ['how do vaccines work', 'the stock market fell'],
      ['what is the capital of france', 'france is in europe'],
    ];
    const want = await ce.scoreMatrix(pairs);
    for (const api of ['rerank', 'score', 'tei'] as const) {
      const r = await RemoteCrossEncoder.create({ endpoints: [`${s.url}/v1`], model: 'reranker', api, cacheDir: false, batchSize: 3 });
      const got = await r.predict(pairs);
      expect(got.length).to.equal(pairs.length);
      for (let i = 0; i < pairs.length; i++) expect(Math.abs(got[i] - want[i]), `${api} pair ${i}`).to.be.at.most(TOL);
    }
    const dir = tmp('ce');
    const c1 = await RemoteCrossEncoder.create({ endpoints: [`${s.url}/v1`], model: 'reranker', cacheDir: dir });
    await c1.predict(pairs);
    const c2 = await RemoteCrossEncoder.create({ endpoints: [`${s.url}/v1`], model: 'reranker', cacheDir: dir });
    const again = await c2.predict(pairs);
    expect(c2.stats.requests).to.equal(0);
    for (let i = 0; i < pairs.length; i++) expect(Math.abs(again[i] - want[i])).to.be.at.most(TOL);
    expect(c2.meta).to.include({ name: 'reranker', loader: 'embedrank.RemoteCrossEncoder' });
  });

  it('opens the right kind from /info and refuses the wrong one; bad options are InputErrors', async () => {
    const e = await serve(enc);
    const c = await serve(ce);
    expect((await openRemoteModel({ endpoints: [`${e.url}/v1`], model: 'test-model', cacheDir: false })).kind).to.equal('encoder');
    expect((await openRemoteModel({ endpoints: [`${c.url}/v1`], model: 'test-model', cacheDir: false })).kind).to.equal('cross-encoder');
    await expectReject(RemoteEncoder.create({ endpoints: [`${c.url}/v1`], model: 'test-model', cacheDir: false }), InputError, /serves a cross-encoder/);
    await expectReject(RemoteCrossEncoder.create({ endpoints: [`${e.url}/v1`], model: 'test-model', cacheDir: false }), InputError, /serves an embedding model/);
    expectThrow(() => new RemoteEncoder({ endpoints: [], model: 'm' }), InputError, /at least one endpoint/);
    expectThrow(() => new RemoteEncoder({ endpoints: ['http://a:1', 'http://a:1/'], model: 'm' }), InputError, /repeat/);
    expectThrow(() => new RemoteEncoder({ endpoints: ['http://a:1'], model: '' }), InputError, /model/);
    expectThrow(() => new RemoteEncoder({ endpoints: ['http://a:1'], model: 'm', batchSize: 0 }), InputError, /batchSize/);
    expectThrow(() => new RemoteCrossEncoder({ endpoints: ['http://a:1'], model: 'm', api: 'x' as never }), InputError, /api/);
    const r = new RemoteEncoder({ endpoints: [`${e.url}/v1`], model: 'test-model', cacheDir: false });
    await expectReject(r.encode('a' as never), InputError, /array of strings/);
  });
});

describe('remote: embedrank evaluate --endpoint', function () {
  this.timeout(180_000);
  let enc: Encoder;
  let srv: Running;
  let gate: { open: boolean; release?: () => void; stalled: number; answered: string[][] };
  const dirs: string[] = [];
  const tmp = (tag: string) => {
    const d = mkdtempSync(join(tmpdir(), `embedrank-remote-cli-${tag}-`));
    dirs.push(d);
    return d;
  };

  before(async () => {
    enc = await Encoder.create({ model: tinyEncoder(), device: 'cpu', tokenizerThreads: 1 });
    gate = { open: true, stalled: 0, answered: [] };
    srv = await startServer(enc, { servedModelName: 'tiny-remote' }, (s) => {
      // While the gate is closed, embedding requests after the first two hang (the run is then killed).
      let passed = 0;
      s.app.addHook('preHandler', async (req) => {
        if (req.url !== '/v1/embeddings') return;
        if (!gate.open && ++passed > 2) {
          gate.stalled++;
          await new Promise<void>((r) => (gate.release = r));
          throw new Error('stalled request released at the end of the test');
        }
      });
      s.app.addHook('onResponse', async (req, reply) => {
        if (req.url === '/v1/embeddings' && reply.statusCode === 200) gate.answered.push((req.body as { input: string[] }).input);
      });
    });
  });
  after(async () => {
    gate.release?.();
    await srv?.server.close();
    await enc?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  function run(args: string[], env: NodeJS.ProcessEnv) {
    const child = spawn(process.execPath, [join(DIST, 'src/cli/main.js'), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const done = new Promise<{ code: number | null; out: string }>((r) => child.on('exit', (code) => r({ code, out })));
    return { child, done };
  }

  function mainScore(outDir: string, task = 'STS12'): number {
    const find = (d: string): string | undefined => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) {
          const f = find(p);
          if (f) return f;
        } else if (e.name === `${task}.json`) return p;
      }
      return undefined;
    };
    const file = find(outDir);
    expect(file, `${task}.json under ${outDir}`).to.be.a('string');
    // mteb writes NaN (Python's json) where a metric is undefined.
    const j = JSON.parse(readFileSync(file!, 'utf8').replace(/\bNaN\b/g, 'null')) as { scores: Record<string, Array<{ main_score: number }>> };
    return j.scores.test[0].main_score;
  }

  it('scores like the local run; a killed run resumes from the cache without re-querying; two endpoints share the work', async () => {
    const local = tmp('local');
    const l = await run(['evaluate', '-m', tinyEncoder(), '--device', 'cpu', '-t', 'STS12', '--data-dir', STS_FIXTURE, '-o', local, '-q'], {}).done;
    expect(l.code, l.out).to.equal(0);
    const want = mainScore(local);
    expect(Number.isFinite(want)).to.equal(true);

    // First remote run: the server answers two requests, then hangs; the client is killed.
    const cache = tmp('cache');
    const env = { EMBEDRANK_CACHE: cache };
    const args = ['evaluate', '-m', 'tiny-remote', '--endpoint', `${srv.url}/v1`, '-t', 'STS12', '--data-dir', STS_FIXTURE, '--batch-size', '8', '-q'];
    gate.open = false;
    const first = run([...args, '-o', tmp('r1')], env);
    const t0 = Date.now();
    const cacheFile = () => {
      try {
        const d = join(cache, 'remote');
        const f = join(d, readdirSync(d)[0], 'embedding-64.f32');
        return statSync(f).size / (32 + 4 * 64);
      } catch {
        return 0;
      }
    };
    while (!(gate.stalled > 0 && cacheFile() >= 16) && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 50));
    expect(gate.stalled, 'the first run reached the stalled server').to.be.above(0);
    first.child.kill('SIGKILL');
    await first.done;
    const cachedTexts = new VectorCache(join(cache, 'remote'), { model: 'tiny-remote', revision: enc.revision, kind: 'embedding', width: 64 });
    expect(cachedTexts.loaded, 'the killed run left its finished batches in the cache').to.equal(16);
    const isCached = (t: string) => cachedTexts.get(cacheKey(['', '', t])) !== undefined;
    const firstAnswered = gate.answered.flat();
    expect(firstAnswered.every(isCached)).to.equal(true);

    // Rerun: nothing cached is asked again, and the score equals the local run's.
    gate.open = true;
    gate.release?.();
    gate.answered = [];
    const out2 = tmp('r2');
    const second = await run([...args, '-o', out2], env).done;
    expect(second.code, second.out).to.equal(0);
    const asked = gate.answered.flat();
    expect(asked.length).to.be.above(0);
    expect(asked.filter(isCached), 'texts re-queried although cached').to.deep.equal([]);
    expect(Math.abs(mainScore(out2) - want)).to.be.at.most(1e-6);

    // Two endpoints, fresh cache: both serve requests, same score.
    let count!: ReturnType<typeof instrument>;
    const other = await startServer(enc, { servedModelName: 'tiny-remote' }, (srv) => {
      count = instrument(srv);
    });
    try {
      gate.answered = [];
      const out3 = tmp('r3');
      const third = await run([...args.slice(0, 4), `${other.url}/v1`, ...args.slice(4), '-o', out3], { EMBEDRANK_CACHE: tmp('cache3') }).done;
      expect(third.code, third.out).to.equal(0);
      expect(gate.answered.length, 'first endpoint served').to.be.above(0);
      expect(count.requests, 'second endpoint served').to.be.above(0);
      expect(Math.abs(mainScore(out3) - want)).to.be.at.most(1e-6);
    } finally {
      await other.server.close();
    }
  });

  it('a served cross-encoder evaluates a reranking task like the local one', async () => {
    const ce = await CrossEncoder.create({ model: tinyCrossEncoder(), device: 'cpu', tokenizerThreads: 1 });
    const s = await startServer(ce, { servedModelName: 'tiny-ce' });
    try {
      const local = tmp('ce-local');
      const l = await run(['evaluate', '-m', tinyCrossEncoder(), '--device', 'cpu', '-t', 'AskUbuntuDupQuestions', '--data-dir', HF_FIXTURES, '-o', local, '-q'], {}).done;
      expect(l.code, l.out).to.equal(0);
      const remote = tmp('ce-remote');
      const r = await run(['evaluate', '-m', 'tiny-ce', '--endpoint', `${s.url}/v1`, '-t', 'AskUbuntuDupQuestions', '--data-dir', HF_FIXTURES, '-o', remote, '-q'], { EMBEDRANK_CACHE: tmp('ce-cache') }).done;
      expect(r.code, r.out).to.equal(0);
      const want = mainScore(local, 'AskUbuntuDupQuestions');
      expect(Number.isFinite(want)).to.equal(true);
      expect(Math.abs(mainScore(remote, 'AskUbuntuDupQuestions') - want)).to.be.at.most(1e-6);
    } finally {
      await s.server.close();
      await ce.close();
    }
  });
});
