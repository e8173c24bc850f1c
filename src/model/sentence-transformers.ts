// The sentence-transformers side of a model folder, read as sentence-transformers 5.x/6.x reads it:
// modules.json and the module folders (Transformer, Pooling, Dense, Normalize),
// sentence_bert_config.json, config_sentence_transformers.json and the cross-encoder settings.
// Every key is either honoured as sentence-transformers does or refused with a ModelFolderError
// naming the file and the key — never silently ignored.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ModelFolderError } from '../errors.js';
import { readJson, readJsonText } from './folder.js';
import { WeightStore } from './safetensors.js';

export type PoolingMode = 'cls' | 'mean' | 'last';
export type SimilarityFn = 'cosine' | 'dot' | 'euclidean' | 'manhattan';
export type ModelKind = 'encoder' | 'cross-encoder';
export type HeadActivation = 'sigmoid' | 'identity';
/** Activations a Dense module may use (torch.nn class names, as sentence-transformers saves them). */
export type DenseActivation = 'identity' | 'tanh' | 'relu' | 'sigmoid' | 'gelu' | 'silu';

/** A sentence-transformers Dense module: y = act(x W^T + b) (+ x, or + x R^T, with use_residual). */
export interface DenseModule {
  kind: 'dense';
  /** The module folder, for messages. */
  dir: string;
  inFeatures: number;
  outFeatures: number;
  activation: DenseActivation;
  /** Row-major [outFeatures, inFeatures], fp32. */
  weight: Float32Array;
  /** [outFeatures] or undefined when bias is false. */
  bias?: Float32Array;
  /** use_residual: undefined = none, 'identity' when in == out, else the [out, in] projection. */
  residual?: 'identity' | Float32Array;
}

/** What runs on the pooled embedding, in modules.json order. */
export type PostPoolingModule = DenseModule | { kind: 'normalize' };

export interface SentenceTransformersConfig {
  pooling: PoolingMode;
  /** Modules after Pooling (Dense, Normalize), in order. */
  afterPooling: PostPoolingModule[];
  /**
   * True when the modules after pooling are exactly [Normalize]: the engines pool and normalise
   * themselves. Otherwise they return the raw pooled vector and `afterPooling` runs on it.
   */
  normalize: boolean;
  /** Width of the final embedding (the last Dense's out_features, else the hidden size). */
  embedDim: number;
  /** sentence_bert_config.json max_seq_length (or processor_kwargs.model_max_length), when set. */
  maxSeqLength?: number;
  /** sentence_bert_config.json do_lower_case. */
  doLowerCase: boolean;
  /** tokenizer_config.json / processor_kwargs truncation_side. */
  truncationSide: 'left' | 'right';
  /** Whether the tokenizer's model_input_names include token_type_ids (else the model gets none). */
  tokenTypeIds: boolean;
  prompts: Record<string, string>;
  defaultPromptName?: string;
  similarityFn: SimilarityFn;
  /** Whether prompt tokens take part in pooling (Pooling include_prompt). */
  includePrompt: boolean;
  /** Which files said so, for messages: the files that were read. */
  files: string[];
}

/** Module class names we know, by the last segment of the modules.json `type`. */
const KNOWN_MODULES = new Set(['Transformer', 'Pooling', 'Dense', 'Normalize', 'Dropout']);

function className(type: string): string {
  return type.slice(type.lastIndexOf('.') + 1);
}

/** sentence-transformers' legacy Transformer config file names (Transformer.load_config). */
const ST_CONFIG_NAMES = [
  'sentence_bert_config.json',
  'sentence_roberta_config.json',
  'sentence_distilbert_config.json',
  'sentence_camembert_config.json',
  'sentence_albert_config.json',
  'sentence_xlm-roberta_config.json',
  'sentence_xlnet_config.json',
];

const DENSE_ACTIVATIONS: Record<string, DenseActivation> = {
  'torch.nn.modules.linear.Identity': 'identity',
  'torch.nn.modules.activation.Tanh': 'tanh',
  'torch.nn.modules.activation.ReLU': 'relu',
  'torch.nn.modules.activation.Sigmoid': 'sigmoid',
  'torch.nn.modules.activation.GELU': 'gelu',
  'torch.nn.modules.activation.SiLU': 'silu',
};

