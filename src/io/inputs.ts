// Reads the texts a CLI command works on: plain text (one per line) or JSON Lines (a string per
// line, or an object with a text field).
import { readFileSync } from 'node:fs';
import { InputError } from '../errors.js';

export function readTexts(path: string, field = 'text'): string[] {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read ${path}: ${(e as Error).message}`);
  }
  const lines = raw.split(/\r?\n/);
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  if (!/\.jsonl?$/i.test(path)) return lines;
  return lines.map((line, i) => {
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new InputError(`${path}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof v === 'string') return v;
    if (v && typeof v === 'object' && typeof (v as Record<string, unknown>)[field] === 'string') return (v as Record<string, string>)[field];
    throw new InputError(`${path}:${i + 1}: expected a JSON string or an object with a string "${field}" field`);
  });
}
