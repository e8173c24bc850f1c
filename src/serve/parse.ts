// Request-body checks shared by the routes: a wrong JSON type is a 400 naming the field, before
// any work starts (the rule; TEI answers serde errors the same way).
import { ApiError } from '../errors.js';

export type Json = Record<string, unknown>;

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

function bad(field: string, want: string, v: unknown): ApiError {
  return new ApiError(400, 'validation', `\`${field}\` must be ${want}, got ${typeName(v)}`);
}

export function body(b: unknown): Json {
  if (!b || typeof b !== 'object' || Array.isArray(b)) throw new ApiError(400, 'validation', `the request body must be a JSON object, got ${typeName(b)}`);
  return b as Json;
}

export function optString(b: Json, field: string): string | undefined {
  const v = b[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw bad(field, 'a string', v);
  return v;
}

export function reqString(b: Json, field: string): string {
  const v = optString(b, field);
  if (v === undefined) throw new ApiError(400, 'validation', `\`${field}\` is required`);
  return v;
}

export function optBool(b: Json, field: string): boolean | undefined {
  const v = b[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw bad(field, 'true or false', v);
  return v;
}

export function optInt(b: Json, field: string): number | undefined {
  const v = b[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw bad(field, 'an integer', v);
  return v;
}

export function optEnum<T extends string>(b: Json, field: string, allowed: readonly T[]): T | undefined {
  const v = optString(b, field);
  if (v !== undefined && !allowed.includes(v as T)) throw new ApiError(400, 'validation', `\`${field}\` must be one of ${allowed.join(', ')}, got "${v}"`);
  return v as T | undefined;
}

export function stringArray(v: unknown, field: string): string[] {
  if (!Array.isArray(v)) throw bad(field, 'an array of strings', v);
  v.forEach((x, i) => {
    if (typeof x !== 'string') throw bad(`${field}[${i}]`, 'a string', x);
  });
  return v as string[];
}

function isIdArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number');
}

/**
 * Embedding inputs as OpenAI (and vLLM, TEI) take them: a string, an array of strings, an array
 * of token ids, or an array of token-id arrays (TEI also lets strings and id arrays mix).
 * Returns the inputs and whether the request was a single input (for TEI's response shape).
 */
export function embedInputs(v: unknown, field: string): { inputs: Array<string | number[]>; single: boolean } {
  if (typeof v === 'string') return { inputs: [v], single: true };
  if (!Array.isArray(v)) throw bad(field, 'a string, an array of strings, an array of token ids or an array of token-id arrays', v);
  if (isIdArray(v)) return { inputs: [v], single: true };
  const inputs = v.map((x, i) => {
    if (typeof x === 'string') return x;
    if (Array.isArray(x)) {
      x.forEach((id, k) => {
        if (typeof id !== 'number' || !Number.isInteger(id)) throw bad(`${field}[${i}][${k}]`, 'an integer token id', id);
      });
      return x as number[];
    }
    throw bad(`${field}[${i}]`, 'a string or an array of token ids', x);
  });
  return { inputs, single: false };
}

/** TEI's truncation_direction: only "right" (the default) is served; "left" is refused (422). */
export function rightTruncationOnly(b: Json): void {
  const dir = optEnum(b, 'truncation_direction', ['right', 'left', 'Right', 'Left'] as const) ?? 'right';
  if (dir.toLowerCase() === 'left') throw new ApiError(422, 'validation', 'truncation_direction "left" is not supported; inputs are cut from the right');
}