const HEAD_ACTIVATIONS: Record<string, HeadActivation> = {
  'torch.nn.modules.activation.Sigmoid': 'sigmoid',
  'torch.nn.modules.linear.Identity': 'identity',
};

function isEmpty(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === 'object' && Object.keys(v as object).length === 0);
}

interface TransformerSettings {
  maxSeqLength?: number;
  doLowerCase: boolean;
  truncationSide?: 'left' | 'right';
}

/** The Transformer module's config (sentence_bert_config.json and its legacy names). */
function readTransformerConfig(dir: string, kind: ModelKind): TransformerSettings {
  const out: TransformerSettings = { doLowerCase: false };
  const name = ST_CONFIG_NAMES.find((n) => existsSync(join(dir, n)));
  if (!name) return out;
  const file = join(dir, name);
  const c = readJson(file, true);
  const bad = (key: string, why: string): never => {
    throw new ModelFolderError(file, `"${key}": ${why}`);
  };
  for (const [key, v] of Object.entries(c)) {
    switch (key) {
      case 'max_seq_length':
        if (v === null) break;
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) bad(key, `expected a positive integer or null, got ${JSON.stringify(v)}`);
        out.maxSeqLength = v as number;
        break;
      case 'do_lower_case':
        if (typeof v !== 'boolean') bad(key, `expected true or false, got ${JSON.stringify(v)}`);
        out.doLowerCase = v as boolean;
        break;
      case 'transformer_task': {
        const want = kind === 'encoder' ? 'feature-extraction' : 'sequence-classification';
        if (v !== want) bad(key, `"${String(v)}" is not supported for ${kind === 'encoder' ? 'an embedding model' : 'a cross-encoder'} (expected "${want}")`);
        break;
      }
      case 'modality_config': {
        const m = v as Record<string, Record<string, unknown>> | null;
        const keys = m ? Object.keys(m) : [];
        const text = m?.text;
        const output = kind === 'encoder' ? 'last_hidden_state' : 'logits';
        if (keys.length !== 1 || !text || text.method !== 'forward' || text.method_output_name !== output) {
          bad(key, `only the text modality through forward → ${output} is supported, got ${JSON.stringify(v)}`);
        }
        break;
      }
      case 'module_output_name':
        if (v !== (kind === 'encoder' ? 'token_embeddings' : 'scores')) bad(key, `"${String(v)}" is not supported`);
        break;
      case 'model_args':
      case 'model_kwargs':
        // Loading options that do not change the values sentence-transformers computes.
        for (const k of Object.keys((v as object) ?? {})) {
          if (!['trust_remote_code', 'attn_implementation', 'torch_dtype', 'dtype', 'revision', 'cache_dir', 'local_files_only', 'token'].includes(k)) {
            bad(`${key}.${k}`, 'is not supported');
          }
        }
        break;
      case 'tokenizer_args':
      case 'processor_kwargs':
        for (const [k, kv] of Object.entries((v as Record<string, unknown>) ?? {})) {
          if (k === 'model_max_length') {
            if (typeof kv !== 'number' || !Number.isInteger(kv) || kv < 1) bad(`${key}.${k}`, `expected a positive integer, got ${JSON.stringify(kv)}`);
            // Transformer.__init__: an explicit processor model_max_length wins over max_seq_length.
            out.maxSeqLength = kv as number;
          } else if (k === 'truncation_side') {
            if (kv !== 'left' && kv !== 'right') bad(`${key}.${k}`, `expected "left" or "right", got ${JSON.stringify(kv)}`);
            out.truncationSide = kv as 'left' | 'right';
          } else if (!['trust_remote_code', 'padding_side', 'revision', 'cache_dir', 'local_files_only', 'token', 'use_fast'].includes(k)) {
            bad(`${key}.${k}`, 'is not supported');
          }
        }
        break;
      case 'config_args':
      case 'config_kwargs':
        for (const k of Object.keys((v as object) ?? {})) {
          if (!['trust_remote_code', 'revision', 'cache_dir', 'local_files_only', 'token'].includes(k)) bad(`${key}.${k}`, 'is not supported');
        }
        break;
      case 'processing_kwargs':
        if (!isEmpty(v)) bad(key, 'per-modality processing overrides are not supported');
        break;
      case 'unpad_inputs':
      case 'backend':
        break; // how the model runs, not what it computes
      case 'query_length':
      case 'document_length':
      case 'query_expansion':
      case 'tokenizer_name_or_path':
        if (v !== null && v !== undefined) bad(key, 'is not supported (multi-vector / separate tokenizer settings)');
        break;
      default:
        bad(key, 'unknown setting (not one sentence-transformers 5.x/6.x defines)');
    }
  }
  return out;
}

