// Qwen3-Reranker as a cross-encoder. The checkpoint is a causal LM that answers "yes" or "no";
// the score is P("yes") = softmax over the "no" and "yes" logits at the last position
// (Qwen3-Reranker's model card). Only those two rows of the LM head matter, so, as vLLM's
// sequence-classification conversion does (model_executor/models/adapters.py,
// load_weights_using_from_2_way_softmax), the head is one row w = lm_head[yes] − lm_head[no]:
// sigmoid(w·h) = e^{yes}/(e^{yes}+e^{no}) = P("yes").
//
// How a folder says it is such a reranker, exactly as vLLM reads it:
//   config.json (or EngineOptions.hfOverrides, vLLM's hf_overrides) with
//     "architectures": ["Qwen3ForSequenceClassification"],
//     "classifier_from_token": ["no", "yes"]          (false token first, then true token)
//   and no score.weight in the checkpoint: the head is built from those LM-head rows
//   (two tokens: from_2_way_softmax, one label; any other count: those rows as the labels).
//   A Qwen3ForSequenceClassification checkpoint with score.weight (transformers' own class, or a
//   converted "-seq-cls" folder) uses score.weight.
// QWEN3_RERANKER_OVERRIDES is the hf_overrides vLLM documents for the original
// Qwen/Qwen3-Reranker-* folders (which say Qwen3ForCausalLM).
import { readFileSync } from 'node:fs';
import { ModelFolderError } from '../errors.js';
import type { ModelWeights } from './weights.js';

/** vLLM's hf_overrides for an original Qwen3-Reranker (Qwen3ForCausalLM) folder. */
export const QWEN3_RERANKER_OVERRIDES: Readonly<Record<string, unknown>> = Object.freeze({
  architectures: ['Qwen3ForSequenceClassification'],
  classifier_from_token: ['no', 'yes'],
  is_original_qwen3_reranker: true,
});

/** The classification head of a Qwen3ForSequenceClassification folder. */
export interface Qwen3ScoreHead {
  numLabels: number;
  /**
   * Token ids whose LM-head rows make the head (absent: score.weight). With method
   * 'from_2_way_softmax' ids are [false, true] and the one label is lm[true] − lm[false].
   */
  fromTokens?: { tokens: string[]; ids: number[]; method: 'from_2_way_softmax' | 'no_post_processing' };
}

/** The id of each token in tokenizer.json (added tokens and the model vocabulary). */
function tokenIds(tokenizerFile: string, tokens: string[]): number[] {
  const tj = JSON.parse(readFileSync(tokenizerFile, 'utf8')) as { added_tokens?: Array<{ id: number; content: string }>; model?: { vocab?: Record<string, number> | Array<[string, number]> } };
  const vocab = new Map<string, number>();
  const v = tj.model?.vocab;
  if (v && !Array.isArray(v)) for (const [t, id] of Object.entries(v)) vocab.set(t, id);
  if (Array.isArray(v)) v.forEach(([t], id) => vocab.set(t, id)); // Unigram: [piece, score] by id
  for (const a of tj.added_tokens ?? []) vocab.set(a.content, a.id);
  return tokens.map((t) => {
    const id = vocab.get(t);
    if (id === undefined) throw new ModelFolderError(tokenizerFile, `classifier_from_token "${t}" is not a single token of this tokenizer`);
    return id;
  });
}

/**
 * Reads the head of a Qwen3 sequence-classification folder: score.weight when the checkpoint has
 * one, else the LM-head rows of config `classifier_from_token`.
 * @throws ModelFolderError when neither is there, a token is not in the vocabulary, or shapes differ.
 */
export function resolveQwen3ScoreHead(config: Record<string, unknown>, configFile: string, weights: ModelWeights, tokenizerFile: string): Qwen3ScoreHead {
  const d = weights.dims;
  const fromToken = config.classifier_from_token;
  if (weights.store.has('score.weight')) {
    const labels = weights.shape('head.cls.w')[0];
    weights.expectShape('head.cls.w', [labels, d.hidden]);
    return { numLabels: labels };
  }
  if (!Array.isArray(fromToken) || fromToken.length === 0 || fromToken.some((t) => typeof t !== 'string')) {
    throw new ModelFolderError(configFile, 'a Qwen3ForSequenceClassification folder needs score.weight in its checkpoint or "classifier_from_token" (e.g. ["no", "yes"], as vLLM\'s hf_overrides for Qwen3-Reranker)');
  }
  if (!d.decoder!.tieWordEmbeddings && !weights.store.has('lm_head.weight')) {
    throw new ModelFolderError(configFile, 'classifier_from_token needs the LM head, but the checkpoint has no lm_head.weight and tie_word_embeddings is false');
  }
  weights.expectShape('lm.w', [d.vocab, d.hidden]);
  const tokens = fromToken as string[];
  const ids = tokenIds(tokenizerFile, tokens);
  ids.forEach((id, i) => {
    if (id >= d.vocab) throw new ModelFolderError(tokenizerFile, `token "${tokens[i]}" has id ${id}, outside the model's ${d.vocab} rows`);
  });
  const method = tokens.length === 2 ? 'from_2_way_softmax' : 'no_post_processing';
  return { numLabels: method === 'from_2_way_softmax' ? 1 : tokens.length, fromTokens: { tokens, ids, method } };
}

/**
 * The head matrix [numLabels, hidden] (float32, row-major): score.weight, or the LM-head rows of
 * the classifier tokens (lm[true] − lm[false] for the 2-way softmax), computed in float64 and
 * rounded once.
 */
export function qwen3HeadMatrix(weights: ModelWeights, head: Qwen3ScoreHead): Float32Array {
  if (!head.fromTokens) return weights.f32('head.cls.w');
  const H = weights.dims.hidden;
  const lm = weights.f32('lm.w');
  const { ids, method } = head.fromTokens;
  if (method === 'from_2_way_softmax') {
    const [no, yes] = ids;
    const out = new Float32Array(H);
    for (let i = 0; i < H; i++) out[i] = lm[yes * H + i] - lm[no * H + i];
    return out;
  }
  const out = new Float32Array(ids.length * H);
  ids.forEach((id, r) => out.set(lm.subarray(id * H, (id + 1) * H), r * H));
  return out;
}

/** The system line and chat framing of Qwen3-Reranker's model card (format_instruction / process_inputs). */
export const QWEN3_RERANKER_PREFIX =
  '<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct provided. ' +
  'Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n';
export const QWEN3_RERANKER_SUFFIX = '<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n';
/** The model card's default instruction. */
export const QWEN3_RERANKER_DEFAULT_INSTRUCTION = 'Given a web search query, retrieve relevant passages that answer the query';

/** The model card's format_instruction: the user turn between prefix and suffix. */
export function qwen3RerankerBody(query: string, document: string, instruction = QWEN3_RERANKER_DEFAULT_INSTRUCTION): string {
  return `<Instruct>: ${instruction}\n<Query>: ${query}\n<Document>: ${document}`;
}
