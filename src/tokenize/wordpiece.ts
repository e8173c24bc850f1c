// A WordPiece tokenizer that reads Hugging Face tokenizer.json files and gives the same ids as the
// Rust `tokenizers` library for BERT-family models: added-token splitting, BertNormalizer,
// BertPreTokenizer, WordPiece, TemplateProcessing/BertProcessing, and longest-first truncation.
// It is plain TypeScript with no dependencies so it loads in tokenizer worker threads and on GPU
// hosts where onnxruntime is absent.
import { readFileSync } from 'node:fs';
import { ModelFolderError } from '../errors.js';

export interface Encoding {
  ids: number[];
  typeIds: number[];
  /** True when tokens were cut to fit maxLength. */
  truncated: boolean;
}

interface NormalizerSpec {
  cleanText: boolean;
  chineseChars: boolean;
  stripAccents: boolean;
  lowercase: boolean;
}

interface TemplatePiece {
  special?: number[];
  seq?: 'A' | 'B';
  typeId: number;
}

interface AddedToken {
  id: number;
  content: string;
  normalized: boolean;
}

const CHINESE_RANGES: Array<[number, number]> = [
  [0x4e00, 0x9fff], [0x3400, 0x4dbf], [0x20000, 0x2a6df], [0x2a700, 0x2b73f],
  [0x2b740, 0x2b81f], [0x2b920, 0x2ceaf], [0xf900, 0xfaff], [0x2f800, 0x2fa1f],
];

function isChinese(cp: number): boolean {
  for (const [a, b] of CHINESE_RANGES) if (cp >= a && cp <= b) return true;
  return false;
}

// Unicode "Other" categories (Cc Cf Cs Co Cn), as Rust's `char::is_other` used by tokenizers.
const OTHER_RE = /\p{C}/u;
const MARK_NONSPACING_RE = /\p{Mn}/u;
const WHITESPACE_RE = /\p{White_Space}/u;
const PUNCT_RE = /\p{P}/u;

function isAsciiPunct(cp: number): boolean {
  return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126);
}

function isPunct(ch: string, cp: number): boolean {
  return cp < 128 ? isAsciiPunct(cp) : PUNCT_RE.test(ch);
}

function isWhitespace(ch: string, cp: number): boolean {
  if (cp === 32 || cp === 9 || cp === 10 || cp === 13) return true;
  return cp >= 128 && WHITESPACE_RE.test(ch);
}

const WORD_CACHE_LIMIT = 200_000;

export class WordPieceTokenizer {
  private readonly vocab: Map<string, number>;
  private readonly prefix: string;
  private readonly unkId: number;
  private readonly maxCharsPerWord: number;
  private readonly norm: NormalizerSpec | null;
  private readonly single: TemplatePiece[];
  private readonly pair: TemplatePiece[];
  private readonly added: AddedToken[];
  private readonly addedRe: RegExp | null;
  /** Every added token starts with "[": a cheap includes() then skips the regex on plain text. */
  private readonly addedBracketed: boolean;
  private readonly wordCache = new Map<string, number[]>();
  readonly vocabSize: number;

