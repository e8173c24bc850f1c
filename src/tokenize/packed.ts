// Tokenized texts travel between threads as one Int32Array so a single buffer transfer moves them:
// [n, total, offsets (n+1), ids (total), typeIds (total), truncated flags (n)].
import type { Encoding } from './tokenizer.js';

export interface TokenizedChunk {
  n: number;
  offsets: Int32Array;
  ids: Int32Array;
  typeIds: Int32Array;
  truncated: Int32Array;
}

/**
 * An empty packed buffer for n sequences of `total` tokens (header written, everything else 0) and
 * the views of it to fill: offsets (n + 1), ids and typeIds (total), truncated (n).
 */
export function allocPacked(n: number, total: number): { buf: Int32Array; chunk: TokenizedChunk } {
  const buf = new Int32Array(2 + (n + 1) + 2 * total + n);
  buf[0] = n;
  buf[1] = total;
  return { buf, chunk: unpack(buf) };
}

export function pack(encodings: Encoding[]): Int32Array {
  const n = encodings.length;
  let total = 0;
  for (const e of encodings) total += e.ids.length;
  const { buf, chunk } = allocPacked(n, total);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const e = encodings[i];
    chunk.offsets[i] = pos;
    chunk.ids.set(e.ids, pos);
    chunk.typeIds.set(e.typeIds, pos);
    chunk.truncated[i] = e.truncated ? 1 : 0;
    pos += e.ids.length;
  }
  chunk.offsets[n] = pos;
  return buf;
}

export function unpack(buf: Int32Array): TokenizedChunk {
  const n = buf[0];
  const total = buf[1];
  const o = 2;
  const i = o + n + 1;
  const t = i + total;
  const r = t + total;
  return {
    n,
    offsets: buf.subarray(o, o + n + 1),
    ids: buf.subarray(i, i + total),
    typeIds: buf.subarray(t, t + total),
    truncated: buf.subarray(r, r + n),
  };
}
