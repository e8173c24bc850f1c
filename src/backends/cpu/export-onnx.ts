// Exports an encoder of any family in src/models/ (BertModel, RobertaModel, XLMRobertaModel,
// DistilBertModel and their *ForSequenceClassification) from its safetensors weights to an ONNX
// graph (opset 17), without Python. The graph is the one transformers computes, in fp32:
//
//   inputs   input_ids, attention_mask                      int64 [batch, sequence]
//            token_type_ids (only when type_vocab_size > 1) int64 [batch, sequence]
//   outputs  last_hidden_state                              float32 [batch, sequence, hidden]
//            logits (cross-encoders)                        float32 [batch, num_labels]
//
// Embeddings (word + position [+ token type; a one-row type table is added to every token, as
// RoBERTa does], LayerNorm), then per layer: separate Q/K/V projections, softmax(QKᵀ/√d + mask) V
// with the additive mask (1 − mask)·finfo(float32).min as transformers builds it, output
// projection, residual + LayerNorm, exact-erf GELU MLP, residual + LayerNorm. Positions are
// computed in the graph by the family's rule (models/family.ts positionIds; RoBERTa/XLM-R by
// transformers' create_position_ids_from_input_ids), as optimum exports them, so ONNX tools that
// feed only input_ids / attention_mask (/ token_type_ids) run the file. Cross-encoders add the family's head on the first token: dense → tanh (BERT
// pooler, RoBERTa classifier.dense) or → ReLU (DistilBERT pre_classifier), then the output layer.
// The node pattern follows what torch.onnx emits, so onnxruntime's fusions (Gelu, SkipLayerNorm,
// Attention) recognise it.
//
// Models whose fp32 weights would exceed protobuf's 2 GiB limit are written with ONNX external
// data: model.onnx holds the graph, a side file `<model>.onnx_data` the weights.
import { closeSync, existsSync, mkdirSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { ModelFolder } from '../../model/folder.js';
import { layerKey, type EncoderDims, type LayerTensor } from '../../models/family.js';
import type { ModelWeights } from '../../models/weights.js';
import { buildQwen3Graph } from './export-onnx-qwen3.js';
import {
  attr,
  bytesOf,
  DataType,
  encodeModel,
  encodeModelChunks,
  floatTensor,
  int64Tensor,
  PROTOBUF_MAX_BYTES,
  type AttributeValue,
  type GraphSpec,
  type ModelSpec,
  type NodeSpec,
  type TensorSpec,
} from './onnx-proto.js';

/** The parts of a ModelFolder the exporter reads. */
export type OnnxSource = Pick<ModelFolder, 'dims' | 'weights' | 'family' | 'kind' | 'numLabels'>;

export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;
/** Weights above this many bytes go to external data in 'auto' mode (protobuf caps at 2 GiB). */
export const EXTERNAL_DATA_THRESHOLD = 2_000_000_000;
/** Offsets in the external data file are multiples of this, so onnxruntime can mmap them. */
const EXTERNAL_ALIGN = 4096;
/** torch.finfo(torch.float32).min: transformers' additive mask value. */
export const F32_MIN = -3.4028234663852886e38;

/** A weight initializer read (and converted to fp32) only when serialised. */
export interface LazyWeight {
  name: string;
  dims: number[];
  load(): Float32Array;
}

export interface EncoderGraph {
  /** The graph with its small constant initializers; the weights are in `weights`. */
  graph: GraphSpec;
  weights: LazyWeight[];
  /** fp32 bytes of all weights. */
  weightBytes: number;
}

export interface BuildOptions {
  /** Add the classification head and a `logits` output (default: when the model is a cross-encoder). */
  logits?: boolean;
  /** One [hidden, 3·hidden] MatMul + Split for Q, K, V instead of three MatMuls (default false). */
  fuseQkv?: boolean;
}

/** Row-major [rows, cols] → [cols, rows]: torch Linear weights [out, in] become MatMul's [in, out]. */
export function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) t[c * rows + r] = w[base + c];
  }
  return t;
}

export class GraphBuilder {
  readonly nodes: NodeSpec[] = [];
  readonly consts: TensorSpec[] = [];
  readonly weights: LazyWeight[] = [];
  private readonly constNames = new Map<string, string>();
  private counter = 0;

