// Token batches for the GPU benchmarks (bench.ts, profile.ts): random ids above the special
// tokens, concatenated without padding; a copy per run because a run transfers its buffers.
import type { TokenBatch } from '../src/backends/engine.js';

export function batchOf(lengths: number[], vocab: number, rand: () => number): TokenBatch {
  const cu = new Int32Array(lengths.length + 1);
  lengths.forEach((l, i) => (cu[i + 1] = cu[i] + l));
  const ids = new Int32Array(cu[lengths.length]);
  for (let i = 0; i < ids.length; i++) ids[i] = 1000 + Math.floor(rand() * (vocab - 1000));
  return { ids, typeIds: new Int32Array(ids.length), cuSeqlens: cu };
}

export const copyBatch = (x: TokenBatch): TokenBatch => ({ ids: x.ids.slice(), typeIds: x.typeIds?.slice(), cuSeqlens: x.cuSeqlens.slice() });

export const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
