// Resolves "org/name" model ids through the local Hugging Face hub cache and downloads missing
// snapshots when online, in the cache layout huggingface_hub uses
// (models--org--name/{refs,snapshots/<commit>}), honouring HF_HOME, HF_HUB_CACHE, HF_ENDPOINT,
// HF_HUB_OFFLINE and HF_TOKEN.
import { createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface HubOptions {
  revision?: string;
  cacheDir?: string;
  endpoint?: string;
  token?: string;
  offline?: boolean;
  /** Called per downloaded file (name, bytes). */
  onFile?: (file: string, bytes: number) => void;
}

export function hubCacheDir(explicit?: string): string {
  if (explicit) return explicit;
  if (process.env.HF_HUB_CACHE) return process.env.HF_HUB_CACHE;
  const home = process.env.HF_HOME ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'huggingface');
  return join(home, 'hub');
}

const REPO_ID_RE = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;
const COMMIT_RE = /^[0-9a-f]{40}$/;

export function isRepoId(s: string): boolean {
  return REPO_ID_RE.test(s) && !existsSync(s);
}

function repoFolder(cache: string, repoId: string, type: 'model' | 'dataset'): string {
  return join(cache, `${type}s--${repoId.replace(/\//g, '--')}`);
}

/** The snapshot folder for `repoId@revision` if the cache has it, else undefined. */
export function findCachedSnapshot(repoId: string, opts: HubOptions = {}, type: 'model' | 'dataset' = 'model'): string | undefined {
  const base = repoFolder(hubCacheDir(opts.cacheDir), repoId, type);
  const rev = opts.revision ?? 'main';
  let commit = rev;
  if (!COMMIT_RE.test(rev)) {
    const ref = join(base, 'refs', rev);
    if (!existsSync(ref)) return undefined;
    commit = readFileSync(ref, 'utf8').trim();
  }
  const snap = join(base, 'snapshots', commit);
  return existsSync(snap) && statSync(snap).isDirectory() ? snap : undefined;
}

/** Files a BERT-family embedding or reranking model needs; big alternates (onnx, pytorch) skipped. */
export function wantedModelFile(path: string): boolean {
  if (/^(onnx|openvino|coreml|flax|tf|rust)\//.test(path)) return false;
  if (/\.(bin|h5|msgpack|ot|onnx|pt|pth|ckpt)$/.test(path)) return false;
  return /\.(json|safetensors|txt|model)$/.test(path) || path === 'README.md';
}

async function hubFetch(url: string, opts: HubOptions): Promise<Response> {
  const headers: Record<string, string> = { 'user-agent': 'embedrank/0.1' };
  const token = opts.token ?? process.env.HF_TOKEN ?? process.env.HUGGING_FACE_HUB_TOKEN;
  if (token) headers.authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(url, { headers, redirect: 'follow' });
  } catch (e) {
    throw new Error(`cannot reach ${url}: ${(e as Error).message} (offline? set HF_HUB_OFFLINE=1 and use a cached or local model)`);
  }
  if (res.status === 401 || res.status === 403) throw new Error(`${url}: HTTP ${res.status} — gated or private repository; set HF_TOKEN`);
  if (res.status === 404) throw new Error(`${url}: HTTP 404 — no such repository, revision or file`);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${res.statusText}`);
  return res;
}

/**
 * Downloads `repoId@revision` into the hub cache and returns the snapshot folder. Files are
 * written to a temporary name and renamed, so an interrupted download never looks complete.
 */
export async function downloadSnapshot(
  repoId: string,
  opts: HubOptions = {},
  type: 'model' | 'dataset' = 'model',
  want: (path: string) => boolean = wantedModelFile,
): Promise<string> {
  const endpoint = (opts.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/$/, '');
  const rev = opts.revision ?? 'main';
  const apiKind = type === 'model' ? 'models' : 'datasets';
  const info = (await (await hubFetch(`${endpoint}/api/${apiKind}/${repoId}/revision/${encodeURIComponent(rev)}`, opts)).json()) as {
    sha?: string;
    siblings?: Array<{ rfilename: string }>;
  };
  if (!info.sha || !Array.isArray(info.siblings)) throw new Error(`${endpoint}: unexpected answer for ${repoId}@${rev} (no sha/siblings)`);
  const base = repoFolder(hubCacheDir(opts.cacheDir), repoId, type);
  const snap = join(base, 'snapshots', info.sha);
  const resolvePrefix = type === 'model' ? '' : 'datasets/';
  // A snapshot folder this call creates is removed again if the download fails: a commit-pinned
  // lookup finds snapshots/<sha> without any ref, so a partial one would later pass for complete.
  const fresh = !existsSync(snap);
  try {
    for (const { rfilename } of info.siblings) {
      if (!want(rfilename)) continue;
      if (isAbsolute(rfilename) || rfilename.split('/').includes('..')) throw new Error(`refusing unsafe file name ${rfilename}`);
      const dest = join(snap, rfilename);
      if (existsSync(dest)) continue;
      mkdirSync(dirname(dest), { recursive: true });
      const res = await hubFetch(`${endpoint}/${resolvePrefix}${repoId}/resolve/${info.sha}/${rfilename}`, opts);
      const tmp = `${dest}.incomplete`;
      if (!res.body) throw new Error(`${rfilename}: empty response body`);
      await pipeline(Readable.fromWeb(res.body as never), createWriteStream(tmp));
      renameSync(tmp, dest);
      opts.onFile?.(rfilename, statSync(dest).size);
    }
  } catch (e) {
    if (fresh) rmSync(snap, { recursive: true, force: true });
    throw e;
  }
  mkdirSync(join(base, 'refs'), { recursive: true });
  if (!COMMIT_RE.test(rev)) writeFileSync(join(base, 'refs', rev), info.sha);
  return snap;
}

/**
 * A local folder as is; an `org/name` id from the cache, else downloaded (unless offline).
 */
export async function resolveModel(model: string, opts: HubOptions = {}): Promise<string> {
  if (existsSync(model)) return model;
  if (!REPO_ID_RE.test(model)) throw new Error(`model "${model}" is neither an existing folder nor a Hugging Face id like "org/name"`);
  const cached = findCachedSnapshot(model, opts);
  if (cached) return cached;
  const offline = opts.offline ?? ['1', 'true', 'yes'].includes(String(process.env.HF_HUB_OFFLINE ?? '').toLowerCase());
  if (offline) {
    throw new Error(`model "${model}"${opts.revision ? `@${opts.revision}` : ''} is not in the hub cache ${hubCacheDir(opts.cacheDir)} and HF_HUB_OFFLINE is set`);
  }
  try {
    return await downloadSnapshot(model, opts);
  } catch (e) {
    // Leave no half-made snapshot folder that a later offline run would take for complete.
    const base = repoFolder(hubCacheDir(opts.cacheDir), model, 'model');
    if (existsSync(join(base, 'snapshots')) && readdirSync(join(base, 'snapshots')).length === 0) rmSync(base, { recursive: true, force: true });
    throw e;
  }
}