/** Pooling module config: sentence-transformers 6 `pooling_mode` or the legacy pooling_mode_* flags. */
function readPooling(file: string, hidden: number): { mode: PoolingMode; includePrompt: boolean } {
  const pc = readJson(file, true);
  const legacy: Array<[string, string]> = [
    ['pooling_mode_cls_token', 'cls'],
    ['pooling_mode_max_tokens', 'max'],
    ['pooling_mode_mean_tokens', 'mean'],
    ['pooling_mode_mean_sqrt_len_tokens', 'mean_sqrt_len_tokens'],
    ['pooling_mode_weightedmean_tokens', 'weightedmean'],
    ['pooling_mode_lasttoken', 'lasttoken'],
  ];
  let modes: string[];
  if (pc.pooling_mode !== undefined) {
    const pm = pc.pooling_mode;
    modes = Array.isArray(pm) ? pm.map(String) : [String(pm)];
  } else {
    modes = legacy.filter(([k]) => pc[k] === true).map(([, m]) => m);
  }
  for (const key of Object.keys(pc)) {
    const known = ['pooling_mode', 'include_prompt', 'embedding_dimension', 'word_embedding_dimension', ...legacy.map(([k]) => k)];
    if (!known.includes(key)) throw new ModelFolderError(file, `"${key}": unknown Pooling setting`);
  }
  if (modes.length !== 1) {
    throw new ModelFolderError(file, `"pooling_mode": expected exactly one mode, found ${modes.length ? modes.join(' + ') : 'none'} (concatenated poolings are not supported)`);
  }
  const map: Record<string, PoolingMode> = { cls: 'cls', mean: 'mean', lasttoken: 'last' };
  const mode = map[modes[0]];
  if (!mode) throw new ModelFolderError(file, `"pooling_mode": "${modes[0]}" is not supported (supported: cls, mean, lasttoken)`);
  const dim = pc.embedding_dimension ?? pc.word_embedding_dimension;
  if (dim !== undefined && dim !== hidden) throw new ModelFolderError(file, `"embedding_dimension" is ${String(dim)} but the model's hidden size is ${hidden}`);
  if (pc.include_prompt !== undefined && typeof pc.include_prompt !== 'boolean') throw new ModelFolderError(file, `"include_prompt": expected true or false`);
  return { mode, includePrompt: pc.include_prompt !== false };
}

/** A Dense module folder: config.json plus model.safetensors (pytorch_model.bin is refused). */
function readDense(dir: string, inDim: number): DenseModule {
  const file = join(dir, 'config.json');
  const c = readJson(file, true);
  const known = ['in_features', 'out_features', 'bias', 'activation_function', 'module_input_name', 'module_output_name', 'use_residual'];
  for (const key of Object.keys(c)) if (!known.includes(key)) throw new ModelFolderError(file, `"${key}": unknown Dense setting`);
  const inFeatures = c.in_features;
  const outFeatures = c.out_features;
  if (!Number.isInteger(inFeatures) || !Number.isInteger(outFeatures) || (outFeatures as number) < 1) {
    throw new ModelFolderError(file, '"in_features" and "out_features" must be positive integers');
  }
  if (inFeatures !== inDim) throw new ModelFolderError(file, `"in_features" is ${String(inFeatures)} but the embedding reaching this module has ${inDim} dimensions`);
  const inputName = c.module_input_name ?? 'sentence_embedding';
  if (inputName !== 'sentence_embedding' || (c.module_output_name ?? inputName) !== 'sentence_embedding') {
    throw new ModelFolderError(file, `"module_input_name"/"module_output_name": only a Dense on the sentence embedding is supported`);
  }
  const actName = c.activation_function === undefined || c.activation_function === null ? 'torch.nn.modules.activation.Tanh' : String(c.activation_function);
  const activation = DENSE_ACTIVATIONS[actName];
  if (!activation) throw new ModelFolderError(file, `"activation_function": "${actName}" is not supported (supported: ${Object.keys(DENSE_ACTIVATIONS).join(', ')})`);
  const useBias = c.bias !== false;
  const weightsFile = join(dir, 'model.safetensors');
  if (!existsSync(weightsFile)) {
    const bin = join(dir, 'pytorch_model.bin');
    if (existsSync(bin)) throw new ModelFolderError(bin, 'PyTorch pickle weights are not supported; convert the Dense module to model.safetensors');
    throw new ModelFolderError(weightsFile, 'file not found (the Dense module has no weights)');
  }
  const store = WeightStore.openSingle(weightsFile);
  const tensor = (name: string, shape: number[]): Float32Array => {
    if (!store.has(name)) throw new ModelFolderError(weightsFile, `missing tensor "${name}"`);
    const got = store.info(name).shape;
    if (got.join(',') !== shape.join(',')) throw new ModelFolderError(weightsFile, `"${name}" has shape [${got}], expected [${shape}]`);
    return store.f32(name);
  };
  const out = outFeatures as number;
  const inn = inFeatures as number;
  const dense: DenseModule = { kind: 'dense', dir, inFeatures: inn, outFeatures: out, activation, weight: tensor('linear.weight', [out, inn]) };
  if (useBias) dense.bias = tensor('linear.bias', [out]);
  if (c.use_residual === true) dense.residual = inn === out ? 'identity' : tensor('residual.weight', [out, inn]);
  return dense;
}

