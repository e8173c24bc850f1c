// The two random number generators mteb's evaluators draw from, bit for bit:
//   - NumPy's legacy np.random.RandomState(seed) (classification undersampling shuffles with it,
//     scikit-learn's random_state=int uses it): MT19937 seeded by init_genrand, bounded integers
//     by masked rejection (numpy/random/src/distributions random_interval / bounded_uint*),
//     doubles with 53 random bits;
//   - CPython's random.Random(seed) (clustering's document sample and bootstrap draws): MT19937
//     seeded by init_by_array over the seed's 32-bit words, random() with 53 bits, _randbelow by
//     getrandbits rejection, sample() and choices() as in Lib/random.py.

const N = 624;
const M = 397;
const UPPER = 0x80000000;
const LOWER = 0x7fffffff;
const MATRIX_A = 0x9908b0df;

/** The Mersenne Twister MT19937 (Matsumoto & Nishimura 1998), 32-bit outputs. */
export class MT19937 {
  private readonly mt = new Uint32Array(N);
  private mti = N + 1;

  /** init_genrand(s) */
  static fromSeed(seed: number): MT19937 {
    const r = new MT19937();
    r.initGenrand(seed >>> 0);
    return r;
  }

  /** init_by_array(key): CPython's seeding of random.Random(int). */
  static fromArray(key: ArrayLike<number>): MT19937 {
    const r = new MT19937();
    r.initByArray(key);
    return r;
  }

  private initGenrand(s: number): void {
    const mt = this.mt;
    mt[0] = s >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.mti = N;
  }

  private initByArray(key: ArrayLike<number>): void {
    const mt = this.mt;
    this.initGenrand(19650218);
    let i = 1;
    let j = 0;
    const len = Math.max(1, key.length);
    for (let k = Math.max(N, key.length); k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(prev, 1664525)) + (key[j] ?? 0) + j) >>> 0;
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
      if (j >= len) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(prev, 1566083941)) - i) >>> 0;
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
    }
    mt[0] = 0x80000000;
    this.mti = N;
  }

  private twist(): void {
    const mt = this.mt;
    let kk = 0;
    for (; kk < N - M; kk++) {
      const y = (mt[kk] & UPPER) | (mt[kk + 1] & LOWER);
      mt[kk] = mt[kk + M] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    for (; kk < N - 1; kk++) {
      const y = (mt[kk] & UPPER) | (mt[kk + 1] & LOWER);
      mt[kk] = mt[kk + (M - N)] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    const y = (mt[N - 1] & UPPER) | (mt[0] & LOWER);
    mt[N - 1] = mt[M - 1] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    this.mti = 0;
  }

  /** genrand_int32: the next 32-bit output, as an unsigned number. */
  nextUint32(): number {
    if (this.mti >= N) this.twist();
    let y = this.mt[this.mti++];
    y ^= y >>> 11;
    y = (y ^ ((y << 7) & 0x9d2c5680)) >>> 0;
    y = (y ^ ((y << 15) & 0xefc60000)) >>> 0;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** genrand_res53: a double in [0, 1) from two outputs (NumPy's and CPython's random()). */
  nextDouble(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }
}

/** Smallest all-ones mask >= max (max < 2^32). */
function maskFor(max: number): number {
  let m = max >>> 0;
  m |= m >>> 1;
  m |= m >>> 2;
  m |= m >>> 4;
  m |= m >>> 8;
  m |= m >>> 16;
  return m >>> 0;
}

/** np.random.RandomState(seed) (the legacy generator), the draws mteb and scikit-learn use. */
export class NumpyRandomState {
  private readonly mt: MT19937;

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`RandomState seed must be an integer in [0, 2**32 - 1], got ${seed}`);
    this.mt = MT19937.fromSeed(seed);
  }

  /** random_interval(max): uniform integer in [0, max] by masked rejection (max < 2^32). */
  randomInterval(max: number): number {
    if (max === 0) return 0;
    if (max > 0xffffffff) throw new RangeError('randomInterval supports max < 2**32');
    const mask = maskFor(max);
    let v: number;
    while ((v = (this.mt.nextUint32() & mask) >>> 0) > max);
    return v;
  }

  /** RandomState.shuffle(list) in place: Fisher-Yates from the end with random_interval(i). */
  shuffle<T>(x: T[]): void {
    for (let i = x.length - 1; i >= 1; i--) {
      const j = this.randomInterval(i);
      const t = x[i];
      x[i] = x[j];
      x[j] = t;
    }
  }

  /** RandomState.randint(low, high): one integer in [low, high) (legacy masked bounded draw). */
  randint(low: number, high: number): number {
    if (!(high > low)) throw new RangeError(`randint: low >= high (${low}, ${high})`);
    const rng = high - 1 - low;
    if (rng === 0) return low;
    if (rng === 0xffffffff) return low + this.mt.nextUint32();
    return low + this.randomInterval(rng);
  }

  /** RandomState.random_sample(): a double in [0, 1). */
  randomSample(): number {
    return this.mt.nextDouble();
  }

  /** The raw next 32-bit output. */
  nextUint32(): number {
    return this.mt.nextUint32();
  }
}

