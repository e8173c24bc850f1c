// Reading dataset files into rows: parquet (hyparquet), JSON Lines, JSON, CSV/TSV, each optionally
// gzip-compressed; listing the files of a local dataset folder.
import { parse as parseCsv } from 'csv-parse/sync';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { gunzipSync, brotliDecompressSync } from 'node:zlib';
import * as zlib from 'node:zlib';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';

export type Row = Record<string, unknown>;

const DATA_EXT = /\.(parquet|jsonl|json|ndjson|csv|tsv)(\.gz)?$/i;

/** True for the file kinds readRows understands. */
export function isDataFile(path: string): boolean {
  return DATA_EXT.test(path) && !/(^|\/)dataset_(infos|info|dict)\.json$/i.test(path) && !/(^|\/)state\.json$/i.test(path);
}

/** Relative POSIX paths of every file under `root` (skipping dot-folders such as .git and .cache). */
export function listLocalFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const p = join(dir, name);
      let st;
      try {
        st = statSync(p); // follows the hub cache's symlinks
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push(relative(root, p).split(sep).join('/'));
    }
  };
  walk(root);
  return out.sort();
}

function normalise(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(normalise);
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  return v;
}

function decompressors(): Record<string, (input: Uint8Array, n: number) => Uint8Array> {
  const c: Record<string, (input: Uint8Array, n: number) => Uint8Array> = {
    GZIP: (input) => new Uint8Array(gunzipSync(input)),
    BROTLI: (input) => new Uint8Array(brotliDecompressSync(input)),
  };
  const zstd = (zlib as unknown as { zstdDecompressSync?: (b: Uint8Array) => Buffer }).zstdDecompressSync;
  if (zstd) c.ZSTD = (input) => new Uint8Array(zstd(input));
  return c;
}

/**
 * CSV/TSV rows as the `datasets` library reads them (pandas.read_csv: header row, double-quote
 * quoting with "" escapes, so a quoted field may hold the delimiter or a line break; a quote
 * inside an unquoted field is literal), through csv-parse. Every cell is a string. A row whose
 * field count differs from the header's is an error naming its line.
 */
function parseDelimited(text: string, delimiter: string, path: string): Row[] {
  try {
    return parseCsv(text, { delimiter, quote: '"', escape: '"', columns: true, bom: true, skip_empty_lines: true, relax_quotes: true }) as Row[];
  } catch (e) {
    const err = e as Error & { lines?: number };
    throw new Error(`${path}: ${err.message}`);
  }
}

/** Every row of a data file, as objects keyed by column name (int64 values become numbers). */
export async function readRows(path: string): Promise<Row[]> {
  const lower = path.toLowerCase();
  try {
    if (lower.endsWith('.parquet')) {
      const file = await asyncBufferFromFile(path);
      const rows = (await parquetReadObjects({ file, compressors: decompressors() })) as Row[];
      for (const r of rows) for (const k of Object.keys(r)) r[k] = normalise(r[k]);
      return rows;
    }
    let buf: Buffer = readFileSync(path);
    const base = lower.endsWith('.gz') ? lower.slice(0, -3) : lower;
    if (lower.endsWith('.gz')) buf = gunzipSync(buf);
    const text = buf.toString('utf8').replace(/^\uFEFF/, '');
    if (base.endsWith('.jsonl') || base.endsWith('.ndjson')) {
      const rows: Row[] = [];
      const lines = text.split('\n');
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i].trim();
        if (!line) continue;
        try {
          rows.push(JSON.parse(line) as Row);
        } catch (e) {
          throw new Error(`line ${i + 1} is not valid JSON: ${(e as Error).message}`);
        }
      }
      return rows;
    }
    if (base.endsWith('.json')) {
      const data = JSON.parse(text) as unknown;
      if (Array.isArray(data)) return data as Row[];
      if (data && typeof data === 'object') {
        const d = data as Record<string, unknown>;
        if (Array.isArray(d.data)) return d.data as Row[];
        // columnar {"col": [..], ...}
        const cols = Object.keys(d);
        if (cols.length && cols.every((c) => Array.isArray(d[c]))) {
          const n = (d[cols[0]] as unknown[]).length;
          return Array.from({ length: n }, (_, i) => Object.fromEntries(cols.map((c) => [c, (d[c] as unknown[])[i]])));
        }
      }
      throw new Error('expected a JSON array of rows');
    }
    if (base.endsWith('.tsv')) return parseDelimited(text, '\t', path);
    if (base.endsWith('.csv')) return parseDelimited(text, ',', path);
  } catch (e) {
    const msg = (e as Error).message;
    throw new Error(msg.startsWith(path) ? msg : `${path}: ${msg}`);
  }
  throw new Error(`${path}: unsupported data file type (expected parquet, jsonl, json, csv or tsv, optionally .gz)`);
}

/** Rows of several files, concatenated in order. */
export async function readAllRows(paths: string[]): Promise<Row[]> {
  const out: Row[] = [];
  for (const p of paths) {
    const rows = await readRows(p);
    for (const r of rows) out.push(r);
  }
  return out;
}
