// Encoder: the embedding model API, mirroring mteb's VllmEncoderWrapper (prompt_dict,
// use_instructions, instruction_template, apply_instruction_to_documents) on top of the runtime.
import { InputError } from './errors.js';
import { l2NormalizeRows } from './pooling.js';
import type { SimilarityFn } from './model/folder.js';
import { CudaRetrievalScorer } from './backends/cuda/retrieval-scoring.js';
import type { RetrievalScorer } from './eval/model.js';
import { ModelHandle, type HandleOptions, type ModelMeta } from './core/model-handle.js';
import { Tokenizer } from './tokenize/tokenizer.js';
import type { TokenizedChunk } from './tokenize/packed.js';

export type { ModelMeta } from './core/model-handle.js';

export type PromptType = 'query' | 'document';

export interface EncoderOptions extends HandleOptions {
  /** Prompts by task name, task type or prompt type (mteb's lookup order); default: the model's own prompts. */
  promptDict?: Record<string, string>;
  /** Treat promptDict values (or the task's own instruction) as instructions formatted by instructionTemplate. */
  useInstructions?: boolean;
  /** A string containing "{instruction}", or a function of (instruction, promptType). */
  instructionTemplate?: string | ((instruction: string, promptType?: PromptType) => string);
  /** With useInstructions, also prefix documents (default true). */
  applyInstructionToDocuments?: boolean;
  /**
   * Matryoshka output width, as vLLM's `dimensions` pooling parameter and the OpenAI embeddings
   * API: each embedding keeps its first `dimensions` values and, when the model's pipeline ends
   * in Normalize (Qwen3-Embedding does), is L2-normalised again. Integer in [1, model width];
   * InputError otherwise (a width above the model's is refused when the model loads).
   */
  dimensions?: number;
}

/**
 * mteb's instruction_template for Qwen3-Embedding (mteb/models/model_implementations/qwen3_models.py):
 * `Instruct: {instruction}\nQuery:` for queries, nothing for documents or without an instruction;
 * a per-prompt-type instruction object picks the prompt type's entry.
 */
export function qwen3EmbeddingInstructionTemplate(instruction: string | Partial<Record<PromptType, string>>, promptType?: PromptType): string {
  if (!instruction || promptType === 'document') return '';
  const text = typeof instruction === 'string' ? instruction : promptType ? instruction[promptType] : Object.values(instruction)[0];
  return text ? `Instruct: ${text}\nQuery:` : '';
}

/**
 * Encoder options for Qwen3-Embedding as mteb runs it (InstructSentenceTransformerWrapper with
 * qwen3_models.instruction_template, apply_instruction_to_passages=False, no model_prompts):
 * queries get the task's instruction (mteb TaskMetadata.prompt, EncodeOptions.taskPrompt), documents
 * go in plain. Spread into EncoderOptions; a promptDict given after it replaces the task's instructions. The tokenizer appends <|endoftext|>, pooling is the last
 * token and the output L2-normalised, all read from the model folder.
 */
export const QWEN3_EMBEDDING_OPTIONS: Readonly<Pick<EncoderOptions, 'promptDict' | 'useInstructions' | 'instructionTemplate' | 'applyInstructionToDocuments'>> = Object.freeze({
  // mteb passes no model_prompts for Qwen3: the task's own instruction is used, not the folder's
  // config_sentence_transformers prompts (whose "query" entry would otherwise win).
  promptDict: {},
  useInstructions: true,
  instructionTemplate: (instruction: string, promptType?: PromptType) => qwen3EmbeddingInstructionTemplate(instruction, promptType),
  applyInstructionToDocuments: false,
});

export interface EncodeOptions {
  promptType?: PromptType;
  taskName?: string;
  taskType?: string;
  /** The task's own instruction (mteb TaskMetadata.prompt), used with useInstructions. */
  taskPrompt?: string | Partial<Record<PromptType, string>>;
  /** An explicit prefix, overriding every lookup. */
  prompt?: string;
  /**
   * A prompt of the model's own (config_sentence_transformers.json `prompts`) by name, as
   * sentence-transformers' encode(prompt_name=...); an unknown name is an InputError.
   */
  promptName?: string;
  showProgress?: boolean;
}

/** mteb's get_prompt_name order: task-promptType, task, taskType-promptType, taskType, promptType. */
export function lookupPromptName(dict: Record<string, string>, o: EncodeOptions): string | undefined {
  const { taskName: t, taskType: y, promptType: p } = o;
  const keys = [t && p && `${t}-${p}`, t, y && p && `${y}-${p}`, y, p].filter(Boolean) as string[];
  return keys.find((k) => k in dict);
}