/** The 32-bit words of a non-negative integer seed, least significant first (CPython's init_by_array key). */
function seedKey(seed: number | bigint): number[] {
  let s = BigInt(seed);
  if (s < 0n) s = -s; // CPython seeds with abs(n)
  if (s === 0n) return [0];
  const key: number[] = [];
  while (s > 0n) {
    key.push(Number(s & 0xffffffffn));
    s >>= 32n;
  }
  return key;
}

/** CPython's random.Random(seed) for an integer seed. */
export class PythonRandom {
  private readonly mt: MT19937;

  constructor(seed: number | bigint) {
    this.mt = MT19937.fromArray(seedKey(seed));
  }

  /** random.random(): a double in [0, 1). */
  random(): number {
    return this.mt.nextDouble();
  }

  /** random.getrandbits(k) for 0 < k <= 32. */
  getrandbits(k: number): number {
    if (k <= 0 || k > 32) throw new RangeError(`getrandbits supports 1..32 bits here, got ${k}`);
    return this.mt.nextUint32() >>> (32 - k);
  }

  /** Random._randbelow_with_getrandbits(n): uniform integer in [0, n), n < 2^32. */
  randbelow(n: number): number {
    if (n <= 0) return 0;
    const k = Math.floor(Math.log2(n)) + 1; // n.bit_length()
    let r = this.getrandbits(k);
    while (r >= n) r = this.getrandbits(k);
    return r;
  }

  /** random.sample(range(n), k): k distinct integers of [0, n), in Lib/random.py's order. */
  sampleRange(n: number, k: number): number[] {
    if (k < 0 || k > n) throw new RangeError(`sample larger than population or is negative (n=${n}, k=${k})`);
    const result = new Array<number>(k);
    let setsize = 21;
    if (k > 5) setsize += 4 ** Math.ceil(Math.log(k * 3) / Math.log(4));
    if (n <= setsize) {
      const pool = Array.from({ length: n }, (_, i) => i);
      for (let i = 0; i < k; i++) {
        const j = this.randbelow(n - i);
        result[i] = pool[j];
        pool[j] = pool[n - i - 1];
      }
    } else {
      const selected = new Set<number>();
      for (let i = 0; i < k; i++) {
        let j = this.randbelow(n);
        while (selected.has(j)) j = this.randbelow(n);
        selected.add(j);
        result[i] = j;
      }
    }
    return result;
  }

  /** random.choices(range(n), k=k) without weights: floor(random() * n), k times. */
  choicesRange(n: number, k: number): Uint32Array {
    const out = new Uint32Array(k);
    for (let i = 0; i < k; i++) out[i] = Math.floor(this.random() * n);
    return out;
  }
}

// --- NumPy's default_rng(seed): SeedSequence + PCG64 -----------------------------------------
// (numpy/random/bit_generator.pyx SeedSequence, numpy/random/src/pcg64: the 128-bit LCG with the
// XSL-RR output; Generator.permutation shuffles with random_interval on 32-bit halves of the
// 64-bit outputs). The `datasets` library's train_test_split(seed=...) draws from it.

const M32 = 0xffffffff;
const INIT_A = 0x43b0d7e5, MULT_A = 0x931e8875, INIT_B = 0x8b51f9dd, MULT_B = 0x58f38ded;
const MIX_MULT_L = 0xca01f9dd, MIX_MULT_R = 0x4973f715;

/** SeedSequence(entropy).generate_state(nWords64, uint64) for a non-negative integer entropy. */
export function seedSequenceState(entropy: number | bigint, nWords64: number, poolSize = 4): bigint[] {
  const ent = seedKey(entropy);
  let hashA = INIT_A;
  const hashmix = (value: number): number => {
    value = (value ^ hashA) >>> 0;
    hashA = Math.imul(hashA, MULT_A) >>> 0;
    value = Math.imul(value, hashA) >>> 0;
    return (value ^ (value >>> 16)) >>> 0;
  };
  const mix = (x: number, y: number): number => {
    let r = (Math.imul(MIX_MULT_L, x) - Math.imul(MIX_MULT_R, y)) >>> 0;
    r = (r ^ (r >>> 16)) >>> 0;
    return r;
  };
  const pool = new Array<number>(poolSize);
  for (let i = 0; i < poolSize; i++) pool[i] = hashmix(i < ent.length ? ent[i] : 0);
  for (let s = 0; s < poolSize; s++) for (let d = 0; d < poolSize; d++) if (s !== d) pool[d] = mix(pool[d], hashmix(pool[s]));
  for (let s = poolSize; s < ent.length; s++) for (let d = 0; d < poolSize; d++) pool[d] = mix(pool[d], hashmix(ent[s]));
  let hashB = INIT_B;
  const words: number[] = [];
  for (let i = 0; i < nWords64 * 2; i++) {
    let v = (pool[i % poolSize] ^ hashB) >>> 0;
    hashB = Math.imul(hashB, MULT_B) >>> 0;
    v = Math.imul(v, hashB) >>> 0;
    words.push((v ^ (v >>> 16)) >>> 0);
  }
  return Array.from({ length: nWords64 }, (_, i) => (BigInt(words[2 * i + 1]) << 32n) | BigInt(words[2 * i]));
}

