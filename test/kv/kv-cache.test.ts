// The paged KV cache's bookkeeping (src/kv): block pool sizing, chained-hash prefix cache, LRU
// eviction, hit counters, the prefix-sharing order and chunked prefill plans.
import { expect } from 'chai';
import { join } from 'node:path';
import { BlockPool, blockHashes, blocksForMemory, kvBytesPerBlock } from '../../src/kv/block-pool.js';
import { planChunkedPrefill, prefixSharingOrder } from '../../src/kv/schedule.js';
import { loadModelFolder } from '../../src/model/folder.js';

const seq = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

describe('kv/block-pool', () => {
  it('sizes the pool from a memory fraction: 2 · layers · kvHeads · headDim · blockSize · bytes per block', () => {
    const d = loadModelFolder(join('test/fixtures/hf', 'qwen3-emb')).dims;
    expect(kvBytesPerBlock(d, 16, 2)).to.equal(2 * 2 * 2 * 32 * 16 * 2);
    expect(blocksForMemory({ totalBytes: 1000, memoryFraction: 0.5, reservedBytes: 100, bytesPerBlock: 100 })).to.equal(4);
    expect(() => blocksForMemory({ totalBytes: 1000, memoryFraction: 1.5, reservedBytes: 0, bytesPerBlock: 1 })).to.throw(/fraction/);
    expect(() => blocksForMemory({ totalBytes: 100, memoryFraction: 0.5, reservedBytes: 60, bytesPerBlock: 10 })).to.throw(/no KV block fits/);
  });

  it('hashes chain: equal blocks after different prefixes differ; a partial block has none', () => {
    const a = blockHashes([1, 2, 3, 4, 5], 2);
    const b = blockHashes([9, 9, 3, 4], 2);
    expect(a).to.have.length(2);
    expect(a[1]).to.not.equal(b[1]);
    expect(blockHashes([1, 2, 3, 4], 2)).to.deep.equal(a);
  });

  it('hashes taken over from the previous sequence equal fresh ones (shared prefixes, a mutated caller array, partial blocks)', () => {
    const pool = new BlockPool(400, 4);
    const known = blockHashes([1, 2, 3, 4, 5, 6, 7, 8, 9], 4);
    expect(blockHashes([1, 2, 3, 4, 5, 6, 7, 8, 9], 4, '', known.slice(0, 1))).to.deep.equal(known);
    let x = 7;
    const rnd = () => (x = (x * 1103515245 + 12345) % 2147483648) % 5;
    const base = Array.from({ length: 20 }, rnd);
    const buf = new Int32Array(40);
    for (let i = 0; i < 30; i++) {
      // The same buffer each time, rewritten: a common prefix of 0–20 ids, then fresh ids.
      const keep = rnd() * 5;
      const len = keep + 1 + rnd() * 4;
      for (let t = 0; t < len; t++) buf[t] = t < keep ? base[t] : rnd();
      const tokens = buf.subarray(0, len);
      const want = blockHashes(Array.from(tokens), 4);
      pool.allocate(`s${i}`, tokens);
      for (const h of want) expect(pool.isCached(h), `sequence ${i}`).to.equal(true);
    }
  });

  it("a query's candidates share the prefix blocks; counters and hit rate; the last token is never a hit", () => {
    const pool = new BlockPool(16, 4);
    const prefix = seq(100, 8); // two full blocks
    const r1 = pool.allocate('q0-d0', [...prefix, 1, 2, 3])!;
    expect(r1.cachedTokens).to.equal(0);
    const r2 = pool.allocate('q0-d1', [...prefix, 7, 8])!;
    expect(r2.cachedTokens).to.equal(8);
    expect(r2.blocks.slice(0, 2)).to.deep.equal(r1.blocks.slice(0, 2));
    expect(r2.blocks[2]).to.not.equal(r1.blocks[2]);
    expect(pool.stats).to.deep.include({ queries: 2 + 2, hits: 2 });
    expect(pool.hitRate).to.equal(0.5);
    // Exactly the cached prefix: its last block is recomputed so the last token has a hidden state.
    const r3 = pool.allocate('same', prefix)!;
    expect(r3.cachedTokens).to.equal(4);
    expect(pool.numFreeBlocks).to.equal(16 - 3 - 1 - 1);
  });

  it('freed blocks stay cached until evicted, least recently freed first, shared prefixes last', () => {
    const pool = new BlockPool(4, 2);
    pool.allocate('a', [1, 2, 3, 4, 5, 6]); // blocks for [1,2] [3,4] [5,6]
    pool.freeSequence('a');
    expect(pool.numFreeBlocks).to.equal(4);
    // Reuse the first two blocks' prefix; a fresh block comes from the never-used block first.
    const b = pool.allocate('b', [1, 2, 3, 4, 9, 9])!;
    expect(b.cachedTokens).to.equal(4);
    expect(pool.stats.evictions).to.equal(0);
    pool.freeSequence('b');
    // A fresh block evicts the least recently freed cached block (a suffix), the shared prefix stays.
    const c = pool.allocate('c', seq(50, 2))!;
    expect(c.cachedTokens).to.equal(0);
    expect(pool.stats.evictions).to.equal(1);
    expect(pool.isCached(blockHashes([1, 2, 3, 4, 5, 6], 2)[2])).to.equal(false);
    expect(pool.allocate('d', [1, 2, 3, 4, 7])!.cachedTokens).to.equal(4);
    expect(pool.stats.evictions).to.equal(2);
    pool.freeSequence('c');
    pool.freeSequence('d');
    // Every block needed: all cached ones are evicted, counted.
    pool.allocate('e', seq(70, 8));
    expect(pool.stats.evictions).to.equal(2 + 3); // d's partial last block had no hash
    expect(pool.stats).to.deep.include({ queries: 2 + 2 + 0 + 2 + 3, hits: 2 + 2 });
    expect(pool.isCached(blockHashes([1, 2], 2)[0])).to.equal(false);
  });

  it('refuses what does not fit without changing anything, and bad ids', () => {
    const pool = new BlockPool(2, 2);
    expect(pool.allocate('x', seq(0, 5))).to.equal(undefined);
    expect(pool.numFreeBlocks).to.equal(2);
    pool.allocate('y', [1]);
    expect(() => pool.allocate('y', [1])).to.throw(/already has blocks/);
    expect(() => pool.freeSequence('nope')).to.throw(/has no blocks/);
    expect(() => new BlockPool(0, 16)).to.throw(/positive integer/);
  });

  it('without prefix caching nothing is shared', () => {
    const pool = new BlockPool(8, 2, false);
    pool.allocate('a', [1, 2, 3]);
    expect(pool.allocate('b', [1, 2, 3])!.cachedTokens).to.equal(0);
  });
});

