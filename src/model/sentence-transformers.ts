// The sentence-transformers side of a model folder: modules.json and the module folders
// (Pooling, Dense, Normalize), sentence_bert_config.json, config_sentence_transformers.json and the
// cross-encoder settings, read as sentence-transformers 5.x/6.x reads them.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelFolderError } from '../errors.js';
import { readJson, readJsonText } from './folder.js';

export type PoolingMode = 'cls' | 'mean' | 'last';
export type SimilarityFn = 'cosine' | 'dot' | 'euclidean' | 'manhattan';
export type ModelKind = 'encoder' | 'cross-encoder';
export type HeadActivation = 'sigmoid' | 'identity';

export interface SentenceTransformersConfig {
  pooling: PoolingMode;
  normalize: boolean;
  /** From sentence_bert_config.json, when present. */
  maxSeqLength?: number;
  prompts: Record<string, string>;
  defaultPromptName?: string;
  similarityFn: SimilarityFn;
  /** Whether prompt tokens take part in pooling (1_Pooling include_prompt). */
  includePrompt: boolean;
}

const MODULE_POOLING = 'sentence_transformers.models.Pooling';
const MODULE_NORMALIZE = 'sentence_transformers.models.Normalize';

export function readSentenceTransformers(dir: string, kind: ModelKind): SentenceTransformersConfig {
  const st: SentenceTransformersConfig = {
    pooling: kind === 'cross-encoder' ? 'cls' : 'mean',
    normalize: false,
    prompts: {},
    similarityFn: 'cosine',
    includePrompt: true,
  };
  const modulesFile = join(dir, 'modules.json');
  const modules = existsSync(modulesFile) ? (JSON.parse(readJsonText(modulesFile)) as unknown) : undefined;
  if (modules !== undefined) {
    if (!Array.isArray(modules)) throw new ModelFolderError(modulesFile, 'expected a JSON array of modules');
    for (const m of modules as Array<Record<string, unknown>>) {
      const type = String(m.type ?? '');
      const path = String(m.path ?? '');
      if (type === MODULE_POOLING) {
        const pf = join(dir, path, 'config.json');
        const pc = readJson(pf, true);
        const modes: Array<[string, PoolingMode | null]> = [
          ['pooling_mode_cls_token', 'cls'],
          ['pooling_mode_mean_tokens', 'mean'],
          ['pooling_mode_lasttoken', 'last'],
          ['pooling_mode_max_tokens', null],
          ['pooling_mode_mean_sqrt_len_tokens', null],
          ['pooling_mode_weightedmean_tokens', null],
        ];
        const on = modes.filter(([k]) => pc[k] === true);
        if (on.length !== 1) {
          throw new ModelFolderError(pf, `expected exactly one pooling mode, found ${on.length ? on.map(([k]) => k).join(', ') : 'none'}`);
        }
        const [key, mode] = on[0];
        if (mode === null) throw new ModelFolderError(pf, `${key} is not supported (supported: CLS, mean, last token)`);
        st.pooling = mode;
        if (pc.include_prompt === false) st.includePrompt = false;
      } else if (type === MODULE_NORMALIZE) {
        st.normalize = true;
      }
    }
  } else if (kind === 'encoder') {
    // A plain transformers checkpoint: sentence-transformers would mean-pool without normalising.
    st.pooling = 'mean';
  }
  const sbc = readJson(join(dir, 'sentence_bert_config.json'), false);
  if (sbc && typeof sbc.max_seq_length === 'number') st.maxSeqLength = sbc.max_seq_length;
  const cst = readJson(join(dir, 'config_sentence_transformers.json'), false);
  if (cst) {
    if (cst.prompts && typeof cst.prompts === 'object') {
      for (const [k, v] of Object.entries(cst.prompts as Record<string, unknown>)) {
        if (typeof v === 'string') st.prompts[k] = v;
      }
    }
    if (typeof cst.default_prompt_name === 'string') st.defaultPromptName = cst.default_prompt_name;
    const sim = cst.similarity_fn_name;
    if (typeof sim === 'string') {
      const map: Record<string, SimilarityFn> = { cosine: 'cosine', dot: 'dot', euclidean: 'euclidean', manhattan: 'manhattan' };
      if (!map[sim]) throw new ModelFolderError(join(dir, 'config_sentence_transformers.json'), `unknown similarity_fn_name "${sim}"`);
      st.similarityFn = map[sim];
    }
  }
  return st;
}

export function crossEncoderActivation(config: Record<string, unknown>, numLabels: number): HeadActivation {
  const stc = config.sentence_transformers as Record<string, unknown> | undefined;
  const fn = String(stc?.activation_fn ?? config.sbert_ce_default_activation_function ?? '');
  if (fn.endsWith('Sigmoid')) return 'sigmoid';
  if (fn.endsWith('Identity')) return 'identity';
  return numLabels === 1 ? 'sigmoid' : 'identity';
}

