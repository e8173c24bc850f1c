// The `if __name__ == "__main__"` of embedrank. Pools start worker threads, and a worker that
// imported a user's script must not run that script's top level again, so scripts guard their
// side effects with runMain(import.meta, fn).
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread } from 'node:worker_threads';

function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

/**
 * True when the module whose `import.meta` is given is the program's entry point: `node file.js`,
 * an npm bin symlink, `tsx file.ts`. False when imported, under `node -e`, or in a worker thread.
 */
export function isMain(meta: ImportMeta): boolean {
  if (!isMainThread) return false;
  const entry = process.argv[1];
  if (!entry || !meta.url.startsWith('file:')) return false;
  const self = real(fileURLToPath(meta.url));
  const argv = real(entry);
  if (self === argv) return true;
  // `node dist/cli` style entries name the file without its extension.
  return self.replace(/\.(c|m)?(j|t)s$/, '') === argv;
}

/**
 * Runs `fn` only when `meta` is the entry module. A rejected promise prints its message (and the
 * stack when EMBEDRANK_DEBUG is set) and sets a non-zero exit code instead of an unhandled rejection.
 */
export async function runMain<T>(meta: ImportMeta, fn: () => T | Promise<T>): Promise<T | undefined> {
  if (!isMain(meta)) return undefined;
  try {
    return await fn();
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`${err.name ?? 'Error'}: ${err.message ?? String(e)}\n`);
    if (process.env.EMBEDRANK_DEBUG) process.stderr.write(`${err.stack}\n`);
    process.exitCode = 1;
    return undefined;
  }
}

/**
 * Ends this process by `signal`'s default action (status 128 + n), its listeners for it removed
 * first so the signal is not caught again. No exit handlers run: process.exit while an addon's
 * threads are still busy aborted (serve's second stop signal, status 134).
 */
export function dieOfSignal(signal: NodeJS.Signals): void {
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
}

/** Throws when called inside a worker thread: pools must not spawn pools. */
export function assertMainThread(what: string): void {
  if (!isMainThread) {
    throw new Error(
      `${what} cannot be created inside a worker thread: embedrank starts its own worker pools from the main thread. ` +
        'Guard your script with runMain(import.meta, main) so workers that import it do not run its top level.',
    );
  }
}
