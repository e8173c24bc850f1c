// The coordinator with fake compute workers: input-order assembly, in-flight limits, retry of a
// crashed worker, error propagation without hangs, producer failures, replica balancing; each
// with rows assembled on the calling thread and on the assembly thread (src/core/assembly.ts).
import { expect } from 'chai';
import type { TokenBatch } from '../../src/backends/engine.js';
import { RowAssembler } from '../../src/core/assembly.js';
import { Coordinator, WorkerCrashedError, isRetryable, type ComputeWorker, type WorkOp } from '../../src/core/coordinator.js';
import type { PlannedBatch } from '../../src/core/scheduler.js';
import { SeededRandom, seedFromEnv, within } from './helpers.js';

const DIM = 3;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Batches over inputs 0..n-1 in a shuffled order; token ids encode (index, position). */
function makeBatches(lengths: number[], perBatch: number, rng?: SeededRandom): PlannedBatch[] {
  const order = lengths.map((_, i) => i);
  if (rng) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(0, i);
      [order[i], order[j]] = [order[j], order[i]];
    }
  }
  const out: PlannedBatch[] = [];
  for (let b = 0; b < order.length; b += perBatch) {
    const idx = order.slice(b, b + perBatch);
    const tokens = idx.reduce((s, i) => s + lengths[i], 0);
    const ids = new Int32Array(tokens);
    const cu = new Int32Array(idx.length + 1);
    let pos = 0;
    idx.forEach((i, k) => {
      for (let t = 0; t < lengths[i]; t++) ids[pos + t] = i * 1000 + t;
      pos += lengths[i];
      cu[k + 1] = pos;
    });
    out.push({ indices: Int32Array.from(idx), tokens, batch: { ids, typeIds: new Int32Array(tokens), cuSeqlens: cu } });
  }
  return out;
}

async function* produce(batches: PlannedBatch[], gapMs = 0): AsyncGenerator<PlannedBatch> {
  for (const b of batches) {
    if (gapMs) await sleep(gapMs);
    yield b;
  }
}

interface Shared {
  active: number;
  maxActive: number;
}

type Behaviour = (call: number, batch: TokenBatch) => 'ok' | Error | Promise<'ok' | Error>;

/** A fake replica: answers [input index, length, worker id] per sequence after a delay. */
class FakeWorker implements ComputeWorker {
  calls = 0;
  restarts = 0;
  closed = 0;
  active = 0;
  maxActive = 0;
  tokensSeen = 0;
  restartedAt: number[] = [];
  callTimes: number[] = [];
  private restarting = false;

  constructor(
    readonly label: string,
    readonly id: number,
    readonly inFlight: number,
    private readonly shared: Shared,
    private readonly delay: (batch: TokenBatch) => number = () => 1,
    private readonly behaviour: Behaviour = () => 'ok',
    private readonly restartMs = 5,
  ) {}

  async run(_op: WorkOp, batch: TokenBatch): Promise<Float32Array> {
    if (this.restarting) throw new Error(`${this.label}: run() called while restarting`);
    const call = ++this.calls;
    this.callTimes.push(Date.now());
    this.active++;
    this.shared.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    this.shared.maxActive = Math.max(this.shared.maxActive, this.shared.active);
    try {
      await sleep(this.delay(batch));
      const verdict = await this.behaviour(call, batch);
      if (verdict instanceof Error) throw verdict;
      const n = batch.cuSeqlens.length - 1;
      this.tokensSeen += batch.ids.length;
      const out = new Float32Array(n * DIM);
      for (let i = 0; i < n; i++) {
        const from = batch.cuSeqlens[i];
        out[i * DIM] = Math.floor(batch.ids[from] / 1000);
        out[i * DIM + 1] = batch.cuSeqlens[i + 1] - from;
        out[i * DIM + 2] = this.id;
      }
      return out;
    } finally {
      this.active--;
      this.shared.active--;
    }
  }

