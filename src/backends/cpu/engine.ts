// The CPU backend: onnxruntime-node running the encoder graph of any family in src/models/ in
// fp32. Exports the folder's model.safetensors weights (the same weights the GPU path reads) to
// ONNX in memory (or through a temporary file with external data for models over protobuf's 2 GiB
// limit); an ONNX file of the folder's own runs only when asked for by path (onnxFile).
//
// onnxruntime-node is imported dynamically here and only here: the tokenizer and the GPU paths
// never load it. Only the CPU execution provider is requested.
//
// Note: onnxruntime-node's `run` executes synchronously on the calling thread (the promise only
// defers it with setImmediate), so a run blocks the event loop for its duration; intra-op
// parallelism happens inside onnxruntime's own thread pool. Put the engine in a worker thread to
// overlap it with other JavaScript work.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { InputError, UnsupportedOptionError } from '../../errors.js';
import type { HeadActivation, ModelFolder } from '../../model/folder.js';
import { halfToFloat } from '../../model/safetensors.js';
import { applyActivation, l2NormalizeRows, poolSequence } from '../../pooling.js';
import { batchSize, batchTypeIds, validateBatch, type EngineBackend, type RunOptions, type TokenBatch } from '../engine.js';
import { positionIds } from '../../models/family.js';
import { EXTERNAL_DATA_THRESHOLD, buildEncoderGraph, exportEncoderOnnx, writeEncoderOnnx } from './export-onnx.js';

type Ort = typeof import('onnxruntime-node');

export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

export interface CpuEngineOptions {
  /** Threads of onnxruntime's intra-op pool (default: onnxruntime's choice, the physical cores). */
  intraOpThreads?: number;
  /** Default 'all'. */
  graphOptimizationLevel?: GraphOptimizationLevel;
  /**
   * An ONNX graph to run instead of exporting the folder's safetensors weights (the weights the GPU
   * path uses). Never picked implicitly: a folder's onnx/model.onnx may be stale or another export.
   */
  onnxFile?: string;
  /**
   * When exporting: true stores the weights as ONNX external data in a temporary file, false
   * inline in memory, 'auto' (default) external only when over protobuf's 2 GiB limit.
   */
  externalData?: boolean | 'auto';
}

/** Where the engine's graph came from. */
export type OnnxSource = 'folder' | 'export-memory' | 'export-external';

let ortPromise: Promise<Ort> | undefined;
function loadOrt(): Promise<Ort> {
  ortPromise ??= import('onnxruntime-node').then((m) => ((m as { default?: Ort }).default ?? m) as Ort);
  return ortPromise;
}

export class CpuEngine implements EngineBackend {
  readonly name = 'cpu-onnxruntime';
  private closed = false;
  private readonly int32Inputs: boolean;
  private readonly padId: number;

  private constructor(
    private readonly ort: Ort,
    private readonly session: InferenceSession,
    readonly folder: ModelFolder,
    readonly source: OnnxSource,
    /** Output holding per-token hidden states, when the graph has one. */
    private readonly hiddenOutput: string | undefined,
    /** Output holding classifier logits, when the graph has one. */
    private readonly logitsOutput: string | undefined,
    private tempDir: string | undefined,
  ) {
    const meta = session.inputMetadata as ReadonlyArray<{ name: string; isTensor: boolean; type?: string }>;
    this.int32Inputs = meta.some((m) => m.name === 'input_ids' && m.isTensor && m.type === 'int32');
    const pad = folder.config.pad_token_id;
    this.padId = typeof pad === 'number' && pad >= 0 && pad < folder.dims.vocab ? pad : 0;
  }

