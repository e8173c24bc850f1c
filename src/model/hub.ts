// Resolves "org/name" model ids through the local Hugging Face hub cache and downloads missing
// snapshots when online, in the cache layout huggingface_hub uses
// (models--org--name/{refs,snapshots/<commit>}), honouring HF_HOME, HF_HUB_CACHE, HF_ENDPOINT,
// HF_HUB_OFFLINE and HF_TOKEN.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { downloadFile, hubCacheDir as cacheDirOf, repoDir, revisionInfo, snapshotDir, type HubOptions as CacheOptions, type RepoType } from '../hub/cache.js';

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
  return cacheDirOf({ cacheDir: explicit });
}

function cacheOptions(o: HubOptions, repoType: RepoType): CacheOptions {
  return { cacheDir: o.cacheDir, endpoint: o.endpoint, token: o.token, offline: o.offline, repoType };
}

const REPO_ID_RE = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;
const COMMIT_RE = /^[0-9a-f]{40}$/;

export function isRepoId(s: string): boolean {
  return REPO_ID_RE.test(s) && !existsSync(s);
}

/** The snapshot folder for `repoId@revision` if the cache has it, else undefined. */
export function findCachedSnapshot(repoId: string, opts: HubOptions = {}, type: RepoType = 'model'): string | undefined {
  const o = cacheOptions(opts, type);
  const rev = opts.revision ?? 'main';
  let commit = rev;
  if (!COMMIT_RE.test(rev)) {
    const ref = join(repoDir(repoId, o), 'refs', rev);
    if (!existsSync(ref)) return undefined;
    commit = readFileSync(ref, 'utf8').trim();
  }
  const snap = snapshotDir(repoId, commit, o);
  return existsSync(snap) && statSync(snap).isDirectory() ? snap : undefined;
}

/** Files a BERT-family embedding or reranking model needs; big alternates (onnx, pytorch) skipped. */
export function wantedModelFile(path: string): boolean {
  if (/^(onnx|openvino|coreml|flax|tf|rust)\//.test(path)) return false;
  if (/\.(bin|h5|msgpack|ot|onnx|pt|pth|ckpt)$/.test(path)) return false;
  return /\.(json|safetensors|txt|model)$/.test(path) || path === 'README.md';
}

/**
 * Downloads `repoId@revision` into the hub cache (blobs linked from snapshots/<commit>, as
 * huggingface_hub does) and returns the snapshot folder; only the files `want` accepts.
 */
export async function downloadSnapshot(
  repoId: string,
  opts: HubOptions = {},
  type: RepoType = 'model',
  want: (path: string) => boolean = wantedModelFile,
): Promise<string> {
  const o = cacheOptions(opts, type);
  const rev = opts.revision ?? 'main';
  const info = await revisionInfo(repoId, rev, o);
  if (!info.sha) throw new Error(`the hub gave no commit for ${repoId}@${rev}`);
  const snap = snapshotDir(repoId, info.sha, o);
  // A snapshot folder this call creates is removed again if the download fails: a commit-pinned
  // lookup finds snapshots/<sha> without any ref, so a partial one would later pass for complete.
  const fresh = !existsSync(snap);
  try {
    for (const file of info.files) {
      if (!want(file)) continue;
      const path = await downloadFile(repoId, info.sha, file, o);
      opts.onFile?.(file, statSync(path).size);
    }
  } catch (e) {
    if (fresh) rmSync(snap, { recursive: true, force: true });
    throw e;
  }
  if (!COMMIT_RE.test(rev)) {
    mkdirSync(join(repoDir(repoId, o), 'refs'), { recursive: true });
    writeFileSync(join(repoDir(repoId, o), 'refs', rev), info.sha);
  }
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
    const base = repoDir(model, cacheOptions(opts, 'model'));
    if (existsSync(join(base, 'snapshots')) && readdirSync(join(base, 'snapshots')).length === 0) rmSync(base, { recursive: true, force: true });
    throw e;
  }
}