  /** Adds a node with one output and returns the output's name. */
  op(opType: string, inputs: string[], out: string, attributes?: Record<string, AttributeValue>): string {
    this.nodes.push({ opType, inputs, outputs: [out], name: `${opType}_${this.counter++}`, attributes });
    return out;
  }

  /** Adds a node with several outputs. */
  opN(opType: string, inputs: string[], outs: string[], attributes?: Record<string, AttributeValue>): string[] {
    this.nodes.push({ opType, inputs, outputs: outs, name: `${opType}_${this.counter++}`, attributes });
    return outs;
  }

  scalarF(v: number): string {
    const key = `f:${v}`;
    let n = this.constNames.get(key);
    if (!n) {
      n = `const_f32_${this.constNames.size}`;
      this.consts.push(floatTensor(n, [], [v]));
      this.constNames.set(key, n);
    }
    return n;
  }

  ints(values: number[], scalar = false): string {
    const key = `i:${scalar ? 's' : ''}${values.join(',')}`;
    let n = this.constNames.get(key);
    if (!n) {
      n = `const_i64_${this.constNames.size}`;
      this.consts.push(int64Tensor(n, scalar ? [] : [values.length], values));
      this.constNames.set(key, n);
    }
    return n;
  }

  weight(name: string, dims: number[], load: () => Float32Array): string {
    this.weights.push({ name, dims, load });
    return name;
  }
}

