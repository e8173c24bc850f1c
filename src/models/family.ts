// The family layer's contract. A family (BERT, RoBERTa, XLM-RoBERTa, DistilBERT) is one file in
// src/models/ that says, for the config.json / checkpoint format transformers writes for it:
// how to read the config (EncoderDims), which checkpoint tensor holds each engine tensor (the
// weight plan), what its sequence-classification head is and where positions start. Every backend
// (the ONNX export for the CPU, the float64 reference, the CUDA upload, tensor-parallel slicing)
// and the folder loader are generic loops over this description, as text-embeddings-inference
// keeps one file per model on shared layers and vLLM's roberta.py reuses bert.py.
//
// All families here share one layer: post-LayerNorm encoder blocks
//   h = LN(x + Attn(x) W_o + b_o);  x = LN(h + act(h W_up + b_up) W_down + b_down)
// with learned absolute positions; they differ in names, embeddings and heads.

/** Hyper-parameters every backend needs, read off config.json by the family. */
export interface EncoderDims {
  /** Family name ('bert', 'roberta', 'xlm-roberta', 'distilbert'). */
  family: string;
  /** config.json `model_type`. */
  modelType: string;
  hidden: number;
  layers: number;
  heads: number;
  /** Per-head width: config `head_dim` when given, else hidden / heads. */
  headDim: number;
  intermediate: number;
  vocab: number;
  /** Rows of the position-embedding table. */
  maxPositions: number;
  /** Rows of the token-type table; 0 when the model has none (DistilBERT). */
  typeVocab: number;
  eps: number;
  /** Position id of a sequence's first token: 0, or padding_idx + 1 for RoBERTa / XLM-R. */
  positionOffset: number;
  /**
   * RoBERTa / XLM-R: the pad id, whose tokens get position `paddingIdx` and do not advance the
   * count (transformers' create_position_ids_from_input_ids); undefined when positions are 0..L−1.
   */
  paddingIdx?: number;
  /** FFN activation: exact erf GELU (transformers' "gelu") or SiLU in a gated MLP (Qwen3's SwiGLU). */
  act: 'gelu' | 'silu';
  /**
   * Decoder families (Qwen3): pre-RMSNorm blocks, rotary positions, grouped-query causal
   * attention. Absent for the post-LayerNorm encoders above.
   */
  decoder?: DecoderDims;
}

/** The settings of a rotary, grouped-query, causal decoder (transformers' Qwen3Config). */
export interface DecoderDims {
  /** num_key_value_heads: K/V heads, each shared by heads / kvHeads query heads. */
  kvHeads: number;
  /** rope_theta (config `rope_parameters.rope_theta`, or top-level `rope_theta` in transformers 4). */
  ropeTheta: number;
  /** tie_word_embeddings: the LM head is the embedding table. */
  tieWordEmbeddings: boolean;
  /** Sequence-classification head of a reranker (set by the folder loader; models/qwen3-reranker.ts). */
  scoreHead?: import('./qwen3-reranker.js').Qwen3ScoreHead;
}

/**
 * The sequence-classification head as one shape: logits = W_out · act(W_dense · h_first + b) + b_out.
 * BERT: pooler.dense → tanh → classifier; RoBERTa: classifier.dense → tanh → classifier.out_proj;
 * DistilBERT: pre_classifier → ReLU → classifier.
 */
export type HeadActivationKind = 'tanh' | 'relu';

/**
 * Engine tensor keys, one spelling for every backend:
 *   emb.word [vocab, H], emb.pos [maxPositions, H], emb.type [typeVocab, H] (absent when typeVocab 0),
 *   emb.ln.g / emb.ln.b [H];
 *   L{i}.q.w / k.w / v.w [heads·headDim, H] and .b, L{i}.o.w [H, heads·headDim], L{i}.o.b,
 *   L{i}.ln1.g/b, L{i}.up.w [I, H], L{i}.up.b, L{i}.down.w [H, I], L{i}.down.b, L{i}.ln2.g/b;
 *   head.pool.w [H, H], head.pool.b, head.cls.w [labels, H], head.cls.b (cross-encoders).
 * Linear weights keep torch's [out, in] layout.
 */
