// safetensors reader/writer: dtype round trips checked against conversions written here from
// first principles, the half-precision edge cases, every kind of broken file, sharded indexes and
// the partial readers.
import { expect } from 'chai';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelFolderError } from '../../src/errors.js';
import {
  floatToBf16,
  floatToHalf,
  halfToFloat,
  readCols,
  readRows,
  readTensorBytes,
  SafetensorsFile,
  toFloat32,
  WeightStore,
  writeSafetensors,
  type StDType,
  type TensorToWrite,
} from '../../src/model/safetensors.js';
import { cleanupTemp, expectThrow, SeededRandom, seedFromEnv, tempDir } from './helpers.js';

// ---------------------------------------------------------------------------------------------
// Independent reference conversions (no bit tricks shared with the implementation).

/** Value of an IEEE half bit pattern, from the definition. */
function refHalfValue(h: number): number {
  const sign = h >= 0x8000 ? -1 : 1;
  const exp = Math.floor((h & 0x7fff) / 1024);
  const frac = (h & 0x3ff) / 1024;
  if (exp === 0) return sign * frac * Math.pow(2, -14);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac) * Math.pow(2, exp - 15);
}

/** Finite non-negative half values in pattern order; index 0x7c00 stands in as 65536 for rounding. */
const HALF_LADDER: number[] = (() => {
  const v: number[] = [];
  for (let h = 0; h < 0x7c00; h++) v.push(refHalfValue(h));
  v.push(65536);
  return v;
})();

/** Nearest half (ties to even pattern) by searching the ladder of all representable values. */
function refFloatToHalf(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const f = Math.fround(x);
  const neg = f < 0 || Object.is(f, -0);
  const a = Math.abs(f);
  const signBit = neg ? 0x8000 : 0;
  if (a >= 65520) return signBit | 0x7c00;
  let lo = 0;
  let hi = 0x7c00;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (HALF_LADDER[mid] <= a) lo = mid;
    else hi = mid;
  }
  // HALF_LADDER[lo] <= a < HALF_LADDER[lo + 1]
  const dLo = a - HALF_LADDER[lo];
  const dHi = HALF_LADDER[lo + 1] - a;
  let h: number;
  if (dLo < dHi) h = lo;
  else if (dHi < dLo) h = lo + 1;
  else h = lo % 2 === 0 ? lo : lo + 1;
  return signBit | h;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function bitsOf(x: number): number {
  f32[0] = x;
  return u32[0];
}
function floatOfBits(b: number): number {
  u32[0] = b >>> 0;
  return f32[0];
}
/** Value of a bf16 pattern as a double; the overflow pattern counts as 2^128 for rounding. */
function bf16Value(p: number): number {
  if ((p & 0x7fff) === 0x7f80) return (p & 0x8000 ? -1 : 1) * Math.pow(2, 128);
  return floatOfBits(p * 65536);
}
/** Nearest bf16 by comparing the two neighbouring bf16 values, ties to even. */
function refFloatToBf16(x: number): number {
  const f = Math.fround(x);
  if (Number.isNaN(f)) return -1; // checked separately
  const b = bitsOf(f);
  const lo = Math.floor(b / 65536);
  if (b % 65536 === 0) return lo;
  const hi = lo + 1;
  const dLo = Math.abs(f - bf16Value(lo));
  const dHi = Math.abs(bf16Value(hi) - f);
  if (dLo < dHi) return lo;
  if (dHi < dLo) return hi;
  return lo % 2 === 0 ? lo : hi;
}
function refBf16ToFloat(p: number): number {
  if ((p & 0x7fff) === 0x7f80) return p & 0x8000 ? -Infinity : Infinity;
  return floatOfBits(p * 65536);
}

/** A spread of float32 values: normal, tiny, subnormal-in-half, huge, signed zeros, specials. */
function sampleValues(rng: SeededRandom, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const kind = i % 6;
    const s = rng.next() < 0.5 ? -1 : 1;
    if (kind === 0) out[i] = s * rng.next();
    else if (kind === 1) out[i] = s * rng.next() * Math.pow(2, rng.int(-30, 17)); // across the half range and out of it
    else if (kind === 2) out[i] = s * rng.next() * Math.pow(2, -14); // half subnormals
    else if (kind === 3) out[i] = floatOfBits(Math.floor(rng.next() * 0x7f800000) | (s < 0 ? 0x80000000 : 0)); // any finite float
    else if (kind === 4) out[i] = (rng.int(0, 2048) + 0.5) * Math.pow(2, rng.int(-24, 5)); // many exact ties
    else out[i] = [0, -0, 65504, 65519.99, 65520, 1e-8, 6e-8, 3e38][rng.int(0, 7)] * s;
  }
  return out;
}

