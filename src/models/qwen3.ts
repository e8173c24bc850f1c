// The Qwen3 family (Qwen3Model, Qwen3ForCausalLM, Qwen3ForSequenceClassification): transformers'
// modeling_qwen3 names. A decoder, not a post-LN encoder, so it names every engine key itself
// (ModelFamily.tensorName / expectedShapes / weightPlan):
//
//   emb.word [vocab, H]            embed_tokens.weight
//   L{i}.ln1.g [H]                 layers.i.input_layernorm.weight          (RMSNorm before attention)
//   L{i}.q.w [heads·d, H]          layers.i.self_attn.q_proj.weight
//   L{i}.k.w / v.w [kvHeads·d, H]  layers.i.self_attn.k_proj / v_proj.weight (grouped-query)
//   L{i}.q_norm.g / k_norm.g [d]   layers.i.self_attn.q_norm / k_norm.weight (per-head RMSNorm)
//   L{i}.o.w [H, heads·d]          layers.i.self_attn.o_proj.weight
//   L{i}.ln2.g [H]                 layers.i.post_attention_layernorm.weight
//   L{i}.gate.w / up.w [I, H]      layers.i.mlp.gate_proj / up_proj.weight  (SwiGLU)
//   L{i}.down.w [H, I]             layers.i.mlp.down_proj.weight
//   norm.g [H]                     norm.weight                              (final RMSNorm)
//   lm.w [vocab, H]                lm_head.weight (unprefixed; the embedding table when tied)
//   head.cls.w [labels, H]         score.weight (Qwen3ForSequenceClassification)
//
// Base-model tensors carry no prefix in a Qwen3Model checkpoint (sentence-transformers saves one)
// and "model." in Qwen3ForCausalLM / Qwen3ForSequenceClassification.
import { ModelFolderError } from '../errors.js';
import { configNumber } from './config.js';
import type { CheckpointName, EncoderDims, ModelFamily } from './family.js';
import type { PlannedTensor, TensorSlice } from './plan.js';

const LAYER: Record<string, string> = {
  'ln1.g': 'input_layernorm.weight',
  'q.w': 'self_attn.q_proj.weight',
  'k.w': 'self_attn.k_proj.weight',
  'v.w': 'self_attn.v_proj.weight',
  'q_norm.g': 'self_attn.q_norm.weight',
  'k_norm.g': 'self_attn.k_norm.weight',
  'o.w': 'self_attn.o_proj.weight',
  'ln2.g': 'post_attention_layernorm.weight',
  'gate.w': 'mlp.gate_proj.weight',
  'up.w': 'mlp.up_proj.weight',
  'down.w': 'mlp.down_proj.weight',
};
export const QWEN3_LAYER_TENSORS = Object.keys(LAYER);