function checkInstructions(options: EncoderOptions): EncoderOptions {
  const t = options?.instructionTemplate;
  if (options?.useInstructions && t === undefined) {
    throw new InputError('useInstructions needs an instructionTemplate, for example "Instruction: {instruction}\\nQuery: "');
  }
  if (typeof t === 'string' && !t.includes('{instruction}')) throw new InputError('instructionTemplate must contain "{instruction}"');
  const k = options?.dimensions;
  if (k !== undefined && (typeof k !== 'number' || !Number.isInteger(k) || k < 1)) throw new InputError(`dimensions must be a positive integer, got ${String(k)}`);
  return options;
}

export class Encoder extends ModelHandle {
  readonly kind = 'encoder' as const;
  private promptTokenCache = new Map<string, number>();
  private promptTokenizer?: Tokenizer;

  constructor(readonly options: EncoderOptions) {
    super(checkInstructions(options), 'encoder', 'Encoder');
  }

  static async create(options: EncoderOptions): Promise<Encoder> {
    const e = new Encoder(options);
    await e.ready();
    const k = options.dimensions;
    const full = e.rt.folder.st.embedDim;
    if (k !== undefined && k > full) {
      await e.close();
      throw new InputError(`dimensions ${k} exceeds the model's ${full}-dimensional embeddings`);
    }
    return e;
  }

  /** Embedding width: `dimensions` when set, else the last Dense module's out_features, else the hidden size. */
  get dim(): number {
    return this.options.dimensions ?? this.rt.folder.st.embedDim;
  }

  /** Keeps the first `dimensions` values of each n × full row, renormalised when the model normalises. */
  private matryoshka(values: Float32Array, full: number): Float32Array {
    const k = this.dim;
    if (k === full) return values;
    if (k > full) throw new InputError(`dimensions ${k} exceeds the model's ${full}-dimensional embeddings`);
    const n = values.length / full;
    const out = new Float32Array(n * k);
    for (let i = 0; i < n; i++) out.set(values.subarray(i * full, i * full + k), i * k);
    if (this.rt.folder.st.normalize) l2NormalizeRows(out, k);
    return out;
  }

  /** The model's own prompts (config_sentence_transformers.json), by name. */
  get prompts(): Record<string, string> {
    return { ...this.rt.folder.st.prompts };
  }

  get similarityFn(): SimilarityFn {
    return this.rt.folder.st.similarityFn;
  }

  get meta(): ModelMeta {
    return this.baseMeta(this.dim, this.similarityFn, 0);
  }

  private gpuScorer?: CudaRetrievalScorer;

  /**
   * Where evaluation scores full corpora: on CUDA, this encoder's GPU (the first device of its
   * first replica; cosine and dot, see backends/cuda/retrieval-scoring.ts); on the CPU, undefined
   * (the evaluator's worker threads).
   */
  get retrievalScorer(): RetrievalScorer | undefined {
    if (this.device !== 'cuda') return undefined;
    return (this.gpuScorer ??= new CudaRetrievalScorer(this.rt.replicas[0].devices[0]));
  }

  /**
   * The prefix put before each text for this call. An explicit `prompt` wins, then `promptName`
   * (one of the model's prompts). Otherwise mteb's lookup (task-promptType, task, type-promptType,
   * type, promptType) over `promptDict`, or the model's own prompts without one; when it finds
   * nothing, sentence-transformers' own choice as mteb reaches it through encode_query /
   * encode_document / encode: queries use the prompt named "query", documents the first of
   * "document", "passage", "corpus", and otherwise (also for STS-style texts without a prompt
   * type) `default_prompt_name` applies.
   * @throws InputError for a promptName the model does not define.
   */
  promptFor(o: EncodeOptions = {}): string {
    if (o.prompt !== undefined) return o.prompt;
    const own = this.runtime ? this.runtime.folder.st.prompts : {};
    if (o.promptName !== undefined) {
      if (!(o.promptName in own)) {
        throw new InputError(`prompt name "${o.promptName}" is not one of the model's prompts (${Object.keys(own).join(', ') || 'it has none'})`);
      }
      return own[o.promptName];
    }
    const dict = this.options.promptDict ?? own;
    if (this.options.useInstructions) {
      let instruction: string | Partial<Record<PromptType, string>> = o.taskPrompt ?? '';
      if (o.taskName && o.taskName in dict) instruction = dict[o.taskName];
      else if (o.taskType && o.taskType in dict) instruction = dict[o.taskType];
      else if (o.promptType && o.promptType in dict) instruction = dict[o.promptType];
      if (typeof instruction === 'object') instruction = (o.promptType && instruction[o.promptType]) || '';
      const t = this.options.instructionTemplate!;
      let prompt = typeof t === 'function' ? t(instruction, o.promptType) : instruction ? t.replace('{instruction}', instruction) : '';
      if (this.options.applyInstructionToDocuments === false && o.promptType === 'document') prompt = '';
      return prompt;
    }
    const name = lookupPromptName(dict, o);
    if (name !== undefined) return dict[name];
    return stDefaultPrompt(dict, this.runtime?.folder.st.defaultPromptName, o.promptType) ?? '';
  }

