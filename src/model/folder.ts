// Loads a Hugging Face model folder: config.json, weights (single or sharded safetensors),
// tokenizer files, and the sentence-transformers module files that decide pooling, normalisation,
// max length and prompts. Every problem is reported with the file it is in.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ModelFolderError } from '../errors.js';
import { BertWeights, parseBertConfig, type BertDims } from '../models/bert.js';
import { WeightStore } from './safetensors.js';

import type { TokenizerSpec } from '../tokenize/tokenizer.js';
export type { PoolingMode, SimilarityFn, ModelKind, HeadActivation, SentenceTransformersConfig } from './sentence-transformers.js';
import type { ModelKind, HeadActivation, SentenceTransformersConfig } from './sentence-transformers.js';
import { crossEncoderActivation, readSentenceTransformers, resolveMaxSeqLength } from './sentence-transformers.js';

export interface ModelFolder {
  dir: string;
  config: Record<string, unknown>;
  architecture: string;
  kind: ModelKind;
  dims: BertDims;
  weights: BertWeights;
  /** Dtype of the stored weights ('F32' | 'F16' | 'BF16'), read off the embedding table. */
  storedDtype: string;
  /** tokenizer.json and how sentence-transformers configures it (do_lower_case, truncation side). */
  tokenizer: TokenizerSpec;
  tokenizerConfig: Record<string, unknown>;
  /** Longest sequence (in tokens, specials included), as sentence-transformers' max_seq_length. */
  maxLength: number;
  /** Set when max_seq_length exceeded the model's positions and was capped to maxLength. */
  maxLengthCappedFrom?: number;
  st: SentenceTransformersConfig;
  numLabels: number;
  /** Cross-encoder score activation applied by default (sigmoid for one label, as sentence-transformers). */
  activation: HeadActivation;
  /** Path of onnx/model.onnx when the folder ships one (used only when asked for: EngineOptions.onnxFile). */
  onnxFile?: string;
}

export function readJson(file: string, required: true): Record<string, unknown>;
export function readJson(file: string, required: false): Record<string, unknown> | undefined;
export function readJson(file: string, required: boolean): Record<string, unknown> | undefined {
  if (!existsSync(file)) {
    if (required) throw new ModelFolderError(file, 'file not found');
    return undefined;
  }
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ModelFolderError(file, `not valid JSON: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== 'object') throw new ModelFolderError(file, 'expected a JSON object');
  return v as Record<string, unknown>;
}

export function readJsonText(file: string): string {
  const text = readFileSync(file, 'utf8');
  try {
    JSON.parse(text);
  } catch (e) {
    throw new ModelFolderError(file, `not valid JSON: ${(e as Error).message}`);
  }
  return text;
}

export function loadModelFolder(dir: string): ModelFolder {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ModelFolderError(dir, 'not a directory');
  const configFile = join(dir, 'config.json');
  const config = readJson(configFile, true);
  const dims = parseBertConfig(config, configFile);
  const archs = Array.isArray(config.architectures) ? (config.architectures as string[]) : ['BertModel'];
  const architecture = archs[0] ?? 'BertModel';
  const supported = ['BertModel', 'BertForSequenceClassification', 'BertForMaskedLM', 'BertForPreTraining'];
  if (!supported.includes(architecture)) {
    throw new ModelFolderError(configFile, `unsupported architecture "${architecture}" (supported: ${supported.join(', ')})`);
  }
  const kind: ModelKind = architecture.endsWith('ForSequenceClassification') ? 'cross-encoder' : 'encoder';

  const single = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  let store: WeightStore;
  if (existsSync(single)) store = WeightStore.openSingle(single);
  else if (existsSync(index)) store = WeightStore.openIndex(index);
  else if (existsSync(join(dir, 'pytorch_model.bin'))) {
    throw new ModelFolderError(join(dir, 'pytorch_model.bin'), 'PyTorch pickle weights are not supported; convert to model.safetensors');
  } else throw new ModelFolderError(single, 'file not found (nor model.safetensors.index.json)');
  const weightsFile = store.files.length === 1 ? store.files[0].path : index;
  const weights = new BertWeights(store, dims, weightsFile);

  let numLabels = 0;
  if (kind === 'cross-encoder') {
    const id2label = config.id2label as Record<string, unknown> | undefined;
    numLabels = typeof config.num_labels === 'number' ? config.num_labels : id2label ? Object.keys(id2label).length : 2;
    for (const n of ['pooler.dense.weight', 'classifier.weight']) {
      if (!weights.has(n)) throw new ModelFolderError(weightsFile, `cross-encoder is missing tensor "${n}"`);
    }
    const cls = weights.shape('classifier.weight');
    if (cls[0] !== numLabels || cls[1] !== dims.hidden) {
      throw new ModelFolderError(weightsFile, `classifier.weight has shape [${cls}] but num_labels=${numLabels}, hidden_size=${dims.hidden}`);
    }
  }

  const tokenizerFile = join(dir, 'tokenizer.json');
  if (!existsSync(tokenizerFile)) throw new ModelFolderError(tokenizerFile, 'file not found (only fast-tokenizer tokenizer.json files are supported)');
  readJsonText(tokenizerFile);
  const tokenizerConfig = readJson(join(dir, 'tokenizer_config.json'), false) ?? {};

  const { st, activation } = readSentenceTransformers(dir, kind, dims.hidden);
  const { maxLength, cappedFrom } = resolveMaxSeqLength(st, tokenizerConfig, dims.maxPositions, dims.maxPositions - dims.positionOffset);

  const onnx = join(dir, 'onnx', 'model.onnx');
  return {
    dir,
    config,
    architecture,
    kind,
    dims,
    weights,
    storedDtype: weights.dtype('embeddings.word_embeddings.weight'),
    tokenizer: { file: tokenizerFile, lowercase: st.doLowerCase, truncationSide: st.truncationSide, tokenTypeIds: st.tokenTypeIds },
    tokenizerConfig,
    maxLength,
    maxLengthCappedFrom: cappedFrom,
    st,
    numLabels,
    activation: kind === 'cross-encoder' ? crossEncoderActivation(config, configFile, numLabels, activation) : 'identity',
    onnxFile: existsSync(onnx) ? onnx : undefined,
  };
}
