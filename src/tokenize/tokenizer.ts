// Tokenization through Hugging Face `tokenizers` (the npm binding of the Rust library that
// transformers' fast tokenizers wrap), configured as sentence-transformers calls it:
// `tokenizer(texts[, pairs], truncation="longest_first", max_length=max_seq_length)` with no
// padding, the truncation side from tokenizer_config.json, and `do_lower_case` applied by putting a
// Lowercase normalizer in front of the tokenizer's own (sentence-transformers' Transformer.__init__).
// Every tokenizer.json model type works: WordPiece (BERT), Unigram/Metaspace (XLM-R), byte-level
// BPE (RoBERTa, Qwen). It loads only the binding, so tokenizer worker threads stay light.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Encoding as HfEncoding, Tokenizer as HfTokenizer } from 'tokenizers';
import { ModelFolderError } from '../errors.js';
import { allocPacked } from './packed.js';

const require = createRequire(import.meta.url);

/** One tokenized input. */
export interface Encoding {
  /** Token ids, special tokens included. */
  ids: number[];
  /** Segment ids (0 for the first text of a pair, 1 for the second, as the post-processor says). */
  typeIds: number[];
  /** True when tokens were cut to fit maxLength. */
  truncated: boolean;
}

/** How sentence-transformers configures the tokenizer of a model folder. */
export interface TokenizerSpec {
  /** Path of tokenizer.json. */
  file: string;
  /** sentence_bert_config.json `do_lower_case`: lowercase before the tokenizer's own normalizer. */
  lowercase?: boolean;
  /** tokenizer_config.json `truncation_side` (transformers' default: right). */
  truncationSide?: 'left' | 'right';
  /**
   * Whether the model is fed token_type_ids (the tokenizer's model_input_names); when false every
   * type id is 0, as a model called without token_type_ids sees. Default true.
   */
  tokenTypeIds?: boolean;
}

type Json = Record<string, unknown>;

const { Tokenizer: Binding } = require('tokenizers') as typeof import('tokenizers');

function hasLowercase(n: unknown): boolean {
  if (!n || typeof n !== 'object') return false;
  const o = n as Json;
  if (o.type === 'Lowercase') return true;
  if (o.type === 'BertNormalizer') return o.lowercase !== false;
  if (o.type === 'Sequence' && Array.isArray(o.normalizers)) return o.normalizers.some(hasLowercase);
  return false;
}

/** Whether every piece of the single-sequence template has type id 0 (then singles need no type ids). */
function singleTypesAllZero(pp: unknown): boolean {
  if (!pp || typeof pp !== 'object') return true;
  const o = pp as Json;
  if (o.type === 'TemplateProcessing' && Array.isArray(o.single)) {
    return (o.single as Json[]).every((piece) => {
      const p = (piece.Sequence ?? piece.SpecialToken) as Json | undefined;
      return !p || !p.type_id;
    });
  }
  if (o.type === 'Sequence' && Array.isArray(o.processors)) return o.processors.every(singleTypesAllZero);
  return true;
}

/**
 * A tokenizer.json loaded into Hugging Face `tokenizers`, with sentence-transformers' settings.
 * @throws ModelFolderError when the file is missing, not JSON, or refused by the library.
 */
export class Tokenizer {
  private readonly tok: HfTokenizer;
  private readonly singlesZeroTypes: boolean;
  private readonly truncationSide: 'left' | 'right';
  private currentMax = -1;
  private readonly feedTypes: boolean;

  constructor(readonly spec: TokenizerSpec) {
    let json: Json;
    try {
      json = JSON.parse(readFileSync(spec.file, 'utf8')) as Json;
    } catch (e) {
      throw new ModelFolderError(spec.file, `cannot read tokenizer: ${(e as Error).message}`);
    }
    if (spec.lowercase && !hasLowercase(json.normalizer)) {
      const own = json.normalizer as Json | null | undefined;
      const rest = !own ? [] : own.type === 'Sequence' ? (own.normalizers as Json[]) : [own];
      json = { ...json, normalizer: { type: 'Sequence', normalizers: [{ type: 'Lowercase' }, ...rest] } };
    }
    // transformers sets truncation and padding per call; a tokenizer.json's own settings never apply.
    json = { ...json, truncation: null, padding: null };
    try {
      this.tok = Binding.fromString(JSON.stringify(json));
    } catch (e) {
      throw new ModelFolderError(spec.file, `Hugging Face tokenizers cannot load it: ${(e as Error).message}`);
    }
    this.singlesZeroTypes = singleTypesAllZero(json.post_processor);
    this.feedTypes = spec.tokenTypeIds !== false;
    this.truncationSide = spec.truncationSide === 'left' ? 'left' : 'right';
  }

  static fromFile(file: string, opts: Omit<TokenizerSpec, 'file'> = {}): Tokenizer {
    return new Tokenizer({ file, ...opts });
  }

  get vocabSize(): number {
    return this.tok.getVocabSize(true);
  }

  private truncateAt(maxLength: number): void {
    if (maxLength === this.currentMax) return;
    if (!Number.isInteger(maxLength) || maxLength < 1) throw new RangeError(`maxLength must be a positive integer, got ${maxLength}`);
    this.tok.setTruncation(maxLength, { strategy: 'LongestFirst' as never, direction: this.truncationSide, stride: 0 });
    this.currentMax = maxLength;
  }

