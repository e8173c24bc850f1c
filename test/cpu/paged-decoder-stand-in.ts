// A stand-in CUDA addon whose decoder (`arch: 1`) is a real paged-KV decoder in JavaScript, built on
// the float64 reference's pieces (src/reference/decoder-f64.ts: matmulT, rmsNormF64, rotaryF64):
// per step and layer it writes the step's K/V at slotMapping into its own store, then attends each
// token over positions 0 … its own through blockTables. So a wrong block table, position, slot
// mapping, context length or a prefix block nobody computed gives wrong numbers or an error — what
// the native contract (i12s4.md, cuda/qwen3.cu) promises, checked without a GPU. It also checks the
// uploaded weights against the contract's names and shapes and validates every forward's inputs as
// the native model must. Records every model and step in `log` (per thread).
//
// Environment (worker threads see it): STAND_IN_TOTAL_MEMORY / STAND_IN_FREE_MEMORY bytes for
// deviceInfo of GPU 0 (default 64 MiB total, 63 MiB free; GPU g has g MiB less free),
// STAND_IN_DEVICES the GPU count (default 1), STAND_IN_CONNECT_LOG a file each connect() appends
// to (JSON line: device, rank, worldSize, ids in hex). Tensor-parallel ranks run their slices unreduced
// (no NCCL here): their outputs are not the model's.
import { fileURLToPath } from 'node:url';

const REFERENCE = fileURLToPath(new URL('../../src/reference/decoder-f64.js', import.meta.url));

export interface StandInStep {
  n: number;
  T: number;
  cuQ: number[];
  ctxLens: number[];
  positions: number[];
  mode: number;
}

export interface StandInModel {
  cfg: Record<string, number | boolean>;
  weights: Map<string, { bytes: number; code: number }>;
  numBlocks?: number;
  steps: StandInStep[];
  destroyed: boolean;
}

export interface PagedDecoderStandIn {
  log: { models: StandInModel[] };
}

