// The token-budget scheduler: property tests over random sequence lengths and chunkings.
import { expect } from 'chai';
import { TokenBudgetScheduler, type PlannedBatch, type SchedulerOptions } from '../../src/core/scheduler.js';
import type { PositionedChunk } from '../../src/tokenize/pool.js';
import { SeededRandom, seedFromEnv } from './helpers.js';

/**
 * Chunks of sequences whose tokens encode (input index, position) so any mix-up shows:
 * id = index * 1000 + position, type id = (index + position) % 2 (0 throughout with `untyped`).
 */
function makeChunks(lengths: number[], chunkSizes: number[], untyped = false): PositionedChunk[] {
  const chunks: PositionedChunk[] = [];
  let start = 0;
  let c = 0;
  while (start < lengths.length) {
    const n = Math.min(chunkSizes[c++ % chunkSizes.length], lengths.length - start);
    const lens = lengths.slice(start, start + n);
    const total = lens.reduce((a, b) => a + b, 0);
    const offsets = new Int32Array(n + 1);
    const ids = new Int32Array(total);
    const typeIds = new Int32Array(total);
    let pos = 0;
    for (let k = 0; k < n; k++) {
      offsets[k] = pos;
      for (let t = 0; t < lens[k]; t++) {
        ids[pos + t] = (start + k) * 1000 + t;
        typeIds[pos + t] = untyped ? 0 : (start + k + t) % 2;
      }
      pos += lens[k];
    }
    offsets[n] = pos;
    chunks.push({ start, n, offsets, ids, typeIds, truncated: new Int32Array(n) });
    start += n;
  }
  return chunks;
}

function schedule(opts: SchedulerOptions, chunks: PositionedChunk[]): { batches: PlannedBatch[]; readyAfterPush: number[] } {
  const s = new TokenBudgetScheduler(opts);
  const batches: PlannedBatch[] = [];
  const readyAfterPush: number[] = [];
  for (const c of chunks) {
    const ready = s.push(c);
    readyAfterPush.push(ready.length);
    batches.push(...ready);
  }
  batches.push(...s.flush());
  return { batches, readyAfterPush };
}

/** Every invariant of a planned batch list for the given input lengths. */
function checkBatches(batches: PlannedBatch[], lengths: number[], opts: SchedulerOptions, ctx: string, untyped = false): void {
  const seen = new Int32Array(lengths.length);
  for (const [bi, pb] of batches.entries()) {
    const { batch, indices, tokens } = pb;
    const n = indices.length;
    const where = `${ctx}, batch ${bi}`;
    expect(n, where).to.be.greaterThan(0);
    expect(n, `${where}: maxNumSeqs`).to.be.at.most(opts.maxNumSeqs);
    expect(batch.cuSeqlens.length, where).to.equal(n + 1);
    expect(batch.cuSeqlens[0], where).to.equal(0);
    expect(batch.cuSeqlens[n], where).to.equal(tokens);
    expect(batch.ids.length, where).to.equal(tokens);
    // Type ids are left out exactly when every one of them would be 0 (TokenBatch: absent means all 0).
    if (batch.typeIds !== undefined) expect(batch.typeIds.length, where).to.equal(tokens);
    // The budget holds unless a single sequence is over it on its own.
    if (n > 1) expect(tokens, `${where}: maxNumBatchedTokens`).to.be.at.most(opts.maxNumBatchedTokens);
    else if (tokens > opts.maxNumBatchedTokens) expect(lengths[indices[0]], where).to.be.greaterThan(opts.maxNumBatchedTokens);
    for (let i = 0; i < n; i++) {
      const idx = indices[i];
      if (!(idx >= 0 && idx < lengths.length)) expect.fail(`${where}: index ${idx}`);
      seen[idx]++;
      const from = batch.cuSeqlens[i];
      const len = batch.cuSeqlens[i + 1] - from;
      if (len !== lengths[idx]) expect.fail(`${where}: input ${idx} has ${len} tokens, expected ${lengths[idx]}`);
      for (let t = 0; t < len; t++) {
        const type = batch.typeIds ? batch.typeIds[from + t] : 0;
        if (batch.ids[from + t] !== idx * 1000 + t || type !== (untyped ? 0 : (idx + t) % 2)) {
          expect.fail(`${where}: token ${t} of input ${idx} is ${batch.ids[from + t]}/${type}`);
        }
      }
      if (opts.poolSkip && batch.poolSkip![i] !== opts.poolSkip(idx)) expect.fail(`${where}: poolSkip of ${idx} is ${batch.poolSkip![i]}`);
    }
    if (!opts.poolSkip) expect(batch.poolSkip, where).to.equal(undefined);
  }
  for (let i = 0; i < lengths.length; i++) if (seen[i] !== 1) expect.fail(`${ctx}: input ${i} appears ${seen[i]} times`);
}

