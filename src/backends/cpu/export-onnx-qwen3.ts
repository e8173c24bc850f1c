// The ONNX graph (opset 17, fp32, plain ONNX operators) of the Qwen3 decoder (src/models/qwen3.ts),
// as transformers' modeling_qwen3 computes it:
//
//   inputs   input_ids, attention_mask, position_ids   int64 [batch, sequence] (right padding)
//   outputs  last_hidden_state                         float32 [batch, sequence, hidden] (after the final RMSNorm)
//            logits (rerankers)                        float32 [batch, num_labels], at each row's last token
//
// RMSNorm is x · 1/√(mean(x²) + eps) · w (Pow, ReduceMean, Add, Sqrt, Reciprocal, Mul), the
// pattern onnxruntime fuses into SimplifiedLayerNormalization; q_norm / k_norm are the same over
// each head's head_dim values. Rotary is NeoX style (rotate_half) with cos/sin of
// position · inv_freq, inv_freq = 1 / rope_theta^(2i/d) rounded to float32 as transformers' buffer.
// Grouped-query attention repeats each K/V head for its heads/kvHeads query heads (transformers'
// repeat_kv: Unsqueeze, Expand, Reshape); the additive mask is causal ∧ key-not-padding, with
// finfo(float32).min where masked. The MLP is SwiGLU: down(SiLU(gate(x)) ⊙ up(x)).
// The reranker head reads the last real token of each row (attention_mask sum − 1) and multiplies
// by the head matrix (score.weight, or the LM-head rows of models/qwen3-reranker.ts).
import { qwen3HeadMatrix } from '../../models/qwen3-reranker.js';
import { attr, DataType, type GraphSpec } from './onnx-proto.js';
import { F32_MIN, GraphBuilder, transpose, type BuildOptions, type EncoderGraph, type OnnxSource } from './export-onnx.js';

