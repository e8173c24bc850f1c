// Piscina worker that owns one compute engine: a CUDA model shard on one GPU (one tensor-parallel
// rank), or the onnxruntime CPU engine. Weights load once, when the thread starts; each task is
// one batch. Errors from the engine come back as values so the coordinator can tell them apart
// from a dead thread (a Piscina rejection), which it treats as a crash to retry.
import { Piscina, workerData } from 'piscina';
import type { EngineBackend, TokenBatch } from '../src/backends/engine.js';
import type { WorkOp } from '../src/core/coordinator.js';
import { loadModelFolder, type ModelFolder } from '../src/model/folder.js';
import { applyAfterPooling } from '../src/pooling.js';
import type { CudaEngineOptions } from '../src/backends/cuda/engine.js';
import type { KvCacheStats } from '../src/kv/block-pool.js';
import { trace } from '../src/core/trace.js';

/** What a worker thread is started with: its engine, its GPU and shard, its limits. */
export interface EngineWorkerData extends CudaEngineOptions {
  backend: 'cpu' | 'cuda';
  modelDir: string;
  /** config.json overrides the folder was loaded with (EngineOptions.hfOverrides). */
  hfOverrides?: Record<string, unknown>;
  cpuThreads?: number;
  /** CPU only: an ONNX graph to run instead of exporting model.safetensors. */
  onnxFile?: string;
  /** Test hook: the shared counter of tasks after which a thread exits (once), as a crash would. */
  fault?: { counter: Int32Array; crashAt: number };
}

export interface EngineTask {
  op: WorkOp;
  batch: TokenBatch;
  slot: number;
}

export interface EngineError {
  __engineError: { name: string; message: string; retryable: boolean };
}

const data = workerData as EngineWorkerData;

async function createEngine(folder: ModelFolder): Promise<EngineBackend> {
  if (data.backend === 'cpu') {
    const { CpuEngine } = await import('../src/backends/cpu/engine.js');
    return CpuEngine.create(folder, { intraOpThreads: data.cpuThreads, onnxFile: data.onnxFile });
  }
  if (folder.dims.decoder) {
    const { CudaDecoderEngine } = await import('../src/backends/cuda/decoder-engine.js');
    return CudaDecoderEngine.create(folder, data);
  }
  const { CudaEngine } = await import('../src/backends/cuda/engine.js');
  return CudaEngine.create(folder, data);
}

function asEngineError(e: unknown, retryable: boolean): EngineError {
  const err = e as Error;
  return { __engineError: { name: err?.name ?? 'Error', message: err?.message ?? String(e), retryable } };
}

export default (async () => {
  // A load failure is answered to every task rather than thrown: a throwing thread would be
  // respawned by Piscina and fail again, forever.
  let engine: EngineBackend | undefined;
  let folder: ModelFolder | undefined;
  let loadError: unknown;
  try {
    folder = loadModelFolder(data.modelDir, { hfOverrides: data.hfOverrides });
    engine = await createEngine(folder);
  } catch (e) {
    loadError = e;
  }
  return async function run(task: EngineTask): Promise<Float32Array | EngineError | KvCacheStats | null> {
    if (!engine) return asEngineError(loadError, false);
    // Control operations (not batches): readiness, and the KV cache's counters of a decoder engine.
    if ((task.op.kind as string) === 'ping') return null;
    if ((task.op.kind as string) === 'kvCacheStats') {
      const e = engine as EngineBackend & { kvCacheStats?: () => KvCacheStats };
      return e.kvCacheStats?.() ?? null;
    }
    if (data.fault) {
      const n = Atomics.add(data.fault.counter, 0, 1) + 1;
      if (n === data.fault.crashAt) process.exit(70);
    }
    const tokens = task.batch.ids.length;
    trace('forward-begin', { slot: task.slot, tokens, seqs: task.batch.cuSeqlens.length - 1 });
    try {
      let out: Float32Array;
      if (task.op.kind === 'embed') {
        out = await engine.embed(task.batch, { slot: task.slot });
        // Dense (and a Normalize after it): sentence-transformers modules after Pooling.
        const after = folder!.st.afterPooling;
        if (after.length) out = applyAfterPooling(out, task.batch.cuSeqlens.length - 1, folder!.dims.hidden, after).values;
      } else {
        out = await engine.score(task.batch, task.op.activation, { slot: task.slot });
      }
      return Piscina.move(out) as Float32Array;
    } catch (e) {
      const err = e as Error & { retryable?: boolean; fatal?: boolean };
      if (err.fatal) {
        // A lost CUDA context: report, then let this thread die so a fresh one reloads the model.
        setImmediate(() => process.exit(71));
      }
      return asEngineError(err, Boolean(err.retryable || err.fatal));
    } finally {
      trace('forward-end', { slot: task.slot, tokens });
    }
  };
})();