export const PAGED_DECODER_STAND_IN = `
const { pathToFileURL } = require('node:url');
const REF = ${JSON.stringify(REFERENCE)};
let ref;
const load = async () => (ref ??= await import(pathToFileURL(REF).href));
const log = { models: [] };
const MiB = 1 << 20;
const TOTAL = Number(process.env.STAND_IN_TOTAL_MEMORY ?? 64 * MiB);
const FREE = Number(process.env.STAND_IN_FREE_MEMORY ?? 63 * MiB);

const f32 = new DataView(new ArrayBuffer(4));
function half(u) {
  const s = u & 0x8000 ? -1 : 1, e = (u >> 10) & 31, m = u & 1023;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
function decode(bytes, code) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = code === 0 ? bytes.byteLength / 4 : bytes.byteLength / 2;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (code === 0) out[i] = dv.getFloat32(4 * i, true);
    else if (code === 2) { f32.setUint32(0, dv.getUint16(2 * i, true) << 16); out[i] = f32.getFloat32(0); }
    else if (code === 1) out[i] = half(dv.getUint16(2 * i, true));
    else throw new Error('stored dtype code ' + code);
  }
  return out;
}

class Model {
  constructor(cfg) {
    if (cfg.arch !== 1) throw new Error('stand-in: only the decoder (arch 1)');
    for (const k of ['hidden', 'layers', 'heads', 'kvHeads', 'headDim', 'intermediate', 'vocab', 'numLabels', 'eps', 'ropeTheta', 'maxTokens', 'maxSeqs', 'blockSize', 'maxBlocksPerSeq', 'slots']) {
      if (typeof cfg[k] !== 'number' || !(cfg[k] >= 0)) throw new Error('stand-in: config ' + k + ' = ' + cfg[k]);
    }
    this.cfg = cfg;
    this.w = new Map();
    this.weights = new Map();
    this.steps = [];
    this.destroyed = false;
    log.models.push(this);
  }
  setWeight(name, data, code) {
    if (this.K) throw new Error('setWeight after allocateKvCache');
    this.w.set(name, decode(data, code));
    this.weights.set(name, { bytes: data.byteLength, code });
  }
  // STAND_IN_CONNECT_LOG: one JSON line per connect (worker threads share no \`log\`): device, rank, worldSize, ids in hex.
  async connect(ids) {
    const file = process.env.STAND_IN_CONNECT_LOG;
    if (!file) return;
    const hex = ids.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex'));
    require('node:fs').appendFileSync(file, JSON.stringify({ device: this.cfg.device, rank: this.cfg.rank, worldSize: this.cfg.worldSize, ids: hex }) + '\\n');
  }
  expected() {
    const c = this.cfg, H = c.hidden, d = c.headDim;
    const e = new Map([['emb.word', c.vocab * H], ['norm.g', H]]);
    for (let i = 0; i < c.layers; i++) {
      const p = 'L' + i + '.';
      e.set(p + 'ln1.g', H); e.set(p + 'qkv.w', (c.heads + 2 * c.kvHeads) * d * H); e.set(p + 'q_norm.g', d); e.set(p + 'k_norm.g', d);
      e.set(p + 'o.w', H * c.heads * d); e.set(p + 'ln2.g', H); e.set(p + 'gate_up.w', 2 * c.intermediate * H); e.set(p + 'down.w', H * c.intermediate);
    }
    if (c.numLabels > 0) e.set('head.cls.w', c.numLabels * H);
    return e;
  }
  allocateKvCache(numBlocks) {
    const want = this.expected();
    for (const [k, n] of want) {
      if (!this.w.has(k)) throw new Error('stand-in: weight ' + k + ' missing');
      if (this.w.get(k).length !== n) throw new Error('stand-in: weight ' + k + ' has ' + this.w.get(k).length + ' values, contract says ' + n);
    }
    for (const k of this.w.keys()) if (!want.has(k)) throw new Error('stand-in: unexpected weight ' + k);
    if (!Number.isInteger(numBlocks) || numBlocks < 1) throw new Error('stand-in: numBlocks ' + numBlocks);
    this.numBlocks = numBlocks;
    // Slot → K / V row per layer; a slot is present once some step wrote it.
    this.K = Array.from({ length: this.cfg.layers }, () => new Map());
    this.V = Array.from({ length: this.cfg.layers }, () => new Map());
  }
  async forwardDecoder(slot, ids, positions, cuQ, ctxLens, blockTables, slotMapping, mode, normalize, out) {
    const R = await load();
    const c = this.cfg, H = c.hidden, d = c.headDim, nq = c.heads, nkv = c.kvHeads, I = c.intermediate, bs = c.blockSize, mb = c.maxBlocksPerSeq;
    const kvw = nkv * d, T = ids.length, n = cuQ.length - 1;
    const fail = (m) => { throw new Error('forwardDecoder: ' + m); };
    if (!this.K) fail('allocateKvCache not called');
    if (!(slot >= 0 && slot < c.slots)) fail('slot ' + slot);
    for (const a of [ids, positions, cuQ, ctxLens, blockTables, slotMapping]) if (!(a instanceof Int32Array)) fail('inputs must be Int32Array');
    if (n < 1 || n > c.maxSeqs) fail(n + ' sequences, maxSeqs ' + c.maxSeqs);
    if (T < 1 || T > c.maxTokens) fail(T + ' tokens, maxTokens ' + c.maxTokens);
    if (positions.length !== T || slotMapping.length !== T || ctxLens.length !== n || blockTables.length !== n * mb) fail('sizes');
    if (cuQ[0] !== 0 || cuQ[n] !== T) fail('cuQ ends');
    const seqOf = new Int32Array(T);
    for (let i = 0; i < n; i++) {
      const q = cuQ[i + 1] - cuQ[i];
      if (q < 1 || ctxLens[i] < q || ctxLens[i] > mb * bs) fail('sequence ' + i + ': ' + q + ' new of ' + ctxLens[i]);
      for (let j = 0; j < q; j++) {
        const t = cuQ[i] + j, p = ctxLens[i] - q + j;
        seqOf[t] = i;
        if (positions[t] !== p) fail('token ' + t + ': position ' + positions[t] + ', expected ' + p);
        const b = blockTables[i * mb + Math.floor(p / bs)];
        if (!(b >= 0 && b < this.numBlocks)) fail('block ' + b + ' outside the cache');
        if (slotMapping[t] !== b * bs + (p % bs)) fail('token ' + t + ': slot ' + slotMapping[t] + ', block table says ' + (b * bs + (p % bs)));
      }
    }
    for (let t = 0; t < T; t++) if (!(ids[t] >= 0 && ids[t] < c.vocab)) fail('id ' + ids[t]);
    const rows = mode === 2 ? T : n, width = mode === 1 ? c.numLabels : H;
    if (![0, 1, 2].includes(mode) || (mode === 1 && !c.numLabels)) fail('mode ' + mode);
    if (out.length !== rows * width) fail('out has ' + out.length + ' values, expected ' + rows * width);
    this.steps.push({ n, T, cuQ: Array.from(cuQ), ctxLens: Array.from(ctxLens), positions: Array.from(positions), mode });
    const W = (k) => this.w.get(k);
    const x = new Float64Array(T * H);
    for (let t = 0; t < T; t++) x.set(W('emb.word').subarray(ids[t] * H, (ids[t] + 1) * H), t * H);
    const scale = 1 / Math.sqrt(d), group = nq / nkv;
    for (let l = 0; l < c.layers; l++) {
      const p = 'L' + l + '.';
      const a = R.rmsNormF64(x.slice(), H, W(p + 'ln1.g'), c.eps);
      const qkv = R.matmulT(a, T, W(p + 'qkv.w'), (nq + 2 * nkv) * d, H);
      const q = new Float64Array(T * nq * d), k = new Float64Array(T * kvw), v = new Float64Array(T * kvw);
      const wq = (nq + 2 * nkv) * d;
      for (let t = 0; t < T; t++) {
        q.set(qkv.subarray(t * wq, t * wq + nq * d), t * nq * d);
        k.set(qkv.subarray(t * wq + nq * d, t * wq + nq * d + kvw), t * kvw);
        v.set(qkv.subarray(t * wq + nq * d + kvw, (t + 1) * wq), t * kvw);
      }
      R.rmsNormF64(q, d, W(p + 'q_norm.g'), c.eps);
      R.rmsNormF64(k, d, W(p + 'k_norm.g'), c.eps);
      R.rotaryF64(q, T, nq, d, c.ropeTheta, positions);
      R.rotaryF64(k, T, nkv, d, c.ropeTheta, positions);
      // Every K/V of the step is written before any attention reads (the contract's order).
      for (let t = 0; t < T; t++) {
        this.K[l].set(slotMapping[t], k.slice(t * kvw, (t + 1) * kvw));
        this.V[l].set(slotMapping[t], v.slice(t * kvw, (t + 1) * kvw));
      }
      const ctx = new Float64Array(T * nq * d);
      for (let t = 0; t < T; t++) {
        const i = seqOf[t], pos = positions[t];
        const keys = [], vals = [];
        for (let j = 0; j <= pos; j++) {
          const s = blockTables[i * mb + Math.floor(j / bs)] * bs + (j % bs);
          const kr = this.K[l].get(s);
          if (!kr) fail('layer ' + l + ', sequence ' + i + ' reads position ' + j + ' at slot ' + s + ', which no step wrote');
          keys.push(kr);
          vals.push(this.V[l].get(s));
        }
        const sc = new Float64Array(pos + 1);
        for (let h = 0; h < nq; h++) {
          const kh = Math.floor(h / group);
          let max = -Infinity;
          for (let j = 0; j <= pos; j++) {
            let s = 0;
            for (let e = 0; e < d; e++) s += q[(t * nq + h) * d + e] * keys[j][kh * d + e];
            sc[j] = s * scale;
            if (sc[j] > max) max = sc[j];
          }
          let sum = 0;
          for (let j = 0; j <= pos; j++) sum += sc[j] = Math.exp(sc[j] - max);
          for (let j = 0; j <= pos; j++) {
            const wgt = sc[j] / sum;
            for (let e = 0; e < d; e++) ctx[(t * nq + h) * d + e] += wgt * vals[j][kh * d + e];
          }
        }
      }
      const o = R.matmulT(ctx, T, W(p + 'o.w'), H, nq * d);
      for (let i = 0; i < x.length; i++) x[i] += o[i];
      const b = R.rmsNormF64(x.slice(), H, W(p + 'ln2.g'), c.eps);
      const gu = R.matmulT(b, T, W(p + 'gate_up.w'), 2 * I, H);
      const g = new Float64Array(T * I);
      for (let t = 0; t < T; t++) for (let e = 0; e < I; e++) {
        const z = gu[t * 2 * I + e];
        g[t * I + e] = (z / (1 + Math.exp(-z))) * gu[t * 2 * I + I + e];
      }
      const dn = R.matmulT(g, T, W(p + 'down.w'), H, I);
      for (let i = 0; i < x.length; i++) x[i] += dn[i];
    }
    const h = R.rmsNormF64(x, H, W('norm.g'), c.eps);
    if (mode === 2) { out.set(h); return; }
    for (let i = 0; i < n; i++) {
      const last = h.subarray((cuQ[i + 1] - 1) * H, cuQ[i + 1] * H);
      if (mode === 0) {
        const nrm = normalize ? Math.max(Math.hypot(...last), 1e-12) : 1;
        for (let e = 0; e < H; e++) out[i * H + e] = last[e] / nrm;
      } else {
        const head = W('head.cls.w');
        for (let r = 0; r < c.numLabels; r++) {
          let s = 0;
          for (let e = 0; e < H; e++) s += head[r * H + e] * last[e];
          out[i * c.numLabels + r] = s;
        }
      }
    }
  }
  destroy() { this.destroyed = true; }
  weightBytes() { return 0; }
  profile() { return {}; }
  graphStats() { return { captured: 0, replayed: 0, failed: 0 }; }
}
module.exports = {
  Model, log,
  deviceCount: () => Number(process.env.STAND_IN_DEVICES ?? 1),
  // GPU g has g MiB less free than GPU 0 (tensor-parallel ranks must agree on the smallest pool).
  deviceInfo: (g) => ({ name: 'stand-in', multiprocessors: 1, computeCapability: '9.0', totalMemory: TOTAL, freeMemory: FREE - g * MiB, l2Bytes: 0 }),
  deviceProperties: () => ({ name: 'stand-in', computeCapability: '9.0', totalMemory: TOTAL }),
  ncclUniqueId: () => new Uint8Array(128),
};
`;