/** config_sentence_transformers.json: prompts, default prompt, similarity, model type, CE activation. */
function readModelConfig(dir: string, kind: ModelKind, st: SentenceTransformersConfig): { activation?: HeadActivation } {
  const file = join(dir, 'config_sentence_transformers.json');
  const cst = readJson(file, false);
  if (!cst) return {};
  st.files.push(file);
  let activation: HeadActivation | undefined;
  for (const [key, v] of Object.entries(cst)) {
    switch (key) {
      case '__version__':
        break;
      case 'prompts':
        if (v === null) break;
        if (typeof v !== 'object' || Array.isArray(v)) throw new ModelFolderError(file, `"prompts": expected an object of prompt name → text`);
        for (const [k, p] of Object.entries(v as Record<string, unknown>)) {
          if (p !== null && typeof p !== 'string') throw new ModelFolderError(file, `"prompts.${k}": expected a string`);
          st.prompts[k] = (p as string | null) ?? ''; // sentence-transformers reads null as ""
        }
        break;
      case 'default_prompt_name':
        if (v !== null && typeof v !== 'string') throw new ModelFolderError(file, `"default_prompt_name": expected a string or null`);
        if (typeof v === 'string') st.defaultPromptName = v;
        break;
      case 'similarity_fn_name': {
        if (v === null) break;
        const map: Record<string, SimilarityFn> = { cosine: 'cosine', dot: 'dot', dot_product: 'dot', euclidean: 'euclidean', manhattan: 'manhattan' };
        if (typeof v !== 'string' || !map[v]) throw new ModelFolderError(file, `"similarity_fn_name": unknown similarity "${String(v)}"`);
        st.similarityFn = map[v];
        break;
      }
      case 'model_type': {
        const want = kind === 'encoder' ? 'SentenceTransformer' : 'CrossEncoder';
        if (v !== want) throw new ModelFolderError(file, `"model_type": "${String(v)}" is not supported here (this folder's architecture makes it ${kind === 'encoder' ? 'an embedding model' : 'a cross-encoder'}: expected "${want}")`);
        break;
      }
      case 'activation_fn':
        if (kind !== 'cross-encoder') throw new ModelFolderError(file, `"activation_fn" applies to cross-encoders only`);
        if (v === null) break;
        activation = HEAD_ACTIVATIONS[String(v)];
        if (!activation) throw new ModelFolderError(file, `"activation_fn": "${String(v)}" is not supported (supported: ${Object.keys(HEAD_ACTIVATIONS).join(', ')})`);
        break;
      default:
        throw new ModelFolderError(file, `"${key}": unknown setting (not one sentence-transformers 5.x/6.x defines)`);
    }
  }
  if (st.defaultPromptName !== undefined && !(st.defaultPromptName in st.prompts)) {
    // SentenceTransformer._validate_prompts raises the same.
    throw new ModelFolderError(file, `"default_prompt_name": "${st.defaultPromptName}" is not one of the prompts (${Object.keys(st.prompts).join(', ') || 'none'})`);
  }
  if (kind === 'cross-encoder' && st.defaultPromptName) {
    throw new ModelFolderError(file, `"default_prompt_name": cross-encoder prompts are not supported`);
  }
  return { activation };
}