/** Builds the encoder graph; weights stay lazy until serialised. */
export function buildEncoderGraph(src: OnnxSource, opts: BuildOptions = {}): EncoderGraph {
  if (src.dims.decoder) return buildQwen3Graph(src, opts);
  const d: EncoderDims = src.dims;
  const w: ModelWeights = src.weights;
  const withLogits = opts.logits ?? src.kind === 'cross-encoder';
  if (withLogits && !(w.has('head.pool.w') && w.has('head.cls.w'))) {
    throw new Error(`cannot export logits: the checkpoint has no ${w.describe('head.pool.w')} / ${w.describe('head.cls.w')} head`);
  }
  const H = d.hidden;
  const Hl = d.heads * d.headDim;
  const g = new GraphBuilder();

  const vec = (key: string, len: number) => g.weight(key, [len], () => w.f32(key));
  const mat = (key: string, out: number, inp: number) => g.weight(`${key}.T`, [inp, out], () => transpose(w.f32(key), out, inp));
  const linear = (x: string, wKey: string, bKey: string, out: number, inp: number, tag: string) => {
    const mm = g.op('MatMul', [x, mat(wKey, out, inp)], w.has(bKey) ? `${tag}/matmul` : `${tag}/out`);
    return w.has(bKey) ? g.op('Add', [mm, vec(bKey, out)], `${tag}/out`) : mm;
  };
  const layerNorm = (x: string, gKey: string, bKey: string, out: string) =>
    g.op('LayerNormalization', [x, vec(gKey, H), vec(bKey, H)], out, {
      axis: attr.int(-1),
      epsilon: attr.float(d.eps),
      stash_type: attr.int(1),
    });

  // Embeddings.
  const word = g.weight('emb.word', [d.vocab, H], () => w.f32('emb.word'));
  const pos = g.weight('emb.pos', [d.maxPositions, H], () => w.f32('emb.pos'));
  const wordEmb = g.op('Gather', [word, 'input_ids'], 'emb/word', { axis: attr.int(0) });
  let posEmb: string;
  if (d.paddingIdx === undefined) {
    // Positions offset .. offset + seq − 1: a slice of the table, broadcast over the batch.
    let seqEnd = g.op('Shape', ['input_ids'], 'emb/seq_len', { start: attr.int(1), end: attr.int(2) });
    if (d.positionOffset) seqEnd = g.op('Add', [seqEnd, g.ints([d.positionOffset])], 'emb/pos_end');
    posEmb = g.op('Slice', [pos, g.ints([d.positionOffset]), seqEnd, g.ints([0])], 'emb/pos');
  } else {
    // transformers' create_position_ids_from_input_ids: mask = ids ≠ pad;
    // positions = cumsum(mask) · mask + padding_idx (pads, padding included, sit at padding_idx).
    const notPad = g.op('Not', [g.op('Equal', ['input_ids', g.ints([d.paddingIdx], true)], 'emb/is_pad')], 'emb/not_pad');
    const mask = g.op('Cast', [notPad], 'emb/not_pad_i64', { to: attr.int(DataType.INT64) });
    const cum = g.op('CumSum', [mask, g.ints([1], true)], 'emb/cumsum');
    const posIds = g.op('Add', [g.op('Mul', [cum, mask], 'emb/cumsum_masked'), g.ints([d.paddingIdx], true)], 'emb/position_ids');
    posEmb = g.op('Gather', [pos, posIds], 'emb/pos', { axis: attr.int(0) });
  }
  let embSum = g.op('Add', [wordEmb, posEmb], 'emb/word_pos');
  if (d.typeVocab > 1) {
    const typ = g.weight('emb.type', [d.typeVocab, H], () => w.f32('emb.type'));
    embSum = g.op('Add', [embSum, g.op('Gather', [typ, 'token_type_ids'], 'emb/type', { axis: attr.int(0) })], 'emb/sum');
  } else if (d.typeVocab === 1) {
    // One type row (RoBERTa, XLM-R): every token adds it; [1, H] broadcasts over [batch, seq, H].
    embSum = g.op('Add', [embSum, g.weight('emb.type', [1, H], () => w.f32('emb.type'))], 'emb/sum');
  }
  let x = layerNorm(embSum, 'emb.ln.g', 'emb.ln.b', 'emb/out');

  // Additive attention mask [batch, 1, 1, seq]: 0 for tokens, finfo.min for padding.
  const maskF = g.op('Cast', ['attention_mask'], 'mask/float', { to: attr.int(DataType.FLOAT) });
  const inv = g.op('Sub', [g.scalarF(1), maskF], 'mask/inverted');
  const addMask = g.op('Mul', [inv, g.scalarF(F32_MIN)], 'mask/additive');
  const mask4 = g.op('Unsqueeze', [addMask, g.ints([1, 2])], 'mask/4d');

  const headShape = g.ints([0, 0, d.heads, d.headDim]);
  const mergedShape = g.ints([0, 0, Hl]);
  const scale = g.scalarF(Math.sqrt(d.headDim));
  for (let i = 0; i < d.layers; i++) {
    const k_ = (t: LayerTensor) => layerKey(i, t);
    const p = `l${i}`;
    let q: string, k: string, v: string;
    if (opts.fuseQkv) {
      // [H, 3Hl] = [Wqᵀ | Wkᵀ | Wvᵀ]: row r holds q, k, v output columns side by side.
      const wqkv = g.weight(`${p}.qkv.weight.T`, [H, 3 * Hl], () => {
        const parts = (['q.w', 'k.w', 'v.w'] as const).map((t) => transpose(w.f32(k_(t)), Hl, H));
        const out = new Float32Array(3 * Hl * H);
        for (let r = 0; r < H; r++) parts.forEach((t, j) => out.set(t.subarray(r * Hl, (r + 1) * Hl), r * 3 * Hl + j * Hl));
        return out;
      });
      const bqkv = g.weight(`${p}.qkv.bias`, [3 * Hl], () => {
        const out = new Float32Array(3 * Hl);
        (['q.b', 'k.b', 'v.b'] as const).forEach((t, j) => out.set(w.f32(k_(t)), j * Hl));
        return out;
      });
      const qkv = g.op('Add', [g.op('MatMul', [x, wqkv], `${p}/qkv/matmul`), bqkv], `${p}/qkv/out`);
      [q, k, v] = g.opN('Split', [qkv], [`${p}/q/out`, `${p}/k/out`, `${p}/v/out`], { axis: attr.int(-1) });
    } else {
      q = linear(x, k_('q.w'), k_('q.b'), Hl, H, `${p}/q`);
      k = linear(x, k_('k.w'), k_('k.b'), Hl, H, `${p}/k`);
      v = linear(x, k_('v.w'), k_('v.b'), Hl, H, `${p}/v`);
    }
    const qh = g.op('Transpose', [g.op('Reshape', [q, headShape], `${p}/q/heads`)], `${p}/q/t`, { perm: attr.ints([0, 2, 1, 3]) });
    const kh = g.op('Transpose', [g.op('Reshape', [k, headShape], `${p}/k/heads`)], `${p}/k/t`, { perm: attr.ints([0, 2, 3, 1]) });
    const vh = g.op('Transpose', [g.op('Reshape', [v, headShape], `${p}/v/heads`)], `${p}/v/t`, { perm: attr.ints([0, 2, 1, 3]) });
    const scores = g.op('Div', [g.op('MatMul', [qh, kh], `${p}/qk`), scale], `${p}/scores`);
    const masked = g.op('Add', [scores, mask4], `${p}/scores_masked`);
    const probs = g.op('Softmax', [masked], `${p}/probs`, { axis: attr.int(-1) });
    const ctx = g.op('MatMul', [probs, vh], `${p}/ctx`);
    const ctxT = g.op('Transpose', [ctx], `${p}/ctx/t`, { perm: attr.ints([0, 2, 1, 3]) });
    const merged = g.op('Reshape', [ctxT, mergedShape], `${p}/ctx/merged`);
    const attnOut = linear(merged, k_('o.w'), k_('o.b'), H, Hl, `${p}/attn_out`);
    const h1 = layerNorm(g.op('Add', [attnOut, x], `${p}/attn_res`), k_('ln1.g'), k_('ln1.b'), `${p}/attn_ln`);
    // Exact GELU, as torch.onnx writes nn.GELU(): x · 0.5 · (1 + erf(x / √2)).
    const up = linear(h1, k_('up.w'), k_('up.b'), d.intermediate, H, `${p}/up`);
    const erf = g.op('Erf', [g.op('Div', [up, g.scalarF(Math.SQRT2)], `${p}/gelu/div`)], `${p}/gelu/erf`);
    const gate = g.op('Add', [erf, g.scalarF(1)], `${p}/gelu/add`);
    const gelu = g.op('Mul', [g.op('Mul', [up, gate], `${p}/gelu/mul`), g.scalarF(0.5)], `${p}/gelu/out`);
    const down = linear(gelu, k_('down.w'), k_('down.b'), H, d.intermediate, `${p}/down`);
    const out = i === d.layers - 1 ? 'last_hidden_state' : `${p}/out`;
    x = layerNorm(g.op('Add', [down, h1], `${p}/mlp_res`), k_('ln2.g'), k_('ln2.b'), out);
  }
  if (d.layers === 0) x = g.op('Identity', [x], 'last_hidden_state');

  const outputs: GraphSpec['outputs'] = [{ name: 'last_hidden_state', elemType: DataType.FLOAT, shape: ['batch', 'sequence', H] }];
  if (withLogits) {
    const L = w.shape('head.cls.w')[0];
    const first = g.op('Gather', ['last_hidden_state', g.ints([0], true)], 'head/first', { axis: attr.int(1) });
    const dense = linear(first, 'head.pool.w', 'head.pool.b', H, H, 'head/dense');
    const act = g.op(src.family.headActivation === 'relu' ? 'Relu' : 'Tanh', [dense], 'head/act');
    const mm = g.op('MatMul', [act, mat('head.cls.w', L, H)], w.has('head.cls.b') ? 'head/out/matmul' : 'logits');
    if (w.has('head.cls.b')) g.op('Add', [mm, vec('head.cls.b', L)], 'logits');
    outputs.push({ name: 'logits', elemType: DataType.FLOAT, shape: ['batch', L] });
  }

  const ids = (name: string) => ({ name, elemType: DataType.INT64, shape: ['batch', 'sequence'] });
  const inputs = [ids('input_ids'), ids('attention_mask')];
  if (d.typeVocab > 1) inputs.push(ids('token_type_ids'));
  const graph: GraphSpec = { name: `embedrank_${d.family}`, nodes: g.nodes, initializers: g.consts, inputs, outputs };
  const weightBytes = g.weights.reduce((s, t) => s + 4 * t.dims.reduce((a, b) => a * b, 1), 0);
  return { graph, weights: g.weights, weightBytes };
}

