// The server's batching queue with a runner the test controls (each run waits until the test
// releases it), so batch composition is deterministic: concurrent requests share runs, budgets
// hold, big requests split, results land in the right rows, failures and cancellations reach
// exactly the requests they concern.
import { expect } from 'chai';
import { ServeBatcher, type BatchRunner } from '../../src/serve/batcher.js';
import { ApiError } from '../../src/errors.js';
import type { TokenizedChunk } from '../../src/tokenize/packed.js';

/** Sequences whose first id identifies them (request * 1000 + index), given lengths. */
function chunk(req: number, lens: number[]): TokenizedChunk {
  const n = lens.length;
  const offsets = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i] + lens[i];
  const ids = new Int32Array(offsets[n]);
  for (let i = 0; i < n; i++) ids.fill(req * 1000 + i, offsets[i], offsets[i + 1]);
  return { n, offsets, ids, typeIds: new Int32Array(offsets[n]), truncated: new Int32Array(n) };
}

interface Run {
  chunk: TokenizedChunk;
  skip: Int32Array;
  release: (fail?: Error) => void;
}

/** A runner whose runs wait for release(); each row is [first id, length, pool skip]. */
function controlled(): { runner: BatchRunner; runs: Run[] } {
  const runs: Run[] = [];
  const runner: BatchRunner = (c, skip) =>
    new Promise((resolve, reject) => {
      runs.push({
        chunk: c,
        skip,
        release: (fail) => {
          if (fail) return reject(fail);
          const out = new Float32Array(c.n * 3);
          for (let i = 0; i < c.n; i++) out.set([c.ids[c.offsets[i]], c.offsets[i + 1] - c.offsets[i], skip[i]], i * 3);
          resolve(out);
        },
      });
    });
  return { runner, runs };
}

const tick = () => new Promise((r) => setImmediate(r));

function firstIds(c: TokenizedChunk): number[] {
  return Array.from({ length: c.n }, (_, i) => c.ids[c.offsets[i]]);
}