export interface SentenceTransformersFolder {
  st: SentenceTransformersConfig;
  /** Cross-encoder activation from config_sentence_transformers.json, when it names one. */
  activation?: HeadActivation;
}

/**
 * Reads the sentence-transformers files of `dir` for a model whose transformer has `hidden`
 * dimensions; `tokenizerConfig` is the folder's tokenizer_config.json ({} when absent), read once
 * by the folder loader. Without modules.json, as sentence-transformers does for a plain transformers
 * checkpoint: mean pooling and no normalisation (encoders).
 * @throws ModelFolderError naming the file and key of anything not honoured.
 */
export function readSentenceTransformers(dir: string, kind: ModelKind, hidden: number, tokenizerConfig: Record<string, unknown>): SentenceTransformersFolder {
  const st: SentenceTransformersConfig = {
    pooling: kind === 'cross-encoder' ? 'cls' : 'mean',
    afterPooling: [],
    normalize: false,
    embedDim: hidden,
    doLowerCase: false,
    truncationSide: 'right',
    tokenTypeIds: true,
    prompts: {},
    similarityFn: 'cosine',
    includePrompt: true,
    files: [],
  };
  const modulesFile = join(dir, 'modules.json');
  if (existsSync(modulesFile)) {
    st.files.push(modulesFile);
    const modules = JSON.parse(readJsonText(modulesFile)) as unknown;
    if (!Array.isArray(modules)) throw new ModelFolderError(modulesFile, 'expected a JSON array of modules');
    let seenTransformer = false;
    let seenPooling = false;
    let dim = hidden;
    modules.forEach((m: Record<string, unknown>, i: number) => {
      const type = String(m?.type ?? '');
      const path = typeof m?.path === 'string' ? m.path : '';
      const cls = className(type);
      if (!type.startsWith('sentence_transformers.') || !KNOWN_MODULES.has(cls)) {
        throw new ModelFolderError(modulesFile, `module ${i} has type "${type}", which is not supported (supported: ${[...KNOWN_MODULES].join(', ')})`);
      }
      const mdir = join(dir, path);
      // Normalize and Dropout save no files, so hub repositories have no folder for them.
      if (cls !== 'Normalize' && cls !== 'Dropout' && !existsSync(mdir)) {
        throw new ModelFolderError(modulesFile, `module ${i} (${cls}) lives in "${path}", which does not exist in ${dir}`);
      }
      if (cls === 'Transformer') {
        if (i !== 0) throw new ModelFolderError(modulesFile, `the Transformer must be module 0, found at ${i}`);
        if (path !== '') throw new ModelFolderError(modulesFile, `a Transformer in a subfolder ("${path}") is not supported; it must be saved at the folder root`);
        seenTransformer = true;
      } else if (cls === 'Pooling') {
        if (kind === 'cross-encoder') throw new ModelFolderError(modulesFile, 'a cross-encoder with a Pooling module is not supported');
        if (seenPooling) throw new ModelFolderError(modulesFile, 'more than one Pooling module');
        const p = readPooling(join(mdir, 'config.json'), hidden);
        st.pooling = p.mode;
        st.includePrompt = p.includePrompt;
        seenPooling = true;
        st.files.push(join(mdir, 'config.json'));
      } else if (cls === 'Dense') {
        if (!seenPooling) throw new ModelFolderError(modulesFile, `module ${i} (Dense) comes before Pooling: token-level Dense modules are not supported`);
        const d = readDense(mdir, dim);
        st.afterPooling.push(d);
        dim = d.outFeatures;
        st.files.push(join(mdir, 'config.json'), join(mdir, 'model.safetensors'));
      } else if (cls === 'Normalize') {
        if (!seenPooling) throw new ModelFolderError(modulesFile, `module ${i} (Normalize) comes before Pooling`);
        st.afterPooling.push({ kind: 'normalize' });
      }
      // Dropout is the identity at inference.
    });
    if (!seenTransformer) throw new ModelFolderError(modulesFile, 'no Transformer module');
    if (kind === 'encoder' && !seenPooling) throw new ModelFolderError(modulesFile, 'no Pooling module: token embeddings (no pooling) are not supported');
    st.embedDim = dim;
    st.normalize = st.afterPooling.length === 1 && st.afterPooling[0].kind === 'normalize';
    if (st.normalize) st.afterPooling = [];
  }
  const t = readTransformerConfig(dir, kind);
  st.maxSeqLength = t.maxSeqLength;
  st.doLowerCase = t.doLowerCase;
  if (tokenizerConfig.truncation_side === 'left') st.truncationSide = 'left';
  st.tokenTypeIds = feedsTokenTypeIds(tokenizerConfig);
  if (t.truncationSide) st.truncationSide = t.truncationSide;
  const { activation } = readModelConfig(dir, kind, st);
  return { st, activation };
}

