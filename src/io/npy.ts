// NumPy .npy (format 1.0) for float32 matrices: what `np.load` reads back with the right shape.
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';

function header(shape: number[]): Buffer {
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${dims}, }`;
  // Magic (6) + version (2) + length (2) + dict + '\n' must be a multiple of 64.
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - 10 - 1, ' ') + '\n';
  const h = Buffer.alloc(10);
  h.write('\x93NUMPY', 0, 'latin1');
  h[6] = 1;
  h[7] = 0;
  h.writeUInt16LE(dict.length, 8);
  return Buffer.concat([h, Buffer.from(dict, 'latin1')]);
}

/** Writes a row-major float32 matrix [rows, cols] as .npy. */
export function writeNpyF32(path: string, data: Float32Array, rows: number, cols: number): void {
  if (data.length !== rows * cols) throw new Error(`npy: ${data.length} values do not make a ${rows}×${cols} matrix`);
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, header([rows, cols]));
    // Written in slices: one huge write of a multi-GB matrix can exceed a single syscall's limit.
    const step = 1 << 24;
    for (let i = 0; i < data.length; i += step) {
      const part = data.subarray(i, Math.min(data.length, i + step));
      writeSync(fd, Buffer.from(part.buffer, part.byteOffset, part.byteLength));
    }
  } finally {
    closeSync(fd);
  }
}

/** Reads a little-endian float32 .npy written by writeNpyF32 or NumPy. */
export function readNpyF32(path: string): { shape: number[]; data: Float32Array } {
  const buf = readFileSync(path);
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${path}: not a .npy file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const dict = buf.toString('latin1', start, start + hlen);
  if (!dict.includes("'<f4'")) throw new Error(`${path}: only little-endian float32 is supported (${dict.trim()})`);
  if (dict.includes("'fortran_order': True")) throw new Error(`${path}: Fortran order is not supported`);
  const m = /'shape': \(([^)]*)\)/.exec(dict);
  const shape = (m?.[1] ?? '').split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const body = buf.subarray(start + hlen);
  const data = new Float32Array(body.byteLength / 4);
  new Uint8Array(data.buffer).set(body);
  return { shape, data };
}
