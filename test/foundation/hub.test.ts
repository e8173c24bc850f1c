// Hugging Face hub resolution: the cache layout (HF_HUB_CACHE, HF_HOME, refs → snapshots, commit
// revisions), downloads from a local stand-in for the hub API, offline mode and HTTP errors.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative, sep } from 'node:path';
import { loadModelFolder } from '../../src/model/folder.js';
import { downloadSnapshot, findCachedSnapshot, hubCacheDir, resolveModel, wantedModelFile } from '../../src/model/hub.js';
import { cleanupTemp, expectReject, tempDir, tinyEncoder } from './helpers.js';

const ENV_KEYS = ['HF_HOME', 'HF_HUB_CACHE', 'HF_ENDPOINT', 'HF_HUB_OFFLINE', 'HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'XDG_CACHE_HOME'];

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(relative(dir, p).split(sep).join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

/** Puts a model folder into a hub cache as huggingface_hub would: refs/<ref> → snapshots/<sha>. */
function seedCache(cache: string, repoId: string, src: string, sha: string, ref: string | null = 'main'): string {
  const base = join(cache, `models--${repoId.replace('/', '--')}`);
  const snap = join(base, 'snapshots', sha);
  mkdirSync(snap, { recursive: true });
  cpSync(src, snap, { recursive: true });
  if (ref) {
    mkdirSync(join(base, 'refs'), { recursive: true });
    writeFileSync(join(base, 'refs', ref), sha);
  }
  return snap;
}

const sha = (s: string) => createHash('sha1').update(s).digest('hex');

interface Logged {
  method: string;
  url: string;
  auth?: string;
}

/** A minimal hub: /api/models/{id}/revision/{rev} and /{id}/resolve/{sha}/{file}. */
class FakeHub {
  readonly requests: Logged[] = [];
  private server?: Server;
  /** repo → revision → { sha, files: path → bytes }. */
  readonly repos = new Map<string, { sha: string; files: Map<string, Buffer>; revisions: Set<string> }>();
  /** Repos that answer 401 unless this token is sent. */
  readonly gated = new Map<string, string>();

  addRepo(id: string, folder: string, extra: Record<string, string | Buffer> = {}): string {
    const commit = sha(`${id}@${Date.now()}@${Math.random()}`);
    const files = new Map<string, Buffer>();
    for (const f of listFiles(folder)) files.set(f, readFileSync(join(folder, f)));
    for (const [k, v] of Object.entries(extra)) files.set(k, Buffer.from(v));
    this.repos.set(id, { sha: commit, files, revisions: new Set(['main', commit]) });
    return commit;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    const port = (this.server.address() as AddressInfo).port;
    return `http://127.0.0.1:${port}`;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  private handle(req: IncomingMessage, res: import('node:http').ServerResponse): void {
    const url = decodeURIComponent(req.url ?? '');
    this.requests.push({ method: req.method ?? '', url, auth: req.headers.authorization });
    const deny = (code: number, msg: string) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: msg }));
    };
    let m = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url);
    if (m) {
      const [, id, rev] = m;
      if (this.gated.has(id) && req.headers.authorization !== `Bearer ${this.gated.get(id)}`) return deny(401, 'gated');
      const repo = this.repos.get(id);
      if (!repo || !repo.revisions.has(rev)) return deny(404, 'Repository not found');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id, sha: repo.sha, siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })) }));
      return;
    }
    m = /^\/([^/]+\/[^/]+)\/resolve\/([0-9a-f]{40})\/(.+)$/.exec(url);
    if (m) {
      const [, id, commit, file] = m;
      if (this.gated.has(id) && req.headers.authorization !== `Bearer ${this.gated.get(id)}`) return deny(401, 'gated');
      const repo = this.repos.get(id);
      const body = repo && repo.sha === commit ? repo.files.get(file) : undefined;
      if (!body) return deny(404, 'Entry not found');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      res.end(body);
      return;
    }
    deny(404, 'no route');
  }
}

