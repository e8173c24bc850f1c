// A checkpoint seen through a family's weight plan: engine keys (emb.word, L3.q.w, head.cls.w…,
// see family.ts) resolve to the checkpoint's own tensor names, every shape is checked against
// config.json at load, and tensors are read as stored bytes or fp32. Generic over families.
import { ModelFolderError } from '../errors.js';
import type { TensorInfo, WeightStore } from '../model/safetensors.js';
import { LAYER_TENSORS, layerKey, type CheckpointName, type EmbeddingTensor, type EncoderDims, type HeadTensor, type LayerTensor, type ModelFamily } from './family.js';

export class ModelWeights {
  private readonly prefix: string;
  private readonly file: string;

  constructor(readonly store: WeightStore, readonly family: ModelFamily, readonly dims: EncoderDims, file: string) {
    this.file = file;
    const word = family.embeddingName('emb.word')!;
    const found = family.prefixes.find((p) => store.has(p + word.name));
    if (found === undefined) {
      throw new ModelFolderError(file, `no "${word.name}" tensor (with or without a ${family.prefixes.filter(Boolean).map((p) => `"${p}"`).join(' / ')} prefix): not a ${family.name} checkpoint`);
    }
    this.prefix = found;
    // Every tensor's presence and shape up front: a broken checkpoint fails at load, not mid-run.
    for (const [key, shape] of this.expectedShapes()) this.expectShape(key, shape);
  }

  /** Engine key → shape implied by config.json, for the base model (heads are checked by the folder loader). */
  expectedShapes(): Array<[string, number[]]> {
    const d = this.dims;
    if (this.family.expectedShapes) return this.family.expectedShapes(d);
    const H = d.hidden;
    const Hl = d.heads * d.headDim;
    const out: Array<[string, number[]]> = [
      ['emb.word', [d.vocab, H]],
      ['emb.pos', [d.maxPositions, H]],
      ['emb.ln.g', [H]],
      ['emb.ln.b', [H]],
    ];
    if (d.typeVocab > 0) out.push(['emb.type', [d.typeVocab, H]]);
    const layer: Record<LayerTensor, number[]> = {
      'q.w': [Hl, H], 'k.w': [Hl, H], 'v.w': [Hl, H], 'q.b': [Hl], 'k.b': [Hl], 'v.b': [Hl],
      'o.w': [H, Hl], 'o.b': [H], 'ln1.g': [H], 'ln1.b': [H],
      'up.w': [d.intermediate, H], 'up.b': [d.intermediate], 'down.w': [H, d.intermediate], 'down.b': [H],
      'ln2.g': [H], 'ln2.b': [H],
    };
    for (let i = 0; i < d.layers; i++) for (const t of LAYER_TENSORS) out.push([layerKey(i, t), layer[t]]);
    return out;
  }

  /** The family's checkpoint name for an engine key (without resolving the prefix). */
  checkpointName(key: string): CheckpointName | undefined {
    const f = this.family;
    if (f.tensorName) return f.tensorName(key);
    if (key.startsWith('emb.')) return f.embeddingName(key as EmbeddingTensor);
    if (key.startsWith('head.')) return f.headName(key as HeadTensor);
    const m = /^L(\d+)\.(.+)$/.exec(key);
    if (m && (LAYER_TENSORS as readonly string[]).includes(m[2])) return f.layerName(Number(m[1]), m[2] as LayerTensor);
    throw new Error(`unknown engine tensor key "${key}"`);
  }

  /** The name as stored in the checkpoint, or undefined when absent. */
  resolve(key: string): string | undefined {
    const c = this.checkpointName(key);
    if (!c) return undefined;
    const base = c.prefixed ? this.prefix + c.name : c.name;
    if (this.store.has(base)) return base;
    if (c.tiedTo !== undefined) return this.resolve(c.tiedTo);
    // TF-era BERT conversions spell LayerNorm weight/bias gamma/beta.
    const legacy = base.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta');
    if (legacy !== base && this.store.has(legacy)) return legacy;
    return undefined;
  }

  has(key: string): boolean {
    return this.resolve(key) !== undefined;
  }

  name(key: string): string {
    const n = this.resolve(key);
    if (!n) throw new ModelFolderError(this.file, `missing tensor "${this.describe(key)}"`);
    return n;
  }

  info(key: string): TensorInfo {
    return this.store.info(this.name(key));
  }

  f32(key: string): Float32Array {
    return this.store.f32(this.name(key));
  }

  raw(key: string): Buffer {
    return this.store.raw(this.name(key));
  }

  dtype(key: string): string {
    return this.info(key).dtype;
  }

  shape(key: string): number[] {
    return this.info(key).shape;
  }

  /** The checkpoint name a key would have, for error messages. */
  describe(key: string): string {
    const c = this.checkpointName(key);
    return c ? (c.prefixed ? this.prefix + c.name : c.name) : key;
  }

  expectShape(key: string, shape: number[]): void {
    const n = this.resolve(key);
    if (!n) throw new ModelFolderError(this.file, `missing tensor "${this.describe(key)}"`);
    const got = this.store.info(n).shape;
    if (got.length !== shape.length || got.some((v, i) => v !== shape[i])) {
      throw new ModelFolderError(this.file, `tensor "${n}" has shape [${got}] but config.json implies [${shape}]`);
    }
  }
}
