// Shared pieces of the GPU suites (run on the GPU machine: npm run test:gpu).
import { readFileSync } from 'node:fs';
import type { TokenBatch } from '../../src/backends/engine.js';

/** it() that prints its failure at once: a device run cut short still shows what went wrong. */
export function check(title: string, fn: () => Promise<void>, timeout = 240_000): void {
  it(title, async function () {
    this.timeout(timeout);
    try {
      await fn();
    } catch (e) {
      process.stdout.write(`\nFAILED ${title}: ${(e as Error).stack}\n`);
      throw e;
    }
  });
}

export const readJsonFile = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

/** An unpadded batch of token-id sequences (no type ids, positions by the family's rule). */
export function batchOf(seqs: number[][]): TokenBatch {
  const cu = [0];
  for (const s of seqs) cu.push(cu[cu.length - 1] + s.length);
  return { ids: Int32Array.from(seqs.flat()), cuSeqlens: Int32Array.from(cu) };
}

/**
 * Cosine of a[aOff .. aOff + dim) (engine output) and b[0 .. dim) (reference), in float64.
 * @throws Error on a non-finite engine value: NaN never passes.
 */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>, aOff = 0, dim = b.length): number {
  let ab = 0, aa = 0, bb = 0;
  for (let d = 0; d < dim; d++) {
    const x = a[aOff + d], y = b[d];
    if (!Number.isFinite(x)) throw new Error(`non-finite value at ${aOff + d}`);
    ab += x * y; aa += x * x; bb += y * y;
  }
  return ab / Math.sqrt(aa * bb);
}