describe('foundation: safetensors', () => {
  after(cleanupTemp);
  const seed = seedFromEnv();

  describe('reference conversions agree with themselves on exact values', () => {
    it('the reference half ladder is strictly increasing and has 65504 as the largest finite value', () => {
      for (let i = 1; i < HALF_LADDER.length; i++) expect(HALF_LADDER[i]).to.be.greaterThan(HALF_LADDER[i - 1]);
      expect(HALF_LADDER[0x7bff]).to.equal(65504);
    });
  });

  describe('halfToFloat / floatToHalf', () => {
    it('decodes every one of the 65536 half patterns as the IEEE definition says', () => {
      for (let h = 0; h < 0x10000; h++) {
        const got = halfToFloat(h);
        const want = refHalfValue(h);
        if (Number.isNaN(want)) expect(got, `pattern 0x${h.toString(16)}`).to.be.NaN;
        else expect(Object.is(got, want), `pattern 0x${h.toString(16)}: ${got} vs ${want}`).to.equal(true);
      }
    });

    it('decodes the edge patterns: subnormals, min normal, max, ±inf, NaN, -0', () => {
      expect(halfToFloat(0x0001)).to.equal(Math.pow(2, -24));
      expect(halfToFloat(0x03ff)).to.equal(1023 * Math.pow(2, -24));
      expect(halfToFloat(0x0400)).to.equal(Math.pow(2, -14));
      expect(halfToFloat(0x7bff)).to.equal(65504);
      expect(halfToFloat(0x7c00)).to.equal(Infinity);
      expect(halfToFloat(0xfc00)).to.equal(-Infinity);
      expect(halfToFloat(0x7e00)).to.be.NaN;
      expect(halfToFloat(0x7c01)).to.be.NaN;
      expect(Object.is(halfToFloat(0x8000), -0)).to.equal(true);
      expect(halfToFloat(0x3c00)).to.equal(1);
      expect(halfToFloat(0xc000)).to.equal(-2);
    });

    it('every half value survives float → half exactly (all 63488 finite patterns, both signs)', () => {
      for (let h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) === 0x7c00 && h & 0x3ff) continue; // NaN
        expect(floatToHalf(halfToFloat(h)), `pattern 0x${h.toString(16)}`).to.equal(h);
      }
    });

    it('rounds edge cases to nearest, ties to even', () => {
      const cases: Array<[number, number, string]> = [
        [Math.pow(2, -24), 0x0001, 'smallest subnormal'],
        [Math.pow(2, -25), 0x0000, 'half the smallest subnormal: tie → 0 (even)'],
        [Math.pow(2, -25) * 1.0000001, 0x0001, 'just above the tie → smallest subnormal'],
        [Math.pow(2, -26), 0x0000, 'far below → 0'],
        [3 * Math.pow(2, -25), 0x0002, '1.5 × smallest subnormal: tie between 1 and 2 → 2'],
        [5 * Math.pow(2, -25), 0x0002, '2.5 × smallest subnormal: tie between 2 and 3 → 2'],
        [Math.pow(2, -14) - Math.pow(2, -25), 0x0400, 'tie between max subnormal and min normal → min normal (even)'],
        [1 + Math.pow(2, -11), 0x3c00, '1 + half ulp: tie → 1 (even)'],
        [1 + 3 * Math.pow(2, -11), 0x3c02, '1 + 1.5 ulp: tie → even 0x3c02'],
        [1 + Math.pow(2, -11) + Math.pow(2, -20), 0x3c01, 'just above the tie → up'],
        [65504, 0x7bff, 'largest finite'],
        [65519, 0x7bff, 'below the overflow tie'],
        [65520, 0x7c00, 'overflow tie → inf'],
        [1e6, 0x7c00, 'overflow → inf'],
        [-1e6, 0xfc00, 'negative overflow → -inf'],
        [Infinity, 0x7c00, '+inf'],
        [-Infinity, 0xfc00, '-inf'],
        [-0, 0x8000, '-0 keeps its sign'],
        [-Math.pow(2, -24), 0x8001, 'negative subnormal'],
        [-Math.pow(2, -26), 0x8000, 'negative underflow → -0'],
      ];
      for (const [v, want, what] of cases) {
        expect(floatToHalf(v), `${what} (${v})`).to.equal(want);
        expect(refFloatToHalf(v), `reference disagrees on ${what}`).to.equal(want);
      }
      const nan = floatToHalf(NaN);
      expect(nan & 0x7c00).to.equal(0x7c00);
      expect(nan & 0x3ff).to.not.equal(0);
      expect(halfToFloat(nan)).to.be.NaN;
    });

    it('matches the nearest-value reference on random floats of every magnitude', () => {
      const rng = new SeededRandom(seed);
      const vals = sampleValues(rng, 60_000);
      for (const v of vals) {
        expect(floatToHalf(v), `value ${v} (seed ${seed})`).to.equal(refFloatToHalf(v));
      }
    });

    it('floatToBf16 matches the nearest-value reference, keeps inf and NaN', () => {
      const rng = new SeededRandom(seed ^ 0x5a5a);
      const vals = sampleValues(rng, 60_000);
      for (const v of vals) expect(floatToBf16(v), `value ${v} (seed ${seed})`).to.equal(refFloatToBf16(v));
      expect(floatToBf16(Infinity)).to.equal(0x7f80);
      expect(floatToBf16(-Infinity)).to.equal(0xff80);
      expect(floatToBf16(1 + Math.pow(2, -8))).to.equal(0x3f80); // tie → even
      expect(floatToBf16(1 + 3 * Math.pow(2, -8))).to.equal(0x3f82); // tie → even
      const nan = floatToBf16(NaN);
      expect(refBf16ToFloat(nan)).to.be.NaN;
      expect(nan & 0x7f).to.not.equal(0);
    });
  });

  describe('write → read round trip', () => {
    function roundTrip(dtype: 'F32' | 'F16' | 'BF16'): void {
      const dir = tempDir(`st-${dtype}`);
      const rng = new SeededRandom(seed + dtype.length);
      const a = sampleValues(rng, 3 * 7 * 5);
      const b = Float32Array.from({ length: 11 }, () => rng.next() * 4 - 2);
      const file = join(dir, 'model.safetensors');
      writeSafetensors(file, { 'a.weight': { dtype, shape: [3, 7, 5], data: a }, 'b.bias': { dtype, shape: [11], data: b } }, { format: 'pt', note: 'x' });
      const f = SafetensorsFile.open(file);
      expect(f.metadata).to.deep.equal({ format: 'pt', note: 'x' });
      expect(f.tensors.get('a.weight')!.shape).to.deep.equal([3, 7, 5]);
      expect(f.tensors.get('a.weight')!.dtype).to.equal(dtype);
      // The data section starts 8-byte aligned, as the reference writer pads it.
      const headerLen = Number(readFileSync(file).readBigUInt64LE(0));
      expect((8 + headerLen) % 8).to.equal(0);
      const store = WeightStore.openSingle(file);
      for (const [name, src] of [['a.weight', a], ['b.bias', b]] as const) {
        const got = store.f32(name);
        expect(got.length).to.equal(src.length);
        for (let i = 0; i < src.length; i++) {
          const want = dtype === 'F32' ? src[i] : dtype === 'F16' ? refHalfValue(refFloatToHalf(src[i])) : refBf16ToFloat(refFloatToBf16(src[i]));
          expect(Object.is(got[i], Math.fround(want)) || got[i] === want, `${dtype} ${name}[${i}]: ${src[i]} → ${got[i]}, expected ${want}`).to.equal(true);
        }
        // Raw bytes are exactly the stored encoding.
        const raw = store.raw(name);
        expect(raw.length).to.equal(src.length * (dtype === 'F32' ? 4 : 2));
      }
    }
    it('F32 values come back bit-exact', () => roundTrip('F32'));
    it('F16 values come back as the nearest half (independent conversion)', () => roundTrip('F16'));
    it('BF16 values come back as the nearest bfloat16 (independent conversion)', () => roundTrip('BF16'));

    it('toFloat32 reads F64 and rejects integer dtypes', () => {
      const src = new Float64Array([1.5, -2.25, 1e-3]);
      const got = toFloat32(Buffer.from(src.buffer), 'F64');
      expect(Array.from(got)).to.deep.equal(Array.from(src, (v) => Math.fround(v)));
      expect(() => toFloat32(Buffer.alloc(8), 'I64', 'ids')).to.throw(/ids.*I64/);
    });

    it('toFloat32 copes with a Buffer at an odd byte offset', () => {
      const big = Buffer.alloc(1 + 8);
      new DataView(big.buffer, big.byteOffset).setFloat32(1, 3.5, true);
      new DataView(big.buffer, big.byteOffset).setFloat32(5, -1.25, true);
      expect(Array.from(toFloat32(big.subarray(1), 'F32'))).to.deep.equal([3.5, -1.25]);
    });

    it('writeSafetensors refuses data that does not fill the shape', () => {
      const dir = tempDir('st-bad-write');
      expect(() => writeSafetensors(join(dir, 'x.safetensors'), { t: { dtype: 'F32', shape: [2, 3], data: new Float32Array(5) } })).to.throw(/t.*6.*5/);
    });
  });

  describe('broken files → ModelFolderError naming the file', () => {
    function good(dir: string, tensors?: Record<string, TensorToWrite>): string {
      const file = join(dir, 'model.safetensors');
      writeSafetensors(file, tensors ?? { w: { dtype: 'F32', shape: [4, 4], data: new Float32Array(16).fill(1) }, b: { dtype: 'F32', shape: [4], data: new Float32Array(4) } });
      return file;
    }
    function rawFile(dir: string, header: string | object, dataBytes: number, lenOverride?: bigint): string {
      const file = join(dir, 'model.safetensors');
      const h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(lenOverride ?? BigInt(h.length));
      writeFileSync(file, Buffer.concat([len, h, Buffer.alloc(dataBytes)]));
      return file;
    }
    function expectFileError(file: string, ...patterns: Array<RegExp | string>): void {
      const e = expectThrow(() => SafetensorsFile.open(file), ModelFolderError, ...patterns);
      expect(e.file).to.equal(file);
      expect(e.message).to.include(file);
    }

    it('missing file', () => {
      const file = join(tempDir('st-missing'), 'model.safetensors');
      expectFileError(file, /not found/);
    });

    it('shorter than the 8-byte length prefix', () => {
      const file = join(tempDir('st-tiny'), 'model.safetensors');
      writeFileSync(file, Buffer.from([1, 2, 3]));
      expectFileError(file, /truncated/);
    });

    it('truncated tensor data', () => {
      const file = good(tempDir('st-trunc'));
      const size = readFileSync(file).length;
      truncateSync(file, size - 3);
      expectFileError(file, /truncated/, /"b"|"w"/);
    });

    it('header length beyond the end of the file', () => {
      const dir = tempDir('st-hlen');
      expectFileError(rawFile(dir, '{}', 0, 1000n), /header length 1000/);
      expectFileError(rawFile(dir, '{}', 0, 2n ** 62n), /header length/);
    });

    it('invalid JSON header', () => {
      expectFileError(rawFile(tempDir('st-json'), '{"w": {"dtype": "F32", ', 0), /not valid JSON/);
    });

    it('overlapping tensor data', () => {
      const hdr = { a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } };
      expectFileError(rawFile(tempDir('st-overlap'), hdr, 24), /overlap/, '"a"', '"b"');
    });

    it('byte span that does not match dtype × shape', () => {
      const hdr = { a: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] } };
      expectFileError(rawFile(tempDir('st-size'), hdr, 12), '"a"', /12 bytes/, /16/);
    });

    it('unsupported dtype', () => {
      const hdr = { a: { dtype: 'F8_E4M3', shape: [4], data_offsets: [0, 4] } };
      expectFileError(rawFile(tempDir('st-dtype'), hdr, 4), /unsupported dtype F8_E4M3/, '"a"');
    });

    it('malformed entry and negative / reversed offsets', () => {
      const dir = tempDir('st-malformed');
      expectFileError(rawFile(dir, { a: { dtype: 'F32', shape: [1] } }, 4), /malformed/, '"a"');
      expectFileError(rawFile(dir, { a: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, 4), /invalid data_offsets/);
    });

    it('sharded index pointing at a tensor its shard does not hold', () => {
      const dir = tempDir('st-shard');
      writeSafetensors(join(dir, 'model-00001-of-00002.safetensors'), { a: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } });
      writeSafetensors(join(dir, 'model-00002-of-00002.safetensors'), { b: { dtype: 'F32', shape: [2], data: new Float32Array([3, 4]) } });
      const index = join(dir, 'model.safetensors.index.json');
      writeFileSync(index, JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } }));
      const store = WeightStore.openIndex(index);
      expect(Array.from(store.f32('b'))).to.deep.equal([3, 4]);
      writeFileSync(index, JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors', c: 'model-00002-of-00002.safetensors' } }));
      const e = expectThrow(() => WeightStore.openIndex(index), ModelFolderError, '"c"');
      expect(e.file).to.equal(join(dir, 'model-00002-of-00002.safetensors'));
      writeFileSync(index, JSON.stringify({ weight_map: { a: 'model-00003-of-00002.safetensors' } }));
      const e2 = expectThrow(() => WeightStore.openIndex(index), ModelFolderError, /not found/);
      expect(e2.file).to.equal(join(dir, 'model-00003-of-00002.safetensors'));
      writeFileSync(index, '{"weight_map": ');
      expect(expectThrow(() => WeightStore.openIndex(index), ModelFolderError, /not valid JSON/).file).to.equal(index);
      writeFileSync(index, '{"metadata": {}}');
      expect(expectThrow(() => WeightStore.openIndex(index), ModelFolderError, /weight_map/).file).to.equal(index);
    });

    it('asking the store for an absent tensor names it', () => {
      const file = good(tempDir('st-absent'));
      const store = WeightStore.openSingle(file);
      const e = expectThrow(() => store.f32('nope'), ModelFolderError, '"nope"');
      expect(e.file).to.equal(file);
    });
  });

  describe('readRows / readCols', () => {
    for (const dtype of ['F32', 'F16', 'BF16'] as StDType[]) {
      it(`${dtype}: slices equal the matching slices of the full tensor`, () => {
        const dir = tempDir(`st-rows-${dtype}`);
        const rng = new SeededRandom(seed + 17);
        const rows = 7;
        const cols = 5;
        const lead = Float32Array.from({ length: 3 }, () => rng.next());
        const data = Float32Array.from({ length: rows * cols }, () => rng.next() * 2 - 1);
        const file = join(dir, 'm.safetensors');
        // A leading tensor puts the interesting one at a non-zero offset.
        writeSafetensors(file, { lead: { dtype: dtype as 'F32', shape: [3], data: lead }, m: { dtype: dtype as 'F32', shape: [rows, cols], data } });
        const store = WeightStore.openSingle(file);
        const t = store.info('m');
        const full = store.f32('m');
        for (const [r0, r1] of [[0, rows], [0, 1], [2, 5], [6, 7], [3, 3]]) {
          const got = toFloat32(readRows(t, r0, r1), t.dtype);
          expect(Array.from(got), `rows [${r0}, ${r1})`).to.deep.equal(Array.from(full.subarray(r0 * cols, r1 * cols)));
        }
        for (const [c0, c1] of [[0, cols], [0, 1], [1, 4], [4, 5]]) {
          const got = toFloat32(readCols(t, c0, c1), t.dtype);
          const want: number[] = [];
          for (let r = 0; r < rows; r++) for (let c = c0; c < c1; c++) want.push(full[r * cols + c]);
          expect(Array.from(got), `cols [${c0}, ${c1})`).to.deep.equal(want);
        }
        // 1-D tensors read by "rows" of one element.
        expect(Array.from(toFloat32(readRows(store.info('lead'), 1, 3), t.dtype))).to.deep.equal(Array.from(store.f32('lead').subarray(1, 3)));
        expect(() => readTensorBytes(t, 0, (t.end - t.begin) + 1)).to.throw(/out of bounds/);
        expect(() => readRows(t, 0, rows + 1)).to.throw(/out of bounds/);
        // Columns past the row end would silently read the next row's data.
        expect(() => readCols(t, 3, cols + 1)).to.throw(/out of bounds/);
        expect(() => readCols(t, -1, 2)).to.throw(/out of bounds/);
        expect(() => readCols(store.info('lead'), 0, 1)).to.throw(/out of bounds/);
      });
    }
  });
});
