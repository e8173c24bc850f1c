// Writes deterministic random-initialised BERT models in the exact Hugging Face +
// sentence-transformers folder format, so tests and benchmarks never download anything.
//
//   node dist/scripts/make-test-model.js --shape minilm-l6 --out models/minilm [--dtype F16]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runMain } from '../src/main.js';
import { writeSafetensors, type TensorToWrite } from '../src/model/safetensors.js';
import { layerNames } from '../src/models/bert.js';
import { bertBaseUncasedVocab, bertTokenizerConfig, bertTokenizerJson, SPECIAL_TOKENS_MAP } from './make-tokenizer.js';

export interface Shape {
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  maxPositions: number;
}

export const SHAPES: Record<string, Shape> = {
  tiny: { hidden: 64, layers: 2, heads: 2, intermediate: 128, maxPositions: 128 },
  'minilm-l6': { hidden: 384, layers: 6, heads: 12, intermediate: 1536, maxPositions: 512 },
  'e5-small': { hidden: 384, layers: 12, heads: 12, intermediate: 1536, maxPositions: 512 },
  'bert-base': { hidden: 768, layers: 12, heads: 12, intermediate: 3072, maxPositions: 512 },
  'xlmr-large': { hidden: 1024, layers: 24, heads: 16, intermediate: 4096, maxPositions: 512 },
};

export interface MakeModelOptions {
  shape: Shape | keyof typeof SHAPES;
  out: string;
  kind?: 'encoder' | 'cross-encoder';
  dtype?: 'F32' | 'F16' | 'BF16';
  seed?: number;
  pooling?: 'cls' | 'mean' | 'last';
  normalize?: boolean;
  maxSeqLength?: number;
  /** Split the weights into this many safetensors shards with an index file. */
  shards?: number;
  prompts?: Record<string, string>;
  /** Prefix tensor names with "bert." as BertForSequenceClassification / BertForMaskedLM do. */
  prefixed?: boolean;
  /** Standard deviation of weight matrices (HF's initializer_range is 0.02). */
  std?: number;
}

/** mulberry32 + Box–Muller: fast, seedable, the same stream on every platform. */
export class Rng {
  private s: number;
  private spare: number | null = null;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  uniform(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    const u = 1 - this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.uniform() * (hi - lo + 1));
  }
  fill(n: number, mean: number, std: number): Float32Array {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = mean + std * this.normal();
    return a;
  }
}

