import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DataNotFoundError, evaluate, getTask, HubError, hubCacheDir } from '../../src/eval/index.js';
import { listLocalFiles } from '../../src/eval/data/files.js';
import { BowEncoder } from './helpers/fakes.js';
import { ASKUBUNTU_FIXTURE, STS_FIXTURE } from './helpers/fixtures.js';

interface Repo {
  revision: string;
  files: Map<string, Buffer>;
  listing: 'revision' | 'tree';
  gated?: boolean;
}

/** A stand-in for the Hugging Face Hub on 127.0.0.1: revision/tree listing API and resolve URLs. */
class FakeHub {
  readonly requests: Array<{ url: string; auth: string | undefined }> = [];
  private server!: Server;
  url = '';
  constructor(private readonly repos: Map<string, Repo>) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url!, this.url);
    this.requests.push({ url: url.pathname + url.search, auth: req.headers.authorization });
    const send = (status: number, body: string | Buffer, headers: Record<string, string> = {}): void => {
      res.writeHead(status, headers);
      res.end(body);
    };
    let m = /^\/api\/datasets\/(.+)\/(revision|tree)\/([^/]+)$/.exec(url.pathname);
    if (m) {
      const repo = this.repos.get(m[1]);
      if (!repo || decodeURIComponent(m[3]) !== repo.revision) return send(404, '{"error":"not found"}');
      if (repo.gated && req.headers.authorization !== 'Bearer hf_valid') return send(401, '{"error":"gated"}');
      if (m[2] === 'revision') {
        if (repo.listing !== 'revision') return send(404, '{"error":"use the tree"}');
        return send(200, JSON.stringify({ id: m[1], sha: repo.revision, siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })) }), { 'content-type': 'application/json' });
      }
      // tree API, two entries per page, with a Link header to the next page
      const items = [...repo.files.keys()].map((path) => ({ type: 'file', path, size: repo.files.get(path)!.length }));
      const dirs = [...new Set([...repo.files.keys()].filter((p) => p.includes('/')).map((p) => p.split('/')[0]))].map((path) => ({ type: 'directory', path }));
      const all = [...dirs, ...items];
      const page = Number(url.searchParams.get('cursor') ?? '0');
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (page + 2 < all.length) headers.link = `<${this.url}${url.pathname}?recursive=true&cursor=${page + 2}>; rel="next"`;
      return send(200, JSON.stringify(all.slice(page, page + 2)), headers);
    }
    m = /^\/datasets\/(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (m) {
      const repo = this.repos.get(m[1]);
      const path = m[3].split('/').map(decodeURIComponent).join('/');
      if (!repo || !repo.files.has(path)) return send(404, 'Entry not found');
      if (repo.gated && req.headers.authorization !== 'Bearer hf_valid') return send(401, 'gated');
      const sha = createHash('sha256').update(repo.files.get(path)!).digest('hex');
      return send(302, '', { location: `/cdn/${m[1]}/${encodeURIComponent(path)}`, 'x-linked-etag': `"${sha}"` });
    }
    m = /^\/cdn\/(.+?\/[^/]+)\/(.+)$/.exec(url.pathname);
    if (m) {
      const repo = this.repos.get(m[1]);
      const path = decodeURIComponent(m[2]);
      const body = repo?.files.get(path);
      if (!body) return send(404, 'no such object');
      return send(200, body, { etag: `"${createHash('sha256').update(body).digest('hex')}"`, 'content-length': String(body.length) });
    }
    send(404, 'unknown route');
  }
}

const STS12_REV = getTask('STS12').dataset.revision;
const ASK_REV = getTask('AskUbuntuDupQuestions').dataset.revision;

function sts12Files(): Map<string, Buffer> {
  const rows: string[] = [];
  for (const line of readFileSync(join(STS_FIXTURE, '2012', 'MSRpar.test.tsv'), 'utf8').split('\n').filter(Boolean)) {
    const [score, sentence1, sentence2] = line.split('\t');
    rows.push(JSON.stringify({ sentence1, sentence2, score: Number(score) }));
  }
  return new Map([
    ['.gitattributes', Buffer.from('*.gz filter=lfs\n')],
    ['README.md', Buffer.from('---\nconfigs:\n- config_name: default\n  data_files:\n  - split: test\n    path: data/test-*\n---\n# STS12 (test)\n')],
    ['data/test-00000-of-00001.jsonl.gz', gzipSync(Buffer.from(rows.join('\n') + '\n'))],
    ['unused/big-file.bin', Buffer.alloc(1024)],
  ]);
}