const MASK128 = (1n << 128n) - 1n;
const MASK64 = (1n << 64n) - 1n;
const PCG_MULT = (0x2360ed051fc65da4n << 64n) | 0x4385df649fccf645n;

/** NumPy's PCG64 bit generator (XSL-RR 128/64), seeded as np.random.PCG64(seed). */
export class PCG64 {
  private state = 0n;
  private inc = 0n;
  private half: number | null = null;

  constructor(seed: number | bigint) {
    const [s0, s1, i0, i1] = seedSequenceState(seed, 4);
    const initstate = (s0 << 64n) | s1;
    const initseq = (i0 << 64n) | i1;
    this.inc = ((initseq << 1n) | 1n) & MASK128;
    this.state = 0n;
    this.step();
    this.state = (this.state + initstate) & MASK128;
    this.step();
  }

  private step(): void {
    this.state = (this.state * PCG_MULT + this.inc) & MASK128;
  }

  /** next 64-bit output */
  nextUint64(): bigint {
    this.step();
    const s = this.state;
    const x = ((s >> 64n) ^ s) & MASK64;
    const rot = Number(s >> 122n);
    return ((x >> BigInt(rot)) | (x << BigInt((64 - rot) & 63))) & MASK64;
  }

  /** next 32-bit output: the low half of a 64-bit output, then its high half */
  nextUint32(): number {
    if (this.half !== null) {
      const h = this.half;
      this.half = null;
      return h;
    }
    const v = this.nextUint64();
    this.half = Number(v >> 32n);
    return Number(v & 0xffffffffn);
  }
}

/** np.random.default_rng(seed) for the draws the `datasets` library makes. */
export class NumpyGenerator {
  private readonly bits: PCG64;
  constructor(seed: number | bigint) {
    this.bits = new PCG64(seed);
  }

  /** random_interval(max) for max < 2^32 (masked rejection on 32-bit draws) */
  randomInterval(max: number): number {
    if (max === 0) return 0;
    const mask = maskFor(max);
    let v: number;
    while ((v = (this.bits.nextUint32() & mask & M32) >>> 0) > max);
    return v;
  }

  /** random_bounded_uint64(0, rng) without mask: Lemire's multiply-shift with rejection (rng < 2^32). */
  boundedLemire(rng: number): number {
    if (rng === 0) return 0;
    if (rng === 0xffffffff) return this.bits.nextUint32();
    const excl = rng + 1;
    let m = BigInt(this.bits.nextUint32()) * BigInt(excl);
    let leftover = Number(m & 0xffffffffn);
    if (leftover < excl) {
      const threshold = (0xffffffff - rng) % excl;
      while (leftover < threshold) {
        m = BigInt(this.bits.nextUint32()) * BigInt(excl);
        leftover = Number(m & 0xffffffffn);
      }
    }
    return Number(m >> 32n);
  }

  /**
   * Generator.choice(popSize, size, replace=False) (shuffle=True, no p) for popSize <= 10000 or
   * small samples: Floyd's algorithm with numpy's open-addressing set, then a Lemire shuffle.
   */
  choiceWithoutReplacement(popSize: number, size: number): number[] {
    if (size > popSize) throw new RangeError("Cannot take a larger sample than population when replace is False");
    if (size === 0) return [];
    if (popSize > 10000 && size > Math.floor(popSize / 50)) throw new Error('choice(replace=False) tail-shuffle path is not implemented');
    const idx = new Array<number>(size);
    let setSize = Math.floor(1.2 * size);
    const mask = maskFor(setSize);
    setSize = mask + 1;
    const EMPTY = -1;
    const hash = new Array<number>(setSize).fill(EMPTY);
    for (let j = popSize - size; j < popSize; j++) {
      const val = this.boundedLemire(j);
      let loc = val & mask;
      while (hash[loc] !== EMPTY && hash[loc] !== val) loc = (loc + 1) & mask;
      if (hash[loc] === EMPTY) {
        hash[loc] = val;
        idx[j - popSize + size] = val;
      } else {
        loc = j & mask;
        while (hash[loc] !== EMPTY) loc = (loc + 1) & mask;
        hash[loc] = j;
        idx[j - popSize + size] = j;
      }
    }
    for (let i = size - 1; i >= 1; i--) {
      const j = this.boundedLemire(i);
      const t = idx[i];
      idx[i] = idx[j];
      idx[j] = t;
    }
    return idx;
  }

  /** Generator.permutation(array): a shuffled copy (random_interval, from the end). */
  permuted<T>(a: readonly T[]): T[] {
    const out = [...a];
    for (let i = out.length - 1; i >= 1; i--) {
      const j = this.randomInterval(i);
      const t = out[i];
      out[i] = out[j];
      out[j] = t;
    }
    return out;
  }

  /** Generator.permutation(n): arange(n) shuffled in place from the end. */
  permutation(n: number): number[] {
    const a = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i >= 1; i--) {
      const j = this.randomInterval(i);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }
}