export function makeTestModel(opts: MakeModelOptions): string {
  const shape = typeof opts.shape === 'string' ? SHAPES[opts.shape] : opts.shape;
  if (!shape) throw new Error(`unknown shape ${String(opts.shape)} (known: ${Object.keys(SHAPES).join(', ')})`);
  const kind = opts.kind ?? 'encoder';
  const dtype = opts.dtype ?? 'F32';
  const std = opts.std ?? 0.05;
  const rng = new Rng(opts.seed ?? 1234);
  const vocab = bertBaseUncasedVocab();
  const { hidden: h, intermediate: f } = shape;
  const maxSeqLength = Math.min(opts.maxSeqLength ?? shape.maxPositions, shape.maxPositions);
  mkdirSync(opts.out, { recursive: true });

  const tensors: Record<string, TensorToWrite> = {};
  const pre = opts.prefixed || kind === 'cross-encoder' ? 'bert.' : '';
  const put = (name: string, dims: number[], mean: number, sd: number) => {
    tensors[pre + name] = { dtype, shape: dims, data: rng.fill(dims.reduce((a, b) => a * b, 1), mean, sd) };
  };
  // LayerNorm gains and biases are randomised too (not 1 and 0) so a kernel that ignores them fails.
  put('embeddings.word_embeddings.weight', [vocab.length, h], 0, std);
  put('embeddings.position_embeddings.weight', [shape.maxPositions, h], 0, std);
  put('embeddings.token_type_embeddings.weight', [2, h], 0, std);
  put('embeddings.LayerNorm.weight', [h], 1, 0.1);
  put('embeddings.LayerNorm.bias', [h], 0, 0.1);
  for (let i = 0; i < shape.layers; i++) {
    const n = layerNames(i);
    for (const w of [n.qW, n.kW, n.vW, n.aoW]) put(w, [h, h], 0, std);
    for (const b of [n.qB, n.kB, n.vB, n.aoB, n.downB]) put(b, [h], 0, 0.05);
    put(n.ln1W, [h], 1, 0.1);
    put(n.ln1B, [h], 0, 0.1);
    put(n.upW, [f, h], 0, std);
    put(n.upB, [f], 0, 0.05);
    put(n.downW, [h, f], 0, std);
    put(n.ln2W, [h], 1, 0.1);
    put(n.ln2B, [h], 0, 0.1);
  }
  put('pooler.dense.weight', [h, h], 0, std);
  put('pooler.dense.bias', [h], 0, 0.05);
  if (kind === 'cross-encoder') {
    tensors['classifier.weight'] = { dtype, shape: [1, h], data: rng.fill(h, 0, 0.2) };
    tensors['classifier.bias'] = { dtype, shape: [1], data: rng.fill(1, 0, 0.2) };
  }

  const torchDtype = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[dtype];
  const config: Record<string, unknown> = {
    architectures: [kind === 'cross-encoder' ? 'BertForSequenceClassification' : 'BertModel'],
    attention_probs_dropout_prob: 0.1,
    classifier_dropout: null,
    hidden_act: 'gelu',
    hidden_dropout_prob: 0.1,
    hidden_size: h,
    initializer_range: 0.02,
    intermediate_size: f,
    layer_norm_eps: 1e-12,
    max_position_embeddings: shape.maxPositions,
    model_type: 'bert',
    num_attention_heads: shape.heads,
    num_hidden_layers: shape.layers,
    pad_token_id: 0,
    position_embedding_type: 'absolute',
    torch_dtype: torchDtype,
    transformers_version: '4.56.0',
    type_vocab_size: 2,
    use_cache: true,
    vocab_size: vocab.length,
  };
  if (kind === 'cross-encoder') {
    Object.assign(config, {
      id2label: { '0': 'LABEL_0' },
      label2id: { LABEL_0: 0 },
      sentence_transformers: { activation_fn: 'torch.nn.modules.activation.Sigmoid', version: '5.1.0' },
    });
  }
  const json = (file: string, v: unknown) => writeFileSync(join(opts.out, file), JSON.stringify(v, null, 2) + '\n');
  json('config.json', config);

  const shards = Math.max(1, opts.shards ?? 1);
  if (shards === 1) {
    writeSafetensors(join(opts.out, 'model.safetensors'), tensors);
  } else {
    const names = Object.keys(tensors);
    const per = Math.ceil(names.length / shards);
    const weightMap: Record<string, string> = {};
    let total = 0;
    for (let s = 0; s < shards; s++) {
      const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
      const part: Record<string, TensorToWrite> = {};
      for (const n of names.slice(s * per, (s + 1) * per)) {
        part[n] = tensors[n];
        weightMap[n] = file;
        total += tensors[n].data.length * (dtype === 'F32' ? 4 : 2);
      }
      writeSafetensors(join(opts.out, file), part);
    }
    json('model.safetensors.index.json', { metadata: { total_size: total }, weight_map: weightMap });
  }

  writeFileSync(join(opts.out, 'tokenizer.json'), JSON.stringify(bertTokenizerJson(vocab, maxSeqLength)));
  json('tokenizer_config.json', bertTokenizerConfig(maxSeqLength));
  json('special_tokens_map.json', SPECIAL_TOKENS_MAP);
  writeFileSync(join(opts.out, 'vocab.txt'), vocab.join('\n') + '\n');

  if (kind === 'encoder') {
    const pooling = opts.pooling ?? 'mean';
    const normalize = opts.normalize ?? true;
    const modules = [
      { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
      { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
    ];
    if (normalize) modules.push({ idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' });
    json('modules.json', modules);
    mkdirSync(join(opts.out, '1_Pooling'), { recursive: true });
    json('1_Pooling/config.json', {
      word_embedding_dimension: h,
      pooling_mode_cls_token: pooling === 'cls',
      pooling_mode_mean_tokens: pooling === 'mean',
      pooling_mode_max_tokens: false,
      pooling_mode_mean_sqrt_len_tokens: false,
      pooling_mode_weightedmean_tokens: false,
      pooling_mode_lasttoken: pooling === 'last',
      include_prompt: true,
    });
    if (normalize) mkdirSync(join(opts.out, '2_Normalize'), { recursive: true });
    json('sentence_bert_config.json', { max_seq_length: maxSeqLength, do_lower_case: false });
    json('config_sentence_transformers.json', {
      __version__: { sentence_transformers: '5.1.0', transformers: '4.56.0', pytorch: '2.8.0' },
      prompts: opts.prompts ?? { query: 'query: ', document: 'passage: ' },
      default_prompt_name: null,
      similarity_fn_name: 'cosine',
      model_type: 'SentenceTransformer',
    });
  }
  writeFileSync(
    join(opts.out, 'README.md'),
    `# Random test model\n\nRandomly initialised (seed ${opts.seed ?? 1234}) ${kind} of shape ${JSON.stringify(shape)} written by embedrank's ` +
      'scripts/make-test-model.ts. Its scores mean nothing; it exists to test and benchmark the engine offline.\n',
  );
  return opts.out;
}

await runMain(import.meta, async () => {
  const { default: yargs } = await import('yargs');
  const { hideBin } = await import('yargs/helpers');
  const argv = await yargs(hideBin(process.argv))
    .usage('$0 --shape SHAPE --out DIR\n\nWrite a deterministic random-initialised BERT model in Hugging Face + sentence-transformers format.')
    .option('shape', { choices: Object.keys(SHAPES), default: 'minilm-l6', describe: 'model shape (hidden/layers/heads)' })
    .option('out', { type: 'string', demandOption: true, describe: 'output folder' })
    .option('kind', { choices: ['encoder', 'cross-encoder'] as const, default: 'encoder' as const, describe: 'BertModel encoder or 1-label BertForSequenceClassification' })
    .option('dtype', { choices: ['F32', 'F16', 'BF16'] as const, default: 'F32' as const, describe: 'stored weight dtype' })
    .option('seed', { type: 'number', default: 1234, describe: 'random seed' })
    .option('pooling', { choices: ['cls', 'mean', 'last'] as const, default: 'mean' as const, describe: 'sentence-transformers pooling mode' })
    .option('normalize', { type: 'boolean', default: true, describe: 'add a Normalize module' })
    .option('shards', { type: 'number', default: 1, describe: 'number of safetensors shards' })
    .strict()
    .help()
    .parse();
  const dir = makeTestModel({ ...argv, shape: argv.shape as keyof typeof SHAPES });
  process.stdout.write(`${dir}\n`);
});
