// What Encoder and CrossEncoder share: loading the runtime in the background from the
// constructor (as mteb's wrappers build their engine in __init__), readiness, the properties that
// need a loaded model, the metadata mteb records, and shutdown.
import { qwen3ParameterCount } from '../models/qwen3.js';
import { basename } from 'node:path';
import { assertMainThread } from '../main.js';
import type { ModelKind } from '../model/folder.js';
import { isRepoId } from '../model/hub.js';
import { modelRevision, snapshotIdOf } from '../model/revision.js';
import type { EngineOptions, ResolvedLimits } from './options.js';
import { Runtime } from './runtime.js';
import { DEFAULT_BLOCK_SIZE, DEFAULT_GPU_MEMORY_UTILIZATION, type KvCacheStats } from '../kv/block-pool.js';

export interface ModelMeta {
  name: string;
  revision: string | null;
  n_parameters: number;
  embed_dim: number | null;
  max_tokens: number;
  similarity_fn_name: 'cosine' | 'dot' | 'euclidean' | 'manhattan' | null;
  framework: string[];
  languages: string[] | null;
  loader: string;
  dtype: string;
  device: string;
  /** The engine settings in effect, under vLLM's engine-argument names (mteb's ModelMeta.loader_kwargs). */
  loader_kwargs: Record<string, unknown>;
}

export interface HandleOptions extends EngineOptions {
  /** Name recorded in results (default: the hub id, or the folder name). */
  modelName?: string;
}

export abstract class ModelHandle {
  protected runtime?: Runtime;
  protected readonly loading: Promise<Runtime>;
  private resolvedRevision?: string;
  private closed = false;

  protected constructor(private readonly handleOptions: HandleOptions, kind: ModelKind, private readonly what: 'Encoder' | 'CrossEncoder') {
    assertMainThread(what);
    this.loading = Runtime.create(handleOptions, kind).then(async (r) => {
      try {
        this.resolvedRevision = await modelRevision(r.folder.dir, handleOptions.revision);
      } catch (e) {
        await r.close();
        throw e;
      }
      return (this.runtime = r);
    });
    this.loading.catch(() => undefined); // reported by ready() and every call, never as an unhandled rejection
  }

  /** Resolves once the model is loaded on every worker. */
  async ready(): Promise<void> {
    await this.loading;
  }

  protected get rt(): Runtime {
    if (this.closed) throw new Error(`this ${this.what} is closed: create a new one to run more work`);
    if (!this.runtime) throw new Error(`${this.what} is not loaded yet: await ready() (or use ${this.what}.create) first`);
    return this.runtime;
  }

  get device(): 'cpu' | 'cuda' {
    return this.rt.device;
  }

  get dtype(): string {
    return this.rt.dtype;
  }

  /** Longest input in tokens; longer ones are truncated (or refused with truncate: false). */
  get maxLength(): number {
    return this.rt.maxLength;
  }

  /**
   * The revision results are filed under (mteb's {org__name}/{revision}/): the snapshot commit of
   * a hub model (never a branch name: `main` moves), the `revision` option as given for a local
   * folder, else the folder's content hash ("local-" + 16 hex digits, src/model/revision.ts).
   */
  get revision(): string {
    void this.rt; // throws the "not loaded yet" error
    return this.resolvedRevision!;
  }

  /** Batch limits as resolved against the model and device (maxLength, maxNumBatchedTokens, maxNumSeqs). */
  get limits(): ResolvedLimits {
    return this.rt.limits;
  }

  /**
   * Tokenizer worker threads running: the `tokenizerThreads` option, else one per core on the CPU and
   * cores − 2 − GPUs with CUDA (src/tokenize/threads.ts defaultTokenizerThreads).
   */
  get tokenizerThreads(): number {
    return this.rt.tokenizerThreads;
  }

  /** The model folder's tokenizer.json. */
  get tokenizerFile(): string {
    return this.rt.folder.tokenizer.file;
  }

  /** Token ids the model accepts: [0, vocabSize) (config.json vocab_size). */
  get vocabSize(): number {
    return this.rt.folder.dims.vocab;
  }

  /** Batches the engine runs at once (worker slots over every replica). */
  get engineSlots(): number {
    return this.rt.slots;
  }

  /**
   * The paged KV cache's counters of a decoder (Qwen3) on CUDA since the model loaded — blocks,
   * prefix-cache lookups (`queries`), `hits`, `evictions`, `hitRate`, prompt tokens computed and
   * skipped as cached — summed over replicas; undefined on the CPU engine or for an encoder,
   * which have no KV cache. Waits for the batches already running.
   */
  async kvCacheStats(): Promise<KvCacheStats | undefined> {
    await this.loading;
    return this.rt.kvCacheStats();
  }

  /** Metadata for results: parameters counted from the config, the name as the user gave it. */
  protected baseMeta(embedDim: number | null, similarity: ModelMeta['similarity_fn_name'], headParams: number): ModelMeta {
    const rt = this.rt;
    const d = rt.folder.dims;
    const given = this.handleOptions.model;
    const snapshot = snapshotIdOf(rt.folder.dir);
    return {
      name: this.handleOptions.modelName ?? (snapshot?.repoId ?? (isRepoId(given) ? given : basename(rt.folder.dir))),
      revision: this.revision,
      n_parameters: d.decoder ? qwen3ParameterCount(d) + headParams : (d.vocab + d.maxPositions + d.typeVocab) * d.hidden + d.layers * (4 * d.hidden * d.hidden + 2 * d.hidden * d.intermediate) + headParams,
      embed_dim: embedDim,
      max_tokens: rt.maxLength,
      similarity_fn_name: similarity,
      framework: ['embedrank'],
      languages: null,
      loader: `embedrank.${this.what}`,
      dtype: rt.dtype,
      device: rt.device,
      loader_kwargs: {
        dtype: rt.dtype,
        max_model_len: rt.limits.maxLength,
        max_num_batched_tokens: rt.limits.maxNumBatchedTokens,
        max_num_seqs: rt.limits.maxNumSeqs,
        tensor_parallel_size: this.handleOptions.tensorParallelSize ?? 1,
        data_parallel_size: rt.replicas.length,
        truncate: this.handleOptions.truncate ?? true,
        ...(d.decoder && rt.device === 'cuda'
          ? {
              enable_prefix_caching: this.handleOptions.enablePrefixCaching ?? true,
              block_size: this.handleOptions.blockSize ?? DEFAULT_BLOCK_SIZE,
              gpu_memory_utilization: this.handleOptions.gpuMemoryUtilization ?? DEFAULT_GPU_MEMORY_UTILIZATION,
            }
          : {}),
        ...(rt.quantization ? { quantization: rt.quantization } : {}),
      },
    };
  }

  /** Stops the workers; later calls throw (a second close does nothing). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.loading;
    } catch {
      return;
    }
    await this.runtime?.close();
  }
}
