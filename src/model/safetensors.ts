// Reader and writer for the safetensors format (https://github.com/huggingface/safetensors):
// an 8-byte little-endian header length, a JSON header, then the raw tensor bytes.
// Tensors are read lazily by offset so multi-GB checkpoints never sit whole in memory.
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ModelFolderError } from '../errors.js';

export type StDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const DTYPE_BYTES: Record<StDType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

export interface TensorInfo {
  name: string;
  dtype: StDType;
  shape: number[];
  /** Absolute byte offsets in `file`. */
  begin: number;
  end: number;
  file: string;
}

const MAX_HEADER = 100 * 1024 * 1024;

/** One .safetensors file, header parsed and validated; tensor bytes read on demand. */
export class SafetensorsFile {
  readonly tensors = new Map<string, TensorInfo>();
  readonly metadata: Record<string, string> = {};

  private constructor(readonly path: string, readonly size: number) {}

  static open(path: string): SafetensorsFile {
    if (!existsSync(path)) throw new ModelFolderError(path, 'file not found');
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size < 8) throw new ModelFolderError(path, `truncated: ${size} bytes, not even a header length`);
      const lenBuf = Buffer.alloc(8);
      readSync(fd, lenBuf, 0, 8, 0);
      const headerLen = Number(lenBuf.readBigUInt64LE(0));
      if (headerLen > MAX_HEADER || 8 + headerLen > size) {
        throw new ModelFolderError(path, `bad header length ${headerLen} for a file of ${size} bytes (not a safetensors file, or truncated)`);
      }
      const hdr = Buffer.alloc(headerLen);
      readSync(fd, hdr, 0, headerLen, 8);
      let json: Record<string, unknown>;
      try {
        json = JSON.parse(hdr.toString('utf8'));
      } catch (e) {
        throw new ModelFolderError(path, `header is not valid JSON: ${(e as Error).message}`);
      }
      const f = new SafetensorsFile(path, size);
      const dataStart = 8 + headerLen;
      const spans: Array<[number, number, string]> = [];
      for (const [name, v] of Object.entries(json)) {
        if (name === '__metadata__') {
          Object.assign(f.metadata, v as Record<string, string>);
          continue;
        }
        const t = v as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
        if (!t || typeof t.dtype !== 'string' || !Array.isArray(t.shape) || !Array.isArray(t.data_offsets)) {
          throw new ModelFolderError(path, `tensor "${name}" has a malformed header entry`);
        }
        if (!(t.dtype in DTYPE_BYTES)) throw new ModelFolderError(path, `tensor "${name}" has unsupported dtype ${t.dtype}`);
        const dtype = t.dtype as StDType;
        const numel = t.shape.reduce((a, b) => a * b, 1);
        const [b, e] = t.data_offsets;
        if (!(Number.isInteger(b) && Number.isInteger(e) && b >= 0 && e >= b)) {
          throw new ModelFolderError(path, `tensor "${name}" has invalid data_offsets [${b}, ${e}]`);
        }
        if (e - b !== numel * DTYPE_BYTES[dtype]) {
          throw new ModelFolderError(path, `tensor "${name}" spans ${e - b} bytes but ${dtype}${JSON.stringify(t.shape)} needs ${numel * DTYPE_BYTES[dtype]}`);
        }
        if (dataStart + e > size) {
          throw new ModelFolderError(path, `truncated: tensor "${name}" ends at byte ${dataStart + e} but the file has ${size}`);
        }
        spans.push([b, e, name]);
        f.tensors.set(name, { name, dtype, shape: t.shape, begin: dataStart + b, end: dataStart + e, file: path });
      }
      spans.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
      for (let i = 1; i < spans.length; i++) {
        if (spans[i][0] < spans[i - 1][1]) {
          throw new ModelFolderError(path, `tensors "${spans[i - 1][2]}" and "${spans[i][2]}" overlap`);
        }
      }
      return f;
    } finally {
      closeSync(fd);
    }
  }
}

/** All tensors of a model: a single file or a sharded `model.safetensors.index.json`. */
export class WeightStore {
  readonly tensors = new Map<string, TensorInfo>();

  constructor(readonly files: SafetensorsFile[]) {
    for (const f of files) for (const [k, v] of f.tensors) this.tensors.set(k, v);
  }

  static openSingle(path: string): WeightStore {
    return new WeightStore([SafetensorsFile.open(path)]);
  }

  static openIndex(indexPath: string): WeightStore {
    let idx: { weight_map?: Record<string, string> };
    try {
      idx = JSON.parse(readFileSync(indexPath, 'utf8'));
    } catch (e) {
      throw new ModelFolderError(indexPath, `not valid JSON: ${(e as Error).message}`);
    }
    if (!idx.weight_map || typeof idx.weight_map !== 'object') {
      throw new ModelFolderError(indexPath, 'has no "weight_map"');
    }
    const shardNames = [...new Set(Object.values(idx.weight_map))];
    const files = shardNames.map((s) => SafetensorsFile.open(join(dirname(indexPath), s)));
    const store = new WeightStore(files);
    for (const [name, shard] of Object.entries(idx.weight_map)) {
      const t = store.tensors.get(name);
      if (!t) throw new ModelFolderError(join(dirname(indexPath), shard), `weight_map names tensor "${name}" but the shard does not contain it`);
    }
    return store;
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new ModelFolderError(this.files[0]?.path ?? '(weights)', `missing tensor "${name}"`);
    return t;
  }