export type LayerTensor =
  | 'q.w' | 'q.b' | 'k.w' | 'k.b' | 'v.w' | 'v.b' | 'o.w' | 'o.b' | 'ln1.g' | 'ln1.b'
  | 'up.w' | 'up.b' | 'down.w' | 'down.b' | 'ln2.g' | 'ln2.b';
export const LAYER_TENSORS: readonly LayerTensor[] = [
  'q.w', 'q.b', 'k.w', 'k.b', 'v.w', 'v.b', 'o.w', 'o.b', 'ln1.g', 'ln1.b',
  'up.w', 'up.b', 'down.w', 'down.b', 'ln2.g', 'ln2.b',
];
export type EmbeddingTensor = 'emb.word' | 'emb.pos' | 'emb.type' | 'emb.ln.g' | 'emb.ln.b';
export type HeadTensor = 'head.pool.w' | 'head.pool.b' | 'head.cls.w' | 'head.cls.b';

export const layerKey = (i: number, t: LayerTensor) => `L${i}.${t}`;

/** Where an engine tensor lives in the checkpoint. */
export interface CheckpointName {
  /** Name after the base-model prefix ("bert.", "roberta.", "distilbert.", or none). */
  name: string;
  /** false for head tensors that sit outside the base model (classifier.*, pre_classifier.*). */
  prefixed: boolean;
  /** Engine key read instead when this tensor is absent (tied LM head → the embedding table). */
  tiedTo?: string;
}

export interface ModelFamily {
  name: string;
  /** config.json `model_type` values this family reads. */
  modelTypes: readonly string[];
  /** `architectures[0]` values: the bare encoder(s) and the sequence-classification class. */
  encoderArchitectures: readonly string[];
  crossEncoderArchitectures: readonly string[];
  /** Prefixes the base model's tensors carry in the checkpoints of this family ('' first). */
  prefixes: readonly string[];
  parseConfig(config: Record<string, unknown>, file: string): EncoderDims;
  embeddingName(t: EmbeddingTensor): CheckpointName | undefined;
  layerName(i: number, t: LayerTensor): CheckpointName;
  headName(t: HeadTensor): CheckpointName;
  headActivation: HeadActivationKind;
  /**
   * Families whose tensors are not the post-LN encoder's set (Qwen3) name every engine key here
   * and list the shapes config.json implies; ModelWeights and the weight plan ask these first.
   */
  tensorName?(key: string): CheckpointName | undefined;
  expectedShapes?(d: EncoderDims): Array<[string, number[]]>;
  weightPlan?(d: EncoderDims, opts: { rank: number; world: number; classifier: boolean }): import('./plan.js').PlannedTensor[];
}

/** Model FLOPs per token for a sequence of length L (matmuls only, as MFU is usually counted). */
export function flopsPerToken(d: EncoderDims, seqLen: number): number {
  const Hl = d.heads * d.headDim;
  const linear = 2 * (3 * d.hidden * Hl + Hl * d.hidden + 2 * d.hidden * d.intermediate);
  const attn = 2 * 2 * seqLen * Hl; // QK^T and PV
  return d.layers * (linear + attn);
}

/**
 * Position ids of an unpadded batch (concatenated ids, cu_seqlens), as transformers computes them:
 * t for BERT / DistilBERT; for RoBERTa / XLM-R padding_idx + (number of non-pad tokens up to and
 * including t), and padding_idx for a pad token (create_position_ids_from_input_ids).
 */
export function positionIds(d: EncoderDims, ids: Int32Array, cuSeqlens: Int32Array): Int32Array {
  const out = new Int32Array(ids.length);
  const n = cuSeqlens.length - 1;
  for (let s = 0; s < n; s++) {
    const a = cuSeqlens[s];
    const b = cuSeqlens[s + 1];
    if (d.paddingIdx === undefined) {
      for (let t = a; t < b; t++) out[t] = t - a + d.positionOffset;
    } else {
      let count = 0;
      for (let t = a; t < b; t++) {
        if (ids[t] === d.paddingIdx) out[t] = d.paddingIdx;
        else out[t] = d.paddingIdx + ++count;
      }
    }
  }
  return out;
}