  /**
   * Embeds texts: one Float32Array row per text, in input order (rows are views of one buffer).
   * Pooling and normalisation follow the model's sentence-transformers configuration.
   */
  async encode(texts: string[], o: EncodeOptions = {}): Promise<Float32Array[]> {
    const m = await this.embedMatrix(texts, o);
    const rows: Float32Array[] = new Array(texts.length);
    for (let i = 0; i < texts.length; i++) rows[i] = m.subarray(i * this.dim, (i + 1) * this.dim);
    return rows;
  }

  /** Like encode, as one row-major n × dim matrix. */
  async embedMatrix(texts: string[], o: EncodeOptions = {}): Promise<Float32Array> {
    validateTexts(texts, 'texts');
    await this.loading;
    const prompt = this.promptFor(o);
    const inputs = prompt ? texts.map((t) => prompt + t) : texts;
    const skip = prompt && !this.rt.folder.st.includePrompt ? await this.promptTokens(prompt) : 0;
    const full = this.rt.folder.st.embedDim;
    const r = await this.rt.run({ kind: 'embed' }, full, {
      texts: inputs,
      poolSkip: skip ? () => skip : undefined,
      showProgress: o.showProgress,
      label: o.taskName ? `encode ${o.taskName}` : 'encode',
    });
    this.lastTruncated = r.truncated;
    return this.matryoshka(r.values, full);
  }

  /** Pooling mode and whether the pipeline ends in L2 normalisation (sentence-transformers modules). */
  get pooling(): { mode: string; normalize: boolean } {
    const st = this.rt.folder.st;
    return { mode: st.pooling, normalize: st.normalize };
  }

  /**
   * Tokenizes texts as embedMatrix would (the prompt that `o` selects prepended), cut to
   * `maxLength` tokens (default the model maximum; truncated[i] = 1 where cut), without running
   * the model. `poolSkip` is how many leading tokens pooling leaves out (the prompt's, when the
   * model's include_prompt is false). The serving path uses this to check lengths and count usage.
   */
  async tokenize(texts: string[], o: EncodeOptions = {}, maxLength?: number): Promise<{ chunk: TokenizedChunk; poolSkip: number }> {
    validateTexts(texts, 'texts');
    await this.loading;
    const prompt = this.promptFor(o);
    const inputs = prompt ? texts.map((t) => prompt + t) : texts;
    const poolSkip = prompt && !this.rt.folder.st.includePrompt ? await this.promptTokens(prompt) : 0;
    return { chunk: await this.rt.tokenize(inputs, undefined, maxLength), poolSkip };
  }

  /**
   * Embeds sequences that are already token ids (special tokens included): n × dim row-major
   * float32. poolSkip[i] leading tokens of sequence i are left out of pooling. Throws InputError
   * for an empty sequence or an id outside the vocabulary, SequenceTooLongError past maxLength.
   * `onBatchDone` hears of each engine batch as it finishes (sequences, tokens).
   */
  async embedTokens(chunk: TokenizedChunk, poolSkip?: Int32Array, onBatchDone?: (sequences: number, tokens: number) => void): Promise<Float32Array> {
    await this.loading;
    const full = this.rt.folder.st.embedDim;
    return this.matryoshka((await this.rt.runTokenized({ kind: 'embed' }, full, chunk, poolSkip, onBatchDone)).values, full);
  }

  /** How many texts the last call truncated to the maximum length. */
  lastTruncated = 0;

  /** sentence-transformers' prompt_length: the prompt's tokens, less a trailing special token. */
  private async promptTokens(prompt: string): Promise<number> {
    let n = this.promptTokenCache.get(prompt);
    if (n === undefined) {
      this.promptTokenizer ??= new Tokenizer(this.rt.folder.tokenizer);
      n = await this.promptTokenizer.promptLength(prompt);
      this.promptTokenCache.set(prompt, n);
    }
    return n;
  }
}

/**
 * sentence-transformers' prompt when mteb passes none: encode_query uses "query", encode_document
 * the first of "document", "passage", "corpus"; failing those (and for encode), default_prompt_name.
 */
export function stDefaultPrompt(prompts: Record<string, string>, defaultPromptName: string | undefined, promptType?: PromptType): string | undefined {
  const names = promptType === 'query' ? ['query'] : promptType === 'document' ? ['document', 'passage', 'corpus'] : [];
  const name = names.find((k) => k in prompts);
  if (name !== undefined) return prompts[name];
  return defaultPromptName !== undefined ? prompts[defaultPromptName] : undefined;
}

export function validateTexts(texts: unknown, what: string): asserts texts is string[] {
  if (!Array.isArray(texts)) throw new InputError(`${what} must be an array of strings, got ${texts === null ? 'null' : typeof texts}`);
  for (let i = 0; i < texts.length; i++) {
    if (typeof texts[i] !== 'string') {
      const v = texts[i];
      throw new InputError(`${what}[${i}] must be a string, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`);
    }
  }
}