function modelSpec(graph: GraphSpec): ModelSpec {
  return {
    irVersion: ONNX_IR_VERSION,
    opsetImports: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'embedrank',
    producerVersion: '0.1.0',
    docString: `${graph.name.replace('embedrank_', '')} encoder exported from safetensors by embedrank (fp32).`,
    graph,
  };
}

function withWeights(bg: EncoderGraph, tensors: TensorSpec[]): GraphSpec {
  return { ...bg.graph, initializers: [...tensors, ...bg.graph.initializers] };
}

/** Whether the fp32 weights are too large for a single protobuf message. */
export function needsExternalData(src: OnnxSource): boolean {
  return buildEncoderGraph(src).weightBytes > EXTERNAL_DATA_THRESHOLD;
}

/** The whole model as one ONNX buffer (weights inline). Throws for models over protobuf's 2 GiB limit. */
export function exportEncoderOnnx(src: OnnxSource, opts: BuildOptions = {}): Uint8Array {
  const bg = buildEncoderGraph(src, opts);
  if (bg.weightBytes > PROTOBUF_MAX_BYTES) {
    throw new Error(`fp32 weights are ${bg.weightBytes} bytes, over protobuf's 2 GiB limit: use writeEncoderOnnx (external data)`);
  }
  const tensors = bg.weights.map((t) => ({ name: t.name, dataType: DataType.FLOAT, dims: t.dims, rawData: bytesOf(t.load()) }));
  return encodeModel(modelSpec(withWeights(bg, tensors)));
}

