// GPU suite for `quantization: 'fp8'` (npm run test:gpu on an sm_89+ machine, after
// scripts/gpu/prepare for the model tests). Per kernel against float64 references on the host —
// the per-row quantisation (scale exact, codes exactly vLLM's round-to-nearest-even rule), the
// fused bias+GELU+quantize, the FP8 GEMM against the product of the dequantised operands with
// both epilogues (cuBLASLt outer-vector scales, and the fp32 product + dequantize kernel) — then
// whole BERT-base and XLM-R-large shaped models against the fp32 engine on ragged batches
// (length 1, the longest length, batch of 1), fp16 and bf16, CUDA graphs replayed, NaN failing.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DTYPE_CODE, loadAddon, type CudaAddon } from '../../src/backends/cuda/addon.js';
import { CudaEngine } from '../../src/backends/cuda/engine.js';
import type { TokenBatch } from '../../src/backends/engine.js';
import type { ComputeDtype } from '../../src/core/options.js';
import { loadModelFolder } from '../../src/model/folder.js';
import { Rng } from '../../scripts/make-test-model.js';
import { GPU_MODELS } from '../../scripts/gpu/prepare.js';
import { E4M3_MAX, e4m3Code, e4m3Value } from '../../src/reference/fp8-e4m3.js';
import { embedF64, encoderLayerF64, geluExact, loadEncoderF64, type EncoderF64 } from '../../src/reference/encoder-f64.js';
import { ADD_LN_SIZES, addLnInputs, representableRows } from './fp8-inputs.js';
import { check, cosine } from './helpers.js';

const e4m3 = e4m3Value;
const toE4m3 = e4m3Code;
const gelu = geluExact;

const DTYPES: ComputeDtype[] = ['float32', 'float16', 'bfloat16'];

