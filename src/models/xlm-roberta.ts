// XLM-RoBERTa (bge-m3, multilingual-e5, bge-reranker-base / -v2-m3): transformers' modeling_xlm_roberta
// is RoBERTa with another name — same tensors ("roberta." prefix in the sequence-classification
// class), positions from padding_idx + 1, the dense → tanh → out_proj head. Only the registry
// entries differ; bge-m3's 8194 positions are a config value, not a code path.
import type { ModelFamily } from './family.js';
import { robertaLike } from './roberta.js';

export const XLM_ROBERTA: ModelFamily = robertaLike('xlm-roberta', ['xlm-roberta'], 'XLMRoberta');
