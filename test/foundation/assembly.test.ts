// Result assembly (src/core/assembly.ts): rows scattered to their input indices on the calling
// thread and on the assembly thread, several calls at once, failures, and the thread's lifetime.
import { expect } from 'chai';
import { RowAssembler, localRows, scatterRows, type RowSink } from '../../src/core/assembly.js';
import { SeededRandom, expectReject, seedFromEnv, within } from './helpers.js';

/** Row i of the expected n × dim matrix: i * 10 + k at column k. */
const value = (i: number, k: number) => i * 10 + k;

/** Puts inputs 0..n-1 into `sink` in a shuffled order, `per` rows a batch (rows built as `value`). */
function feed(sink: RowSink, n: number, dim: number, per: number, rng: SeededRandom): Int32Array[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const given: Int32Array[] = [];
  for (let b = 0; b < n; b += per) {
    const indices = Int32Array.from(order.slice(b, b + per));
    const rows = new Float32Array(indices.length * dim);
    indices.forEach((i, r) => {
      for (let k = 0; k < dim; k++) rows[r * dim + k] = value(i, k);
    });
    sink.put(indices, rows);
    given.push(indices);
  }
  return given;
}

function expectMatrix(out: Float32Array, n: number, dim: number): void {
  expect(out.length).to.equal(n * dim);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < dim; k++) {
      if (out[i * dim + k] !== value(i, k)) expect.fail(`row ${i} column ${k}: ${out[i * dim + k]}, expected ${value(i, k)}`);
    }
  }
}

describe('foundation: result assembly', function () {
  this.timeout(20_000);
  const seed = seedFromEnv();

  it('scatterRows writes row r at row indices[r], nothing else', () => {
    const out = new Float32Array(4 * 2).fill(-1);
    scatterRows(out, Float32Array.from([1, 2, 3, 4]), Int32Array.from([3, 0]), 2);
    expect(Array.from(out)).to.deep.equal([3, 4, -1, -1, -1, -1, 1, 2]);
  });

  it('on the calling thread: the matrix in input order', async () => {
    const sink = localRows(50, 3);
    await sink.ready;
    feed(sink, 50, 3, 7, new SeededRandom(seed));
    expectMatrix(await sink.result(), 50, 3);
  });

  it('on the assembly thread: the matrix in input order, a plain (transferable) ArrayBuffer, the caller’s indices intact', async () => {
    const a = new RowAssembler();
    try {
      const sink = a.sink(1000, 5);
      await sink.ready;
      const given = feed(sink, 1000, 5, 37, new SeededRandom(seed));
      const out = await within(sink.result(), 10_000, 'result');
      expectMatrix(out, 1000, 5);
      expect(out.buffer).to.be.instanceOf(ArrayBuffer);
      expect(given.reduce((s, g) => s + g.length, 0), 'indices are copied, not transferred').to.equal(1000);
      // The caller owns the result outright: it can transfer it on.
      const { port1, port2 } = new MessageChannel();
      port1.postMessage(out, [out.buffer as ArrayBuffer]);
      expect(out.length, 'transferred away').to.equal(0);
      port1.close();
      port2.close();
    } finally {
      await a.close();
    }
  });

  it('several calls at once keep their rows apart; a view into a larger buffer is taken as its own rows', async () => {
    const a = new RowAssembler();
    try {
      const sinks = [a.sink(300, 4), a.sink(120, 2), a.sink(1, 4)];
      const dims = [4, 2, 4];
      const sizes = [300, 120, 1];
      // Interleaved: batches of the three calls alternate.
      for (let b = 0; b < 300; b += 10) {
        for (let c = 0; c < 3; c++) {
          if (b >= sizes[c]) continue;
          const dim = dims[c];
          const indices = Int32Array.from({ length: Math.min(10, sizes[c] - b) }, (_, r) => b + r);
          // Rows as a subarray of a larger buffer: the assembler must copy them, not move the whole buffer.
          const big = new Float32Array((indices.length + 2) * dim).fill(NaN);
          indices.forEach((i, r) => {
            for (let k = 0; k < dim; k++) big[(r + 1) * dim + k] = value(i, k);
          });
          sinks[c].put(indices, big.subarray(dim, (indices.length + 1) * dim));
          expect(big.length, 'the caller’s larger buffer stays').to.equal((indices.length + 2) * dim);
        }
      }
      const outs = await within(Promise.all(sinks.map((s) => s.result())), 10_000, 'results');
      outs.forEach((o, c) => expectMatrix(o, sizes[c], dims[c]));
    } finally {
      await a.close();
    }
  });

  it('an output too large to allocate fails `ready` and `result` with the RangeError; the thread keeps serving', async () => {
    const a = new RowAssembler();
    try {
      const huge = a.sink(2 ** 31, 2 ** 10);
      const err = await expectReject(within(huge.ready, 10_000, 'ready'), RangeError);
      const again = await expectReject(huge.result(), RangeError);
      expect(again.message).to.equal(err.message);
      const ok = a.sink(10, 2);
      feed(ok, 10, 2, 3, new SeededRandom(seed));
      expectMatrix(await ok.result(), 10, 2);
    } finally {
      await a.close();
    }
  });

  it('a discarded call ends quietly; put or result after the call ended throw', async () => {
    const a = new RowAssembler();
    try {
      const s = a.sink(10, 2);
      feed(s, 5, 2, 5, new SeededRandom(seed));
      s.discard();
      s.discard();
      expect(() => s.put(Int32Array.from([0]), new Float32Array(2))).to.throw(/after the call/);
      await expectReject(s.result(), Error, /after the call/);
      const t = a.sink(4, 2);
      feed(t, 4, 2, 4, new SeededRandom(seed));
      expectMatrix(await t.result(), 4, 2);
      await expectReject(t.result(), Error, /after the call/);
    } finally {
      await a.close();
    }
  });

  it('close() with a call open: that call still gets its result; new calls are refused', async () => {
    const a = new RowAssembler();
    await a.ready();
    const s = a.sink(20, 3);
    const closed = a.close();
    expect(() => a.sink(1, 1)).to.throw(/closed/);
    feed(s, 20, 3, 6, new SeededRandom(seed));
    expectMatrix(await within(s.result(), 10_000, 'result after close'), 20, 3);
    await within(closed, 10_000, 'close');
  });
});