export interface WriteOptions extends BuildOptions {
  /** true: weights in a side file; false: inline; 'auto' (default): side file when over the protobuf limit. */
  externalData?: boolean | 'auto';
}

export interface WrittenOnnx {
  modelFile: string;
  /** The external data file, when one was written. */
  dataFile?: string;
  bytes: number;
}

function writeAll(fd: number, data: Uint8Array, position: number): void {
  let off = 0;
  while (off < data.byteLength) {
    off += writeSync(fd, data, off, data.byteLength - off, position + off);
  }
}

/**
 * Writes the model to `file` (an .onnx path). With external data the weights go to
 * `<file>_data` (e.g. model.onnx_data, the name optimum uses), streamed one tensor at a time so
 * the fp32 weights never sit in memory all at once.
 */
export function writeEncoderOnnx(src: OnnxSource, file: string, opts: WriteOptions = {}): WrittenOnnx {
  const bg = buildEncoderGraph(src, opts);
  const mode = opts.externalData ?? 'auto';
  const external = mode === 'auto' ? bg.weightBytes > EXTERNAL_DATA_THRESHOLD : mode;
  mkdirSync(dirname(file), { recursive: true });
  if (!external) {
    const bytes = exportEncoderOnnx(src, opts);
    const fd = openSync(file, 'w');
    try {
      writeAll(fd, bytes, 0);
    } finally {
      closeSync(fd);
    }
    const stale = `${file}_data`;
    if (existsSync(stale)) unlinkSync(stale);
    return { modelFile: file, bytes: bytes.byteLength };
  }
  const dataFile = `${file}_data`;
  const location = basename(dataFile);
  const tensors: TensorSpec[] = [];
  const fd = openSync(dataFile, 'w');
  let offset = 0;
  try {
    for (const t of bg.weights) {
      const data = bytesOf(t.load());
      offset = Math.ceil(offset / EXTERNAL_ALIGN) * EXTERNAL_ALIGN;
      writeAll(fd, data, offset);
      tensors.push({ name: t.name, dataType: DataType.FLOAT, dims: t.dims, external: { location, offset, length: data.byteLength } });
      offset += data.byteLength;
    }
  } finally {
    closeSync(fd);
  }
  const { chunks, byteLength } = encodeModelChunks(modelSpec(withWeights(bg, tensors)));
  const mfd = openSync(file, 'w');
  try {
    let pos = 0;
    for (const c of chunks) {
      writeAll(mfd, c, pos);
      pos += c.byteLength;
    }
  } finally {
    closeSync(mfd);
  }
  return { modelFile: file, dataFile, bytes: byteLength + offset };
}

/**
 * Writes `<folder>/onnx/model.onnx` (the layout @xenova/transformers and optimum use), so the
 * folder can be loaded by ONNX-based tools. Returns the model file's path.
 */
export function writeOnnxToModelFolder(folder: ModelFolder, opts: WriteOptions = {}): string {
  const file = join(folder.dir, 'onnx', 'model.onnx');
  writeEncoderOnnx(folder, file, opts);
  return file;
}