export function buildQwen3Graph(src: OnnxSource, opts: BuildOptions = {}): EncoderGraph {
  const d = src.dims;
  const dec = d.decoder!;
  const w = src.weights;
  const withLogits = opts.logits ?? src.kind === 'cross-encoder';
  if (withLogits && !dec.scoreHead) throw new Error('cannot export logits: the folder has no Qwen3 sequence-classification head (score.weight or classifier_from_token)');
  const H = d.hidden;
  const hd = d.headDim;
  const nq = d.heads;
  const nkv = dec.kvHeads;
  const group = nq / nkv;
  const g = new GraphBuilder();
  const vec = (key: string, len: number) => g.weight(key, [len], () => w.f32(key));
  const linear = (x: string, key: string, out: number, inp: number, tag: string) =>
    g.op('MatMul', [x, g.weight(`${key}.T`, [inp, out], () => transpose(w.f32(key), out, inp))], tag);
  const rmsNorm = (x: string, key: string, dim: number, tag: string, out = `${tag}/out`) => {
    const ms = g.op('ReduceMean', [g.op('Pow', [x, g.scalarF(2)], `${tag}/sq`)], `${tag}/mean_sq`, { axes: attr.ints([-1]), keepdims: attr.int(1) });
    const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [ms, g.scalarF(d.eps)], `${tag}/add_eps`)], `${tag}/rms`)], `${tag}/inv_rms`);
    return g.op('Mul', [g.op('Mul', [x, inv], `${tag}/normed`), vec(key, dim)], out);
  };

  let x = g.op('Gather', [g.weight('emb.word', [d.vocab, H], () => w.f32('emb.word')), 'input_ids'], 'emb/word', { axis: attr.int(0) });

  // Mask [batch, 1, seq, seq]: query i sees key j when j ≤ i and j is not padding.
  const seq = g.op('Squeeze', [g.op('Shape', ['input_ids'], 'mask/seq_1', { start: attr.int(1), end: attr.int(2) })], 'mask/seq');
  const range = g.op('Range', [g.ints([0], true), seq, g.ints([1], true)], 'mask/range');
  const causal = g.op('LessOrEqual', [g.op('Unsqueeze', [range, g.ints([0])], 'mask/cols'), g.op('Unsqueeze', [range, g.ints([1])], 'mask/rows')], 'mask/causal');
  const keyOk = g.op('Unsqueeze', [g.op('Cast', ['attention_mask'], 'mask/bool', { to: attr.int(DataType.BOOL) }), g.ints([1, 2])], 'mask/keys');
  const allowed = g.op('And', [causal, keyOk], 'mask/allowed');
  const mask = g.op('Where', [allowed, g.scalarF(0), g.scalarF(F32_MIN)], 'mask/additive');

  // Rotary tables [batch, 1, seq, head_dim].
  const invFreq = new Float32Array(hd / 2).map((_, i) => Math.fround(1 / Math.fround(Math.pow(dec.ropeTheta, Math.fround((2 * i) / hd)))));
  const posF = g.op('Unsqueeze', [g.op('Cast', ['position_ids'], 'rope/pos', { to: attr.int(DataType.FLOAT) }), g.ints([2])], 'rope/pos3');
  const freqs = g.op('Mul', [posF, g.weight('rope.inv_freq', [hd / 2], () => invFreq)], 'rope/freqs');
  const angles = g.op('Concat', [freqs, freqs], 'rope/angles', { axis: attr.int(-1) });
  const cos = g.op('Unsqueeze', [g.op('Cos', [angles], 'rope/cos3'), g.ints([1])], 'rope/cos');
  const sin = g.op('Unsqueeze', [g.op('Sin', [angles], 'rope/sin3'), g.ints([1])], 'rope/sin');
  const rope = (t: string, tag: string) => {
    const [a, b] = g.opN('Split', [t], [`${tag}/x1`, `${tag}/x2`], { axis: attr.int(-1) });
    const rot = g.op('Concat', [g.op('Neg', [b], `${tag}/neg_x2`), a], `${tag}/rotated`, { axis: attr.int(-1) });
    return g.op('Add', [g.op('Mul', [t, cos], `${tag}/cos`), g.op('Mul', [rot, sin], `${tag}/sin`)], `${tag}/out`);
  };
  const heads = (t: string, n: number, tag: string) => g.op('Reshape', [t, g.ints([0, 0, n, hd])], `${tag}/heads`);
  const toBhsd = (t: string, tag: string) => g.op('Transpose', [t], `${tag}/t`, { perm: attr.ints([0, 2, 1, 3]) });
  const repeatKv = (t: string, tag: string) => {
    if (group === 1) return t;
    const e = g.op('Expand', [g.op('Unsqueeze', [t, g.ints([2])], `${tag}/u`), g.ints([1, 1, group, 1, 1])], `${tag}/expand`);
    return g.op('Reshape', [e, g.ints([0, nq, -1, hd])], `${tag}/rep`);
  };
  const scale = g.scalarF(Math.sqrt(hd));

  for (let i = 0; i < d.layers; i++) {
    const p = `l${i}`;
    const k_ = (t: string) => `L${i}.${t}`;
    const a = rmsNorm(x, k_('ln1.g'), H, `${p}/ln1`);
    const q = rope(toBhsd(rmsNorm(heads(linear(a, k_('q.w'), nq * hd, H, `${p}/q`), nq, `${p}/q`), k_('q_norm.g'), hd, `${p}/q_norm`), `${p}/q`), `${p}/q_rope`);
    const k = rope(toBhsd(rmsNorm(heads(linear(a, k_('k.w'), nkv * hd, H, `${p}/k`), nkv, `${p}/k`), k_('k_norm.g'), hd, `${p}/k_norm`), `${p}/k`), `${p}/k_rope`);
    const v = toBhsd(heads(linear(a, k_('v.w'), nkv * hd, H, `${p}/v`), nkv, `${p}/v`), `${p}/v`);
    const kT = g.op('Transpose', [repeatKv(k, `${p}/k`)], `${p}/k/kt`, { perm: attr.ints([0, 1, 3, 2]) });
    const scores = g.op('Add', [g.op('Div', [g.op('MatMul', [q, kT], `${p}/qk`), scale], `${p}/scores`), mask], `${p}/scores_masked`);
    const probs = g.op('Softmax', [scores], `${p}/probs`, { axis: attr.int(-1) });
    const ctx = g.op('Transpose', [g.op('MatMul', [probs, repeatKv(v, `${p}/v`)], `${p}/ctx`)], `${p}/ctx/t`, { perm: attr.ints([0, 2, 1, 3]) });
    const merged = g.op('Reshape', [ctx, g.ints([0, 0, nq * hd])], `${p}/ctx/merged`);
    x = g.op('Add', [x, linear(merged, k_('o.w'), H, nq * hd, `${p}/o`)], `${p}/attn_res`);
    const b = rmsNorm(x, k_('ln2.g'), H, `${p}/ln2`);
    const gate = linear(b, k_('gate.w'), d.intermediate, H, `${p}/gate`);
    const silu = g.op('Mul', [gate, g.op('Sigmoid', [gate], `${p}/gate/sigmoid`)], `${p}/gate/silu`);
    const act = g.op('Mul', [silu, linear(b, k_('up.w'), d.intermediate, H, `${p}/up`)], `${p}/swiglu`);
    x = g.op('Add', [x, linear(act, k_('down.w'), H, d.intermediate, `${p}/down`)], `${p}/mlp_res`);
  }
  rmsNorm(x, 'norm.g', H, 'final_norm', 'last_hidden_state');

  const outputs: GraphSpec['outputs'] = [{ name: 'last_hidden_state', elemType: DataType.FLOAT, shape: ['batch', 'sequence', H] }];
  if (withLogits) {
    const head = dec.scoreHead!;
    const labels = head.numLabels;
    const lenM1 = g.op('Sub', [g.op('ReduceSum', ['attention_mask', g.ints([1])], 'head/len', { keepdims: attr.int(1) }), g.ints([1], true)], 'head/last_idx');
    const idx = g.op('Expand', [g.op('Unsqueeze', [lenM1, g.ints([2])], 'head/idx3'), g.ints([1, 1, H])], 'head/idx');
    const last = g.op('Squeeze', [g.op('GatherElements', ['last_hidden_state', idx], 'head/last3', { axis: attr.int(1) }), g.ints([1])], 'head/last');
    g.op('MatMul', [last, g.weight('head.score.T', [H, labels], () => transpose(qwen3HeadMatrix(w, head), labels, H))], 'logits');
    outputs.push({ name: 'logits', elemType: DataType.FLOAT, shape: ['batch', labels] });
  }
  const ids = (name: string) => ({ name, elemType: DataType.INT64, shape: ['batch', 'sequence'] });
  const graph: GraphSpec = { name: 'embedrank_qwen3', nodes: g.nodes, initializers: g.consts, inputs: [ids('input_ids'), ids('attention_mask'), ids('position_ids')], outputs };
  const weightBytes = g.weights.reduce((s, t) => s + 4 * t.dims.reduce((m, n) => m * n, 1), 0);
  return { graph, weights: g.weights, weightBytes };
}
