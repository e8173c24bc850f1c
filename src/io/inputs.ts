// Reads the texts a CLI command works on: plain text (one per line) or JSON Lines (a string per
// line, or an object with a text field), from a file or from stdin ("-").
//
// Encoding rules (what a user's editor or pipeline may produce): UTF-8, with or without a byte
// order mark (skipped); UTF-16/UTF-32 files (BOM FF FE / FE FF) are refused with a clear error
// rather than read as garbage; invalid UTF-8 bytes become U+FFFD with a warning naming the line;
// lines end in LF, CRLF or a lone CR (classic Mac OS).
import { readFileSync } from 'node:fs';
import { InputError } from '../errors.js';

export type InputFormat = 'auto' | 'txt' | 'jsonl';
export const INPUT_FORMATS: readonly InputFormat[] = ['auto', 'txt', 'jsonl'];

export interface ReadTextsOptions {
  /** JSONL field holding the text (default "text"). */
  field?: string;
  /** txt: a text per line; jsonl: JSON Lines; auto (default): by extension (.jsonl/.json), stdin sniffed. */
  format?: InputFormat;
  /** Non-fatal findings (invalid UTF-8); default: printed on stderr as "warning: …". */
  onWarning?: (message: string) => void;
  /** Reads "-" (default: file descriptor 0). */
  readStdin?: () => Buffer;
}

const BOMS: Array<[number[], string]> = [
  [[0x00, 0x00, 0xfe, 0xff], 'UTF-32 (big-endian)'],
  [[0xff, 0xfe, 0x00, 0x00], 'UTF-32 (little-endian)'],
  [[0xfe, 0xff], 'UTF-16 (big-endian)'],
  [[0xff, 0xfe], 'UTF-16 (little-endian)'],
];

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const lenientUtf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/**
 * Splits UTF-8 bytes into decoded lines (LF, CRLF or CR ends a line; a final line end adds no
 * empty line). Throws InputError for UTF-16/32 byte order marks; reports each line with invalid
 * UTF-8 through `warn` (1-based line numbers) and decodes it with U+FFFD replacements.
 */
export function decodeLines(bytes: Buffer, name: string, warn: (message: string) => void): string[] {
  for (const [bom, enc] of BOMS) {
    if (bytes.length >= bom.length && bom.every((b, i) => bytes[i] === b)) {
      throw new InputError(`${name} is ${enc} (it starts with a byte order mark); embedrank reads UTF-8: convert it, e.g. iconv -f UTF-16 -t UTF-8`);
    }
  }
  let start = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  const lines: string[] = [];
  const bad: number[] = [];
  const push = (end: number): void => {
    const slice = bytes.subarray(start, end);
    try {
      lines.push(fatalUtf8.decode(slice));
    } catch {
      bad.push(lines.length + 1);
      lines.push(lenientUtf8.decode(slice));
    }
  };
  // 0x0A and 0x0D never occur inside a multi-byte UTF-8 sequence, so splitting bytes is safe.
  for (let i = start; i < bytes.length; i++) {
    const c = bytes[i];
    if (c !== 0x0a && c !== 0x0d) continue;
    push(i);
    if (c === 0x0d && bytes[i + 1] === 0x0a) i++;
    start = i + 1;
  }
  if (start < bytes.length) push(bytes.length);
  if (bad.length) {
    const shown = bad.slice(0, 10).join(', ') + (bad.length > 10 ? `, … (${bad.length} lines)` : '');
    warn(`${name}: invalid UTF-8 on line ${shown}; the bad bytes were replaced by U+FFFD`);
  }
  return lines;
}

function parseJsonLines(lines: string[], name: string, field: string): string[] {
  const out: string[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return; // blank lines separate nothing in JSON Lines
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new InputError(`${name}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    out.push(textOf(v, field, `${name}:${i + 1}`));
  });
  return out;
}

function textOf(v: unknown, field: string, where: string): string {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && !Array.isArray(v) && typeof (v as Record<string, unknown>)[field] === 'string') return (v as Record<string, string>)[field];
  throw new InputError(`${where}: expected a JSON string or an object with a string "${field}" field`);
}

/** Whether stdin looks like JSON Lines: its first non-blank line is a JSON object. */
function looksLikeJsonLines(lines: string[]): boolean {
  const first = lines.find((l) => l.trim());
  if (!first || !first.trimStart().startsWith('{')) return false;
  try {
    const v = JSON.parse(first) as unknown;
    return !!v && typeof v === 'object' && !Array.isArray(v);
  } catch {
    return false;
  }
}

/**
 * The texts of `path` ("-" for stdin) in order. A .txt input gives one text per line (blank
 * lines are empty texts, so row i of the output is line i+1); JSON Lines skip blank lines; a
 * .json file is either one JSON array (of strings or of objects with the field) or JSON Lines.
 * Throws InputError when the file cannot be read, is UTF-16/32, or has a bad JSON line (with its
 * line number).
 */
export function readTexts(path: string, fieldOrOptions: string | ReadTextsOptions = {}): string[] {
  const o: ReadTextsOptions = typeof fieldOrOptions === 'string' ? { field: fieldOrOptions } : fieldOrOptions;
  const field = o.field ?? 'text';
  const format = o.format ?? 'auto';
  if (!INPUT_FORMATS.includes(format)) throw new InputError(`input format "${String(format)}" is not one of ${INPUT_FORMATS.join(', ')}`);
  const stdin = path === '-';
  const name = stdin ? '<stdin>' : path;
  let bytes: Buffer;
  try {
    bytes = stdin ? (o.readStdin ?? (() => readFileSync(0)))() : readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a folder, not a file' : err.message;
    throw new InputError(`cannot read ${name}: ${why}`);
  }
  const lines = decodeLines(bytes, name, o.onWarning ?? ((m) => process.stderr.write(`warning: ${m}\n`)));
  if (format === 'auto' && !stdin && /\.json$/i.test(path)) {
    // A .json file holding one JSON array of texts (or of objects with the field), e.g. json.dump(list).
    const whole = lines.join('\n').trim();
    if (whole.startsWith('[')) {
      let v: unknown;
      try {
        v = JSON.parse(whole);
      } catch {
        v = undefined; // JSON Lines whose first line is an array: reported line by line below
      }
      if (Array.isArray(v)) return v.map((x, i) => textOf(x, field, `${name}: item ${i}`));
    }
  }
  const jsonl = format === 'jsonl' || (format === 'auto' && (stdin ? looksLikeJsonLines(lines) : /\.jsonl?$/i.test(path)));
  return jsonl ? parseJsonLines(lines, name, field) : lines;
}