describe('foundation: hub', function () {
  this.timeout(30_000);
  const saved: Record<string, string | undefined> = {};
  let cache: string;

  beforeEach(() => {
    for (const k of ENV_KEYS) {
      saved[k] = process.env[k];
      delete process.env[k];
    }
    cache = join(tempDir('hub'), 'hub-cache');
    mkdirSync(cache, { recursive: true });
    process.env.HF_HUB_CACHE = cache;
    process.env.HF_ENDPOINT = 'http://127.0.0.1:9'; // nothing listens: any unexpected request fails
  });

  afterEach(() => {
    for (const k of ENV_KEYS) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  after(cleanupTemp);

  describe('cache', () => {
    it('HF_HUB_CACHE: refs/main → snapshots/<sha>, and the snapshot loads', async () => {
      const commit = sha('a');
      const snap = seedCache(cache, 'org/name', tinyEncoder(), commit);
      expect(hubCacheDir()).to.equal(cache);
      expect(await resolveModel('org/name')).to.equal(snap);
      expect(loadModelFolder(snap).dims.hidden).to.equal(64);
    });

    it('HF_HOME: the cache is $HF_HOME/hub', async () => {
      delete process.env.HF_HUB_CACHE;
      const home = join(tempDir('hub-home'), 'hf');
      process.env.HF_HOME = home;
      expect(hubCacheDir()).to.equal(join(home, 'hub'));
      const snap = seedCache(join(home, 'hub'), 'org/name', tinyEncoder(), sha('b'));
      expect(await resolveModel('org/name')).to.equal(snap);
    });

    it('HF_HUB_CACHE wins over HF_HOME; XDG_CACHE_HOME is used when neither is set', () => {
      process.env.HF_HOME = '/somewhere/else';
      expect(hubCacheDir()).to.equal(cache);
      delete process.env.HF_HUB_CACHE;
      delete process.env.HF_HOME;
      process.env.XDG_CACHE_HOME = '/xdg';
      expect(hubCacheDir()).to.equal(join('/xdg', 'huggingface', 'hub'));
      expect(hubCacheDir('/explicit')).to.equal('/explicit');
    });

    it('an explicit commit revision resolves without refs; a branch revision follows its ref', async () => {
      const main = sha('main');
      const old = sha('old');
      const snapMain = seedCache(cache, 'org/name', tinyEncoder(), main);
      const snapOld = seedCache(cache, 'org/name', tinyEncoder(), old, null);
      const snapDev = seedCache(cache, 'org/name', tinyEncoder(), sha('dev'), 'dev');
      expect(await resolveModel('org/name')).to.equal(snapMain);
      expect(await resolveModel('org/name', { revision: old })).to.equal(snapOld);
      expect(await resolveModel('org/name', { revision: 'dev' })).to.equal(snapDev);
      expect(findCachedSnapshot('org/name', { revision: sha('never') })).to.equal(undefined);
      expect(findCachedSnapshot('org/other')).to.equal(undefined);
    });

    it('a local folder is returned as is; a string that is neither folder nor id is rejected', async () => {
      const dir = tinyEncoder();
      expect(await resolveModel(dir)).to.equal(dir);
      await expectReject(resolveModel('not a/valid id/at all'), Error, /neither an existing folder nor a Hugging Face id/);
    });

    it('HF_HUB_OFFLINE=1 with an empty cache is a clear error naming the cache', async () => {
      process.env.HF_HUB_OFFLINE = '1';
      await expectReject(resolveModel('org/missing'), Error, /org\/missing/, /not in the hub cache/, cache, /HF_HUB_OFFLINE/);
      await expectReject(resolveModel('org/missing', { revision: 'v2' }), Error, /org\/missing"?@v2/);
    });
  });

  describe('download from a local hub', () => {
    let hub: FakeHub;
    beforeEach(async () => {
      hub = new FakeHub();
      process.env.HF_ENDPOINT = await hub.start();
    });
    afterEach(async () => {
      await hub.stop();
    });

    it('downloads the wanted files, skips big alternates, writes refs, then serves from cache offline', async () => {
      const commit = hub.addRepo('org/tiny', tinyEncoder(), {
        'pytorch_model.bin': 'pickle bytes',
        'onnx/model.onnx': 'onnx bytes',
        'onnx/model_quantized.onnx': 'onnx bytes',
        'tf_model.h5': 'tf',
        'flax_model.msgpack': 'flax',
        'openvino/openvino_model.xml': 'x',
      });
      const got: string[] = [];
      const snap = await resolveModel('org/tiny', { onFile: (f) => got.push(f) });
      expect(snap).to.equal(join(cache, 'models--org--tiny', 'snapshots', commit));
      expect(readFileSync(join(cache, 'models--org--tiny', 'refs', 'main'), 'utf8')).to.equal(commit);
      const files = listFiles(snap);
      for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'modules.json', '1_Pooling/config.json', 'sentence_bert_config.json', 'config_sentence_transformers.json', 'vocab.txt', 'README.md']) {
        expect(files, f).to.include(f);
      }
      for (const f of ['pytorch_model.bin', 'onnx/model.onnx', 'onnx/model_quantized.onnx', 'tf_model.h5', 'flax_model.msgpack', 'openvino/openvino_model.xml']) {
        expect(files, f).to.not.include(f);
        expect(hub.requests.some((r) => r.url.endsWith(f)), `${f} must not be requested`).to.equal(false);
      }
      expect(files.some((f) => f.endsWith('.incomplete'))).to.equal(false);
      expect([...got].sort()).to.deep.equal(files);
      // Byte-identical to the source.
      expect(readFileSync(join(snap, 'model.safetensors')).equals(readFileSync(join(tinyEncoder(), 'model.safetensors')))).to.equal(true);
      const f = loadModelFolder(snap);
      expect(f.dims.hidden).to.equal(64);
      expect(f.st.prompts).to.deep.equal({ query: 'query: ', document: 'passage: ' });

      // Second resolve: from the cache, with the server gone and offline mode off.
      await hub.stop();
      const before = hub.requests.length;
      expect(await resolveModel('org/tiny')).to.equal(snap);
      process.env.HF_HUB_OFFLINE = '1';
      expect(await resolveModel('org/tiny')).to.equal(snap);
      expect(hub.requests.length).to.equal(before);
    });

    it('downloading again skips files already present', async () => {
      hub.addRepo('org/again', tinyEncoder());
      const snap = await downloadSnapshot('org/again');
      const n = hub.requests.length;
      const mtime = statSync(join(snap, 'model.safetensors')).mtimeMs;
      await downloadSnapshot('org/again');
      expect(hub.requests.length).to.equal(n + 1); // only the revision query
      expect(statSync(join(snap, 'model.safetensors')).mtimeMs).to.equal(mtime);
    });

    it('an explicit commit revision is downloaded without writing a ref', async () => {
      const commit = hub.addRepo('org/pinned', tinyEncoder());
      const snap = await resolveModel('org/pinned', { revision: commit });
      expect(snap).to.equal(join(cache, 'models--org--pinned', 'snapshots', commit));
      expect(existsSync(join(cache, 'models--org--pinned', 'refs', commit))).to.equal(false);
      expect(hub.requests[0].url).to.equal(`/api/models/org/pinned/revision/${commit}`);
    });

    it('HF_TOKEN is sent as a Bearer header on every request; a gated repo without it is a 401 error', async () => {
      hub.addRepo('org/gated', tinyEncoder());
      hub.gated.set('org/gated', 'hf_secret');
      const e = await expectReject(resolveModel('org/gated'), Error, /401/, /HF_TOKEN/);
      expect(e.message).to.include('org/gated');
      expect(existsSync(join(cache, 'models--org--gated', 'snapshots'))).to.equal(false);
      process.env.HF_TOKEN = 'hf_secret';
      hub.requests.length = 0;
      const snap = await resolveModel('org/gated');
      expect(loadModelFolder(snap).kind).to.equal('encoder');
      expect(hub.requests.length).to.be.greaterThan(3);
      for (const r of hub.requests) expect(r.auth, r.url).to.equal('Bearer hf_secret');
    });

    it('the token option overrides HF_TOKEN', async () => {
      hub.addRepo('org/gated2', tinyEncoder());
      hub.gated.set('org/gated2', 'opt-token');
      process.env.HF_TOKEN = 'wrong';
      await resolveModel('org/gated2', { token: 'opt-token' });
      expect(hub.requests.every((r) => r.auth === 'Bearer opt-token')).to.equal(true);
    });

    it('no token set → no authorization header', async () => {
      hub.addRepo('org/open', tinyEncoder());
      await resolveModel('org/open');
      expect(hub.requests.every((r) => r.auth === undefined)).to.equal(true);
    });

    it('404 for an unknown repository or revision is a clear error, and leaves no snapshot', async () => {
      await expectReject(resolveModel('org/nothing'), Error, /404/, /org\/nothing/);
      expect(existsSync(join(cache, 'models--org--nothing'))).to.equal(false);
      hub.addRepo('org/real', tinyEncoder());
      await expectReject(resolveModel('org/real', { revision: 'v9' }), Error, /404/, /v9/);
      expect(findCachedSnapshot('org/real')).to.equal(undefined);
    });

    it('a file that 404s mid-download fails and leaves no snapshot a later offline run would trust', async () => {
      const commit = hub.addRepo('org/broken', tinyEncoder());
      // The listing names a file the server cannot deliver (listed last, after the others downloaded).
      hub.repos.get('org/broken')!.files.set('zz-missing.json', undefined as unknown as Buffer);
      await expectReject(resolveModel('org/broken'), Error, /404/, /zz-missing.json/);
      await expectReject(resolveModel('org/broken', { revision: commit }), Error, /404/, /zz-missing.json/);
      process.env.HF_HUB_OFFLINE = '1';
      expect(findCachedSnapshot('org/broken')).to.equal(undefined);
      expect(findCachedSnapshot('org/broken', { revision: commit })).to.equal(undefined);
      await expectReject(resolveModel('org/broken', { revision: commit }), Error, /not in the hub cache/);
    });

    it('an unreachable endpoint is a clear error that suggests offline mode', async () => {
      await hub.stop();
      await expectReject(resolveModel('org/x'), Error, /cannot reach/, /HF_HUB_OFFLINE/);
    });

    it('a listing with unsafe paths is refused', async () => {
      hub.addRepo('org/evil', tinyEncoder(), { '../../escape.json': '{}' });
      await expectReject(resolveModel('org/evil'), Error, /unsafe/);
      expect(existsSync(join(cache, 'escape.json'))).to.equal(false);
    });
  });

  describe('wantedModelFile', () => {
    it('keeps configs, safetensors, tokenizer files; drops other weight formats and onnx/', () => {
      for (const f of ['config.json', 'model.safetensors', 'model-00001-of-00002.safetensors', 'model.safetensors.index.json', 'tokenizer.json', 'vocab.txt', 'sentencepiece.bpe.model', '1_Pooling/config.json', 'README.md']) {
        expect(wantedModelFile(f), f).to.equal(true);
      }
      for (const f of ['pytorch_model.bin', 'onnx/model.onnx', 'onnx/config.json', 'model.onnx', 'tf_model.h5', 'flax_model.msgpack', 'rust_model.ot', 'openvino/x.xml', '.gitattributes', 'image.png']) {
        expect(wantedModelFile(f), f).to.equal(false);
      }
    });
  });
});
