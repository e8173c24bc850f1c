// How far a faithful fp8 layer can sit from its float64 emulation: one BERT layer of the fp8 scheme
// (src/reference/encoder-f64.ts encoderLayerF64 with fp8) against the same layer with the 16-bit
// roundings of the GPU path put in (GEMM outputs, attention probabilities and output, the residual
// stream and LayerNorm outputs in fp16 or bf16; quantisation from the fp32 values where the GPU
// fuses it). Answers whether the GPU suite's per-layer gap (test/gpu/fp8.gpu.ts, session 10: cosine
// 0.9990 fp16 / 0.9981 bf16 per token) is what those roundings alone give.
//   node dist/bench/fp8_layer_rounding.js --model DIR [--len 17] [--layer 0] [--dtype float16|bfloat16]
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { loadModelFolder } from '../src/model/folder.js';
import { attentionF64, encoderHiddenF64, encoderLayerF64, geluExact, layerNormF64, linearF64, loadEncoderF64, type EncoderF64, type LayerF64 } from '../src/reference/encoder-f64.js';
import { fakeQuantizeRowsE4m3 } from '../src/reference/fp8-e4m3.js';
import { encodeTensor, toFloat32 } from '../src/model/safetensors.js';
import { Rng } from '../scripts/make-test-model.js';
import { cosine } from '../test/gpu/helpers.js';

const argv = yargs(hideBin(process.argv))
  .option('model', { type: 'string', demandOption: true })
  .option('len', { type: 'number', default: 17 })
  .option('layer', { type: 'number', default: 0 })
  .option('dtype', { choices: ['float16', 'bfloat16'] as const, default: 'float16' as const })
  .strict()
  .parseSync();

const st = argv.dtype === 'float16' ? 'F16' : 'BF16';
/** Every value rounded to the 16-bit dtype (round to nearest even, via float32), as safetensors writes and reads it. */
const round = (a: Float64Array) => Float64Array.from(toFloat32(encodeTensor({ dtype: st, shape: [a.length], data: Float32Array.from(a) }), st));

/** encoderLayerF64 with the GPU path's 16-bit roundings (bert.cu fp8: LN-fused quantisation). */
function layer16(m: EncoderF64, L: LayerF64, x16: Float64Array, xq: Float64Array, len: number): Float64Array {
  const d = m.dims, H = d.hidden, Hl = d.heads * d.headDim;
  const q = round(linearF64(xq, len, L.q)), k = round(linearF64(xq, len, L.k)), v = round(linearF64(xq, len, L.v));
  const ctx = round(attentionF64(q, k, v, len, d.heads, d.headDim));
  const noBias = (l: typeof L.q) => ({ ...l, b: new Float64Array(l.out) });
  const a = round(linearF64(fakeQuantizeRowsE4m3(ctx, len, Hl), len, noBias(L.attnOut)));
  for (let i = 0; i < a.length; i++) a[i] = a[i] + L.attnOut.b[i % H] + x16[i];
  const h = layerNormF64(a, len, H, L.ln1, d.eps); // fp32 row: quantised for FFN-up, rounded as the residual
  const hq = fakeQuantizeRowsE4m3(h, len, H), h16 = round(h);
  const up = round(linearF64(hq, len, noBias(L.up)));
  for (let i = 0; i < up.length; i++) up[i] = geluExact(up[i] + L.up.b[i % d.intermediate]);
  const down = round(linearF64(fakeQuantizeRowsE4m3(up, len, d.intermediate), len, noBias(L.down)));
  for (let i = 0; i < down.length; i++) down[i] = down[i] + L.down.b[i % H] + h16[i];
  return round(layerNormF64(down, len, H, L.ln2, d.eps));
}

function worstCos(a: Float64Array, b: Float64Array, len: number, H: number): number {
  let w = 1;
  for (let t = 0; t < len; t++) w = Math.min(w, cosine(a, b.subarray(t * H, (t + 1) * H), t * H, H));
  return w;
}

const folder = loadModelFolder(argv.model);
const exact = loadEncoderF64(folder), fp8 = loadEncoderF64(folder, { fp8: true });
const H = folder.dims.hidden, len = argv.len;
const rng = new Rng(7);
const ids = Array.from({ length: len }, () => rng.int(1000, folder.dims.vocab - 1));
// The layer's input: the exact model's hidden states after `layer` layers, rounded to 16 bits.
const x = round(encoderHiddenF64({ ...exact, layers: exact.layers.slice(0, argv.layer) }, ids));
const L8 = fp8.layers[argv.layer];
const em = encoderLayerF64(fp8, L8, x, len);
const ex = encoderLayerF64(exact, exact.layers[argv.layer], x, len);
const g = layer16(fp8, L8, x, fakeQuantizeRowsE4m3(x, len, H), len);
console.log(`${argv.dtype} layer ${argv.layer + 1}, ${len} tokens, worst per-token cosine: emulated fp8 vs exact ${worstCos(em, ex, len, H).toFixed(7)}; ` +
  `fp8 with the GPU's 16-bit roundings vs emulated ${worstCos(g, em, len, H).toFixed(7)}; 16-bit-rounded fp8 vs exact ${worstCos(g, ex, len, H).toFixed(7)}`);