  async restart(): Promise<void> {
    this.restarts++;
    this.restarting = true;
    await sleep(this.restartMs);
    this.restarting = false;
    this.restartedAt.push(Date.now());
  }

  async close(): Promise<void> {
    this.closed++;
  }
}

function checkRows(out: Float32Array, lengths: number[]): void {
  expect(out.length).to.equal(lengths.length * DIM);
  for (let i = 0; i < lengths.length; i++) {
    if (out[i * DIM] !== i || out[i * DIM + 1] !== lengths[i]) {
      expect.fail(`row ${i} holds input ${out[i * DIM]} of length ${out[i * DIM + 1]}, expected input ${i} of length ${lengths[i]}`);
    }
  }
}

/** Collects unhandled rejections while `fn` runs (and a little after). */
async function noUnhandled<T>(fn: () => Promise<T>): Promise<T> {
  const seen: unknown[] = [];
  const h = (r: unknown) => seen.push(r);
  process.on('unhandledRejection', h);
  try {
    const v = await fn();
    await sleep(20);
    return v;
  } finally {
    await sleep(20);
    process.off('unhandledRejection', h);
    expect(seen.map(String), 'unhandled rejections').to.deep.equal([]);
  }
}

const EMBED: WorkOp = { kind: 'embed' };

for (const where of ['calling thread', 'assembly thread'] as const) describe(`foundation: coordinator (rows assembled on the ${where})`, function () {
  this.timeout(20_000);
  const seed = seedFromEnv();
  const assembler = where === 'assembly thread' ? new RowAssembler() : undefined;
  after(() => assembler?.close());
  /** A coordinator over `ws` assembling where this block says (every output, however small, on the assembly thread). */
  const coordinator = (ws: ComputeWorker[]) => new Coordinator(ws, { assembler, offThreadMinValues: 0 });

  it('assembles rows in input order whatever order batches complete in', async () => {
    const rng = new SeededRandom(seed);
    const lengths = Array.from({ length: 500 }, () => rng.int(1, 40));
    const batches = makeBatches(lengths, 7, rng);
    const shared = { active: 0, maxActive: 0 };
    const delays = new SeededRandom(seed + 1);
    const ws = [new FakeWorker('a', 0, 2, shared, () => delays.int(0, 6)), new FakeWorker('b', 1, 3, shared, () => delays.int(0, 6))];
    const c = coordinator(ws);
    let done = 0;
    let doneTokens = 0;
    const out = await within(
      c.execute(EMBED, produce(batches), lengths.length, DIM, {
        onBatchDone: (s, t) => {
          done += s;
          doneTokens += t;
        },
      }),
      10_000,
      'execute',
    );
    checkRows(out, lengths);
    expect(done).to.equal(lengths.length);
    expect(doneTokens).to.equal(lengths.reduce((a, b) => a + b, 0));
    expect(ws[0].calls + ws[1].calls).to.equal(batches.length);
    expect(ws[0].calls, 'both workers used').to.be.greaterThan(0);
    expect(ws[1].calls, 'both workers used').to.be.greaterThan(0);
  });

  it('never has more batches in flight than the sum of inFlight, and does use that many', async () => {
    const lengths = Array.from({ length: 120 }, () => 5);
    const shared = { active: 0, maxActive: 0 };
    const ws = [new FakeWorker('a', 0, 2, shared, () => 15), new FakeWorker('b', 1, 1, shared, () => 15)];
    const out = await within(coordinator(ws).execute(EMBED, produce(makeBatches(lengths, 4)), lengths.length, DIM), 10_000, 'execute');
    checkRows(out, lengths);
    expect(shared.maxActive).to.be.at.most(3);
    expect(shared.maxActive, 'the coordinator keeps the workers fed').to.equal(3);
  });

  it('holds back a fast producer: bounded queue, no unbounded buffering', async () => {
    const lengths = Array.from({ length: 400 }, () => 3);
    const batches = makeBatches(lengths, 1);
    const shared = { active: 0, maxActive: 0 };
    const w = new FakeWorker('a', 0, 2, shared, () => 2);
    let produced = 0;
    let maxAhead = 0;
    async function* counting(): AsyncGenerator<PlannedBatch> {
      for (const b of batches) {
        produced++;
        maxAhead = Math.max(maxAhead, produced - w.calls);
        yield b;
      }
    }
    checkRows(await within(coordinator([w]).execute(EMBED, counting(), lengths.length, DIM), 10_000, 'execute'), lengths);
    expect(maxAhead, 'batches produced but not started').to.be.at.most(4 * 2 + 4);
  });

  it('a crashed worker is restarted and its batch retried on the other worker; the result is complete', async () => {
    const lengths = Array.from({ length: 60 }, (_, i) => 1 + (i % 9));
    const shared = { active: 0, maxActive: 0 };
    let failedBatchFirstIndex = -1;
    const a = new FakeWorker('a', 0, 1, shared, () => 3, (call, batch) => {
      if (call === 2) {
        failedBatchFirstIndex = Math.floor(batch.ids[0] / 1000);
        return new WorkerCrashedError('thread exited with code 70', 'a');
      }
      return 'ok';
    });
    const b = new FakeWorker('b', 1, 1, shared, () => 3);
    const c = coordinator([a, b]);
    const out = await within(c.execute(EMBED, produce(makeBatches(lengths, 5)), lengths.length, DIM), 10_000, 'execute');
    checkRows(out, lengths);
    expect(a.restarts).to.equal(1);
    expect(b.restarts).to.equal(0);
    expect(failedBatchFirstIndex).to.be.at.least(0);
    // The retried batch came out of b.
    expect(out[failedBatchFirstIndex * DIM + 2]).to.equal(1);
    // a was used again after its restart finished, never during it (the fake throws if it were).
    expect(a.calls).to.be.greaterThan(2);
  });

  it('with a single worker the retry waits for the restart and runs on the fresh worker', async () => {
    const lengths = Array.from({ length: 30 }, () => 4);
    const shared = { active: 0, maxActive: 0 };
    const w = new FakeWorker('solo', 0, 1, shared, () => 2, (call) => (call === 3 ? new WorkerCrashedError('died', 'solo') : 'ok'), 40);
    const out = await within(coordinator([w]).execute(EMBED, produce(makeBatches(lengths, 3)), lengths.length, DIM), 10_000, 'execute');
    checkRows(out, lengths);
    expect(w.restarts).to.equal(1);
    expect(w.calls).to.equal(10 + 1);
    expect(w.callTimes[3], 'retry started after the restart finished').to.be.at.least(w.restartedAt[0]);
  });

  it('a batch that crashes twice rejects with both errors, without hanging, even with many batches queued', async () => {
    const lengths = Array.from({ length: 200 }, () => 2);
    const shared = { active: 0, maxActive: 0 };
    let poisoned = -1;
    const behaviour: Behaviour = (_call, batch) => {
      const first = Math.floor(batch.ids[0] / 1000);
      if (poisoned < 0 && first >= 20) poisoned = first;
      return first === poisoned ? new WorkerCrashedError(`crash on input ${first}`, 'x') : 'ok';
    };
    const ws = [new FakeWorker('a', 0, 1, shared, () => 2, behaviour), new FakeWorker('b', 1, 1, shared, () => 2, behaviour)];
    const c = coordinator(ws);
    const err = await noUnhandled(async () => {
      try {
        await within(c.execute(EMBED, produce(makeBatches(lengths, 1)), lengths.length, DIM), 5_000, 'execute');
      } catch (e) {
        return e as Error;
      }
      return undefined;
    });
    expect(err, 'execute must reject').to.be.instanceOf(WorkerCrashedError);
    expect(err!.message).to.not.match(/did not settle/);
    expect(err!.message).to.match(/failed twice/);
    expect(err!.message).to.include(`crash on input ${poisoned}`);
    expect(isRetryable(err)).to.equal(true);
    expect(ws[0].restarts + ws[1].restarts).to.equal(2);
    // Dispatch stopped: far from all 200 batches ran.
    expect(ws[0].calls + ws[1].calls).to.be.lessThan(150);
    // The coordinator is still usable afterwards.
    poisoned = 10_000;
    const out = await within(c.execute(EMBED, produce(makeBatches(lengths, 4)), lengths.length, DIM), 5_000, 'execute after failure');
    checkRows(out, lengths);
  });

  it('a non-retryable error rejects at once: no restart, no retry, dispatch stops, no hang', async () => {
    const lengths = Array.from({ length: 300 }, () => 3);
    const shared = { active: 0, maxActive: 0 };
    class EngineFailure extends Error {}
    const w = new FakeWorker('a', 0, 1, shared, () => 1, (call) => (call === 4 ? new EngineFailure('input ids out of range') : 'ok'));
    const c = coordinator([w]);
    const err = await noUnhandled(async () => {
      try {
        await within(c.execute(EMBED, produce(makeBatches(lengths, 1)), lengths.length, DIM), 5_000, 'execute');
      } catch (e) {
        return e as Error;
      }
      return undefined;
    });
    expect(err).to.be.instanceOf(EngineFailure);
    expect(err!.message).to.equal('input ids out of range');
    expect(w.restarts).to.equal(0);
    expect(w.calls).to.equal(4);
  });

  it('a failing producer rejects execute with its error: no hang, no unhandled rejection', async () => {
    const lengths = Array.from({ length: 100 }, () => 3);
    const batches = makeBatches(lengths, 1);
    for (const failAt of [0, 3, 60]) {
      const shared = { active: 0, maxActive: 0 };
      // Slow workers: when the producer fails, batches are still queued behind the running ones.
      const w = new FakeWorker('a', 0, 1, shared, () => 5);
      async function* failing(): AsyncGenerator<PlannedBatch> {
        for (let i = 0; i < batches.length; i++) {
          if (i === failAt) throw new RangeError(`tokenizer failed at ${i}`);
          yield batches[i];
        }
      }
      const err = await noUnhandled(async () => {
        try {
          await within(coordinator([w]).execute(EMBED, failing(), lengths.length, DIM), 5_000, `execute (producer fails at ${failAt})`);
        } catch (e) {
          return e as Error;
        }
        return undefined;
      });
      expect(err, `failAt ${failAt}`).to.be.instanceOf(RangeError);
      expect(err!.message).to.equal(`tokenizer failed at ${failAt}`);
      expect(w.calls, 'queued batches were dropped').to.be.at.most(failAt);
      // Running batches finished before execute settled.
      expect(w.active).to.equal(0);
    }
  });

  it('a worker returning the wrong number of values is an error', async () => {
    const shared = { active: 0, maxActive: 0 };
    const w = new FakeWorker('a', 0, 1, shared);
    const c = coordinator([w]);
    await noUnhandled(async () => {
      let err: Error | undefined;
      try {
        await within(c.execute(EMBED, produce(makeBatches([1, 2, 3], 3)), 3, DIM + 1), 5_000, 'execute');
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message).to.match(/returned 9 values for 3 sequences × 4/);
    });
  });

  it('replicas are balanced by queued tokens: with two slow workers both get work, evenly', async () => {
    const lengths = Array.from({ length: 40 }, () => 8);
    const shared = { active: 0, maxActive: 0 };
    const ws = [new FakeWorker('a', 0, 2, shared, () => 20), new FakeWorker('b', 1, 2, shared, () => 20)];
    const out = await within(coordinator(ws).execute(EMBED, produce(makeBatches(lengths, 2)), lengths.length, DIM), 10_000, 'execute');
    checkRows(out, lengths);
    expect(ws[0].calls).to.be.greaterThan(0);
    expect(ws[1].calls).to.be.greaterThan(0);
    expect(Math.abs(ws[0].calls - ws[1].calls), `calls ${ws[0].calls} vs ${ws[1].calls}`).to.be.at.most(2);
    expect(ws[0].maxActive).to.be.at.most(2);
    expect(ws[1].maxActive).to.be.at.most(2);
  });

  it('a heavy batch on one replica steers the following light ones to the other', async () => {
    const shared = { active: 0, maxActive: 0 };
    const heavy = makeBatches([500], 1)[0];
    const lights = makeBatches(Array.from({ length: 6 }, () => 5), 1).map((b, i) => {
      // Inputs 1..6 after the heavy input 0.
      const ids = b.batch.ids.map((v) => v + 1000);
      return { ...b, indices: Int32Array.from([i + 1]), batch: { ...b.batch, ids } };
    });
    const a = new FakeWorker('a', 0, 4, shared, (b) => (b.ids.length > 100 ? 60 : 5));
    const bw = new FakeWorker('b', 1, 4, shared, (b) => (b.ids.length > 100 ? 60 : 5));
    const out = await within(coordinator([a, bw]).execute(EMBED, produce([heavy, ...lights]), 7, DIM), 10_000, 'execute');
    checkRows(out, [500, 5, 5, 5, 5, 5, 5]);
    const heavyOn = out[2];
    const lightOn = [1, 2, 3, 4, 5, 6].map((i) => out[i * DIM + 2]);
    // While the heavy batch's 500 tokens are queued, 6 light batches (30 tokens) all fit on the other replica.
    expect(lightOn.filter((w) => w !== heavyOn).length, `light batches on the idle replica: ${lightOn}`).to.be.at.least(3);
  });

  it('an empty input runs nothing; close() closes every worker; no workers is an error', async () => {
    const shared = { active: 0, maxActive: 0 };
    const ws = [new FakeWorker('a', 0, 1, shared), new FakeWorker('b', 1, 1, shared)];
    const c = coordinator(ws);
    const out = await c.execute(EMBED, produce([]), 0, DIM);
    expect(out.length).to.equal(0);
    expect(ws[0].calls + ws[1].calls).to.equal(0);
    await c.close();
    expect(ws.map((w) => w.closed)).to.deep.equal([1, 1]);
    expect(() => coordinator([])).to.throw(/at least one worker/);
  });
});