function askUbuntuFiles(): Map<string, Buffer> {
  return new Map(listLocalFiles(ASKUBUNTU_FIXTURE).map((p) => [p, readFileSync(join(ASKUBUNTU_FIXTURE, p))]));
}

describe('eval/hub: hub cache resolution and downloads (local HTTP fixture server)', function () {
  this.timeout(60000);
  let hub: FakeHub;
  let tmp: string;
  let cache: string;
  const savedEnv = { ...process.env };

  beforeEach(async () => {
    hub = new FakeHub(
      new Map([
        ['mteb/sts12-sts', { revision: STS12_REV, files: sts12Files(), listing: 'revision' }],
        ['mteb/AskUbuntuDupQuestions', { revision: ASK_REV, files: askUbuntuFiles(), listing: 'tree' }],
        ['mteb/sts13-sts', { revision: getTask('STS13').dataset.revision, files: sts12Files(), listing: 'revision', gated: true }],
      ]),
    );
    await hub.start();
    tmp = mkdtempSync(join(tmpdir(), 'embedrank-hub-'));
    cache = join(tmp, 'hub');
    for (const k of ['HF_ENDPOINT', 'HF_HUB_CACHE', 'HF_HOME', 'HF_TOKEN', 'HF_HUB_OFFLINE', 'HF_DATASETS_OFFLINE', 'HUGGING_FACE_HUB_TOKEN', 'HUGGINGFACE_HUB_CACHE']) delete process.env[k];
  });
  afterEach(async () => {
    await hub.stop();
    rmSync(tmp, { recursive: true, force: true });
    for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
    Object.assign(process.env, savedEnv);
  });

  it('finds the cache through HF_HUB_CACHE, then HF_HOME/hub', () => {
    process.env.HF_HOME = '/somewhere/hf';
    expect(hubCacheDir()).to.equal(join('/somewhere/hf', 'hub'));
    process.env.HF_HUB_CACHE = '/elsewhere/cache';
    expect(hubCacheDir()).to.equal('/elsewhere/cache');
  });

  it('downloads only the needed files into the hub cache layout (HF_ENDPOINT, HF_HUB_CACHE, HF_TOKEN), then works offline', async () => {
    process.env.HF_ENDPOINT = hub.url;
    process.env.HF_HUB_CACHE = cache;
    process.env.HF_TOKEN = 'hf_secret';
    const model = new BowEncoder();
    const r1 = await evaluate(model, ['STS12'], { outputFolder: null, warnings: false });

    const repoDir = join(cache, 'datasets--mteb--sts12-sts');
    const snap = join(repoDir, 'snapshots', STS12_REV);
    const data = join(snap, 'data', 'test-00000-of-00001.jsonl.gz');
    expect(lstatSync(data).isSymbolicLink()).to.equal(true);
    const sha = createHash('sha256').update(sts12Files().get('data/test-00000-of-00001.jsonl.gz')!).digest('hex');
    expect(readlinkSync(data)).to.equal(relative(join(snap, 'data'), join(repoDir, 'blobs', sha)));
    expect(existsSync(join(repoDir, 'blobs', sha))).to.equal(true);
    expect(existsSync(join(snap, 'README.md'))).to.equal(true);
    expect(existsSync(join(snap, 'unused'))).to.equal(false);
    expect(existsSync(join(snap, '.gitattributes'))).to.equal(false);
    expect(readdirSync(join(repoDir, 'blobs')).some((n) => n.endsWith('.incomplete'))).to.equal(false);

    expect(hub.requests.map((r) => r.url)).to.include(`/api/datasets/mteb/sts12-sts/revision/${STS12_REV}`);
    expect(hub.requests.every((r) => r.auth === 'Bearer hf_secret')).to.equal(true);
    const n = hub.requests.length;

    // the same rows from a local folder give the same scores
    const local = join(tmp, 'local');
    mkdirSync(local);
    cpSync(snap, join(local, 'mteb__sts12-sts'), { recursive: true, dereference: true });
    const r2 = await evaluate(new BowEncoder(), ['STS12'], { dataDir: local, outputFolder: null, warnings: false });
    expect(r2.task_results[0].scores.test[0].main_score).to.equal(r1.task_results[0].scores.test[0].main_score);

    // offline: served from the cache, no request
    process.env.HF_HUB_OFFLINE = '1';
    const r3 = await evaluate(new BowEncoder(), ['STS12'], { outputFolder: null, warnings: false });
    expect(hub.requests.length).to.equal(n);
    expect(r3.task_results[0].scores.test[0].main_score).to.equal(r1.task_results[0].scores.test[0].main_score);
  });

  it('lists through the paginated tree API when needed and downloads parquet files (reranking task)', async () => {
    const opts = { endpoint: hub.url, cacheDir: cache, token: null, outputFolder: null, warnings: false } as const;
    const r = await evaluate(new BowEncoder(), ['AskUbuntuDupQuestions'], opts);
    expect(hub.requests.filter((q) => q.url.includes('/tree/')).length).to.be.greaterThan(1);
    expect(hub.requests.every((q) => q.auth === undefined)).to.equal(true);
    const snap = join(cache, 'datasets--mteb--AskUbuntuDupQuestions', 'snapshots', ASK_REV);
    expect(existsSync(join(snap, 'data', 'test-00000-of-00001.parquet'))).to.equal(true);
    const local = await evaluate(new BowEncoder(), ['AskUbuntuDupQuestions'], { dataDir: join(ASKUBUNTU_FIXTURE, '..'), outputFolder: null, warnings: false });
    expect(r.task_results[0].scores.test[0].map_at_1000).to.equal(local.task_results[0].scores.test[0].map_at_1000);
  });

  it('uses a snapshot another tool downloaded (no listing of ours) when offline', async () => {
    const snap = join(cache, 'datasets--mteb--sts12-sts', 'snapshots', STS12_REV);
    for (const [p, b] of sts12Files()) {
      mkdirSync(join(snap, ...p.split('/').slice(0, -1)), { recursive: true });
      writeFileSync(join(snap, ...p.split('/')), b);
    }
    const r = await evaluate(new BowEncoder(), ['STS12'], { cacheDir: cache, offline: true, outputFolder: null, warnings: false });
    expect(r.task_results[0].scores.test[0].main_score).to.be.a('number');
    expect(hub.requests).to.have.length(0);
  });

  it('offline with nothing cached: a clear error naming where it looked', async () => {
    try {
      await evaluate(new BowEncoder(), ['STS12'], { cacheDir: cache, offline: true, outputFolder: null, warnings: false });
      expect.fail('should throw');
    } catch (e) {
      expect(e).to.be.instanceOf(DataNotFoundError);
      expect((e as Error).message).to.contain(join(cache, 'datasets--mteb--sts12-sts', 'snapshots', STS12_REV)).and.match(/HF_HUB_OFFLINE/);
    }
    expect(hub.requests).to.have.length(0);
  });

  it('a gated dataset without a valid token fails with a hint about HF_TOKEN; with one it downloads', async () => {
    try {
      await evaluate(new BowEncoder(), ['STS13'], { endpoint: hub.url, cacheDir: cache, token: null, outputFolder: null, warnings: false });
      expect.fail('should throw');
    } catch (e) {
      expect(e).to.be.instanceOf(HubError);
      expect((e as Error).message).to.match(/HTTP 401/).and.match(/HF_TOKEN/);
    }
    const r = await evaluate(new BowEncoder(), ['STS13'], { endpoint: hub.url, cacheDir: cache, token: 'hf_valid', outputFolder: null, warnings: false });
    expect(r.task_results[0].task_name).to.equal('STS13');
  });

  it('an unreachable hub is reported with the URL', async () => {
    try {
      await evaluate(new BowEncoder(), ['STS12'], { endpoint: 'http://127.0.0.1:9', cacheDir: cache, outputFolder: null, warnings: false });
      expect.fail('should throw');
    } catch (e) {
      expect((e as Error).message).to.match(/cannot reach http:\/\/127\.0\.0\.1:9\/api\/datasets\/mteb\/sts12-sts/).and.match(/pass --data-dir/);
    }
  });

  it('a dataDir without the task, then an unreachable hub: the error says the data was not in the folder and where it looked', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'embedrank-empty-data-'));
    try {
      await evaluate(new BowEncoder(), ['STS12'], { dataDir: empty, endpoint: 'http://127.0.0.1:9', cacheDir: cache, outputFolder: null, warnings: false });
      expect.fail('should throw');
    } catch (e) {
      const m = (e as Error).message;
      expect(m).to.match(/mteb\/sts12-sts is not in the data folder \(looked in /).and.contain(join(empty, 'mteb__sts12-sts'));
      expect(m).to.match(/cannot reach http:\/\/127\.0\.0\.1:9/).and.not.match(/pass --data-dir/);
    }
  });
});
