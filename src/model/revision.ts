// The revision a model's results are filed under, as mteb files them in
// {output}/{org__name}/{revision}/: for a Hugging Face hub snapshot the commit it is
// (huggingface_hub's models--org--name/snapshots/<commit> layout), for any other folder a
// revision derived from the content of its weights and configuration files, so two different
// folders that happen to share a name never share a results folder, and a folder whose weights
// change gets a new one.
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';

const COMMIT_RE = /^[0-9a-f]{40}$/;

export interface SnapshotId {
  /** "org/name" from the cache folder models--org--name. */
  repoId: string;
  /** The 40-hex commit of the snapshot. */
  commit: string;
}

/**
 * The hub repository and commit of a folder that is a hub cache snapshot
 * (…/models--org--name/snapshots/<40-hex commit>), else null.
 */
export function snapshotIdOf(dir: string): SnapshotId | null {
  const abs = resolve(dir);
  const commit = basename(abs);
  const snapshots = dirname(abs);
  const repo = basename(dirname(snapshots));
  if (!COMMIT_RE.test(commit) || basename(snapshots) !== 'snapshots' || !repo.startsWith('models--')) return null;
  const parts = repo.slice('models--'.length).split('--');
  if (parts.length < 2 || parts.some((p) => !p)) return null;
  return { repoId: parts.join('/'), commit };
}

/**
 * Files whose content decides a model's outputs: weights (safetensors, PyTorch .bin, ONNX and
 * its external data) and configuration and tokenizer files (.json, vocab/merges .txt,
 * SentencePiece .model), in the folder and its module subfolders (1_Pooling, 2_Dense, onnx/...).
 * README files, hidden files and folders (.git, .cache) are not part of the model.
 */
export function isModelContentFile(rel: string): boolean {
  const parts = rel.split(/[\\/]/);
  if (parts.some((p) => p.startsWith('.'))) return false;
  const name = parts[parts.length - 1];
  if (/^readme/i.test(name)) return false;
  return /\.(safetensors|bin|onnx|onnx_data|json|txt|model)$/i.test(name);
}

function listContentFiles(root: string, dir = root, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    // statSync follows symbolic links, as a hub snapshot's files are links into blobs/.
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st || e.name.startsWith('.')) continue;
    if (st.isDirectory()) listContentFiles(root, p, out);
    else if (st.isFile() && isModelContentFile(relative(root, p))) out.push(relative(root, p).split(sep).join('/'));
  }
  return out;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

// Hashing reads every weight file (~0.4 GB/s on a busy 2-core machine: 35 s for 14 GB), so file
// digests are remembered in the process and on disk, keyed by path, size, mtime and inode, as
// git's index trusts stat data: $EMBEDRANK_CACHE_DIR, else $XDG_CACHE_HOME/embedrank, else
// ~/.cache/embedrank, file-sha256.json. A cache that cannot be read or written is ignored.
type DigestCache = Record<string, { key: string; digest: string }>;
const RACY_MS = 3000;
const memo = new Map<string, { key: string; digest: string }>();

function digestCacheFile(): string {
  const env = process.env;
  const dir = env.EMBEDRANK_CACHE_DIR || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'embedrank');
  return join(dir, 'file-sha256.json');
}

function readDigestCache(): DigestCache {
  try {
    const v = JSON.parse(readFileSync(digestCacheFile(), 'utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as DigestCache) : {};
  } catch {
    return {};
  }
}

function writeDigestCache(add: DigestCache): void {
  const file = digestCacheFile();
  try {
    mkdirSync(dirname(file), { recursive: true });
    const merged = { ...readDigestCache(), ...add };
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(merged));
    renameSync(tmp, file);
  } catch {
    /* a read-only home: hash again next time */
  }
}

/**
 * The content hash of a model folder: SHA-256 over the sorted list of its model content files
 * (isModelContentFile), each as "relative/path\0<size>\0<sha256 of the bytes>\n"; returned as
 * "local-" + its first 16 hex digits (64 bits). Renaming or moving the folder keeps it; changing
 * any weight or configuration byte, or adding or removing such a file, changes it (a rewrite
 * that keeps a file's size, mtime and inode is not noticed: see the digest cache above).
 * Throws (the fs error) if the folder cannot be read.
 */
export async function contentRevision(dir: string): Promise<string> {
  const root = resolve(dir);
  const files = listContentFiles(root).sort();
  const h = createHash('sha256');
  let onDisk: DigestCache | undefined;
  const fresh: DigestCache = {};
  for (const rel of files) {
    const abs = realpathSync(join(root, rel));
    const st = statSync(abs);
    const key = `${st.size}:${st.mtimeMs}:${st.ino}`;
    // "Racy git": file times tick in jiffies, so a file written moments ago may be rewritten
    // within the same tick, keeping its stat key; such files are hashed and not remembered.
    const racy = Date.now() - st.mtimeMs < RACY_MS;
    let m = racy ? undefined : memo.get(abs);
    if (!m || m.key !== key) {
      onDisk ??= racy ? {} : readDigestCache();
      const cached = onDisk[abs];
      m = cached && cached.key === key && /^[0-9a-f]{64}$/.test(cached.digest) ? cached : { key, digest: await sha256File(abs) };
      if (!racy) {
        if (m !== cached) fresh[abs] = m;
        memo.set(abs, m);
      }
    }
    h.update(`${rel}\0${st.size}\0${m.digest}\n`);
  }
  if (Object.keys(fresh).length) writeDigestCache(fresh);
  return `local-${h.digest('hex').slice(0, 16)}`;
}

/**
 * The revision results of the model in `dir` are filed under: the snapshot commit for a hub
 * snapshot; `explicit` (the caller's own label) for any other folder when given; otherwise
 * contentRevision(dir).
 */
export async function modelRevision(dir: string, explicit?: string): Promise<string> {
  const snap = snapshotIdOf(dir);
  if (snap) return snap.commit;
  if (explicit) return explicit;
  return contentRevision(dir);
}
