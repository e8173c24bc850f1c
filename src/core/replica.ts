// A model replica: one Piscina pool of a single worker thread per tensor-parallel rank, each
// thread bound to one GPU (or the CPU engine). Every rank receives every batch; rank 0's output
// is the answer. Batches go to explicit slots in dispatch order, so all ranks enter their NCCL
// collectives in the same order.
import { Piscina } from 'piscina';
import type { TokenBatch } from '../backends/engine.js';
import type { EngineError, EngineTask, EngineWorkerData } from '../../workers/engine.worker.js';
import { WorkerCrashedError, type ComputeWorker, type WorkOp } from './coordinator.js';
import type { KvCacheStats } from '../kv/block-pool.js';

export type ReplicaSpec = Omit<EngineWorkerData, 'rank' | 'device' | 'ncclIds' | 'worldSize' | 'kvBlockAgreement'> & {
  devices: number[];
  /** Makes fresh NCCL unique ids (one per slot) for a tensor-parallel group. */
  makeNcclIds?: () => Uint8Array[];
  /**
   * Batches sent to the worker before the first returns (default `slots`). A decoder's engine runs
   * one native slot but takes two: the second batch's host work overlaps the first's GPU steps.
   */
  concurrency?: number;
};

const WORKER_URL = new URL('../../workers/engine.worker.js', import.meta.url).href;

export class Replica implements ComputeWorker {
  private pools: Piscina[] = [];
  private nextSlot = 0;
  readonly inFlight: number;

  constructor(readonly label: string, private readonly spec: ReplicaSpec) {
    this.inFlight = spec.concurrency ?? spec.slots;
    this.start();
  }

  /** The GPU ordinals (one per tensor-parallel rank) or [0] for the CPU engine. */
  get devices(): readonly number[] {
    return this.spec.devices;
  }

  private start(): void {
    const ncclIds = this.spec.devices.length > 1 ? this.spec.makeNcclIds?.() : undefined;
    if (this.spec.devices.length > 1 && !ncclIds) throw new Error('tensor parallelism needs NCCL unique ids');
    const { devices, makeNcclIds: _m, concurrency: _c, ...common } = this.spec;
    // Decoder ranks agree on one KV pool size through this (decoder-engine.ts agreeOnBlocks).
    const kvBlockAgreement = devices.length > 1 ? new Int32Array(new SharedArrayBuffer(4 * (devices.length + 1))) : undefined;
    this.pools = devices.map((device, rank) => {
      const data: EngineWorkerData = { ...common, device, rank, worldSize: devices.length, ncclIds, kvBlockAgreement };
      return new Piscina({
        filename: WORKER_URL,
        minThreads: 1,
        maxThreads: 1,
        concurrentTasksPerWorker: this.inFlight,
        idleTimeout: Number.MAX_SAFE_INTEGER,
        // Keep the thread's event loop running between tasks: native completions arrive on it.
        atomics: 'disabled',
        // Batches start in the order the coordinator sends them (Piscina's default requeues at the back).
        stricterFIFO: true,
        workerData: data,
        env: { ...process.env, NCCL_NVLS_ENABLE: '0', TORCH_SYMM_MEM_DISABLE_MULTICAST: '1', NVSHMEM_DISABLE_NVLS: '1' },
      });
    });
  }

  /** Resolves once every rank has loaded its weights (or rejects with the load error). */
  async ready(): Promise<void> {
    const answers = await Promise.all(this.pools.map((p) => p.run({ op: { kind: 'ping' }, slot: 0 } as unknown as EngineTask)));
    for (const a of answers) if ((a as EngineError)?.__engineError) throw new Error((a as EngineError).__engineError.message);
  }

  /** Rank 0's KV-cache counters (a decoder on CUDA), after the batches already queued; else undefined. */
  async kvCacheStats(): Promise<KvCacheStats | undefined> {
    const a = await this.pools[0].run({ op: { kind: 'kvCacheStats' }, slot: 0 } as unknown as EngineTask);
    if ((a as EngineError)?.__engineError) throw new Error((a as EngineError).__engineError.message);
    return (a as KvCacheStats | null) ?? undefined;
  }

  async run(op: WorkOp, batch: TokenBatch): Promise<Float32Array> {
    const slot = this.nextSlot++ % this.spec.slots;
    const pools = this.pools;
    const results = await Promise.all(
      pools.map((pool, rank) => {
        // Each rank takes a copy by transfer: the caller's batch must stay intact for a retry.
        const b = cloneBatch(batch);
        const task: EngineTask = { op, batch: b, slot };
        const transfer = [b.ids, b.typeIds, b.positions, b.cuSeqlens, b.poolSkip].flatMap((a) => (a ? [a.buffer] : []));
        return pool.run(task, { transferList: transfer as never }).catch((e: Error) => {
          throw new WorkerCrashedError(`${this.label} rank ${rank} (device ${this.spec.devices[rank]}): ${e.message}`, this.label);
        });
      }),
    );
    for (const r of results) {
      const err = (r as EngineError).__engineError;
      if (err) {
        const e = err.retryable ? new WorkerCrashedError(`${this.label}: ${err.message}`, this.label) : new Error(err.message);
        if (!err.retryable) e.name = err.name;
        throw e;
      }
    }
    return results[0] as Float32Array;
  }

  async restart(): Promise<void> {
    const old = this.pools;
    await Promise.allSettled(old.map((p) => p.destroy()));
    this.nextSlot = 0;
    this.start();
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.pools.map((p) => p.destroy()));
  }
}

function cloneBatch(b: TokenBatch): TokenBatch {
  return { ids: b.ids.slice(), typeIds: b.typeIds?.slice(), positions: b.positions?.slice(), cuSeqlens: b.cuSeqlens.slice(), poolSkip: b.poolSkip?.slice() };
}