describe('foundation: token-budget scheduler', () => {
  const seed = seedFromEnv();

  it('property: budgets hold, every input once, ids/cu_seqlens consistent (random lengths, chunkings, windows)', () => {
    const rng = new SeededRandom(seed);
    for (let trial = 0; trial < 200; trial++) {
      const maxLen = rng.int(2, 200);
      const n = rng.int(1, 700);
      const lengths = Array.from({ length: n }, () => (rng.next() < 0.1 ? maxLen : rng.int(1, maxLen)));
      const opts: SchedulerOptions = {
        maxNumBatchedTokens: maxLen + rng.int(0, 3 * maxLen),
        maxNumSeqs: rng.int(1, 70),
        window: rng.next() < 0.5 ? rng.int(1, 300) : undefined,
        poolSkip: rng.next() < 0.5 ? (i: number) => (i * 7) % 5 : undefined,
      };
      const chunks = makeChunks(lengths, [rng.int(1, 50), rng.int(1, 300)]);
      const { batches } = schedule(opts, chunks);
      checkBatches(batches, lengths, opts, `trial ${trial} (seed ${seed}; rerun with EMBEDRANK_TEST_SEED=${seed})`);
      // Batches are reasonably full: a batch closes only when the next sequence would break a limit,
      // which bounds their number by 3 × the lower bound + 1.
      if (!opts.window) {
        const minBatches = Math.max(Math.ceil(n / opts.maxNumSeqs), Math.ceil(lengths.reduce((a, b) => a + b, 0) / opts.maxNumBatchedTokens));
        expect(batches.length, `trial ${trial}: ${batches.length} batches for a lower bound of ${minBatches}`).to.be.at.most(3 * minBatches + 1);
      }
    }
  });

  it('a sequence longer than the budget goes alone into its own batch (the runtime forbids this; the scheduler copes)', () => {
    const lengths = [5, 50, 3, 4, 60, 2];
    const opts = { maxNumBatchedTokens: 10, maxNumSeqs: 8 };
    const { batches } = schedule(opts, makeChunks(lengths, [6]));
    checkBatches(batches, lengths, opts, 'oversize');
    const alone = batches.filter((b) => b.tokens > 10);
    expect(alone.map((b) => Array.from(b.indices)).sort()).to.deep.equal([[1], [4]]);
  });

  it('longest first within a window; equal lengths keep input order', () => {
    const lengths = [3, 9, 3, 7, 9, 1];
    const { batches } = schedule({ maxNumBatchedTokens: 100, maxNumSeqs: 100 }, makeChunks(lengths, [2]));
    expect(batches).to.have.length(1);
    expect(Array.from(batches[0].indices)).to.deep.equal([1, 4, 3, 0, 2, 5]);
  });

  it('maxNumSeqs splits batches even when tokens would fit', () => {
    const lengths = Array.from({ length: 10 }, () => 2);
    const opts = { maxNumBatchedTokens: 1000, maxNumSeqs: 3 };
    const { batches } = schedule(opts, makeChunks(lengths, [10]));
    expect(batches.map((b) => b.indices.length)).to.deep.equal([3, 3, 3, 1]);
    checkBatches(batches, lengths, opts, 'seqs');
  });

  it('the token budget splits batches exactly at the limit', () => {
    const lengths = [4, 4, 4, 4, 4];
    const opts = { maxNumBatchedTokens: 8, maxNumSeqs: 100 };
    const { batches } = schedule(opts, makeChunks(lengths, [5]));
    expect(batches.map((b) => b.tokens)).to.deep.equal([8, 8, 4]);
  });

  it('batches become ready once a window fills, before flush', () => {
    const lengths = Array.from({ length: 100 }, (_, i) => 1 + (i % 5));
    const opts = { maxNumBatchedTokens: 20, maxNumSeqs: 8, window: 30 };
    const { batches, readyAfterPush } = schedule(opts, makeChunks(lengths, [10]));
    // Chunks of 10: the window of 30 fills after chunks 3, 6 and 9.
    expect(readyAfterPush.map((r) => r > 0)).to.deep.equal([false, false, true, false, false, true, false, false, true, false]);
    checkBatches(batches, lengths, opts, 'window');
  });

  it('windowTokens: batches start once that many tokens are pending; only full batches leave before flush (random lengths, chunkings, length or prefix order)', () => {
    const rng = new SeededRandom(seed + 2);
    for (let trial = 0; trial < 200; trial++) {
      const maxLen = rng.int(2, 120);
      const n = rng.int(1, 600);
      const lengths = Array.from({ length: n }, () => rng.int(1, maxLen));
      const budget = maxLen + rng.int(0, 4 * maxLen);
      const opts: SchedulerOptions = {
        maxNumBatchedTokens: budget,
        maxNumSeqs: rng.int(1, 80),
        window: rng.next() < 0.3 ? rng.int(1, 400) : undefined,
        windowTokens: budget * rng.int(1, 4),
        poolSkip: rng.next() < 0.5 ? (i: number) => (i * 3) % 4 : undefined,
        order: rng.next() < 0.5 ? 'prefix' : 'length',  // decoders on CUDA pack prefix-ordered token windows
      };
      const ctx = `trial ${trial} (seed ${seed}; rerun with EMBEDRANK_TEST_SEED=${seed})`;
      const chunks = makeChunks(lengths, [rng.int(1, 40), rng.int(1, 200)]);
      const s = new TokenBudgetScheduler(opts);
      const batches: PlannedBatch[] = [];
      let pushed = 0;
      let emitted = 0;
      let pushedSeqs = 0;
      let emittedSeqs = 0;
      for (const c of chunks) {
        const ready = s.push(c);
        pushed += c.ids.length;
        pushedSeqs += c.n;
        for (const b of ready) {
          emitted += b.tokens;
          emittedSeqs += b.indices.length;
        }
        // Two batches' worth of sequences never wait either (what stays is less than a batch).
        expect(pushedSeqs - emittedSeqs, `${ctx}: sequences pending after a push`).to.be.below(2 * opts.maxNumSeqs);
        // Before flush nothing waits once a window's worth is pending, and what leaves is full:
        // adding the next sequence in line would have broken a limit (the window's leftover is < one batch).
        expect(pushed - emitted, `${ctx}: tokens pending after a push`).to.be.below(opts.windowTokens! + c.ids.length + budget);
        for (const b of ready) {
          const full = b.tokens > budget - maxLen || b.indices.length === opts.maxNumSeqs;
          if (!full) expect.fail(`${ctx}: a part-full batch (${b.tokens} tokens, ${b.indices.length} sequences) left before flush`);
        }
        batches.push(...ready);
      }
      batches.push(...s.flush());
      checkBatches(batches, lengths, opts, ctx);
    }
  });

  it('windowTokens: the first batch is ready after the first chunks, not after the sequence window', () => {
    const lengths = Array.from({ length: 200 }, () => 10);
    const opts = { maxNumBatchedTokens: 100, maxNumSeqs: 64, windowTokens: 200 };
    const { batches, readyAfterPush } = schedule(opts, makeChunks(lengths, [10]));
    // 100 tokens per chunk: the window of 200 tokens fills at every second chunk, two full batches each time.
    expect(readyAfterPush.slice(0, 4)).to.deep.equal([0, 2, 0, 2]);
    expect(batches.map((b) => b.tokens).every((t) => t === 100)).to.equal(true);
    checkBatches(batches, lengths, opts, 'windowTokens');
    expect(() => new TokenBudgetScheduler({ maxNumBatchedTokens: 100, maxNumSeqs: 1, windowTokens: 99 })).to.throw(/windowTokens/);
  });

  it('windowTokens: short sequences start once two batches of maxNumSeqs are pending, however large the token window', () => {
    // STS-like: 14-token sentences, 8 per batch by count, a token window no chunk here reaches.
    const lengths = Array.from({ length: 64 }, () => 14);
    const opts = { maxNumBatchedTokens: 4096, maxNumSeqs: 8, windowTokens: 8192 };
    const { batches, readyAfterPush } = schedule(opts, makeChunks(lengths, [4]));
    // 4 sequences per chunk: 16 pending (two batches) after every 4th chunk, both full, none kept.
    expect(readyAfterPush.slice(0, 8)).to.deep.equal([0, 0, 0, 2, 0, 0, 0, 2]);
    expect(batches.every((b) => b.indices.length === 8)).to.equal(true);
    checkBatches(batches, lengths, opts, 'sequence window');
  });

  it('poolSkip is taken per input index and carried into the batch', () => {
    const lengths = [6, 2, 9, 4];
    const skips = [3, 0, 5, 1];
    const opts = { maxNumBatchedTokens: 12, maxNumSeqs: 2, poolSkip: (i: number) => skips[i] };
    const { batches } = schedule(opts, makeChunks(lengths, [1, 3]));
    checkBatches(batches, lengths, opts, 'poolSkip');
    let total = 0;
    for (const b of batches) for (let i = 0; i < b.indices.length; i++) total += b.batch.poolSkip![i];
    expect(total).to.equal(9);
  });

  it('flush with nothing pending yields nothing; bad limits are rejected', () => {
    expect(new TokenBudgetScheduler({ maxNumBatchedTokens: 10, maxNumSeqs: 1 }).flush()).to.deep.equal([]);
    expect(() => new TokenBudgetScheduler({ maxNumBatchedTokens: 0, maxNumSeqs: 1 })).to.throw(/positive/);
    expect(() => new TokenBudgetScheduler({ maxNumBatchedTokens: 10, maxNumSeqs: 0 })).to.throw(/positive/);
    expect(() => new TokenBudgetScheduler({ maxNumBatchedTokens: NaN, maxNumSeqs: 1 })).to.throw(/positive/);
  });

  it('chunks with references (repeated texts tokenized once): every input once, with the tokens of the sequence it references', () => {
    const rng = new SeededRandom(seed + 1);
    for (let trial = 0; trial < 50; trial++) {
      // Distinct sequences d = 0..D-1; input i references distinct of[i]; its expected tokens are those of of[i].
      const D = rng.int(1, 120);
      const n = D + rng.int(0, 200);
      const of = Array.from({ length: n }, (_, i) => (i < D ? i : rng.int(0, D - 1)));
      const dLens = Array.from({ length: D }, () => rng.int(1, 40));
      const size = rng.int(1, 50);
      const base = makeChunks(dLens, [size]);
      const chunks = base.map((c) => {
        const local: number[] = [];
        const inputs: number[] = [];
        of.forEach((d, i) => {
          if (d >= c.start && d < c.start + c.n) {
            local.push(d - c.start);
            inputs.push(i);
          }
        });
        return { ...c, refs: { local: Int32Array.from(local), inputs: Int32Array.from(inputs) } };
      });
      const budget = 40 + rng.int(0, 100);
      const opts: SchedulerOptions = {
        maxNumBatchedTokens: budget,
        maxNumSeqs: rng.int(1, 30),
        window: rng.next() < 0.5 ? rng.int(1, 100) : undefined,
        windowTokens: rng.next() < 0.5 ? budget * rng.int(1, 3) : undefined,
      };
      const { batches } = schedule(opts, chunks);
      const seen = new Int32Array(n);
      for (const pb of batches) {
        expect(pb.indices.length).to.be.at.most(opts.maxNumSeqs);
        for (let i = 0; i < pb.indices.length; i++) {
          const idx = pb.indices[i];
          seen[idx]++;
          const from = pb.batch.cuSeqlens[i];
          const len = pb.batch.cuSeqlens[i + 1] - from;
          if (len !== dLens[of[idx]]) expect.fail(`trial ${trial}: input ${idx} has ${len} tokens, expected ${dLens[of[idx]]}`);
          for (let t = 0; t < len; t++) if (pb.batch.ids[from + t] !== of[idx] * 1000 + t) expect.fail(`trial ${trial}: token ${t} of input ${idx}`);
        }
      }
      expect(Array.from(seen).every((v) => v === 1), `trial ${trial}: every input once`).to.equal(true);
    }
  });

  it('single texts (every type id 0) give batches without type ids; one typed chunk in a window gives its batches type ids', () => {
    const rng = new SeededRandom(seed + 2);
    const lengths = Array.from({ length: 400 }, () => rng.int(1, 30));
    const opts: SchedulerOptions = { maxNumBatchedTokens: 64, maxNumSeqs: 16, window: 100 };
    const plain = schedule(opts, makeChunks(lengths, [37], true)).batches;
    checkBatches(plain, lengths, opts, 'untyped', true);
    expect(plain.every((b) => b.batch.typeIds === undefined), 'no batch carries type ids').to.equal(true);
    // Inputs 0..36 (the first chunk) have pair-like type ids, the rest none: the windows holding
    // the first chunk carry type ids, every later one does not.
    const mixed = makeChunks(lengths, [37]);
    for (const c of mixed.slice(1)) c.typeIds.fill(0);
    const batches = schedule(opts, mixed).batches;
    const typed = batches.filter((b) => b.batch.typeIds !== undefined);
    expect(typed.length).to.be.greaterThan(0);
    expect(typed.length).to.be.lessThan(batches.length);
    for (const pb of batches) {
      for (let i = 0; i < pb.indices.length; i++) {
        const idx = pb.indices[i];
        const from = pb.batch.cuSeqlens[i];
        for (let t = 0; t < pb.batch.cuSeqlens[i + 1] - from; t++) {
          const want = idx < 37 ? (idx + t) % 2 : 0;
          if ((pb.batch.typeIds ? pb.batch.typeIds[from + t] : 0) !== want) expect.fail(`input ${idx} token ${t}`);
        }
      }
    }
  });

  it('batch buffers are copies: later pushes do not change earlier batches', () => {
    const chunks = makeChunks([3, 3, 3, 3], [2]);
    const s = new TokenBudgetScheduler({ maxNumBatchedTokens: 6, maxNumSeqs: 2, window: 2 });
    const first = s.push(chunks[0]);
    const snapshot = Array.from(first[0].batch.ids);
    chunks[0].ids.fill(-1);
    s.push(chunks[1]);
    expect(Array.from(first[0].batch.ids)).to.deep.equal(snapshot);
  });
});

