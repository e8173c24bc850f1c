// The DistilBERT family (DistilBertModel, DistilBertForSequenceClassification), transformers'
// modeling_distilbert: word + learned position embeddings (no token types) → LayerNorm, then
// BERT's post-LN block under other names (q_lin/k_lin/v_lin/out_lin, sa_layer_norm, ffn.lin1/lin2,
// output_layer_norm; LayerNorm eps fixed at 1e-12); the head is pre_classifier → ReLU → classifier
// on the first token. sinusoidal_pos_embds only changes how the table was initialised: it is
// stored in the checkpoint either way.
import { ModelFolderError } from '../errors.js';
import { configNumber, geluOnly, headDimOf } from './config.js';
import type { CheckpointName, EmbeddingTensor, EncoderDims, HeadTensor, LayerTensor, ModelFamily } from './family.js';

const LAYER: Record<LayerTensor, string> = {
  'q.w': 'attention.q_lin.weight', 'q.b': 'attention.q_lin.bias',
  'k.w': 'attention.k_lin.weight', 'k.b': 'attention.k_lin.bias',
  'v.w': 'attention.v_lin.weight', 'v.b': 'attention.v_lin.bias',
  'o.w': 'attention.out_lin.weight', 'o.b': 'attention.out_lin.bias',
  'ln1.g': 'sa_layer_norm.weight', 'ln1.b': 'sa_layer_norm.bias',
  'up.w': 'ffn.lin1.weight', 'up.b': 'ffn.lin1.bias',
  'down.w': 'ffn.lin2.weight', 'down.b': 'ffn.lin2.bias',
  'ln2.g': 'output_layer_norm.weight', 'ln2.b': 'output_layer_norm.bias',
};

const EMB: Partial<Record<EmbeddingTensor, string>> = {
  'emb.word': 'embeddings.word_embeddings.weight',
  'emb.pos': 'embeddings.position_embeddings.weight',
  'emb.ln.g': 'embeddings.LayerNorm.weight',
  'emb.ln.b': 'embeddings.LayerNorm.bias',
};

const HEAD: Record<HeadTensor, string> = {
  'head.pool.w': 'pre_classifier.weight',
  'head.pool.b': 'pre_classifier.bias',
  'head.cls.w': 'classifier.weight',
  'head.cls.b': 'classifier.bias',
};

export function parseDistilBertConfig(config: Record<string, unknown>, file: string): EncoderDims {
  const mt = String(config.model_type ?? 'distilbert');
  if (mt !== 'distilbert') throw new ModelFolderError(file, `model_type "${mt}" is not DistilBERT`);
  const num = (k: string, d?: number) => configNumber(config, file, k, d);
  const hidden = num('dim', 768);
  const heads = num('n_heads', 12);
  return {
    family: 'distilbert',
    modelType: mt,
    hidden,
    layers: num('n_layers', 6),
    heads,
    headDim: headDimOf(config, file, hidden, heads),
    intermediate: num('hidden_dim', 3072),
    vocab: num('vocab_size', 30522),
    maxPositions: num('max_position_embeddings', 512),
    typeVocab: 0,
    eps: 1e-12, // modeling_distilbert hard-codes LayerNorm(eps=1e-12)
    positionOffset: 0,
    act: geluOnly(config, file, 'activation'),
  };
}

export const DISTILBERT: ModelFamily = {
  name: 'distilbert',
  modelTypes: ['distilbert'],
  encoderArchitectures: ['DistilBertModel', 'DistilBertForMaskedLM'],
  crossEncoderArchitectures: ['DistilBertForSequenceClassification'],
  prefixes: ['', 'distilbert.', 'model.'],
  parseConfig: parseDistilBertConfig,
  embeddingName: (t): CheckpointName | undefined => (EMB[t] ? { name: EMB[t], prefixed: true } : undefined),
  layerName: (i, t): CheckpointName => ({ name: `transformer.layer.${i}.${LAYER[t]}`, prefixed: true }),
  headName: (t): CheckpointName => ({ name: HEAD[t], prefixed: false }),
  headActivation: 'relu',
};