describe('kv/schedule', () => {
  it("prefixSharingOrder puts each query's candidates together (stable)", () => {
    const q1 = [5, 5, 5];
    const q2 = [3, 3, 3];
    const seqs = [[...q1, 1], [...q2, 9], [...q1, 0], [...q2, 1], [...q1, 1]];
    const order = prefixSharingOrder(seqs);
    expect(order).to.deep.equal([3, 1, 2, 0, 4]);
  });

  it('chunked prefill covers every uncached token once, in order, within the budget', () => {
    const lengths = [5, 23, 3, 40, 1];
    const cached = [0, 8, 0, 16, 0];
    for (const budget of [1, 4, 10, 64]) {
      const steps = planChunkedPrefill(lengths, budget, { cachedTokens: cached, maxSeqs: 3 });
      const next = cached.slice();
      for (const s of steps) {
        expect(s.reduce((n, c) => n + c.end - c.start, 0)).to.be.within(1, budget);
        expect(s.length).to.be.at.most(3);
        for (const c of s) {
          expect(c.start, `seq ${c.seq}`).to.equal(next[c.seq]);
          next[c.seq] = c.end;
        }
      }
      expect(next).to.deep.equal(lengths);
    }
    // A 40-token input under a 16-token budget: chunks of 16, 16, 8, each after the previous.
    expect(planChunkedPrefill([40], 16).map((s) => s.map((c) => [c.start, c.end]))).to.deep.equal([[[0, 16]], [[16, 32]], [[32, 40]]]);
    expect(() => planChunkedPrefill([4], 0)).to.throw(/budget/);
    expect(() => planChunkedPrefill([4], 8, { cachedTokens: [4] })).to.throw(/last token/);
  });
});
