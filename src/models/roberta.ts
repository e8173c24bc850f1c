// The RoBERTa family (RobertaModel, RobertaForSequenceClassification): BERT's layer and names,
// with two differences every backend must honour (transformers' modeling_roberta):
//   - positions start at padding_idx + 1 (create_position_ids_from_input_ids: a pad token gets
//     padding_idx and does not advance the count), so max length = max_position_embeddings − pad − 1;
//   - the classification head is its own: classifier.dense → tanh → classifier.out_proj on the
//     first token (<s>), not BERT's pooler; a bare RobertaModel's pooler is unused by embeddings.
// type_vocab_size is 1 in released checkpoints: every token adds token_type_embeddings[0].
import { ModelFolderError } from '../errors.js';
import { BERT_EMBEDDING_TENSORS, bertLayerName, parseBertLikeConfig } from './bert.js';
import { configNumber } from './config.js';
import type { CheckpointName, EncoderDims, HeadTensor, ModelFamily } from './family.js';

const HEAD: Record<HeadTensor, string> = {
  'head.pool.w': 'classifier.dense.weight',
  'head.pool.b': 'classifier.dense.bias',
  'head.cls.w': 'classifier.out_proj.weight',
  'head.cls.b': 'classifier.out_proj.bias',
};

/** RoBERTa-style config: BERT's fields plus pad_token_id, which fixes where positions start. */
export function parseRobertaLikeConfig(config: Record<string, unknown>, file: string, family: string): EncoderDims {
  const d = parseBertLikeConfig(config, file, family, { typeVocab: 1 });
  const pad = configNumber(config, file, 'pad_token_id', 1);
  if (!Number.isInteger(pad) || pad < 0 || pad + 1 >= d.maxPositions) {
    throw new ModelFolderError(file, `pad_token_id ${pad} leaves no positions in a table of ${d.maxPositions}`);
  }
  return { ...d, positionOffset: pad + 1, paddingIdx: pad };
}

/** Every family that reuses RoBERTa's modules: only the names of types and classes differ. */
export function robertaLike(name: string, modelTypes: string[], archPrefix: string): ModelFamily {
  return {
    name,
    modelTypes,
    encoderArchitectures: [`${archPrefix}Model`, `${archPrefix}ForMaskedLM`],
    crossEncoderArchitectures: [`${archPrefix}ForSequenceClassification`],
    prefixes: ['', 'roberta.', 'model.'],
    parseConfig: (config, file) => {
      const mt = String(config.model_type ?? modelTypes[0]);
      if (!modelTypes.includes(mt)) throw new ModelFolderError(file, `model_type "${mt}" is not ${name}`);
      return parseRobertaLikeConfig(config, file, name);
    },
    embeddingName: (t): CheckpointName => ({ name: BERT_EMBEDDING_TENSORS[t], prefixed: true }),
    layerName: (i, t): CheckpointName => ({ name: bertLayerName(i, t), prefixed: true }),
    headName: (t): CheckpointName => ({ name: HEAD[t], prefixed: false }),
    headActivation: 'tanh',
  };
}

export const ROBERTA: ModelFamily = robertaLike('roberta', ['roberta'], 'Roberta');
