// Shared helpers of the foundation suite: temporary folders, generated model folders (cached
// through test/cpu/helpers.ts), folder variants, error assertions and child-process runners.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Rng, type MakeModelOptions } from '../../scripts/make-test-model.js';
import { testModel } from '../cpu/helpers.js';

/** dist/ root of the build these tests run from (dist/test/foundation/helpers.js → dist). */
export const DIST = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Repository root (the parent of dist). */
export const REPO = resolve(DIST, '..');

/** file:// URL of a built module, e.g. distUrl('src/main.js'). */
export function distUrl(rel: string): string {
  return pathToFileURL(join(DIST, rel)).href;
}

const made: string[] = [];

/** A fresh temporary folder, removed by cleanupTemp(). */
export function tempDir(tag: string): string {
  const d = mkdtempSync(join(tmpdir(), `embedrank-foundation-${tag}-`));
  made.push(d);
  return d;
}

export function cleanupTemp(): void {
  while (made.length) rmSync(made.pop()!, { recursive: true, force: true });
}

/** Cached generated models used across files (written once per machine, then reused). */
export function tinyEncoder(): string {
  return testModel('fnd-tiny-enc', { shape: 'tiny', seed: 7 });
}

export function tinyEncoderCls(): string {
  return testModel('fnd-tiny-enc-cls', { shape: 'tiny', seed: 8, pooling: 'cls', normalize: false, prompts: { query: 'q: ', document: 'd: ', Banking77: 'classify: ' } });
}

export function tinyCrossEncoder(): string {
  return testModel('fnd-tiny-ce', { shape: 'tiny', seed: 9, kind: 'cross-encoder' });
}

export function cachedModel(name: string, opts: Omit<MakeModelOptions, 'out'>): string {
  return testModel(`fnd-${name}`, opts);
}

/** A private copy of a model folder to break in some way. */
export function variant(base: string, tag: string, mutate: (dir: string) => void): string {
  const dir = join(tempDir(tag), 'model');
  cpSync(base, dir, { recursive: true });
  mutate(dir);
  return dir;
}

type Ctor<E> = abstract new (...args: never[]) => E;

/** Asserts fn throws an instance of `cls` whose message matches every pattern; returns it. */
export function expectThrow<E extends Error>(fn: () => unknown, cls: Ctor<E>, ...patterns: Array<RegExp | string>): E {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  return checkError(caught, cls, patterns);
}

/** Asserts the promise rejects with an instance of `cls` whose message matches every pattern. */
export async function expectReject<E extends Error>(p: Promise<unknown> | (() => Promise<unknown>), cls: Ctor<E>, ...patterns: Array<RegExp | string>): Promise<E> {
  let caught: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    caught = e;
  }
  return checkError(caught, cls, patterns);
}

function checkError<E extends Error>(caught: unknown, cls: Ctor<E>, patterns: Array<RegExp | string>): E {
  expect(caught, `expected a ${cls.name} to be thrown`).to.exist;
  expect(caught, `expected ${cls.name}, got ${String((caught as Error)?.name)}: ${String((caught as Error)?.message)}`).to.be.instanceOf(cls);
  const msg = (caught as Error).message;
  for (const p of patterns) {
    if (typeof p === 'string') expect(msg).to.include(p);
    else expect(msg).to.match(p);
  }
  return caught as E;
}

/** Rejects when `p` has not settled after `ms` (turns a hang into a failure). */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`${what}: did not settle within ${ms} ms (hang)`)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

export interface ProcResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (killing it after timeoutMs) and collects its output. */
export function runProcess(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ProcResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

/** Seeded uniform generator (the test models' mulberry32) for property tests; tests print the seed on failure. */
export class SeededRandom extends Rng {
  constructor(readonly seed: number) {
    super(seed);
  }
  next(): number {
    return this.uniform();
  }
}

export function seedFromEnv(): number {
  const pinned = process.env.EMBEDRANK_TEST_SEED;
  return pinned ? Number(pinned) >>> 0 : (Date.now() ^ Math.floor(Math.random() * 2 ** 31)) >>> 0;
}

export function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length, 'lengths differ').to.equal(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = d;
  }
  return m;
}

export function norm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

export function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}