  /** Raw bytes as stored (little-endian), for uploading unconverted to the GPU. */
  raw(name: string): Buffer {
    const t = this.info(name);
    return readTensorBytes(t, 0, t.end - t.begin);
  }

  /** Tensor converted to float32. */
  f32(name: string): Float32Array {
    const t = this.info(name);
    return toFloat32(this.raw(name), t.dtype, name);
  }
}

export function toFloat32(raw: Buffer | Uint8Array, dtype: StDType, name = 'tensor'): Float32Array {
  const n = raw.byteLength / DTYPE_BYTES[dtype];
  // Copy into an aligned buffer: a Buffer slice's byteOffset may not be a multiple of 4.
  const aligned = new Uint8Array(raw.byteLength);
  aligned.set(raw);
  switch (dtype) {
    case 'F32':
      return new Float32Array(aligned.buffer, 0, n);
    case 'F64':
      return Float32Array.from(new Float64Array(aligned.buffer, 0, n));
    case 'F16': {
      const src = new Uint16Array(aligned.buffer, 0, n);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(src[i]);
      return out;
    }
    case 'BF16': {
      const src = new Uint16Array(aligned.buffer, 0, n);
      const out = new Float32Array(n);
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u[i] = src[i] << 16;
      return out;
    }
    default:
      throw new Error(`${name}: cannot convert ${dtype} to float32`);
  }
}

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** float32 → IEEE half, round to nearest even. */
export function floatToHalf(v: number): number {
  f32buf[0] = v;
  const x = u32buf[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** float32 → bfloat16, round to nearest even. */
export function floatToBf16(v: number): number {
  f32buf[0] = v;
  const x = u32buf[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

export interface TensorToWrite {
  dtype: 'F32' | 'F16' | 'BF16';
  shape: number[];
  /** float32 values; converted to `dtype` on write. */
  data: Float32Array;
}

export function encodeTensor(t: TensorToWrite): Buffer {
  const n = t.data.length;
  if (t.dtype === 'F32') return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = new Uint16Array(n);
  const conv = t.dtype === 'F16' ? floatToHalf : floatToBf16;
  for (let i = 0; i < n; i++) out[i] = conv(t.data[i]);
  return Buffer.from(out.buffer);
}

export function writeSafetensors(path: string, tensors: Record<string, TensorToWrite>, metadata: Record<string, string> = { format: 'pt' }): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  const bodies: Buffer[] = [];
  let off = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (numel !== t.data.length) throw new Error(`${name}: shape ${t.shape} has ${numel} elements, data has ${t.data.length}`);
    const body = encodeTensor(t);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + body.length] };
    bodies.push(body);
    off += body.length;
  }
  let hjson = JSON.stringify(header);
  // Pad the header with spaces so tensor data starts 8-byte aligned, as the reference writer does.
  while ((8 + Buffer.byteLength(hjson)) % 8 !== 0) hjson += ' ';
  const hbuf = Buffer.from(hjson, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hbuf.length));
  // Written piecewise: a multi-GB checkpoint must not be concatenated in memory.
  const fd = openSync(path, 'w');
  try {
    for (const b of [len, hbuf, ...bodies]) writeSync(fd, b);
  } finally {
    closeSync(fd);
  }
}

/** Bytes [start, end) of a tensor's data, read without loading the rest. */
export function readTensorBytes(t: TensorInfo, start: number, end: number): Buffer {
  if (start < 0 || end > t.end - t.begin || end < start) throw new Error(`${t.name}: byte range [${start}, ${end}) out of bounds`);
  const buf = Buffer.allocUnsafe(end - start);
  const fd = openSync(t.file, 'r');
  try {
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, t.begin + start + off);
      if (n <= 0) throw new ModelFolderError(t.file, `truncated while reading "${t.name}"`);
      off += n;
    }
  } finally {
    closeSync(fd);
  }
  return buf;
}

/** Rows [r0, r1) of a 2-D (or 1-D) tensor: one contiguous read. */
export function readRows(t: TensorInfo, r0: number, r1: number): Buffer {
  const rowBytes = (t.shape.length > 1 ? t.shape[1] : 1) * DTYPE_BYTES[t.dtype];
  return readTensorBytes(t, r0 * rowBytes, r1 * rowBytes);
}

/** Columns [c0, c1) of every row of a 2-D tensor, read row segment by row segment. */
export function readCols(t: TensorInfo, c0: number, c1: number): Buffer {
  const [rows, cols] = t.shape;
  if (t.shape.length !== 2 || c0 < 0 || c1 > cols || c1 < c0) {
    throw new Error(`${t.name}: columns [${c0}, ${c1}) out of bounds for shape [${t.shape}]`);
  }
  const e = DTYPE_BYTES[t.dtype];
  const out = Buffer.allocUnsafe(rows * (c1 - c0) * e);
  const fd = openSync(t.file, 'r');
  try {
    for (let r = 0; r < rows; r++) {
      const want = (c1 - c0) * e;
      const n = readSync(fd, out, r * want, want, t.begin + (r * cols + c0) * e);
      if (n !== want) throw new ModelFolderError(t.file, `truncated while reading "${t.name}"`);
    }
  } finally {
    closeSync(fd);
  }
  return out;
}
