// The Hugging Face hub cache shared with Python tools ({models,datasets}--org--name/
// {blobs,refs,snapshots/<rev>}, as huggingface_hub lays it out), listing a repository revision's
// files through the Hub API, and downloading files into the cache. Models (src/model/hub.ts) and
// datasets (src/eval/data/hub.ts) both go through here.
// Honours HF_ENDPOINT, HF_HUB_CACHE / HF_HOME, HF_HUB_OFFLINE and HF_TOKEN.
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, copyFileSync, writeFileSync, lstatSync, unlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';

export interface HubOptions {
  /** Hub URL (default $HF_ENDPOINT or https://huggingface.co) */
  endpoint?: string;
  /** hub cache folder (default $HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub) */
  cacheDir?: string;
  /** access token (default $HF_TOKEN) */
  token?: string | null;
  /** never touch the network (default: $HF_HUB_OFFLINE or $HF_DATASETS_OFFLINE is set to 1/true/yes/on) */
  offline?: boolean;
  /** progress messages (downloads) */
  log?: (message: string) => void;
  /** fetch implementation (default globalThis.fetch) */
  fetch?: typeof fetch;
  /** kind of repository (default 'dataset') */
  repoType?: RepoType;
}

export type RepoType = 'model' | 'dataset';

function repoType(o: HubOptions): RepoType {
  return o.repoType ?? 'dataset';
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && ['1', 'true', 'yes', 'on'].includes(v.trim().toLowerCase());
}

export function hubEndpoint(o: HubOptions = {}): string {
  return (o.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
}

export function hubCacheDir(o: HubOptions = {}): string {
  if (o.cacheDir) return o.cacheDir;
  const env = process.env;
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HUGGINGFACE_HUB_CACHE) return env.HUGGINGFACE_HUB_CACHE;
  if (env.HF_HOME) return join(env.HF_HOME, 'hub');
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg || join(homedir(), '.cache'), 'huggingface', 'hub');
}

export function hubOffline(o: HubOptions = {}): boolean {
  return o.offline ?? (truthy(process.env.HF_HUB_OFFLINE) || truthy(process.env.HF_DATASETS_OFFLINE));
}

export function hubToken(o: HubOptions = {}): string | null {
  if (o.token !== undefined) return o.token;
  return process.env.HF_TOKEN || process.env.HUGGING_FACE_HUB_TOKEN || null;
}

/** models--org--name or datasets--org--name */
export function repoFolderName(repoId: string, type: RepoType = 'dataset'): string {
  return `${type}s--${repoId.split('/').join('--')}`;
}

export function repoDir(repoId: string, o: HubOptions = {}): string {
  return join(hubCacheDir(o), repoFolderName(repoId, repoType(o)));
}

export function snapshotDir(repoId: string, revision: string, o: HubOptions = {}): string {
  return join(repoDir(repoId, o), 'snapshots', revision);
}

export class HubError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = 'HubError';
  }
}

function headers(o: HubOptions): Record<string, string> {
  const h: Record<string, string> = { 'user-agent': 'embedrank' };
  const t = hubToken(o);
  if (t) h.authorization = `Bearer ${t}`;
  return h;
}

function encodePath(p: string): string {
  return p.split('/').map(encodeURIComponent).join('/');
}

async function get(url: string, o: HubOptions, what: string): Promise<Response> {
  const f = o.fetch ?? globalThis.fetch;
  let res: Response;
  try {
    res = await f(url, { headers: headers(o), redirect: 'follow' });
  } catch (e) {
    throw new HubError(`cannot reach ${url} (${what}): ${(e as Error).message}. Set HF_HUB_OFFLINE=1 to use only the local cache, or use a local folder.`);
  }
  if (!res.ok) {
    const hint =
      res.status === 401 || res.status === 403
        ? hubToken(o)
          ? ' (the token in HF_TOKEN has no access to it)'
          : ' (gated or private: set HF_TOKEN)'
        : res.status === 404
          ? ' (not found)'
          : '';
    await res.body?.cancel().catch(() => undefined);
    throw new HubError(`HTTP ${res.status} for ${url} (${what})${hint}`, res.status);
  }
  return res;
}

function listingFile(repoId: string, revision: string, o: HubOptions): string {
  return join(repoDir(repoId, o), '.embedrank', `${revision}.files.json`);
}

/** Files of a dataset revision recorded by an earlier listing (so an offline run knows what is complete). */
export function savedListing(repoId: string, revision: string, o: HubOptions = {}): string[] | null {
  const p = listingFile(repoId, revision, o);
  if (!existsSync(p)) return null;
  try {
    const v = JSON.parse(readFileSync(p, 'utf8')) as unknown;
    return Array.isArray(v) ? v.map(String) : null;
  } catch {
    return null;
  }
}

