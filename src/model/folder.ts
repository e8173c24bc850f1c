// Loads a Hugging Face model folder: config.json, weights (single or sharded safetensors),
// tokenizer files, and the sentence-transformers module files that decide pooling, normalisation,
// max length and prompts. Every problem is reported with the file it is in.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ModelFolderError } from '../errors.js';
import type { EncoderDims, ModelFamily } from '../models/family.js';
import { resolveArchitecture } from '../models/index.js';
import { resolveQwen3ScoreHead } from '../models/qwen3-reranker.js';
import { ModelWeights } from '../models/weights.js';
import { WeightStore } from './safetensors.js';

import type { TokenizerSpec } from '../tokenize/tokenizer.js';
export type { PoolingMode, SimilarityFn, ModelKind, HeadActivation, SentenceTransformersConfig } from './sentence-transformers.js';
import type { ModelKind, HeadActivation, SentenceTransformersConfig } from './sentence-transformers.js';
import { crossEncoderActivation, readSentenceTransformers, resolveMaxSeqLength } from './sentence-transformers.js';

export interface ModelFolder {
  dir: string;
  config: Record<string, unknown>;
  /** config.json architectures[0] (or the family's bare encoder when absent). */
  architecture: string;
  /** The family file (src/models/) that reads this checkpoint. */
  family: ModelFamily;
  kind: ModelKind;
  dims: EncoderDims;
  /** The checkpoint through the family's weight plan (engine keys → checkpoint tensors). */
  weights: ModelWeights;
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

export interface LoadFolderOptions {
  /**
   * Keys laid over config.json before anything reads it, as vLLM's hf_overrides (e.g.
   * QWEN3_RERANKER_OVERRIDES to score with a Qwen3-Reranker causal-LM folder).
   */
  hfOverrides?: Record<string, unknown>;
}

export function loadModelFolder(dir: string, opts: LoadFolderOptions = {}): ModelFolder {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ModelFolderError(dir, 'not a directory');
  const configFile = join(dir, 'config.json');
  const config = readJson(configFile, true);
  if (opts.hfOverrides !== undefined) {
    if (opts.hfOverrides === null || typeof opts.hfOverrides !== 'object' || Array.isArray(opts.hfOverrides)) {
      throw new ModelFolderError(configFile, 'hfOverrides must be an object of config.json keys');
    }
    Object.assign(config, opts.hfOverrides);
  }
  const { family, architecture, kind } = resolveArchitecture(config, configFile);
  const dims = family.parseConfig(config, configFile);

  const single = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  let store: WeightStore;
  if (existsSync(single)) store = WeightStore.openSingle(single);
  else if (existsSync(index)) store = WeightStore.openIndex(index);
  else if (existsSync(join(dir, 'pytorch_model.bin'))) {
    throw new ModelFolderError(join(dir, 'pytorch_model.bin'), 'PyTorch pickle weights are not supported; convert to model.safetensors');
  } else throw new ModelFolderError(single, 'file not found (nor model.safetensors.index.json)');
  const weightsFile = store.files.length === 1 ? store.files[0].path : index;
  const weights = new ModelWeights(store, family, dims, weightsFile);

  const tokenizerFile = join(dir, 'tokenizer.json');
  let numLabels = 0;
  if (kind === 'cross-encoder' && dims.decoder) {
    if (!existsSync(tokenizerFile)) throw new ModelFolderError(tokenizerFile, 'file not found (only fast-tokenizer tokenizer.json files are supported)');
    dims.decoder.scoreHead = resolveQwen3ScoreHead(config, configFile, weights, tokenizerFile);
    numLabels = dims.decoder.scoreHead.numLabels;
  } else if (kind === 'cross-encoder') {
    const id2label = config.id2label as Record<string, unknown> | undefined;
    numLabels = typeof config.num_labels === 'number' ? config.num_labels : id2label ? Object.keys(id2label).length : 2;
    if (!Number.isInteger(numLabels) || numLabels < 1) throw new ModelFolderError(configFile, `num_labels ${numLabels} is not a positive integer`);
    // The head (BERT pooler + classifier, RoBERTa classifier.dense + out_proj, DistilBERT
    // pre_classifier + classifier) is checked like the base model: present, with config's shapes.
    weights.expectShape('head.pool.w', [dims.hidden, dims.hidden]);
    weights.expectShape('head.pool.b', [dims.hidden]);
    weights.expectShape('head.cls.w', [numLabels, dims.hidden]);
    weights.expectShape('head.cls.b', [numLabels]);
  }

  if (!existsSync(tokenizerFile)) throw new ModelFolderError(tokenizerFile, 'file not found (only fast-tokenizer tokenizer.json files are supported)');
  readJsonText(tokenizerFile);
  const tokenizerConfig = readJson(join(dir, 'tokenizer_config.json'), false) ?? {};

  const { st, activation } = readSentenceTransformers(dir, kind, dims.hidden, tokenizerConfig);
  const { maxLength, cappedFrom } = resolveMaxSeqLength(st, tokenizerConfig, dims.maxPositions, dims.maxPositions - dims.positionOffset);

  const onnx = join(dir, 'onnx', 'model.onnx');
  return {
    dir,
    config,
    architecture,
    family,
    kind,
    dims,
    weights,
    storedDtype: weights.dtype('emb.word'),
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