describe('scheduler: prefix order (decoders on CUDA, for the prefix cache)', () => {
  it("packs a query's candidates into the same batches, back to back, whatever their input order and lengths", () => {
    // Three "queries" (prefix tokens 7/8/9 × 40), four candidates each of varied length, interleaved.
    const seqs: number[][] = [];
    for (let c = 0; c < 4; c++) for (let q = 0; q < 3; q++) seqs.push([...Array(40).fill(7 + q), ...Array.from({ length: 5 + ((c * 7 + q * 3) % 11) }, (_, t) => 100 + c * 20 + t)]);
    const offsets = new Int32Array(seqs.length + 1);
    seqs.forEach((s, i) => (offsets[i + 1] = offsets[i] + s.length));
    const chunk: PositionedChunk = { start: 0, n: seqs.length, offsets, ids: Int32Array.from(seqs.flat()), typeIds: new Int32Array(offsets[seqs.length]), truncated: new Int32Array(seqs.length) };
    const perQuery = (q: number) => seqs.filter((_, i) => i % 3 === q).reduce((a, s) => a + s.length, 0);
    const budget = Math.max(perQuery(0), perQuery(1), perQuery(2));
    const s = new TokenBudgetScheduler({ maxNumBatchedTokens: budget, maxNumSeqs: 4, order: 'prefix' });
    const batches = [...s.push(chunk), ...s.flush()];
    const queryOf = (b: PlannedBatch) => [...new Set(Array.from(b.indices, (i) => i % 3))];
    expect(batches.map(queryOf)).to.deep.equal([[0], [1], [2]]);
    expect(batches.flatMap((b) => Array.from(b.indices)).sort((a, b) => a - b)).to.deep.equal(seqs.map((_, i) => i));
    // Without it, longest first: the batches mix queries.
    const byLength = new TokenBudgetScheduler({ maxNumBatchedTokens: budget, maxNumSeqs: 4 });
    expect([...byLength.push(chunk), ...byLength.flush()].some((b) => queryOf(b).length > 1)).to.equal(true);
  });
});
