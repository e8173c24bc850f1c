// Where an end-to-end embedding run spends its time: tokenization alone (the encoder's own pool,
// all texts) and the engine alone on the already-tokenized ids (Encoder.embedTokens), each timed
// `repeats` times. The SciFact, STS and host-path benches print it beside the whole path's time.
// Encoder.tokenize does not deduplicate: on the fast tokenizer path, whose whole run tokenizes each
// distinct text once, "tokenize alone" counts the repeats too (STS: 52 082 texts, 38 393 distinct);
// "distinct texts only" tokenizes each distinct text once, as the whole run does when it
// deduplicates (the fast path unless EMBEDRANK_TOKENIZE_DEDUPE=0): a lower bound of the whole path
// whenever it waits for its tokenizer. It runs after "tokenize alone" in each repeat, so that figure
// stays comparable with the sessions before it existed.
import type { Encoder } from '../src/encoder.js';
import { median } from './batches.js';

/**
 * Medians of `repeats` runs, in seconds: tokenizing `texts` alone, then its distinct texts alone,
 * then embedding the first tokenization's ids alone.
 */
export async function timeSplit(enc: Encoder, texts: string[], repeats: number): Promise<{ tokenize: number; engine: number; distinct: number }> {
  const tok: number[] = [];
  const run: number[] = [];
  const dist: number[] = [];
  const distinct = [...new Set(texts)];
  for (let r = 0; r < repeats; r++) {
    let t0 = performance.now();
    const { chunk, poolSkip } = await enc.tokenize(texts);
    tok.push((performance.now() - t0) / 1000);
    t0 = performance.now();
    await enc.tokenize(distinct);
    dist.push((performance.now() - t0) / 1000);
    t0 = performance.now();
    await enc.embedTokens(chunk, poolSkip > 0 ? new Int32Array(chunk.n).fill(poolSkip) : undefined);
    run.push((performance.now() - t0) / 1000);
  }
  return { tokenize: median(tok), engine: median(run), distinct: median(dist) };
}