  constructor(json: Record<string, unknown>, readonly source = 'tokenizer.json') {
    const model = json.model as Record<string, unknown> | undefined;
    if (!model || model.type !== 'WordPiece') {
      throw new ModelFolderError(source, `tokenizer model type "${String(model?.type)}" is not supported (only WordPiece)`);
    }
    const vocabObj = model.vocab as Record<string, number>;
    this.vocab = new Map(Object.entries(vocabObj));
    this.vocabSize = this.vocab.size;
    this.prefix = String(model.continuing_subword_prefix ?? '##');
    const unk = String(model.unk_token ?? '[UNK]');
    const unkId = this.vocab.get(unk);
    if (unkId === undefined) throw new ModelFolderError(source, `unk_token "${unk}" is not in the vocabulary`);
    this.unkId = unkId;
    this.maxCharsPerWord = Number(model.max_input_chars_per_word ?? 100);

    this.norm = this.parseNormalizer(json.normalizer as Record<string, unknown> | null);
    const pre = json.pre_tokenizer as Record<string, unknown> | null;
    if (pre && pre.type !== 'BertPreTokenizer') {
      throw new ModelFolderError(source, `pre_tokenizer "${String(pre.type)}" is not supported (only BertPreTokenizer)`);
    }
    [this.single, this.pair] = this.parsePostProcessor(json.post_processor as Record<string, unknown> | null);

    this.added = ((json.added_tokens as Array<Record<string, unknown>>) ?? []).map((t) => ({
      id: Number(t.id),
      content: String(t.content),
      normalized: Boolean(t.normalized),
    }));
    for (const t of this.added) if (t.normalized) {
      // Normalised added tokens would be matched after normalisation; BERT checkpoints have none.
      throw new ModelFolderError(source, `added token "${t.content}" has normalized=true, which is not supported`);
    }
    const contents = this.added.map((t) => t.content).filter((c) => c.length > 0);
    contents.sort((a, b) => b.length - a.length);
    this.addedBracketed = contents.every((c) => c.startsWith('['));
    this.addedRe = contents.length
      ? new RegExp(contents.map((c) => c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g')
      : null;
  }

  static fromFile(path: string): WordPieceTokenizer {
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new ModelFolderError(path, `cannot read tokenizer: ${(e as Error).message}`);
    }
    return new WordPieceTokenizer(json, path);
  }

  /** Number of special tokens the template adds to a single text or a pair. */
  specialCount(isPair: boolean): number {
    return (isPair ? this.pair : this.single).reduce((n, p) => n + (p.special?.length ?? 0), 0);
  }

  /** Token ids of a text without special tokens. */
  tokenize(text: string): number[] {
    const out: number[] = [];
    if (this.addedRe && (!this.addedBracketed || text.includes('['))) {
      let last = 0;
      this.addedRe.lastIndex = 0;
      for (let m = this.addedRe.exec(text); m; m = this.addedRe.exec(text)) {
        if (m.index > last) this.tokenizeSegment(text.slice(last, m.index), out);
        out.push(this.added.find((t) => t.content === m![0])!.id);
        last = m.index + m[0].length;
      }
      if (last < text.length) this.tokenizeSegment(text.slice(last), out);
    } else {
      this.tokenizeSegment(text, out);
    }
    return out;
  }

  /**
   * Full encoding with special tokens. With maxLength, sequences are cut from the right as the Rust
   * library does (longest-first for pairs); without `truncate`, over-long input is reported, not cut.
   */
  encode(text: string, pair?: string, maxLength?: number): Encoding {
    let a = this.tokenize(text);
    let b = pair === undefined ? undefined : this.tokenize(pair);
    let truncated = false;
    if (maxLength !== undefined) {
      const budget = Math.max(0, maxLength - this.specialCount(b !== undefined));
      const total = a.length + (b?.length ?? 0);
      if (total > budget) {
        truncated = true;
        if (b === undefined) a = a.slice(0, budget);
        else [a, b] = longestFirst(a, b, budget);
      }
    }
    const ids: number[] = [];
    const typeIds: number[] = [];
    for (const p of b === undefined ? this.single : this.pair) {
      const seq = p.special ?? (p.seq === 'A' ? a : b!);
      for (const id of seq) {
        ids.push(id);
        typeIds.push(p.typeId);
      }
    }
    return { ids, typeIds, truncated };
  }

  private tokenizeSegment(segment: string, out: number[]): void {
    const normalized = this.normalize(segment);
    // BertPreTokenizer: split on whitespace, and every punctuation character is its own word.
    let start = -1;
    for (let i = 0; i < normalized.length; ) {
      const cp = normalized.codePointAt(i)!;
      const w = cp > 0xffff ? 2 : 1;
      const ch = w === 1 ? normalized[i] : normalized.slice(i, i + 2);
      if (isWhitespace(ch, cp)) {
        if (start >= 0) this.wordPiece(normalized.slice(start, i), out);
        start = -1;
      } else if (isPunct(ch, cp)) {
        if (start >= 0) this.wordPiece(normalized.slice(start, i), out);
        start = -1;
        this.wordPiece(ch, out);
      } else if (start < 0) {
        start = i;
      }
      i += w;
    }
    if (start >= 0) this.wordPiece(normalized.slice(start), out);
  }

  private normalize(s: string): string {
    const n = this.norm;
    if (!n) return s;
    // Fast path: printable ASCII needs only lowercasing under BertNormalizer.
    let ascii = true;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 32 || c > 126) {
        ascii = false;
        break;
      }
    }
    if (ascii) return n.lowercase ? s.toLowerCase() : s;
    let out = '';
    for (const ch of s) {
      const cp = ch.codePointAt(0)!;
      if (n.cleanText) {
        if (cp === 0 || cp === 0xfffd) continue;
        if (cp !== 9 && cp !== 10 && cp !== 13 && OTHER_RE.test(ch)) continue;
        if (isWhitespace(ch, cp)) {
          out += ' ';
          continue;
        }
      }
      if (n.chineseChars && isChinese(cp)) out += ` ${ch} `;
      else out += ch;
    }
    if (n.stripAccents) {
      let stripped = '';
      for (const ch of out.normalize('NFD')) if (!MARK_NONSPACING_RE.test(ch)) stripped += ch;
      out = stripped;
    }
    if (n.lowercase) {
      // Per character, as Rust's char::to_lowercase: no context-dependent final sigma.
      let lower = '';
      for (const ch of out) lower += ch.toLowerCase();
      out = lower;
    }
    return out;
  }

  private wordPiece(word: string, out: number[]): void {
    const cached = this.wordCache.get(word);
    if (cached) {
      for (const id of cached) out.push(id);
      return;
    }
    const ids = this.wordPieceUncached(word);
    if (this.wordCache.size >= WORD_CACHE_LIMIT) this.wordCache.clear();
    this.wordCache.set(word, ids);
    for (const id of ids) out.push(id);
  }

  private wordPieceUncached(word: string): number[] {
    const direct = this.vocab.get(word);
    if (direct !== undefined) return [direct];
    // Work on code points so a surrogate pair is never split.
    const chars = Array.from(word);
    if (chars.length > this.maxCharsPerWord) return [this.unkId];
    const ids: number[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let found: number | undefined;
      while (start < end) {
        let sub = chars.slice(start, end).join('');
        if (start > 0) sub = this.prefix + sub;
        found = this.vocab.get(sub);
        if (found !== undefined) break;
        end--;
      }
      if (found === undefined) return [this.unkId];
      ids.push(found);
      start = end;
    }
    return ids;
  }

  private parseNormalizer(spec: Record<string, unknown> | null): NormalizerSpec | null {
    if (!spec) return null;
    if (spec.type !== 'BertNormalizer') {
      throw new ModelFolderError(this.source, `normalizer "${String(spec.type)}" is not supported (only BertNormalizer)`);
    }
    const lowercase = spec.lowercase !== false;
    return {
      cleanText: spec.clean_text !== false,
      chineseChars: spec.handle_chinese_chars !== false,
      stripAccents: spec.strip_accents === null || spec.strip_accents === undefined ? lowercase : Boolean(spec.strip_accents),
      lowercase,
    };
  }

  private parsePostProcessor(spec: Record<string, unknown> | null): [TemplatePiece[], TemplatePiece[]] {
    if (!spec) return [[{ seq: 'A', typeId: 0 }], [{ seq: 'A', typeId: 0 }, { seq: 'B', typeId: 1 }]];
    if (spec.type === 'BertProcessing') {
      const [, cls] = spec.cls as [string, number];
      const [, sep] = spec.sep as [string, number];
      return [
        [{ special: [cls], typeId: 0 }, { seq: 'A', typeId: 0 }, { special: [sep], typeId: 0 }],
        [{ special: [cls], typeId: 0 }, { seq: 'A', typeId: 0 }, { special: [sep], typeId: 0 }, { seq: 'B', typeId: 1 }, { special: [sep], typeId: 1 }],
      ];
    }
    if (spec.type !== 'TemplateProcessing') {
      throw new ModelFolderError(this.source, `post_processor "${String(spec.type)}" is not supported`);
    }
    const specials = spec.special_tokens as Record<string, { ids: number[] }>;
    const parse = (tpl: Array<Record<string, { id: string; type_id: number }>>): TemplatePiece[] =>
      tpl.map((p) => {
        if (p.SpecialToken) {
          const s = specials[p.SpecialToken.id];
          if (!s) throw new ModelFolderError(this.source, `template names unknown special token "${p.SpecialToken.id}"`);
          return { special: s.ids, typeId: p.SpecialToken.type_id };
        }
        return { seq: p.Sequence.id as 'A' | 'B', typeId: p.Sequence.type_id };
      });
    return [parse(spec.single as never), parse(spec.pair as never)];
  }
}

/** The Rust library's LongestFirst pair truncation (tokenizers/src/utils/truncation.rs semantics). */
export function longestFirst(a: number[], b: number[], max: number): [number[], number[]] {
  let n1 = a.length;
  let n2 = b.length;
  const swap = n1 > n2;
  if (swap) [n1, n2] = [n2, n1];
  n2 = n1 > max ? n1 : Math.max(n1, max - n1);
  if (n1 + n2 > max) {
    n1 = Math.floor(max / 2);
    n2 = n1 + (max % 2);
  }
  if (swap) [n1, n2] = [n2, n1];
  return [a.slice(0, n1), b.slice(0, n2)];
}