  /** `types`: read the encoding's type ids; otherwise they are all 0. */
  private static convert(e: HfEncoding, types: boolean, truncated: boolean): Encoding {
    const ids = e.getIds();
    return { ids, typeIds: types ? e.getTypeIds() : new Array<number>(ids.length).fill(0), truncated };
  }

  /**
   * Whether each encoding was cut. Only one of exactly maxLength tokens can have been; its overflow
   * says so for WordPiece and Unigram tokenizers, but the binding returns none for byte-level BPE
   * ones (Qwen3's), so an exact-length encoding without overflow is encoded again with room for one
   * more token and its length compared (rare: only inputs that reach the limit). Like truncateAt,
   * this assumes one call at a time per Tokenizer (each tokenizer worker has its own).
   */
  private async truncatedFlags(encs: HfEncoding[], texts: string[], pairs: string[] | undefined, maxLength: number): Promise<boolean[]> {
    const flags = encs.map(() => false);
    const recheck: number[] = [];
    encs.forEach((e, i) => {
      if (e.getLength() < maxLength) return;
      if (e.getOverflowing().length > 0) flags[i] = true;
      else recheck.push(i);
    });
    if (recheck.length) {
      this.truncateAt(maxLength + 1);
      try {
        const more = await Promise.all(recheck.map((i) => this.tok.encode(texts[i], pairs?.[i] ?? null)));
        recheck.forEach((i, k) => (flags[i] = more[k].getLength() > maxLength));
      } finally {
        this.truncateAt(maxLength);
      }
    }
    return flags;
  }

  /**
   * The binding's encodings of texts (or pairs, one second segment per text) cut to `maxLength`,
   * their exact truncated flags, and whether their type ids are read (else all 0): what
   * encodeBatch and encodePacked share.
   */
  private async encodeCut(texts: string[], pairs: string[] | undefined, maxLength: number): Promise<{ encs: HfEncoding[]; cut: boolean[]; types: boolean }> {
    this.truncateAt(maxLength);
    // Pairs one call each: the binding's encodeBatch takes single strings only, and only
    // Tokenizer::encode of the pair reproduces transformers' ids in every case (encoding the sides
    // apart and post-processing them differs on some pairs where both sides are cut).
    const encs = pairs ? await Promise.all(texts.map((t, i) => this.tok.encode(t, pairs[i]))) : await this.tok.encodeBatch(texts);
    const cut = await this.truncatedFlags(encs, texts, pairs, maxLength);
    const types = pairs ? this.feedTypes : !(this.singlesZeroTypes || !this.feedTypes);
    return { encs, cut, types };
  }

  /**
   * Tokenizes texts (or pairs when `pairs` is given, one second segment per text) with special
   * tokens, truncated longest-first to `maxLength` tokens (specials included), unpadded.
   */
  async encodeBatch(texts: string[], pairs: string[] | undefined, maxLength: number): Promise<Encoding[]> {
    const { encs, cut, types } = await this.encodeCut(texts, pairs, maxLength);
    return encs.map((e, i) => Tokenizer.convert(e, types, cut[i]));
  }

  /**
   * encodeBatch's ids written straight into the packed layout of ./packed.ts (one Int32Array:
   * [n, total, offsets (n+1), ids (total), typeIds (total), truncated (n)]), without an Encoding
   * object or a type-id array per sequence: the tokenizer worker's path. The binding's
   * encodeBatch runs on libuv's thread pool, serially unless TOKENIZERS_PARALLELISM is on (see
   * ./threads.ts). Same ids, type ids and truncation flags as encodeBatch.
   */
  async encodePacked(texts: string[], pairs: string[] | undefined, maxLength: number): Promise<Int32Array> {
    const n = texts.length;
    const { encs, cut, types } = await this.encodeCut(texts, pairs, maxLength);
    const ids: number[][] = new Array(n);
    let total = 0;
    for (let i = 0; i < n; i++) {
      ids[i] = encs[i].getIds();
      total += ids[i].length;
    }
    const { buf, chunk } = allocPacked(n, total);
    let pos = 0;
    for (let i = 0; i < n; i++) {
      const a = ids[i];
      const len = a.length;
      chunk.offsets[i] = pos;
      chunk.ids.set(a, pos);
      if (types) chunk.typeIds.set(encs[i].getTypeIds(), pos);
      if (cut[i]) chunk.truncated[i] = 1;
      pos += len;
    }
    chunk.offsets[n] = pos;
    return buf;
  }

  /** One text (or pair), as encodeBatch. */
  async encode(text: string, pair?: string, maxLength = 1 << 30): Promise<Encoding> {
    return (await this.encodeBatch([text], pair === undefined ? undefined : [pair], maxLength))[0];
  }

  /**
   * sentence-transformers' prompt_length (Transformer._get_prompt_length): the prompt's tokens with
   * the leading special tokens, minus one when the last token is a special token (EOS, SEP, ...).
   */
  async promptLength(prompt: string): Promise<number> {
    this.tok.disableTruncation();
    this.currentMax = -1;
    const e = await this.tok.encode(prompt);
    const special = e.getSpecialTokensMask();
    const n = e.getLength();
    return n > 0 && special[n - 1] === 1 ? n - 1 : n;
  }

  /** Token strings of ids, for messages and tests. */
  idToToken(id: number): string | null {
    return this.tok.idToToken(id);
  }
}
