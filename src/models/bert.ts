// The BERT family: config parsing and checkpoint tensor names. Every backend (the ONNX export for
// the CPU, the float64 reference, the CUDA worker) reads the model through this file, so a new
// family means a new file beside it, as vLLM keeps one file per model family.
import { ModelFolderError } from '../errors.js';
import type { WeightStore } from '../model/safetensors.js';

export interface BertDims {
  modelType: string;
  hidden: number;
  layers: number;
  heads: number;
  headDim: number;
  intermediate: number;
  vocab: number;
  maxPositions: number;
  typeVocab: number;
  eps: number;
  /** Added to every position index (RoBERTa-style models start at padding_idx + 1). */
  positionOffset: number;
  act: 'gelu';
}

const SUPPORTED_TYPES = new Set(['bert']);

export function parseBertConfig(config: Record<string, unknown>, file: string): BertDims {
  const modelType = String(config.model_type ?? 'bert');
  if (!SUPPORTED_TYPES.has(modelType)) {
    throw new ModelFolderError(file, `unsupported model_type "${modelType}" (supported: ${[...SUPPORTED_TYPES].join(', ')})`);
  }
  const num = (k: string, dflt?: number): number => {
    const v = config[k] ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ModelFolderError(file, `"${k}" is missing or not a number`);
    return v;
  };
  const hidden = num('hidden_size');
  const heads = num('num_attention_heads');
  if (hidden % heads !== 0) throw new ModelFolderError(file, `hidden_size ${hidden} is not divisible by num_attention_heads ${heads}`);
  const act = String(config.hidden_act ?? 'gelu');
  if (act !== 'gelu') throw new ModelFolderError(file, `hidden_act "${act}" is not supported (only exact "gelu")`);
  const pet = String(config.position_embedding_type ?? 'absolute');
  if (pet !== 'absolute') throw new ModelFolderError(file, `position_embedding_type "${pet}" is not supported`);
  return {
    modelType,
    hidden,
    layers: num('num_hidden_layers'),
    heads,
    headDim: hidden / heads,
    intermediate: num('intermediate_size'),
    vocab: num('vocab_size'),
    maxPositions: num('max_position_embeddings', 512),
    typeVocab: num('type_vocab_size', 2),
    eps: num('layer_norm_eps', 1e-12),
    positionOffset: 0,
    act: 'gelu',
  };
}

/** Canonical (prefix-free) names of one layer's tensors. */
export function layerNames(i: number) {
  const p = `encoder.layer.${i}.`;
  return {
    qW: `${p}attention.self.query.weight`, qB: `${p}attention.self.query.bias`,
    kW: `${p}attention.self.key.weight`, kB: `${p}attention.self.key.bias`,
    vW: `${p}attention.self.value.weight`, vB: `${p}attention.self.value.bias`,
    aoW: `${p}attention.output.dense.weight`, aoB: `${p}attention.output.dense.bias`,
    ln1W: `${p}attention.output.LayerNorm.weight`, ln1B: `${p}attention.output.LayerNorm.bias`,
    upW: `${p}intermediate.dense.weight`, upB: `${p}intermediate.dense.bias`,
    downW: `${p}output.dense.weight`, downB: `${p}output.dense.bias`,
    ln2W: `${p}output.LayerNorm.weight`, ln2B: `${p}output.LayerNorm.bias`,
  };
}

export const EMBEDDING_NAMES = {
  word: 'embeddings.word_embeddings.weight',
  pos: 'embeddings.position_embeddings.weight',
  type: 'embeddings.token_type_embeddings.weight',
  lnW: 'embeddings.LayerNorm.weight',
  lnB: 'embeddings.LayerNorm.bias',
};

export const HEAD_NAMES = {
  poolerW: 'pooler.dense.weight',
  poolerB: 'pooler.dense.bias',
  clsW: 'classifier.weight',
  clsB: 'classifier.bias',
};