/** transformers' Qwen3Config as the engine needs it; every setting it cannot run is refused here. */
export function parseQwen3Config(config: Record<string, unknown>, file: string): EncoderDims {
  const num = (k: string, d?: number) => configNumber(config, file, k, d);
  const modelType = String(config.model_type ?? 'qwen3');
  if (modelType !== 'qwen3') throw new ModelFolderError(file, `model_type "${modelType}" is not Qwen3`);
  const hidden = num('hidden_size');
  const heads = num('num_attention_heads');
  const kvHeads = num('num_key_value_heads', heads);
  if (!Number.isInteger(heads) || heads < 1) throw new ModelFolderError(file, `num_attention_heads ${heads} is not a positive integer`);
  if (!Number.isInteger(kvHeads) || kvHeads < 1 || heads % kvHeads !== 0) {
    throw new ModelFolderError(file, `num_key_value_heads ${kvHeads} must be a positive divisor of num_attention_heads ${heads}`);
  }
  // Qwen3Config: head_dim defaults to hidden_size // num_attention_heads.
  const headDim = config.head_dim === undefined || config.head_dim === null ? Math.floor(hidden / heads) : num('head_dim');
  if (!Number.isInteger(headDim) || headDim < 2 || headDim % 2) throw new ModelFolderError(file, `head_dim ${headDim} must be an even positive integer (rotary halves)`);
  const act = String(config.hidden_act ?? 'silu');
  if (act !== 'silu') throw new ModelFolderError(file, `hidden_act "${act}" is not supported (Qwen3's SwiGLU uses "silu")`);
  if (config.attention_bias === true) throw new ModelFolderError(file, 'attention_bias true is not supported (Qwen3 checkpoints have none)');
  if (config.use_sliding_window === true) throw new ModelFolderError(file, 'use_sliding_window true is not supported (full causal attention only)');
  const types = config.layer_types;
  if (Array.isArray(types) && types.some((t) => t !== 'full_attention')) {
    throw new ModelFolderError(file, `layer_types other than "full_attention" are not supported (${[...new Set(types)].join(', ')})`);
  }
  // transformers 5 nests rope settings in rope_parameters; transformers 4 has rope_theta / rope_scaling.
  const rp = (config.rope_parameters ?? {}) as Record<string, unknown>;
  const ropeType = String(rp.rope_type ?? (config.rope_scaling as Record<string, unknown> | null | undefined)?.rope_type ?? 'default');
  if (ropeType !== 'default') throw new ModelFolderError(file, `rope_type "${ropeType}" is not supported (only default rotary)`);
  const ropeTheta = typeof rp.rope_theta === 'number' ? rp.rope_theta : num('rope_theta', 10000);
  if (!(ropeTheta > 0)) throw new ModelFolderError(file, `rope_theta ${ropeTheta} must be positive`);
  return {
    family: 'qwen3',
    modelType,
    hidden,
    layers: num('num_hidden_layers'),
    heads,
    headDim,
    intermediate: num('intermediate_size'),
    vocab: num('vocab_size'),
    maxPositions: num('max_position_embeddings', 32768),
    typeVocab: 0,
    eps: num('rms_norm_eps', 1e-6),
    positionOffset: 0,
    act: 'silu',
    decoder: { kvHeads, ropeTheta, tieWordEmbeddings: config.tie_word_embeddings !== false },
  };
}

function qwen3TensorName(key: string): CheckpointName | undefined {
  if (key === 'emb.word') return { name: 'embed_tokens.weight', prefixed: true };
  if (key === 'norm.g') return { name: 'norm.weight', prefixed: true };
  if (key === 'lm.w') return { name: 'lm_head.weight', prefixed: false, tiedTo: 'emb.word' };
  if (key === 'head.cls.w') return { name: 'score.weight', prefixed: false };
  const m = /^L(\d+)\.(.+)$/.exec(key);
  if (m && m[2] in LAYER) return { name: `layers.${m[1]}.${LAYER[m[2]]}`, prefixed: true };
  return undefined;
}

/** Shapes config.json implies for the base model (heads are checked by the folder loader). */
function qwen3Shapes(d: EncoderDims): Array<[string, number[]]> {
  const H = d.hidden;
  const q = d.heads * d.headDim;
  const kv = d.decoder!.kvHeads * d.headDim;
  const per: Record<string, number[]> = {
    'ln1.g': [H], 'q.w': [q, H], 'k.w': [kv, H], 'v.w': [kv, H], 'q_norm.g': [d.headDim], 'k_norm.g': [d.headDim],
    'o.w': [H, q], 'ln2.g': [H], 'gate.w': [d.intermediate, H], 'up.w': [d.intermediate, H], 'down.w': [H, d.intermediate],
  };
  const out: Array<[string, number[]]> = [['emb.word', [d.vocab, H]], ['norm.g', [H]]];
  for (let i = 0; i < d.layers; i++) for (const t of QWEN3_LAYER_TENSORS) out.push([`L${i}.${t}`, per[t]]);
  return out;
}

/**
 * Tensor-parallel plan of rank `rank` of `world` (Megatron layout, as vLLM's qwen3.py with
 * QKVParallelLinear / MergedColumnParallelLinear): rank r holds query heads
 * [r·heads/world, (r+1)·heads/world) and exactly the K/V heads those query heads read. When
 * world ≤ kvHeads, KV heads are split like query heads; when world > kvHeads (world a multiple of
 * kvHeads), each KV head is replicated on world/kvHeads ranks, as vLLM's QKVParallelLinear does.
 * Engine tensors: L{i}.qkv.w = [q_r; k_r; v_r] rows, L{i}.o.w = columns of rank r's heads,
 * L{i}.gate_up.w = [gate_r; up_r] rows, L{i}.down.w = columns; norms and embeddings replicated.
 * @throws Error when world does not divide heads and intermediate size, or neither divides nor is
 * a multiple of kvHeads.
 */