/** transformers tokenizer classes whose model_input_names include token_type_ids. */
const TYPE_ID_TOKENIZERS = new Set([
  'BertTokenizer', 'BertJapaneseTokenizer', 'ElectraTokenizer', 'AlbertTokenizer', 'DebertaTokenizer', 'DebertaV2Tokenizer',
  'FunnelTokenizer', 'MobileBertTokenizer', 'SqueezeBertTokenizer', 'LayoutLMTokenizer', 'ConvBertTokenizer',
  'RemBertTokenizer', 'XLNetTokenizer', 'RoFormerTokenizer', 'NystromformerTokenizer', 'ErnieTokenizer',
]);

/**
 * Whether transformers feeds token_type_ids to the model: tokenizer_config.json
 * `model_input_names` when given, else the tokenizer class's (BERT-style classes do; RoBERTa,
 * XLM-R, DistilBERT, MPNet and the generic PreTrainedTokenizerFast / TokenizersBackend of
 * transformers 5 do not — checked with sentence-transformers 6.0.1 on a generic-tokenizer BERT
 * cross-encoder, whose scores match only without token types).
 */
export function feedsTokenTypeIds(tokenizerConfig: Record<string, unknown>): boolean {
  const names = tokenizerConfig.model_input_names;
  if (Array.isArray(names)) return names.includes('token_type_ids');
  const cls = String(tokenizerConfig.tokenizer_class ?? '').replace(/Fast$/, '');
  return TYPE_ID_TOKENIZERS.has(cls);
}

/**
 * The longest input in tokens, as sentence-transformers' Transformer sets tokenizer.model_max_length:
 * max_seq_length (or processor_kwargs.model_max_length) when given — even above the tokenizer's
 * model_max_length — else min(tokenizer_config model_max_length, config max_position_embeddings).
 * `positions` is how many positions the model can embed (max_position_embeddings minus any offset):
 * a length beyond it would crash sentence-transformers on long inputs; it is capped there and
 * `cappedFrom` says so.
 */
export function resolveMaxSeqLength(
  st: SentenceTransformersConfig,
  tokenizerConfig: Record<string, unknown>,
  maxPositionEmbeddings: number,
  positions: number,
): { maxLength: number; cappedFrom?: number } {
  let len: number;
  if (st.maxSeqLength !== undefined) len = st.maxSeqLength;
  else {
    const tml = tokenizerConfig.model_max_length;
    len = typeof tml === 'number' && tml > 0 ? Math.min(tml, maxPositionEmbeddings) : maxPositionEmbeddings;
  }
  if (len > positions) return { maxLength: positions, cappedFrom: len };
  return { maxLength: len };
}

/**
 * Cross-encoder score activation, as CrossEncoder.get_default_activation_fn: the one named in
 * config_sentence_transformers.json, else config.json's sentence_transformers.activation_fn, else
 * the pre-v4 sbert_ce_default_activation_function, else sigmoid for one label and identity otherwise.
 */
export function crossEncoderActivation(config: Record<string, unknown>, configFile: string, numLabels: number, fromSt?: HeadActivation): HeadActivation {
  if (fromSt) return fromSt;
  const stc = config.sentence_transformers as Record<string, unknown> | undefined;
  const named = stc?.activation_fn ?? config.sbert_ce_default_activation_function;
  if (named !== undefined && named !== null) {
    const a = HEAD_ACTIVATIONS[String(named)];
    if (!a) {
      const key = stc?.activation_fn !== undefined ? 'sentence_transformers.activation_fn' : 'sbert_ce_default_activation_function';
      throw new ModelFolderError(configFile, `"${key}": "${String(named)}" is not supported (supported: ${Object.keys(HEAD_ACTIVATIONS).join(', ')})`);
    }
    return a;
  }
  return numLabels === 1 ? 'sigmoid' : 'identity';
}