describe('foundation: coordinator, where rows are assembled', function () {
  this.timeout(20_000);

  it('outputs of at least offThreadMinValues values go to the assembly thread, smaller ones stay on the calling thread', async () => {
    const assembler = new RowAssembler();
    const sizes: number[] = [];
    const sink = assembler.sink.bind(assembler);
    assembler.sink = (n, dim) => {
      sizes.push(n * dim);
      return sink(n, dim);
    };
    try {
      const shared = { active: 0, maxActive: 0 };
      const c = new Coordinator([new FakeWorker('a', 0, 2, shared)], { assembler, offThreadMinValues: 30 });
      const small = Array.from({ length: 9 }, () => 2); // 27 values
      const big = Array.from({ length: 10 }, () => 2); // 30 values
      checkRows(await within(c.execute(EMBED, produce(makeBatches(small, 4)), small.length, DIM), 10_000, 'small'), small);
      expect(sizes, 'small output: calling thread').to.deep.equal([]);
      const out = await within(c.execute(EMBED, produce(makeBatches(big, 4)), big.length, DIM), 10_000, 'big');
      checkRows(out, big);
      expect(sizes, 'big output: assembly thread').to.deep.equal([30]);
      expect(out.buffer).to.be.instanceOf(ArrayBuffer);
    } finally {
      await assembler.close();
    }
  });
});