export interface RevisionInfo {
  /** The commit the revision resolves to, when the revision endpoint answered. */
  sha: string | null;
  files: string[];
}

/** Every file of a repository revision, from the Hub API (revision endpoint, else the tree endpoint). */
export async function revisionInfo(repoId: string, revision: string, o: HubOptions = {}): Promise<RevisionInfo> {
  if (hubOffline(o)) throw new HubError(`cannot list ${repoId}@${revision}: offline (HF_HUB_OFFLINE)`);
  const base = hubEndpoint(o);
  const api = `${base}/api/${repoType(o)}s/${repoId}`;
  let files: string[] | null = null;
  let sha: string | null = null;
  try {
    const res = await get(`${api}/revision/${encodeURIComponent(revision)}`, o, `listing ${repoId}@${revision}`);
    const info = (await res.json()) as { sha?: string; siblings?: Array<{ rfilename: string }> };
    if (typeof info.sha === 'string') sha = info.sha;
    if (Array.isArray(info.siblings)) files = info.siblings.map((s) => s.rfilename);
  } catch (e) {
    if (!(e instanceof HubError) || e.status === undefined || e.status === 401 || e.status === 403) throw e;
  }
  if (!files) {
    files = [];
    let url: string | null = `${api}/tree/${encodeURIComponent(revision)}?recursive=true&expand=false`;
    while (url) {
      const res = await get(url, o, `listing ${repoId}@${revision}`);
      const items = (await res.json()) as Array<{ type: string; path: string }>;
      for (const it of items) if (it.type === 'file') files.push(it.path);
      const link = res.headers.get('link');
      const next = link ? /<([^>]+)>;\s*rel="next"/.exec(link) : null;
      url = next ? new URL(next[1], base).toString() : null;
    }
  }
  const p = listingFile(repoId, revision, o);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, JSON.stringify(files));
  return { sha, files };
}

export async function listRemoteFiles(repoId: string, revision: string, o: HubOptions = {}): Promise<string[]> {
  return (await revisionInfo(repoId, revision, o)).files;
}

function blobName(etag: string | null, content: () => string): string {
  const e = (etag ?? '').replace(/^W\//, '').replace(/"/g, '').trim();
  if (e && /^[A-Za-z0-9._-]+$/.test(e)) return e;
  return content();
}

/**
 * Downloads one file of a repository revision into the hub cache (blob + snapshot link) unless it
 * is already there; returns its path in the snapshot.
 */
export async function downloadFile(repoId: string, revision: string, path: string, o: HubOptions = {}): Promise<string> {
  const snap = snapshotDir(repoId, revision, o);
  const target = join(snap, ...path.split('/'));
  if (existsSync(target)) return target;
  if (hubOffline(o)) throw new HubError(`${repoId}@${revision}: ${path} is not in the hub cache (${snap}) and HF_HUB_OFFLINE forbids downloading it`);
  if (posix.isAbsolute(path) || path.split('/').includes('..')) throw new HubError(`refusing unsafe file name ${path} in ${repoId}`);
  const prefix = repoType(o) === 'dataset' ? 'datasets/' : '';
  const url = `${hubEndpoint(o)}/${prefix}${repoId}/resolve/${encodeURIComponent(revision)}/${encodePath(path)}`;
  o.log?.(`downloading ${repoId}/${path}`);
  const res = await get(url, o, `${repoId}@${revision} ${path}`);
  const blobs = join(repoDir(repoId, o), 'blobs');
  mkdirSync(blobs, { recursive: true });
  const tmp = join(blobs, `${createHash('sha256').update(`${path}\0${Date.now()}\0${Math.random()}`).digest('hex')}.incomplete`);
  const hash = createHash('sha256');
  try {
    if (!res.body) throw new HubError(`empty response body for ${url}`);
    const body = Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
    body.on('data', (chunk: Buffer) => hash.update(chunk));
    await pipeline(body, createWriteStream(tmp));
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e instanceof HubError ? e : new HubError(`download of ${url} failed: ${(e as Error).message}`);
  }
  const digest = hash.digest('hex');
  const name = blobName(res.headers.get('x-linked-etag') ?? res.headers.get('etag'), () => digest);
  const blob = join(blobs, name);
  if (existsSync(blob)) rmSync(tmp, { force: true });
  else renameSync(tmp, blob);
  mkdirSync(dirname(target), { recursive: true });
  try {
    if (lstatSync(target, { throwIfNoEntry: false })) unlinkSync(target); // dangling link
    symlinkSync(relative(dirname(target), blob), target);
  } catch {
    copyFileSync(blob, target);
  }
  return target;
}

