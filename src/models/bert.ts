// The BERT family (BertModel, BertForSequenceClassification): transformers' modeling_bert names.
// Checkpoints come bare (sentence-transformers saves a BertModel), "bert."-prefixed
// (BertForSequenceClassification, BertForMaskedLM) or with TF-era LayerNorm gamma/beta names.
import { ModelFolderError } from '../errors.js';
import { configNumber, geluOnly, headDimOf } from './config.js';
import type { CheckpointName, EmbeddingTensor, EncoderDims, HeadTensor, LayerTensor, ModelFamily } from './family.js';

export { flopsPerToken } from './family.js';
/** Kept for callers that predate the family layer: the dims are family-agnostic. */
export type BertDims = EncoderDims;

/** BERT's checkpoint names (prefix-free) of one layer, by engine key. */
export function bertLayerName(i: number, t: LayerTensor): string {
  const p = `encoder.layer.${i}.`;
  const m: Record<LayerTensor, string> = {
    'q.w': 'attention.self.query.weight', 'q.b': 'attention.self.query.bias',
    'k.w': 'attention.self.key.weight', 'k.b': 'attention.self.key.bias',
    'v.w': 'attention.self.value.weight', 'v.b': 'attention.self.value.bias',
    'o.w': 'attention.output.dense.weight', 'o.b': 'attention.output.dense.bias',
    'ln1.g': 'attention.output.LayerNorm.weight', 'ln1.b': 'attention.output.LayerNorm.bias',
    'up.w': 'intermediate.dense.weight', 'up.b': 'intermediate.dense.bias',
    'down.w': 'output.dense.weight', 'down.b': 'output.dense.bias',
    'ln2.g': 'output.LayerNorm.weight', 'ln2.b': 'output.LayerNorm.bias',
  };
  return p + m[t];
}

/** Canonical (prefix-free) names of one layer's tensors, as the test-model generator writes them. */
export function layerNames(i: number) {
  const n = (t: LayerTensor) => bertLayerName(i, t);
  return {
    qW: n('q.w'), qB: n('q.b'), kW: n('k.w'), kB: n('k.b'), vW: n('v.w'), vB: n('v.b'),
    aoW: n('o.w'), aoB: n('o.b'), ln1W: n('ln1.g'), ln1B: n('ln1.b'),
    upW: n('up.w'), upB: n('up.b'), downW: n('down.w'), downB: n('down.b'), ln2W: n('ln2.g'), ln2B: n('ln2.b'),
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

/** BERT's embedding checkpoint names by engine key (RoBERTa and XLM-R use the same). */
export const BERT_EMBEDDING_TENSORS: Record<EmbeddingTensor, string> = {
  'emb.word': EMBEDDING_NAMES.word,
  'emb.pos': EMBEDDING_NAMES.pos,
  'emb.type': EMBEDDING_NAMES.type,
  'emb.ln.g': EMBEDDING_NAMES.lnW,
  'emb.ln.b': EMBEDDING_NAMES.lnB,
};

/** Config checks shared by BERT and RoBERTa (modeling_roberta copies BertConfig's fields). */
export function parseBertLikeConfig(config: Record<string, unknown>, file: string, family: string, dflt: { typeVocab: number }): EncoderDims {
  const num = (k: string, d?: number) => configNumber(config, file, k, d);
  const hidden = num('hidden_size');
  const heads = num('num_attention_heads');
  const pet = String(config.position_embedding_type ?? 'absolute');
  if (pet !== 'absolute') throw new ModelFolderError(file, `position_embedding_type "${pet}" is not supported`);
  return {
    family,
    modelType: String(config.model_type ?? family),
    hidden,
    layers: num('num_hidden_layers'),
    heads,
    headDim: headDimOf(config, file, hidden, heads),
    intermediate: num('intermediate_size'),
    vocab: num('vocab_size'),
    maxPositions: num('max_position_embeddings', 512),
    typeVocab: num('type_vocab_size', dflt.typeVocab),
    eps: num('layer_norm_eps', 1e-12),
    positionOffset: 0,
    act: geluOnly(config, file, 'hidden_act'),
  };
}

export function parseBertConfig(config: Record<string, unknown>, file: string): EncoderDims {
  const modelType = String(config.model_type ?? 'bert');
  if (modelType !== 'bert') throw new ModelFolderError(file, `model_type "${modelType}" is not BERT`);
  return parseBertLikeConfig(config, file, 'bert', { typeVocab: 2 });
}

export const BERT: ModelFamily = {
  name: 'bert',
  modelTypes: ['bert'],
  encoderArchitectures: ['BertModel', 'BertForMaskedLM', 'BertForPreTraining'],
  crossEncoderArchitectures: ['BertForSequenceClassification'],
  prefixes: ['', 'bert.', 'model.'],
  parseConfig: parseBertConfig,
  embeddingName: (t): CheckpointName => ({ name: BERT_EMBEDDING_TENSORS[t], prefixed: true }),
  layerName: (i, t): CheckpointName => ({ name: bertLayerName(i, t), prefixed: true }),
  headName: (t: HeadTensor): CheckpointName => {
    const m = { 'head.pool.w': HEAD_NAMES.poolerW, 'head.pool.b': HEAD_NAMES.poolerB, 'head.cls.w': HEAD_NAMES.clsW, 'head.cls.b': HEAD_NAMES.clsB };
    return { name: m[t], prefixed: t.startsWith('head.pool') };
  },
  headActivation: 'tanh',
};