describe('FP8 (quantization fp8): kernels and models', function () {
  // Opt-in while experimental (src/core/options.ts resolveQuantization).
  process.env.EMBEDRANK_EXPERIMENTAL_FP8 = '1';
  this.timeout(900_000);
  let addon: CudaAddon;
  before(function () {
    addon = loadAddon();
    const [major, minor] = addon.deviceInfo(0).computeCapability.split('.').map(Number);
    if (major * 10 + minor < 89) this.skip(); // no FP8 tensor cores: the engine refuses fp8 (test/cpu/quantization.test.ts)
  });

  describe('quantize_fp8_rows: per-row scale = amax / 448, codes = e4m3_rn(x · (1 / scale))', () => {
    for (const dt of DTYPES) {
      check(`${dt}: scales exact, every code as the float64 rule gives it, |dequantised − x| within half an e4m3 step`, async () => {
        const rng = new Rng(11);
        for (const K of [16, 768, 3072, 4096]) {
          const rows = 37;
          const x = representableRows(rng, rows, K);
          const { q, scales } = addon.fp8OpTest(DTYPE_CODE[dt], 'quantize', { x, rows, K }, 0);
          let mismatched = 0;
          for (let r = 0; r < rows; r++) {
            let amax = 0;
            for (let c = 0; c < K; c++) amax = Math.max(amax, Math.abs(x[r * K + c]));
            const scale = amax > 0 ? Math.fround(amax / E4M3_MAX) : 1;
            expect(scales[r], `K=${K} row ${r} scale`).to.equal(scale);
            const inv = Math.fround(1 / scale);
            for (let c = 0; c < K; c++) {
              const v = x[r * K + c];
              const code = q[r * K + c];
              const want = toE4m3(Math.fround(v * inv));
              if (code !== want) mismatched++;
              const back = e4m3(code) * scales[r];
              expect(Number.isNaN(back), `K=${K} [${r}, ${c}] NaN code ${code}`).to.equal(false);
              // half a step of e4m3 at this magnitude (3 mantissa bits; subnormal step 2^-9), in x's units
              const mag = Math.abs(v * inv);
              const step = mag < 2 ** -6 ? 2 ** -9 : 2 ** (Math.floor(Math.log2(mag)) - 3);
              expect(Math.abs(back - v), `K=${K} [${r}, ${c}] ${v} → code ${code}`).to.be.at.most((step / 2) * scale * (1 + 1e-6) + 1e-30);
            }
          }
          expect(mismatched, `K=${K}: codes differing from round-to-nearest-even`).to.equal(0);
          if (rows > 2) {
            expect(scales[0]).to.equal(1);
            expect(Array.from(q.subarray(0, K)).every((c) => c === 0)).to.equal(true);
            expect(e4m3(q[K + 5])).to.equal(-448);
          }
        }
      });
    }
  });

  describe('bias_gelu_quantize_fp8: gelu_erf(x + bias) quantised per row in one pass', () => {
    for (const dt of ['float16', 'bfloat16'] as const) {
      check(`${dt}: scales and dequantised values vs float64 GELU`, async () => {
        const rng = new Rng(23);
        for (const N of [64, 1536, 3072, 4096]) {
          const T = 19;
          const x = representableRows(rng, T, N).map((v) => v / 256);
          const bias = Float32Array.from({ length: N }, () => rng.int(-64, 64) / 64);
          const { q, scales } = addon.fp8OpTest(DTYPE_CODE[dt], 'bias_gelu_quantize', { x, bias, T, N }, 0);
          for (let t = 0; t < T; t++) {
            const g = Array.from({ length: N }, (_, n) => gelu(x[t * N + n] + bias[n]));
            const amax = Math.max(...g.map(Math.abs));
            const scale = amax > 0 ? amax / E4M3_MAX : 1;
            expect(Math.abs(scales[t] - scale) / scale, `N=${N} row ${t} scale ${scales[t]} vs ${scale}`).to.be.below(1e-6);
            for (let n = 0; n < N; n++) {
              const back = e4m3(q[t * N + n]) * scales[t];
              expect(Number.isFinite(back)).to.equal(true);
              const mag = Math.abs(g[n] / scales[t]);
              const step = mag < 2 ** -6 ? 2 ** -9 : 2 ** (Math.floor(Math.log2(mag)) - 3);
              // half a step, plus fp32 GELU (erff) error and a neighbouring step where the value sits on a boundary
              expect(Math.abs(back - g[n]), `N=${N} [${t}, ${n}]`).to.be.at.most((step / 2) * scales[t] * 1.001 + 1e-6 * Math.abs(g[n]) + 1e-7);
            }
          }
        }
      });
    }
  });

  describe('add_bias_layernorm with its fp8 output: the LayerNorm row quantised in the same pass', () => {
    for (const dt of ['float16', 'bfloat16'] as const) {
      // Both kernels quantise the fp32 LayerNorm row (scale within 1e-5 of float64's amax / 448);
      // bench/fp8_ln_block_emulation.ts replays the block-per-row case on these same inputs.
      check(`${dt}: H 384, 768, 1024 (one warp per row), 2048, 1536, 4096 (block per row, 512 / 384 / 1024 threads), T = 23: scales and values vs float64 LayerNorm`, async () => {
        const rng = new Rng(41);
        for (const H of ADD_LN_SIZES) {
          const T = 23;
          const { x, residual, gamma, beta, eps } = addLnInputs(rng, T, H); // row 0 of x zero: the sum is the residual alone
          const { q, scales, out } = addon.fp8OpTest(DTYPE_CODE[dt], 'add_ln_quantize', { x, residual, gamma, beta, T, H, eps }, 0);
          for (let t = 0; t < T; t++) {
            const v = Array.from({ length: H }, (_, c) => x[t * H + c] + residual[t * H + c]);
            const mean = v.reduce((a, b) => a + b, 0) / H;
            const rstd = 1 / Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / H + eps);
            const y = v.map((u, c) => (u - mean) * rstd * gamma[c] + beta[c]);
            const amax = Math.max(...y.map(Math.abs));
            expect(Math.abs(scales[t] - amax / E4M3_MAX) / (amax / E4M3_MAX), `H=${H} row ${t} scale`).to.be.below(1e-5);
            for (let c = 0; c < H; c++) {
              const back = e4m3(q[t * H + c]) * scales[t];
              if (!Number.isFinite(back) || !Number.isFinite(out[t * H + c])) throw new Error(`H=${H} [${t}, ${c}]: non-finite`);
              const mag = Math.abs(y[c] / scales[t]);
              const step = mag < 2 ** -6 ? 2 ** -9 : 2 ** (Math.floor(Math.log2(mag)) - 3);
              expect(Math.abs(back - y[c]), `H=${H} [${t}, ${c}] fp8`).to.be.at.most((step / 2) * scales[t] * 1.001 + 1e-5 * amax);
              expect(Math.abs(out[t * H + c] - y[c]), `H=${H} [${t}, ${c}] ${dt} output`).to.be.at.most(2 ** -7 * Math.abs(y[c]) + 1e-3);
            }
          }
        }
      });
    }
  });

  describe('FP8 GEMM (cuBLASLt e4m3 × e4m3, fp32 accumulate) vs float64 of the dequantised operands', () => {
    /** Random codes of moderate magnitude (|value| ≤ 16, no NaN) and random positive scales. */
    function operands(rng: Rng, T: number, K: number, N: number) {
      const code = () => (rng.uniform() < 0.5 ? 0x80 : 0) | rng.int(0, 0x58);
      const xq = Uint8Array.from({ length: T * K }, code);
      const wq = Uint8Array.from({ length: N * K }, code);
      const xs = Float32Array.from({ length: T }, () => Math.fround(2 ** rng.int(-12, -4) * (1 + rng.uniform())));
      const ws = Float32Array.from({ length: N }, () => Math.fround(2 ** rng.int(-12, -4) * (1 + rng.uniform())));
      const bias = Float32Array.from({ length: N }, () => rng.int(-128, 128) / 64);
      return { xq, wq, xs, ws, bias };
    }
    type Operands = ReturnType<typeof operands>;
    /**
     * Largest |y − ref| / tolerance over the first `rows` rows of y [rows, N] against float64 of the
     * dequantised operands; throws on the first value past its tolerance or not finite.
     */
    function worstGemmError(o: Operands, withBias: boolean, rows: number, K: number, N: number, y: Float32Array, what: string): number {
      const xd = Float64Array.from(o.xq.subarray(0, rows * K), e4m3), wd = Float64Array.from(o.wq, e4m3);
      let worst = 0;
      for (let t = 0; t < rows; t++) {
        for (let n = 0; n < N; n++) {
          let acc = 0, mag = 0;
          for (let k = 0; k < K; k++) {
            const p = xd[t * K + k] * wd[n * K + k];
            acc += p;
            mag += Math.abs(p);
          }
          const s = o.xs[t] * o.ws[n];
          const ref = acc * s + (withBias ? o.bias[n] : 0);
          const got = y[t * N + n];
          if (!Number.isFinite(got)) throw new Error(`${what} [${t}, ${n}]: non-finite ${got}`);
          // output rounding (bf16: 2^-9 relative) + accumulation (FP8 fast accumulation, 2^-10 of Σ|products|)
          const tol = 2 ** -8 * Math.abs(ref) + 2 ** -10 * mag * s + 1e-6;
          const err = Math.abs(got - ref);
          worst = Math.max(worst, err / tol);
          if (err > tol) throw new Error(`${what} [${t}, ${n}]: ${got} vs ${ref} (tolerance ${tol})`);
        }
      }
      return worst;
    }
    // BERT-base QKV / O / down, XLM-R-large up, MiniLM up; token counts kept small: the float64 reference runs in JS
    // (157 tokens: an odd T spanning a partial second 128-row tile)
    const SHAPES: Array<[number, number, number]> = [[1, 768, 2304], [37, 768, 768], [96, 3072, 768], [64, 1024, 4096], [8, 384, 1536], [157, 768, 768]];
    for (const epilogue of ['outer', 'kernel', 'auto'] as const) {
      for (const dt of ['float16', 'bfloat16'] as const) {
        check(`${dt}, epilogue ${epilogue}: T×K×N ${SHAPES.map((s) => s.join('×')).join(', ')}, with and without bias`, async () => {
          const rng = new Rng(31);
          let worst = 0;
          const ran = new Set<string>();
          for (const [T, K, N] of SHAPES) {
            for (const withBias of [true, false]) {
              const o = operands(rng, T, K, N);
              const { y, epilogue: used } = addon.fp8OpTest(
                DTYPE_CODE[dt],
                'gemm',
                { xq: o.xq, xs: o.xs, wq: o.wq, ws: o.ws, bias: withBias ? o.bias : undefined, T, K, N, epilogue },
                0,
              );
              ran.add(used);
              if (epilogue !== 'auto') expect(used).to.equal(epilogue);
              worst = Math.max(worst, worstGemmError(o, withBias, T, K, N, y, `${T}×${K}×${N} bias ${withBias}`));
            }
          }
          process.stdout.write(`      ${dt} ${epilogue} (ran: ${[...ran].join(', ')}): worst error ${(worst * 100).toFixed(1)}% of the tolerance\n`);
        });
      }
    }
    // A graph captured at T = 40 and replayed after an eager call of 300 rows (a larger fp32 product
    // for the Kernel epilogue): no buffer a graph holds may move (the runner's max_acc_elems), or the
    // replay reads and writes freed memory.
    for (const epilogue of ['outer', 'kernel'] as const) {
      check(`CUDA graph replay after a larger eager call, epilogue ${epilogue}: 40 then 300 × 768 × 2304, with bias`, async () => {
        const rng = new Rng(37);
        const [Tg, T, K, N] = [40, 300, 768, 2304];
        const o = operands(rng, T, K, N);
        const { y, yGraph, epilogue: used } = addon.fp8OpTest(
          DTYPE_CODE.float16,
          'gemm_graph',
          { xq: o.xq, xs: o.xs, wq: o.wq, ws: o.ws, bias: o.bias, T, graphT: Tg, K, N, epilogue },
          0,
        );
        expect(used).to.equal(epilogue);
        const worst = Math.max(worstGemmError(o, true, Tg, K, N, yGraph, 'replayed graph'), worstGemmError(o, true, T, K, N, y, 'eager'));
        process.stdout.write(`      graph ${epilogue}: worst error ${(worst * 100).toFixed(1)}% of the tolerance\n`);
      });
    }
  });

  describe('models: fp8 vs the fp32 engine and vs the scheme emulated in float64, ragged batches', () => {
    // Ragged batches with length 1, the longest length, a batch of 1 and many short sequences;
    // the first batch's first sequences (lengths 1, 7, 17) also go through the float64 reference.
    // Then the largest batches: exactly maxTokens (48 · max) and maxTokens − 1 (an odd T), run
    // after graphs of the smaller ones were captured (buffers sized at maxTokens, and none may
    // move under a captured graph: the Kernel epilogue's did, s4d's cudaErrorIllegalAddress).
    const lengthsOf = (max: number): number[][] => [
      [1, 7, 17, max, 250, 2, 128, 511 % max || 3, 64],
      [max],
      [1],
      Array.from({ length: 48 }, (_, i) => 1 + ((i * 37) % max)), // 11064 tokens at max 512: T % 16 = 8
      Array.from({ length: 48 }, () => max),
      Array.from({ length: 48 }, (_, i) => (i === 47 ? max - 1 : max)),
    ];
    const F64_SEQS = 3;
    function batchOf(lengths: number[], vocab: number, typeVocab: number, rng: Rng): TokenBatch {
      const cu = [0];
      for (const l of lengths) cu.push(cu[cu.length - 1] + l);
      const ids = Int32Array.from({ length: cu[cu.length - 1] }, () => rng.int(1000, vocab - 1));
      return { ids, typeIds: Int32Array.from(ids, () => (typeVocab > 1 && rng.uniform() < 0.3 ? 1 : 0)), cuSeqlens: Int32Array.from(cu) };
    }
    const copy = (b: TokenBatch): TokenBatch => ({ ids: b.ids.slice(), typeIds: b.typeIds?.slice(), cuSeqlens: b.cuSeqlens.slice() });
    const dot = (a: ArrayLike<number>, b: ArrayLike<number>, aOff: number, dim: number) => cosine(a, Array.from({ length: dim }, (_, i) => b[i]), aOff, dim);

    for (const [name, dtypes] of [['bert-base', ['float16', 'bfloat16']], ['xlmr-large', ['float16']], ['bert-base-bf16', ['bfloat16']]] as const) {
      describe(name, () => {
        const dir = join(GPU_MODELS, name);
        let exact: Float64Array[] = [], emulated: Float64Array[] = [];
        let m: EncoderF64, q: EncoderF64;
        let batches: TokenBatch[] = [];
        before(function () {
          this.timeout(1_800_000);
          if (!existsSync(join(dir, 'config.json'))) throw new Error(`run scripts/gpu/prepare first (${dir})`);
          const folder = loadModelFolder(dir);
          const maxLen = Math.min(512, folder.dims.maxPositions - folder.dims.positionOffset);
          const rng = new Rng(name.length * 101);
          batches = lengthsOf(maxLen).map((l) => batchOf(l, folder.dims.vocab, folder.dims.typeVocab, rng));
          // float64: exact, and with every linear's operands quantised as the kernels quantise them
          const b = batches[0];
          const seq = (s: number) => [b.ids.subarray(b.cuSeqlens[s], b.cuSeqlens[s + 1]), b.typeIds!.subarray(b.cuSeqlens[s], b.cuSeqlens[s + 1])] as const;
          m = loadEncoderF64(folder);
          q = loadEncoderF64(folder, { fp8: true });
          exact = Array.from({ length: F64_SEQS }, (_, s) => embedF64(m, ...seq(s), folder.st.pooling, true));
          emulated = Array.from({ length: F64_SEQS }, (_, s) => embedF64(q, ...seq(s), folder.st.pooling, true));
        });

        for (const dtype of dtypes) {
          check(`${dtype}: each layer tracks the emulated scheme (per token, from the GPU's own input), fp8 is no worse than the scheme against exact, graphs replay, both epilogues and LN fusion on/off agree after one layer`, async () => {
            const folder = loadModelFolder(dir);
            const maxLen = Math.min(512, folder.dims.maxPositions - folder.dims.positionOffset);
            const opts = { device: 0, rank: 0, worldSize: 1, maxTokens: 48 * maxLen, maxSeqs: 64, slots: 2 };
            // The first batch's first sequences (lengths 1, 7, 17), for the layer-by-layer checks.
            const b0 = batches[0], ends = Array.from(b0.cuSeqlens.subarray(0, F64_SEQS + 1));
            const sub: TokenBatch = { ids: b0.ids.slice(0, ends[F64_SEQS]), typeIds: b0.typeIds!.slice(0, ends[F64_SEQS]), cuSeqlens: Int32Array.from(ends) };
            // The layers whose output is checked against one float64 layer (first, middle, last), and
            // the hidden states of sub each variant's engine gives: `${variant}:${layers run}`.
            const nl = folder.dims.layers;
            const checked = [0, nl >> 1, nl - 1];
            const hidden = new Map<string, Float32Array>();
            const run = async (e: CudaEngine) => {
              const out: Float32Array[] = [];
              for (const b of batches) out.push(await e.embed(copy(b)));
              return out;
            };
            // env: switches read when the model is made (EMBEDRANK_FP8_EPILOGUE, EMBEDRANK_FP8_FUSE_LN)
            const withEngine = async (dt: ComputeDtype, quantization?: 'fp8', env: Record<string, string> = {}, variant = '') => {
              const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
              Object.assign(process.env, env);
              let e: CudaEngine;
              try {
                e = await CudaEngine.create(folder, { ...opts, dtype: dt, quantization });
              } finally {
                for (const [k, v] of Object.entries(saved)) {
                  if (v === undefined) delete process.env[k];
                  else process.env[k] = v;
                }
              }
              try {
                const first = await run(e);
                await run(e); // second sighting of each shape: captured
                const replayed = await run(e); // replayed from the graph
                first.forEach((r, i) => r.forEach((v, j) => expect(Math.abs(v - replayed[i][j]), `graph replay batch ${i} [${j}]`).to.be.below(1e-6)));
                // fp8: before and after every checked layer; the other variants: after layer 1.
                for (const k of variant === 'fp8' ? checked.flatMap((c) => [c, c + 1]) : variant ? [1] : []) {
                  hidden.set(`${variant}:${k}`, await e.hidden(copy(sub), k));
                }
                return first;
              } finally {
                await e.close();
              }
            };
            const ref = await withEngine('float32');
            const plain = await withEngine(dtype);
            const fp8 = await withEngine(dtype, 'fp8', {}, 'fp8');
            const fp8Kernel = await withEngine(dtype, 'fp8', { EMBEDRANK_FP8_EPILOGUE: 'kernel' }, 'kernel');
            // graphs off here: every batch's GEMMs at its exact T (graphs run the bucket's rows, multiples of 64)
            const fp8Unfused = await withEngine(dtype, 'fp8', { EMBEDRANK_FP8_FUSE_LN: '0', EMBEDRANK_CUDA_GRAPHS: '0' }, 'unfused');
            const H = folder.dims.hidden;
            // Layer by layer: the GPU's hidden states after layer k + 1 against one layer of the
            // float64 scheme run from the GPU's own states after layer k (first, middle, last
            // layer; the first batch's lengths 1, 7, 17). Through a whole random-weight model the
            // two drift apart chaotically — an input that lands within rounding of an e4m3 step
            // boundary takes the other code on one side, and 12-24 layers of random weights
            // amplify that (session 9: 0.915-0.982 end to end) — so the per-layer comparison is
            // what tells a faithful implementation of the scheme from a wrong one.
            const tokensWorst = (a: Float32Array, b: Float32Array) => {
              let w = 1;
              for (let t = 0; t < ends[F64_SEQS]; t++) w = Math.min(w, cosine(a, b.subarray(t * H, (t + 1) * H), t * H, H));
              return w;
            };
            let layerTrack = 1, layerScheme = 1;
            const layerNotes: string[] = [];
            for (const k of checked) {
              const before = hidden.get(`fp8:${k}`)!, after = hidden.get(`fp8:${k + 1}`)!;
              let track = 1, scheme = 1;
              for (let s = 0; s < F64_SEQS; s++) {
                const len = ends[s + 1] - ends[s];
                const x = Float64Array.from(before.subarray(ends[s] * H, ends[s + 1] * H));
                expect(x.every(Number.isFinite), `layer ${k} input: NaN or Inf`).to.equal(true);
                const em = encoderLayerF64(q, q.layers[k], x, len), ex = encoderLayerF64(m, m.layers[k], x, len);
                for (let t = 0; t < len; t++) {
                  track = Math.min(track, cosine(after, em.subarray(t * H, (t + 1) * H), (ends[s] + t) * H, H));
                  scheme = Math.min(scheme, cosine(ex, em.subarray(t * H, (t + 1) * H), t * H, H));
                }
              }
              layerTrack = Math.min(layerTrack, track);
              layerScheme = Math.min(layerScheme, scheme);
              layerNotes.push(`layer ${k + 1}: GPU vs emulated ${track.toFixed(7)}, emulated vs exact ${scheme.toFixed(7)}`);
            }
            // The variants after one layer from the same embeddings (model-level they drift apart as above).
            const epiLayer1 = tokensWorst(hidden.get('kernel:1')!, hidden.get('fp8:1')!), fuseLayer1 = tokensWorst(hidden.get('unfused:1')!, hidden.get('fp8:1')!);
            let worst = 1, sum = 0, count = 0, worstPlain = 1, differs = false, epiWorst = 1, fuseWorst = 1;
            batches.forEach((b, i) => {
              for (let s = 0; s < b.cuSeqlens.length - 1; s++) {
                const c = cosine(fp8[i], ref[i].subarray(s * H, (s + 1) * H), s * H, H);
                worst = Math.min(worst, c);
                sum += c;
                count++;
                worstPlain = Math.min(worstPlain, cosine(plain[i], ref[i].subarray(s * H, (s + 1) * H), s * H, H));
                epiWorst = Math.min(epiWorst, cosine(fp8Kernel[i], fp8[i].subarray(s * H, (s + 1) * H), s * H, H));
                fuseWorst = Math.min(fuseWorst, cosine(fp8Unfused[i], fp8[i].subarray(s * H, (s + 1) * H), s * H, H));
                if (cosine(fp8[i], plain[i].subarray(s * H, (s + 1) * H), s * H, H) < 1 - 1e-6) differs = true;
              }
            });
            let trackWorst = 1, schemeWorst = 1, gpuVsExactWorst = 1;
            for (let s = 0; s < F64_SEQS; s++) {
              trackWorst = Math.min(trackWorst, dot(fp8[0], emulated[s], s * H, H));
              gpuVsExactWorst = Math.min(gpuVsExactWorst, dot(fp8[0], exact[s], s * H, H));
              let c = 0;
              for (let d = 0; d < H; d++) c += exact[s][d] * emulated[s][d];
              schemeWorst = Math.min(schemeWorst, c);
            }
            process.stdout.write(
              `      ${name} ${dtype}: fp8 vs fp32 engine cosine worst ${worst.toFixed(6)}, mean ${(sum / count).toFixed(6)} over ${count} sequences ` +
                `(${dtype} without fp8: worst ${worstPlain.toFixed(6)}); float64 (lengths 1, 7, 17): emulated fp8 vs exact ${schemeWorst.toFixed(6)}, ` +
                `GPU fp8 vs emulated ${trackWorst.toFixed(6)}, GPU fp8 vs exact ${gpuVsExactWorst.toFixed(6)}; outer vs kernel epilogue worst ${epiWorst.toFixed(7)}, LN-fused vs separate quantize worst ${fuseWorst.toFixed(7)}\n` +
                `      per token, one layer from the GPU's own input: ${layerNotes.join('; ')}; after layer 1, outer vs kernel epilogue ${epiLayer1.toFixed(7)}, LN-fused vs separate quantize ${fuseLayer1.toFixed(7)}\n`,
            );
            expect(differs, 'fp8 output equals the 16-bit output: the FP8 path did not run').to.equal(true);
            // The 16-bit roundings of the GPU path alone (GEMM outputs, attention, residual; the
            // quantisations then taking the other code near a step boundary) put one layer of the
            // scheme at 0.9988-0.9999 per token from its float64 emulation on these models
            // (bench/fp8_layer_rounding.ts, session 10: fp16 ≥ 0.99933, bf16 ≥ 0.99881 at layers 1, 7,
            // 12); the bars leave 3× / 2.5× that gap. A lost scale or bias, or a wrong rounding
            // rule, costs as much as the scheme itself (1 − 0.997 per layer) or more, and the
            // second bar refuses that.
            expect(layerTrack, 'GPU fp8 layer vs the float64 emulation of the same quantisation, per token').to.be.at.least(dtype === 'float16' ? 0.998 : 0.997);
            expect(1 - layerTrack, 'GPU fp8 layer error vs the scheme error (the emulated layer vs exact)').to.be.below(1 - layerScheme);
            expect(gpuVsExactWorst, 'GPU fp8 materially worse than the quantisation scheme itself').to.be.at.least(schemeWorst - Math.max(0.005, 0.2 * (1 - schemeWorst)));
            // One layer from the same embeddings: rounding differences only (a lost scale or bias gives
            // far less). The fused LN quantises the fp32 row, the separate pass the 16-bit one.
            expect(epiLayer1, 'after layer 1: outer vs kernel epilogue').to.be.at.least(0.999);
            expect(fuseLayer1, 'after layer 1: LN-fused vs separate quantize').to.be.at.least(0.999);
            // Issue 14's target (≥ 0.999 vs fp32) wherever the format allows it: on generated random
            // models the scheme's own float64 emulation can fall below it (bench/fp8_accuracy_sim.py).
            if (schemeWorst >= 0.9995) expect(worst, 'issue 14 target: fp8 vs fp32 cosine').to.be.at.least(0.999);
            else process.stdout.write(`      (issue 14 target 0.999 not asserted: the emulated scheme itself reaches only ${schemeWorst.toFixed(6)} on this random model)\n`);
          });
        }
      });
    }

    check('the addon refuses fp8 with dtype float32 (a check of its own, behind resolveQuantization)', async () => {
      const dir = join(GPU_MODELS, 'bert-base');
      if (!existsSync(join(dir, 'config.json'))) throw new Error(`run scripts/gpu/prepare first (${dir})`);
      let err: Error | undefined;
      try {
        const e = await CudaEngine.create(loadModelFolder(dir), { dtype: 'float32', device: 0, rank: 0, worldSize: 1, maxTokens: 512, maxSeqs: 4, slots: 1, quantization: 'fp8' });
        await e.close();
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message).to.match(/float16 or bfloat16/);
    });
  });
});
