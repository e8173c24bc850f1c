// The remote client's on-disk cache: one append-only file of fixed-size records per (model,
// revision, kind, width) — a 32-byte SHA-256 key followed by `width` float32 values (little
// endian) — under cacheDir. Each finished batch is appended at once, so a run killed midway
// resumes without re-querying anything it already received; a torn last record (killed during
// a write) is cut off when the file is opened.
import { createHash } from 'node:crypto';
import { appendFileSync, closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Default cache root: $EMBEDRANK_CACHE, else $XDG_CACHE_HOME/embedrank, else ~/.cache/embedrank; then /remote. */
export function defaultRemoteCacheDir(): string {
  const root = process.env.EMBEDRANK_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'embedrank');
  return join(root, 'remote');
}

/** SHA-256 of the parts, each length-prefixed so no two part lists collide. */
export function cacheKey(parts: string[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) {
    const b = Buffer.from(p, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    h.update(len).update(b);
  }
  return h.digest();
}

const KEY_BYTES = 32;

export interface CacheIdentity {
  model: string;
  revision: string | null;
  /** 'embedding' or 'score'. */
  kind: string;
  /** float32 values per record. */
  width: number;
}

export class VectorCache {
  private readonly map = new Map<string, Float32Array>();
  readonly file: string;
  /** Records found on disk when opened. */
  readonly loaded: number;

  constructor(dir: string, readonly id: CacheIdentity) {
    if (!Number.isInteger(id.width) || id.width < 1) throw new Error(`cache width must be a positive integer, got ${id.width}`);
    const folder = join(dir, cacheKey([id.model, id.revision ?? '']).toString('hex').slice(0, 24));
    mkdirSync(folder, { recursive: true });
    const meta = join(folder, 'identity.json');
    if (!existsSync(meta)) writeFileSync(meta, `${JSON.stringify({ model: id.model, revision: id.revision }, null, 2)}\n`);
    this.file = join(folder, `${id.kind}-${id.width}.f32`);
    const rec = KEY_BYTES + 4 * id.width;
    let n = 0;
    if (existsSync(this.file)) {
      const buf = readFileSync(this.file);
      n = Math.floor(buf.length / rec);
      if (n * rec !== buf.length) {
        const fd = openSync(this.file, 'r+');
        try {
          ftruncateSync(fd, n * rec);
        } finally {
          closeSync(fd);
        }
      }
      for (let i = 0; i < n; i++) {
        const off = i * rec;
        const key = buf.subarray(off, off + KEY_BYTES).toString('hex');
        const vals = new Float32Array(id.width);
        Buffer.from(vals.buffer).set(buf.subarray(off + KEY_BYTES, off + rec));
        this.map.set(key, vals);
      }
    }
    this.loaded = n;
  }

  get size(): number {
    return this.map.size;
  }

  get(key: Buffer): Float32Array | undefined {
    return this.map.get(key.toString('hex'));
  }

  /** Stores and appends to disk in one write (rows: keys.length × width values). */
  putMany(keys: Buffer[], rows: Float32Array): void {
    const w = this.id.width;
    if (rows.length !== keys.length * w) throw new Error(`cache: ${rows.length} values for ${keys.length} keys of width ${w}`);
    const rec = KEY_BYTES + 4 * w;
    const out = Buffer.alloc(keys.length * rec);
    const bytes = Buffer.from(rows.buffer, rows.byteOffset, rows.byteLength);
    let fresh = 0;
    for (let i = 0; i < keys.length; i++) {
      const hex = keys[i].toString('hex');
      if (this.map.has(hex)) continue;
      this.map.set(hex, rows.slice(i * w, (i + 1) * w));
      keys[i].copy(out, fresh * rec);
      bytes.copy(out, fresh * rec + KEY_BYTES, i * 4 * w, (i + 1) * 4 * w);
      fresh++;
    }
    if (fresh) appendFileSync(this.file, out.subarray(0, fresh * rec));
  }
}