export function qwen3WeightPlan(d: EncoderDims, opts: { rank: number; world: number; classifier: boolean }): PlannedTensor[] {
  const { rank, world } = opts;
  const kvh = d.decoder!.kvHeads;
  if (!Number.isInteger(world) || world < 1 || d.heads % world || d.intermediate % world || (kvh % world !== 0 && world % kvh !== 0)) {
    throw new Error(`tensor parallel size ${world} must divide ${d.heads} heads and intermediate size ${d.intermediate}, and divide or be a multiple of ${kvh} KV heads`);
  }
  if (!Number.isInteger(rank) || rank < 0 || rank >= world) throw new Error(`rank ${rank} outside [0, ${world})`);
  const hd = d.headDim;
  const qRows = (d.heads / world) * hd;
  // KV heads of this rank: a contiguous block when split, the one shared head when replicated.
  const kvPer = Math.max(1, kvh / world);
  const kvFirst = world <= kvh ? rank * kvPer : Math.floor(rank / (world / kvh));
  const il = d.intermediate / world;
  const rows = (key: string, r0: number, n: number): TensorSlice => (world > 1 ? { key, rows: [r0, r0 + n] } : { key });
  const cols = (key: string, n: number): TensorSlice => (world > 1 ? { key, cols: [rank * n, (rank + 1) * n] } : { key });
  const whole = (engine: string): PlannedTensor => ({ engine, parts: [{ key: engine }] });
  const plan: PlannedTensor[] = [whole('emb.word')];
  for (let i = 0; i < d.layers; i++) {
    const p = `L${i}.`;
    plan.push(
      whole(`${p}ln1.g`),
      {
        engine: `${p}qkv.w`,
        parts: [rows(`${p}q.w`, rank * qRows, qRows), rows(`${p}k.w`, kvFirst * hd, kvPer * hd), rows(`${p}v.w`, kvFirst * hd, kvPer * hd)],
      },
      whole(`${p}q_norm.g`),
      whole(`${p}k_norm.g`),
      { engine: `${p}o.w`, parts: [cols(`${p}o.w`, qRows)] },
      whole(`${p}ln2.g`),
      { engine: `${p}gate_up.w`, parts: [rows(`${p}gate.w`, rank * il, il), rows(`${p}up.w`, rank * il, il)] },
      { engine: `${p}down.w`, parts: [cols(`${p}down.w`, il)] },
    );
  }
  plan.push(whole('norm.g'));
  if (opts.classifier) plan.push(whole('head.cls.w'));
  return plan;
}

/** Parameters of the base model (embedding table, layers, final norm; no LM head), as model_meta n_parameters. */
export function qwen3ParameterCount(d: EncoderDims): number {
  const H = d.hidden;
  const q = d.heads * d.headDim;
  const kv = d.decoder!.kvHeads * d.headDim;
  const layer = H * q + 2 * H * kv + q * H + 3 * H * d.intermediate + 2 * H + 2 * d.headDim;
  return d.vocab * H + d.layers * layer + H;
}

export const QWEN3: ModelFamily = {
  name: 'qwen3',
  modelTypes: ['qwen3'],
  // A causal-LM folder embeds like the bare model (its LM head unused), as sentence-transformers
  // loads Qwen3ForCausalLM checkpoints through AutoModel.
  encoderArchitectures: ['Qwen3Model', 'Qwen3ForCausalLM'],
  crossEncoderArchitectures: ['Qwen3ForSequenceClassification'],
  prefixes: ['', 'model.'],
  parseConfig: parseQwen3Config,
  embeddingName: (t) => (t === 'emb.word' ? qwen3TensorName(t) : undefined),
  layerName: (i, t) => {
    const c = qwen3TensorName(`L${i}.${t}`);
    if (!c) throw new Error(`Qwen3 layers have no "${t}" tensor`);
    return c;
  },
  headName: (t) => {
    const c = qwen3TensorName(t);
    if (!c) throw new Error(`Qwen3 has no "${t}" head tensor (its sequence-classification head is score.weight)`);
    return c;
  },
  headActivation: 'tanh',
  tensorName: qwen3TensorName,
  expectedShapes: qwen3Shapes,
  weightPlan: qwen3WeightPlan,
};