/**
 * Maps canonical names to the names in a checkpoint: sentence-transformers saves a bare
 * BertModel, BertForSequenceClassification prefixes "bert.", old TF conversions say gamma/beta.
 */
export class BertWeights {
  private readonly prefix: string;

  constructor(readonly store: WeightStore, readonly dims: BertDims, file: string) {
    const candidates = ['', 'bert.', 'model.'];
    const found = candidates.find((p) => store.has(p + EMBEDDING_NAMES.word));
    if (found === undefined) {
      throw new ModelFolderError(file, `no "${EMBEDDING_NAMES.word}" tensor (with or without a "bert." prefix): not a BERT checkpoint`);
    }
    this.prefix = found;
    // Validate every tensor's presence and shape up front: a broken checkpoint fails at load, not mid-run.
    const d = dims;
    this.expectShape(EMBEDDING_NAMES.word, [d.vocab, d.hidden], file);
    this.expectShape(EMBEDDING_NAMES.pos, [d.maxPositions, d.hidden], file);
    this.expectShape(EMBEDDING_NAMES.type, [d.typeVocab, d.hidden], file);
    this.expectShape(EMBEDDING_NAMES.lnW, [d.hidden], file);
    this.expectShape(EMBEDDING_NAMES.lnB, [d.hidden], file);
    for (let i = 0; i < d.layers; i++) {
      const n = layerNames(i);
      for (const k of [n.qW, n.kW, n.vW, n.aoW]) this.expectShape(k, [d.hidden, d.hidden], file);
      for (const k of [n.qB, n.kB, n.vB, n.aoB, n.ln1W, n.ln1B, n.downB, n.ln2W, n.ln2B]) this.expectShape(k, [d.hidden], file);
      this.expectShape(n.upW, [d.intermediate, d.hidden], file);
      this.expectShape(n.upB, [d.intermediate], file);
      this.expectShape(n.downW, [d.hidden, d.intermediate], file);
    }
  }

  /** The name as stored in the checkpoint, or undefined when absent. */
  resolve(canonical: string): string | undefined {
    const isHead = canonical.startsWith('classifier.');
    const base = isHead ? canonical : this.prefix + canonical;
    if (this.store.has(base)) return base;
    const legacy = base.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta');
    if (this.store.has(legacy)) return legacy;
    return undefined;
  }

  has(canonical: string): boolean {
    return this.resolve(canonical) !== undefined;
  }

  name(canonical: string): string {
    const n = this.resolve(canonical);
    if (!n) throw new ModelFolderError(this.store.files[0]?.path ?? 'weights', `missing tensor "${this.prefix}${canonical}"`);
    return n;
  }

  f32(canonical: string): Float32Array {
    return this.store.f32(this.name(canonical));
  }

  raw(canonical: string): Buffer {
    return this.store.raw(this.name(canonical));
  }

  dtype(canonical: string) {
    return this.store.info(this.name(canonical)).dtype;
  }

  shape(canonical: string): number[] {
    return this.store.info(this.name(canonical)).shape;
  }

  private expectShape(canonical: string, shape: number[], file: string): void {
    const n = this.resolve(canonical);
    if (!n) throw new ModelFolderError(file, `missing tensor "${this.prefix}${canonical}"`);
    const got = this.store.info(n).shape;
    if (got.length !== shape.length || got.some((v, i) => v !== shape[i])) {
      throw new ModelFolderError(file, `tensor "${n}" has shape [${got}] but config.json implies [${shape}]`);
    }
  }
}

/** Model FLOPs per token for a sequence of length L (matmuls only, as MFU is usually counted). */
export function flopsPerToken(d: BertDims, seqLen: number): number {
  const linear = 2 * (4 * d.hidden * d.hidden + 2 * d.hidden * d.intermediate);
  const attn = 2 * 2 * seqLen * d.hidden; // QK^T and PV
  return d.layers * (linear + attn);
}