  static async create(folder: ModelFolder, opts: CpuEngineOptions = {}): Promise<CpuEngine> {
    const ort = await loadOrt();
    const so: InferenceSession.SessionOptions = {
      executionProviders: ['cpu'],
      graphOptimizationLevel: opts.graphOptimizationLevel ?? 'all',
      executionMode: 'sequential',
      logSeverityLevel: 3,
    };
    if (opts.intraOpThreads !== undefined) {
      if (!Number.isInteger(opts.intraOpThreads) || opts.intraOpThreads < 0) {
        throw new InputError(`intraOpThreads must be a non-negative integer (0 = onnxruntime's default), got ${opts.intraOpThreads}`);
      }
      so.intraOpNumThreads = opts.intraOpThreads;
    }

    let session: InferenceSession;
    let source: OnnxSource;
    let tempDir: string | undefined;
    if (opts.onnxFile) {
      if (!existsSync(opts.onnxFile)) throw new InputError(`onnxFile ${opts.onnxFile} does not exist`);
      session = await ort.InferenceSession.create(opts.onnxFile, so);
      source = 'folder';
    } else {
      const mode = opts.externalData ?? 'auto';
      const external = mode === 'auto' ? buildEncoderGraph(folder).weightBytes > EXTERNAL_DATA_THRESHOLD : mode;
      if (external) {
        // onnxruntime-node cannot be handed external data from memory: write model.onnx and
        // model.onnx_data to a private temporary folder and load from the path.
        tempDir = mkdtempSync(join(tmpdir(), 'embedrank-onnx-'));
        try {
          const { modelFile } = writeEncoderOnnx(folder, join(tempDir, 'model.onnx'), { externalData: true });
          session = await ort.InferenceSession.create(modelFile, so);
        } catch (e) {
          rmSync(tempDir, { recursive: true, force: true });
          throw e;
        }
        // onnxruntime has read (or mapped) the data; on POSIX the files can go now.
        if (process.platform !== 'win32') {
          rmSync(tempDir, { recursive: true, force: true });
          tempDir = undefined;
        }
        source = 'export-external';
      } else {
        session = await ort.InferenceSession.create(exportEncoderOnnx(folder), so);
        source = 'export-memory';
      }
    }

    const outs = session.outputNames;
    const hidden = ['last_hidden_state', 'token_embeddings'].find((n) => outs.includes(n));
    const logits = outs.includes('logits') ? 'logits' : undefined;
    for (const name of session.inputNames) {
      if (!['input_ids', 'attention_mask', 'token_type_ids', 'position_ids'].includes(name)) {
        await session.release();
        throw new UnsupportedOptionError(`${opts.onnxFile ?? folder.dir}: ONNX graph has an unexpected input "${name}"`);
      }
    }
    if (!session.inputNames.includes('input_ids')) {
      await session.release();
      throw new UnsupportedOptionError(`${opts.onnxFile ?? folder.dir}: ONNX graph has no "input_ids" input`);
    }
    return new CpuEngine(ort, session, folder, source, hidden, logits, tempDir);
  }

  /** Pooled embeddings, n × hidden, L2-normalised when the model's sentence-transformers config says so. */
  async embed(batch: TokenBatch, _opts?: RunOptions): Promise<Float32Array> {
    this.checkOpen();
    if (this.folder.kind !== 'encoder') {
      throw new UnsupportedOptionError(`${this.folder.dir} is a cross-encoder (${this.folder.architecture}): use score(), not embed()`);
    }
    const n = this.checkBatch(batch);
    const { hidden, maxLen, dim } = await this.runHidden(batch);
    const out = new Float32Array(n * dim);
    const mode = this.folder.st.pooling;
    for (let i = 0; i < n; i++) {
      const len = batch.cuSeqlens[i + 1] - batch.cuSeqlens[i];
      poolSequence(hidden, i * maxLen, len, dim, mode, out, i * dim, batch.poolSkip?.[i] ?? 0);
    }
    if (this.folder.st.normalize) l2NormalizeRows(out, dim);
    return out;
  }

