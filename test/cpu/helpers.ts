// Shared helpers for the CPU engine tests: cached generated models, seeded random batches,
// error measures.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTestModel, Rng, type MakeModelOptions } from '../../scripts/make-test-model.js';
import type { TokenBatch } from '../../src/backends/engine.js';

export const MODEL_CACHE = join(tmpdir(), 'embedrank-test-models');

/** Shapes used by these tests besides make-test-model's named ones. */
export const SMALL = { hidden: 128, layers: 2, heads: 4, intermediate: 256, maxPositions: 160 };

/**
 * A generated model folder under the shared cache, written once and reused. The README is written
 * last by makeTestModel, so a folder without one is a leftover of an interrupted run.
 */
export function testModel(name: string, opts: Omit<MakeModelOptions, 'out'>): string {
  const dir = join(MODEL_CACHE, `cpu-v1-${name}`);
  if (!existsSync(join(dir, 'README.md'))) {
    rmSync(dir, { recursive: true, force: true });
    makeTestModel({ ...opts, out: dir });
  }
  return dir;
}

/** A fresh seed each run unless EMBEDRANK_TEST_SEED pins one; tests print it when they fail. */
export function runSeed(): number {
  const pinned = process.env.EMBEDRANK_TEST_SEED;
  if (pinned) return Number(pinned) >>> 0;
  return (Date.now() ^ Math.floor(Math.random() * 2 ** 31)) >>> 0;
}

export interface Sequence {
  ids: number[];
  typeIds: number[];
}

/** Random token ids (CLS first, SEP last when long enough) and 0/1 segment ids, as a pair would have. */
export function randomSequence(rng: Rng, len: number, vocab: number, pair = false): Sequence {
  const ids: number[] = [];
  const typeIds: number[] = [];
  const split = pair ? Math.max(1, Math.floor(len / 2)) : len;
  for (let t = 0; t < len; t++) {
    ids.push(t === 0 ? 101 : t === len - 1 && len > 2 ? 102 : Math.floor(rng.uniform() * vocab));
    typeIds.push(t < split ? 0 : 1);
  }
  return { ids, typeIds };
}

export function toBatch(seqs: Sequence[], poolSkip?: number[]): TokenBatch {
  const cu = [0];
  for (const s of seqs) cu.push(cu[cu.length - 1] + s.ids.length);
  return {
    ids: Int32Array.from(seqs.flatMap((s) => s.ids)),
    typeIds: Int32Array.from(seqs.flatMap((s) => s.typeIds)),
    cuSeqlens: Int32Array.from(cu),
    poolSkip: poolSkip ? Int32Array.from(poolSkip) : undefined,
  };
}

/**
 * Largest |a[aOffset + i] − b[bOffset + i]| over n values (default b.length); Infinity when any
 * pair holds a NaN or an infinity, or when called on whole arrays (no offsets, no n) of different
 * lengths, so a short or poisoned output never passes a bound.
 */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, aOffset?: number, bOffset?: number, n?: number): number {
  if (aOffset === undefined && bOffset === undefined && n === undefined && a.length !== b.length) return Infinity;
  aOffset ??= 0;
  bOffset ??= 0;
  n ??= b.length;
  let m = 0;
  for (let i = 0; i < n; i++) {
    const d = Math.abs(a[aOffset + i] - b[bOffset + i]);
    if (Number.isNaN(d)) return Infinity; // NaN never passes (a later finite d would overwrite a NaN m)
    if (d > m) m = d;
  }
  return m;
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>, aOffset = 0, bOffset = 0, n = b.length): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[aOffset + i];
    const y = b[bOffset + i];
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return ab / Math.sqrt(aa * bb);
}

/** Tracks the largest error seen in a file so the suite can report it. */
export const worstErrors = new Map<string, number>();
export function recordError(what: string, err: number): void {
  worstErrors.set(what, Math.max(worstErrors.get(what) ?? 0, err));
}

/**
 * Installs a stand-in CUDA addon for the enclosing mocha suite: `source` (CommonJS) is written to a
 * temporary file that EMBEDRANK_CUDA_ADDON points at for the suite's duration. The returned getter
 * gives the loaded module (the same instance the addon loader gets), to read what it recorded.
 */
export function useStandInAddon<T>(source: string): () => T {
  let dir: string;
  let mod: T;
  // Read when the suite starts, not when it is declared: a nested suite restores its parent's addon.
  let saved: string | undefined;
  before(async () => {
    saved = process.env.EMBEDRANK_CUDA_ADDON;
    dir = mkdtempSync(join(tmpdir(), 'embedrank-stand-in-addon-'));
    const file = join(dir, 'stand-in-addon.cjs');
    writeFileSync(file, source);
    process.env.EMBEDRANK_CUDA_ADDON = file;
    mod = createRequire(import.meta.url)(file) as T;
  });
  after(() => {
    if (saved === undefined) delete process.env.EMBEDRANK_CUDA_ADDON;
    else process.env.EMBEDRANK_CUDA_ADDON = saved;
    rmSync(dir, { recursive: true, force: true });
  });
  return () => mod;
}

/**
 * Source of a stand-in CUDA addon (CommonJS) whose Model appends every config it is made with to
 * $FAKE_LOG as one JSON line and writes rows of 0.5; `exportsRest` is the rest of its module.exports
 * object (deviceCount, deviceProperties, …) and `after` any statement following it. For tests that
 * follow an option from the command line through the runtime and a worker thread to the addon (the
 * model is made in a worker thread of a child process, so the record is a file).
 */
export function recordingAddonSource(exportsRest: string, after = ''): string {
  return `const fs = require('node:fs');
class Model {
  constructor(cfg) { fs.appendFileSync(process.env.FAKE_LOG, JSON.stringify(cfg) + '\\n'); }
  setWeight() {}
  async connect() {}
  async forward(slot, ids, types, positions, cu, skip, mode, pool, normalize, stop, out) { out.fill(0.5); }
  destroy() {}
  weightBytes() { return 0; }
  profile() { return {}; }
  graphStats() { return { captured: 0, replayed: 0, failed: 0 }; }
}
module.exports = {
  Model,
${exportsRest}
};
${after}`;
}

/** Non-empty lines of a file, [] when it does not exist. */
export function fileLines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : [];
}

/**
 * `embedrank encode` (dist/src/cli/main.js) of a two-line input in `work` with `model`, on the
 * stand-in addon at `addonFile` (recordingAddonSource), with `args` and `env` added: its exit code,
 * stderr and the configs its Models were made with.
 */
export function encodeOnStandIn(
  addonFile: string,
  model: string,
  work: string,
  args: string[],
  env: Record<string, string>,
): { code: number | null; err: string; configs: Array<Record<string, unknown>> } {
  const input = join(work, 'texts.txt');
  if (!existsSync(input)) writeFileSync(input, 'a first sentence\nand a second one\n');
  const log = join(work, `log-${Math.random().toString(36).slice(2)}.jsonl`);
  const r = spawnSync(process.execPath, [join(process.cwd(), 'dist/src/cli/main.js'), 'encode', '-m', model, '-i', input, '-o', join(work, 'out.npy'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, EMBEDRANK_CUDA_ADDON: addonFile, EMBEDRANK_DISABLE_CUDA: '', FAKE_LOG: log, ...env },
  });
  return { code: r.status, err: r.stderr, configs: fileLines(log).map((l) => JSON.parse(l) as Record<string, unknown>) };
}