describe('serve: batching queue', () => {
  it('requests queued while the engine is busy share the next run, oldest first, and get their own rows back', async () => {
    const { runner, runs } = controlled();
    const b = new ServeBatcher({ maxRunTokens: 1000, maxRunSeqs: 64, maxInFlight: 1 });
    const p0 = b.submit(chunk(0, [5]), { key: 'embed', run: runner, width: 3 });
    const rest = [1, 2, 3, 4].map((r) => b.submit(chunk(r, [3, 4]), { key: 'embed', run: runner, width: 3, poolSkip: Int32Array.from([1, 2]) }));
    await tick();
    expect(runs).to.have.length(1);
    expect(b.queueSize).to.equal(8);
    runs[0].release();
    await p0;
    await tick();
    expect(runs).to.have.length(2);
    expect(firstIds(runs[1].chunk)).to.deep.equal([1000, 1001, 2000, 2001, 3000, 3001, 4000, 4001]);
    expect(Array.from(runs[1].skip)).to.deep.equal([1, 2, 1, 2, 1, 2, 1, 2]);
    runs[1].release();
    const outs = await Promise.all(rest);
    outs.forEach((o, k) => expect(Array.from(o)).to.deep.equal([(k + 1) * 1000, 3, 1, (k + 1) * 1000 + 1, 4, 2]));
    await b.idle();
    expect(b.queueSize).to.equal(0);
  });

  it('keeps each run within the token and sequence budgets and splits a large request across runs', async () => {
    const { runner, runs } = controlled();
    const b = new ServeBatcher({ maxRunTokens: 10, maxRunSeqs: 3, maxInFlight: 1 });
    const blocker = b.submit(chunk(0, [1]), { key: 'embed', run: runner, width: 3 });
    const big = b.submit(chunk(1, [4, 4, 4, 4, 4]), { key: 'embed', run: runner, width: 3 });
    const small = b.submit(chunk(2, [1, 1, 1, 1]), { key: 'embed', run: runner, width: 3 });
    await tick();
    runs[0].release();
    await blocker;
    for (let k = 1; k <= 4; k++) {
      await tick();
      expect(runs, `run ${k} dispatched`).to.have.length(k + 1);
      expect(runs[k].chunk.ids.length).to.be.at.most(10);
      expect(runs[k].chunk.n).to.be.at.most(3);
      runs[k].release();
    }
    expect(runs.slice(1).map((r) => firstIds(r.chunk))).to.deep.equal([
      [1000, 1001],
      [1002, 1003],
      [1004, 2000, 2001],
      [2002, 2003],
    ]);
    expect(Array.from(await big).filter((_, i) => i % 3 === 0)).to.deep.equal([1000, 1001, 1002, 1003, 1004]);
    expect(Array.from(await small).filter((_, i) => i % 3 === 0)).to.deep.equal([2000, 2001, 2002, 2003]);
  });

  it('never merges different keys (embed vs score, different activations)', async () => {
    const { runner, runs } = controlled();
    const b = new ServeBatcher({ maxRunTokens: 100, maxRunSeqs: 64, maxInFlight: 1 });
    const a = b.submit(chunk(1, [2]), { key: 'embed', run: runner, width: 3 });
    const s = b.submit(chunk(2, [2]), { key: 'score:default', run: runner, width: 3 });
    const a2 = b.submit(chunk(3, [2]), { key: 'embed', run: runner, width: 3 });
    await tick();
    runs[0].release();
    await a;
    await tick();
    // The head of the queue is now the score request; the later embed request waits its turn.
    expect(firstIds(runs[1].chunk)).to.deep.equal([2000]);
    runs[1].release();
    await s;
    await tick();
    expect(firstIds(runs[2].chunk)).to.deep.equal([3000]);
    runs[2].release();
    await a2;
  });

  it('a failed run rejects exactly the requests in it and drops the rest of them; others still run', async () => {
    const { runner, runs } = controlled();
    const b = new ServeBatcher({ maxRunTokens: 4, maxRunSeqs: 64, maxInFlight: 1 });
    const doomed = b.submit(chunk(1, [2, 2, 2, 2]), { key: 'embed', run: runner, width: 3 });
    const other = b.submit(chunk(2, [2]), { key: 'embed', run: runner, width: 3 });
    await tick();
    runs[0].release(new Error('engine fell over'));
    let err: unknown;
    await doomed.catch((e) => (err = e));
    expect((err as Error).message).to.equal('engine fell over');
    await tick();
    expect(runs).to.have.length(2);
    expect(firstIds(runs[1].chunk)).to.deep.equal([2000]);
    runs[1].release();
    expect(Array.from(await other)).to.deep.equal([2000, 2, 0]);
    expect(b.queueSize).to.equal(0);
  });

  it('an aborted request leaves the queue with the abort reason; the rest are answered', async () => {
    const { runner, runs } = controlled();
    const b = new ServeBatcher({ maxRunTokens: 100, maxRunSeqs: 64, maxInFlight: 1 });
    const first = b.submit(chunk(1, [2]), { key: 'embed', run: runner, width: 3 });
    const ac = new AbortController();
    const gone = b.submit(chunk(2, [2, 2]), { key: 'embed', run: runner, width: 3, signal: ac.signal });
    const kept = b.submit(chunk(3, [2]), { key: 'embed', run: runner, width: 3 });
    await tick();
    expect(b.queueSize).to.equal(3);
    ac.abort(new ApiError(503, 'timeout', 'request timed out after 1 s'));
    let err: unknown;
    await gone.catch((e) => (err = e));
    expect(err).to.be.instanceOf(ApiError);
    expect(b.queueSize).to.equal(1);
    runs[0].release();
    await first;
    await tick();
    expect(firstIds(runs[1].chunk)).to.deep.equal([3000]);
    runs[1].release();
    await kept;
    await b.idle();
  });
});