  /** Cross-encoder scores, n × numLabels, with `activation` applied ('identity' = raw logits). */
  async score(batch: TokenBatch, activation: HeadActivation, _opts?: RunOptions): Promise<Float32Array> {
    this.checkOpen();
    if (this.folder.kind !== 'cross-encoder') {
      throw new UnsupportedOptionError(`${this.folder.dir} is an embedding model (${this.folder.architecture}), not a cross-encoder: use embed(), not score()`);
    }
    if (!this.logitsOutput) {
      throw new UnsupportedOptionError(`${this.folder.dir}: the ONNX graph has no "logits" output`);
    }
    if (activation !== 'sigmoid' && activation !== 'identity') {
      throw new InputError(`unknown activation "${String(activation)}" (expected sigmoid or identity)`);
    }
    const n = this.checkBatch(batch);
    const { outputs } = await this.run(batch, [this.logitsOutput]);
    const t = outputs[this.logitsOutput];
    const logits = toF32(t);
    if (logits.length % n !== 0) throw new Error(`logits output has ${logits.length} values for ${n} sequences`);
    return applyActivation(logits.slice(), activation);
  }

  /**
   * Per-token hidden states, unpadded: one row of `hidden` floats per token of the batch, in the
   * batch's order (total tokens × hidden). For tests and cross-backend comparisons.
   */
  async lastHiddenState(batch: TokenBatch): Promise<Float32Array> {
    this.checkOpen();
    const n = this.checkBatch(batch);
    const { hidden, maxLen, dim } = await this.runHidden(batch);
    const out = new Float32Array(batch.ids.length * dim);
    for (let i = 0; i < n; i++) {
      const s = batch.cuSeqlens[i];
      const len = batch.cuSeqlens[i + 1] - s;
      out.set(hidden.subarray(i * maxLen * dim, (i * maxLen + len) * dim), s * dim);
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.session.release();
    if (this.tempDir) {
      rmSync(this.tempDir, { recursive: true, force: true });
      this.tempDir = undefined;
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('CpuEngine is closed');
  }

  /** Validates the batch against the contract and the model's limits; returns its size. */
  private checkBatch(b: TokenBatch): number {
    if (!b || !(b.ids instanceof Int32Array) || !(b.cuSeqlens instanceof Int32Array) || (b.typeIds !== undefined && !(b.typeIds instanceof Int32Array))) {
      throw new InputError('a TokenBatch needs Int32Array ids and cuSeqlens (and typeIds, when given)');
    }
    const n = batchSize(b);
    if (n < 1) throw new InputError('empty batch: cuSeqlens must have at least 2 entries');
    try {
      validateBatch(b);
    } catch (e) {
      throw new InputError((e as Error).message);
    }
    const d = this.folder.dims;
    const maxLen = d.maxPositions - d.positionOffset;
    for (let i = 0; i < n; i++) {
      const len = b.cuSeqlens[i + 1] - b.cuSeqlens[i];
      // Rotary decoders have no position table: max_position_embeddings is not a hard limit there.
      if (len > maxLen && !d.decoder) throw new InputError(`sequence ${i} has ${len} tokens, more than the model's ${maxLen} positions`);
    }
    for (let t = 0; t < b.ids.length; t++) {
      const id = b.ids[t];
      if (id < 0 || id >= d.vocab) throw new InputError(`token ${t}: id ${id} is outside the vocabulary [0, ${d.vocab})`);
    }
    try {
      batchTypeIds(b, d);
    } catch (e) {
      throw new InputError((e as Error).message);
    }
    if (b.positions !== undefined) {
      // The graph computes positions by the family's rule (as optimum's exports do); a batch
      // that asks for others cannot be run faithfully.
      const want = positionIds(d, b.ids, b.cuSeqlens);
      const t = want.findIndex((p, i) => p !== b.positions![i]);
      if (t >= 0) throw new UnsupportedOptionError(`token ${t}: position ${b.positions[t]} differs from the ${d.family} rule (${want[t]}); the CPU engine's graph computes positions itself`);
    }
    if (b.poolSkip !== undefined) {
      if (!(b.poolSkip instanceof Int32Array) || b.poolSkip.length !== n) {
        throw new InputError(`poolSkip must be an Int32Array with one entry per sequence (${n}), got ${b.poolSkip?.length}`);
      }
      for (let i = 0; i < n; i++) if (b.poolSkip[i] < 0) throw new InputError(`poolSkip[${i}] is negative`);
    }
    return n;
  }

  private async runHidden(batch: TokenBatch): Promise<{ hidden: Float32Array; maxLen: number; dim: number }> {
    if (!this.hiddenOutput) {
      throw new UnsupportedOptionError(`${this.folder.dir}: the ONNX graph has no last_hidden_state output`);
    }
    const { outputs, maxLen } = await this.run(batch, [this.hiddenOutput]);
    const t = outputs[this.hiddenOutput];
    const n = batchSize(batch);
    if (t.dims.length !== 3 || t.dims[0] !== n || t.dims[1] !== maxLen) {
      throw new Error(`${this.hiddenOutput} has shape [${t.dims}], expected [${n}, ${maxLen}, hidden]`);
    }
    const dim = Number(t.dims[2]);
    if (dim !== this.folder.dims.hidden) throw new Error(`${this.hiddenOutput} has width ${dim} but config.json says hidden_size ${this.folder.dims.hidden}`);
    return { hidden: toF32(t), maxLen, dim };
  }

  /** Pads the unpadded batch to [n, maxLen] (right padding) and runs the session. */
  private async run(batch: TokenBatch, fetches: string[]): Promise<{ outputs: InferenceSession.OnnxValueMapType; maxLen: number }> {
    const n = batchSize(batch);
    let maxLen = 0;
    for (let i = 0; i < n; i++) maxLen = Math.max(maxLen, batch.cuSeqlens[i + 1] - batch.cuSeqlens[i]);
    const size = n * maxLen;
    const ids = new Int32Array(size).fill(this.padId);
    const types = new Int32Array(size);
    const mask = new Int32Array(size);
    for (let i = 0; i < n; i++) {
      const s = batch.cuSeqlens[i];
      const len = batch.cuSeqlens[i + 1] - s;
      ids.set(batch.ids.subarray(s, s + len), i * maxLen);
      if (batch.typeIds) types.set(batch.typeIds.subarray(s, s + len), i * maxLen);
      mask.fill(1, i * maxLen, i * maxLen + len);
    }
    const dims = [n, maxLen];
    const tensor = (a: Int32Array): Tensor =>
      this.int32Inputs ? new this.ort.Tensor('int32', a, dims) : new this.ort.Tensor('int64', BigInt64Array.from(a, BigInt), dims);
    const feeds: Record<string, Tensor> = {};
    const names = this.session.inputNames;
    if (names.includes('input_ids')) feeds.input_ids = tensor(ids);
    if (names.includes('attention_mask')) feeds.attention_mask = tensor(mask);
    if (names.includes('token_type_ids')) feeds.token_type_ids = tensor(types);
    if (names.includes('position_ids')) {
      // Graphs that take positions as an input (some optimum exports) get the family's rule over
      // each padded row, as transformers computes them for a padded batch.
      feeds.position_ids = tensor(positionIds(this.folder.dims, ids, Int32Array.from({ length: n + 1 }, (_, i) => i * maxLen)));
    }
    const outputs = await this.session.run(feeds, fetches);
    return { outputs, maxLen };
  }
}

/** A float32 copy-free view (or an fp32 conversion of an fp16 output). */
function toF32(t: InferenceSession.OnnxValueMapType[string]): Float32Array {
  const v = t as Tensor;
  if (v.type === 'float32') return v.data as Float32Array;
  if (v.type === 'float16') {
    const src = v.data as Uint16Array;
    const out = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = halfToFloat(src[i]);
    return out;
  }
  throw new Error(`unexpected ONNX output type ${v.type}`);
}
