// Hugging Face Hub datasets: the shared hub cache (datasets--org--name/snapshots/<rev>/...,
// blobs/, as huggingface_hub lays it out, so Python tools and embedrank share downloads), listing
// a dataset revision's files through the Hub API, and downloading files into the cache.
// Honours HF_ENDPOINT, HF_HUB_CACHE / HF_HOME, HF_HUB_OFFLINE and HF_TOKEN.
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, copyFileSync, writeFileSync, lstatSync, unlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { listLocalFiles } from './files.js';

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

/** datasets--org--name */
export function repoFolderName(repoId: string): string {
  return `datasets--${repoId.split('/').join('--')}`;
}

export function snapshotDir(repoId: string, revision: string, o: HubOptions = {}): string {
  return join(hubCacheDir(o), repoFolderName(repoId), 'snapshots', revision);
}

export class HubError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = 'HubError';
  }
}

function headers(o: HubOptions): Record<string, string> {
  const h: Record<string, string> = { 'user-agent': 'embedrank-eval' };
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
    throw new HubError(`cannot reach ${url} (${what}): ${(e as Error).message}. Set HF_HUB_OFFLINE=1 to use only the local cache, or pass --data-dir.`);
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
  return join(hubCacheDir(o), repoFolderName(repoId), '.embedrank', `${revision}.files.json`);
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

/** Every file of a dataset revision, from the Hub API (revision endpoint, else the tree endpoint). */
export async function listRemoteFiles(repoId: string, revision: string, o: HubOptions = {}): Promise<string[]> {
  if (hubOffline(o)) throw new HubError(`cannot list ${repoId}@${revision}: offline (HF_HUB_OFFLINE)`);
  const base = hubEndpoint(o);
  let files: string[] | null = null;
  try {
    const res = await get(`${base}/api/datasets/${repoId}/revision/${encodeURIComponent(revision)}`, o, `listing ${repoId}@${revision}`);
    const info = (await res.json()) as { siblings?: Array<{ rfilename: string }> };
    if (Array.isArray(info.siblings)) files = info.siblings.map((s) => s.rfilename);
  } catch (e) {
    if (!(e instanceof HubError) || e.status === undefined || e.status === 401 || e.status === 403) throw e;
  }
  if (!files) {
    files = [];
    let url: string | null = `${base}/api/datasets/${repoId}/tree/${encodeURIComponent(revision)}?recursive=true&expand=false`;
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
  return files;
}

function blobName(etag: string | null, content: () => string): string {
  const e = (etag ?? '').replace(/^W\//, '').replace(/"/g, '').trim();
  if (e && /^[A-Za-z0-9._-]+$/.test(e)) return e;
  return content();
}

/**
 * Downloads one file of a dataset revision into the hub cache (blob + snapshot link) unless it is
 * already there; returns its path in the snapshot.
 */
export async function downloadFile(repoId: string, revision: string, path: string, o: HubOptions = {}): Promise<string> {
  const snap = snapshotDir(repoId, revision, o);
  const target = join(snap, ...path.split('/'));
  if (existsSync(target)) return target;
  if (hubOffline(o)) throw new HubError(`${repoId}@${revision}: ${path} is not in the hub cache (${snap}) and HF_HUB_OFFLINE forbids downloading it`);
  const url = `${hubEndpoint(o)}/datasets/${repoId}/resolve/${encodeURIComponent(revision)}/${encodePath(path)}`;
  o.log?.(`downloading ${repoId}/${path}`);
  const res = await get(url, o, `${repoId}@${revision} ${path}`);
  const repoDir = join(hubCacheDir(o), repoFolderName(repoId));
  const blobs = join(repoDir, 'blobs');
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

/** A dataset revision's files, local or in the hub cache, fetched on demand. */
export interface DatasetSource {
  /** where the files come from, for messages */
  readonly description: string;
  /** local folder holding (or about to hold) the files */
  readonly root: string;
  /** every file of the dataset (relative POSIX paths) */
  listFiles(): Promise<string[]>;
  /** the dataset card, if any */
  readme(): Promise<string | null>;
  /** local absolute paths of `paths`, downloading those that are missing when possible */
  ensure(paths: string[]): Promise<string[]>;
}

/** A dataset in a local folder (a copy of the Hub repository, or a hub-cache snapshot). */
export class LocalSource implements DatasetSource {
  private files?: string[];
  constructor(readonly root: string, readonly description = `local folder ${root}`) {}

  async listFiles(): Promise<string[]> {
    this.files ??= listLocalFiles(this.root);
    return this.files;
  }

  async readme(): Promise<string | null> {
    const p = join(this.root, 'README.md');
    return existsSync(p) ? readFileSync(p, 'utf8') : null;
  }

  async ensure(paths: string[]): Promise<string[]> {
    return paths.map((p) => {
      const abs = join(this.root, ...p.split('/'));
      if (!existsSync(abs)) throw new Error(`${this.description}: missing file ${p}`);
      return abs;
    });
  }
}

/** A dataset revision on the Hub, read through the hub cache and downloaded when missing. */
export class HubSource implements DatasetSource {
  readonly root: string;
  readonly description: string;
  private files?: string[];

  constructor(readonly repoId: string, readonly revision: string, private readonly o: HubOptions = {}) {
    this.root = snapshotDir(repoId, revision, o);
    this.description = `${repoId}@${revision} (hub cache ${this.root})`;
  }

  /** True when the cache holds something for this revision. */
  get cached(): boolean {
    return existsSync(this.root) || savedListing(this.repoId, this.revision, this.o) !== null;
  }

  async listFiles(): Promise<string[]> {
    if (this.files) return this.files;
    const saved = savedListing(this.repoId, this.revision, this.o);
    if (saved) this.files = saved;
    else if (hubOffline(this.o)) this.files = existsSync(this.root) ? listLocalFiles(this.root) : [];
    else {
      try {
        this.files = await listRemoteFiles(this.repoId, this.revision, this.o);
      } catch (e) {
        // no network (or no listing): a snapshot another tool downloaded is still usable
        if (!existsSync(this.root) || (e instanceof HubError && (e.status === 401 || e.status === 403))) throw e;
        this.o.log?.(`${(e as Error).message}; using the files in ${this.root}`);
        this.files = listLocalFiles(this.root);
      }
    }
    return this.files;
  }

  async readme(): Promise<string | null> {
    const files = await this.listFiles();
    if (!files.includes('README.md')) return null;
    const [p] = await this.ensure(['README.md']);
    return readFileSync(p, 'utf8');
  }

  async ensure(paths: string[]): Promise<string[]> {
    const out: string[] = [];
    for (const p of paths) out.push(await downloadFile(this.repoId, this.revision, posix.normalize(p), this.o));
    return out;
  }
}
