// Writes deterministic random-initialised models of every family (BERT, RoBERTa, XLM-RoBERTa,
// DistilBERT) in the exact Hugging Face + sentence-transformers folder format — the checkpoint's
// own tensor names (from the family file in src/models/), config.json as transformers writes it —
// so tests and benchmarks never download anything.
//
//   node dist/scripts/make-test-model.js --shape minilm-l6 --out models/minilm [--dtype F16] [--family xlm-roberta]
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runMain } from '../src/main.js';
import { writeSafetensors, type TensorToWrite } from '../src/model/safetensors.js';
import { BERT } from '../src/models/bert.js';
import { DISTILBERT } from '../src/models/distilbert.js';
import type { CheckpointName, EmbeddingTensor, LayerTensor, ModelFamily } from '../src/models/family.js';
import { ROBERTA } from '../src/models/roberta.js';
import { XLM_ROBERTA } from '../src/models/xlm-roberta.js';
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
  /** Checkpoint format (default bert). RoBERTa / XLM-R take the BPE / Unigram tokenizer of test/fixtures/hf. */
  family?: GeneratedFamily;
}

/** The generator entry of each family: its names come from the family file, its config from here. */
export const GENERATED_FAMILIES = { bert: BERT, roberta: ROBERTA, 'xlm-roberta': XLM_ROBERTA, distilbert: DISTILBERT } as const;
export type GeneratedFamily = keyof typeof GENERATED_FAMILIES;

/** Tokenizers trained with Hugging Face tokenizers on the STS text (test/fixtures/hf, its README). */
const FIXTURE_TOKENIZER: Partial<Record<GeneratedFamily, string>> = { roberta: 'roberta-st', 'xlm-roberta': 'xlmr-st' };
const FIXTURES_HF = fileURLToPath(new URL('../../test/fixtures/hf/', import.meta.url));

/** config.json of one family as transformers 5 writes it (the fields its config class reads). */
function familyConfig(family: GeneratedFamily, shape: Shape, vocab: number, kind: 'encoder' | 'cross-encoder', torchDtype: string): Record<string, unknown> {
  const head = kind === 'cross-encoder';
  const common = { initializer_range: 0.02, dtype: torchDtype, transformers_version: '5.17.0', vocab_size: vocab };
  if (family === 'distilbert') {
    return {
      architectures: [head ? 'DistilBertForSequenceClassification' : 'DistilBertModel'],
      activation: 'gelu', attention_dropout: 0.1, dim: shape.hidden, dropout: 0.1, hidden_dim: shape.intermediate,
      max_position_embeddings: shape.maxPositions, model_type: 'distilbert', n_heads: shape.heads, n_layers: shape.layers,
      pad_token_id: 0, qa_dropout: 0.1, seq_classif_dropout: 0.2, sinusoidal_pos_embds: false, tie_word_embeddings: true, ...common,
    };
  }
  const roberta = family !== 'bert';
  const arch = family === 'bert' ? 'Bert' : family === 'roberta' ? 'Roberta' : 'XLMRoberta';
  return {
    architectures: [head ? `${arch}ForSequenceClassification` : `${arch}Model`],
    attention_probs_dropout_prob: 0.1, classifier_dropout: null, hidden_act: 'gelu', hidden_dropout_prob: 0.1,
    hidden_size: shape.hidden, intermediate_size: shape.intermediate, layer_norm_eps: 1e-12,
    // RoBERTa positions start at pad_token_id + 1: two more rows for the same sequence length.
    max_position_embeddings: shape.maxPositions + (roberta ? 2 : 0),
    model_type: family, num_attention_heads: shape.heads, num_hidden_layers: shape.layers,
    pad_token_id: roberta ? 1 : 0, ...(roberta ? { bos_token_id: 0, eos_token_id: 2 } : {}),
    position_embedding_type: 'absolute', type_vocab_size: roberta ? 1 : 2, use_cache: true, ...common,
  };
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

  const familyName = opts.family ?? 'bert';
  const family: ModelFamily = GENERATED_FAMILIES[familyName];
  const fixtureTok = FIXTURE_TOKENIZER[familyName];
  const tokJson = fixtureTok
    ? (JSON.parse(readFileSync(join(FIXTURES_HF, fixtureTok, 'tokenizer.json'), 'utf8')) as { model: { vocab: unknown[] | Record<string, number> }; added_tokens: Array<{ id: number }> })
    : undefined;
  const vocabSize = tokJson
    ? Math.max(Array.isArray(tokJson.model.vocab) ? tokJson.model.vocab.length : Object.keys(tokJson.model.vocab).length, ...tokJson.added_tokens.map((t) => t.id + 1))
    : vocab.length;
  const torchDtype = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[dtype];
  const config = familyConfig(familyName, shape, vocabSize, kind, torchDtype);
  const d = family.parseConfig(config, 'config.json');

  const tensors: Record<string, TensorToWrite> = {};
  // The base model's prefix in sequence-classification checkpoints ("bert.", "roberta.", "distilbert.").
  const pre = opts.prefixed || kind === 'cross-encoder' ? family.prefixes[1] : '';
  const write = (c: CheckpointName | undefined, dims: number[], mean: number, sd: number) => {
    if (!c) return;
    tensors[(c.prefixed ? pre : '') + c.name] = { dtype, shape: dims, data: rng.fill(dims.reduce((a, b) => a * b, 1), mean, sd) };
  };
  const emb = (k: EmbeddingTensor, dims: number[], mean: number, sd: number) => write(family.embeddingName(k), dims, mean, sd);
  // LayerNorm gains and biases are randomised too (not 1 and 0) so a kernel that ignores them fails.
  emb('emb.word', [vocabSize, h], 0, std);
  emb('emb.pos', [d.maxPositions, h], 0, std);
  if (d.typeVocab > 0) emb('emb.type', [d.typeVocab, h], 0, std);
  emb('emb.ln.g', [h], 1, 0.1);
  emb('emb.ln.b', [h], 0, 0.1);
  for (let i = 0; i < shape.layers; i++) {
    const put = (t: LayerTensor, dims: number[], mean: number, sd: number) => write(family.layerName(i, t), dims, mean, sd);
    for (const w of ['q.w', 'k.w', 'v.w', 'o.w'] as const) put(w, [h, h], 0, std);
    for (const b of ['q.b', 'k.b', 'v.b', 'o.b', 'down.b'] as const) put(b, [h], 0, 0.05);
    put('ln1.g', [h], 1, 0.1);
    put('ln1.b', [h], 0, 0.1);
    put('up.w', [f, h], 0, std);
    put('up.b', [f], 0, 0.05);
    put('down.w', [h, f], 0, std);
    put('ln2.g', [h], 1, 0.1);
    put('ln2.b', [h], 0, 0.1);
  }
  // BertModel keeps its pooler (sentence-transformers saves it; embeddings never use it); the
  // RoBERTa and DistilBERT heads exist only in the sequence-classification classes.
  if (familyName === 'bert' || kind === 'cross-encoder') {
    write(family.headName('head.pool.w'), [h, h], 0, std);
    write(family.headName('head.pool.b'), [h], 0, 0.05);
  }
  if (kind === 'cross-encoder') {
    write(family.headName('head.cls.w'), [1, h], 0, 0.2);
    write(family.headName('head.cls.b'), [1], 0, 0.2);
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

  if (fixtureTok) {
    copyFileSync(join(FIXTURES_HF, fixtureTok, 'tokenizer.json'), join(opts.out, 'tokenizer.json'));
    const tc = JSON.parse(readFileSync(join(FIXTURES_HF, fixtureTok, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    json('tokenizer_config.json', { ...tc, model_max_length: maxSeqLength });
  } else {
    writeFileSync(join(opts.out, 'tokenizer.json'), JSON.stringify(bertTokenizerJson(vocab, maxSeqLength)));
    json('tokenizer_config.json', bertTokenizerConfig(maxSeqLength));
    json('special_tokens_map.json', SPECIAL_TOKENS_MAP);
    writeFileSync(join(opts.out, 'vocab.txt'), vocab.join('\n') + '\n');
  }

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
    `# Random test model\n\nRandomly initialised (seed ${opts.seed ?? 1234}) ${familyName} ${kind} of shape ${JSON.stringify(shape)} written by embedrank's ` +
      'scripts/make-test-model.ts. Its scores mean nothing; it exists to test and benchmark the engine offline.\n',
  );
  return opts.out;
}

await runMain(import.meta, async () => {
  const { default: yargs } = await import('yargs');
  const { hideBin } = await import('yargs/helpers');
  const argv = await yargs(hideBin(process.argv))
    .usage('$0 --shape SHAPE --out DIR\n\nWrite a deterministic random-initialised model (BERT, RoBERTa, XLM-R or DistilBERT) in Hugging Face + sentence-transformers format.')
    .option('shape', { choices: Object.keys(SHAPES), default: 'minilm-l6', describe: 'model shape (hidden/layers/heads)' })
    .option('out', { type: 'string', demandOption: true, describe: 'output folder' })
    .option('kind', { choices: ['encoder', 'cross-encoder'] as const, default: 'encoder' as const, describe: 'BertModel encoder or 1-label BertForSequenceClassification' })
    .option('dtype', { choices: ['F32', 'F16', 'BF16'] as const, default: 'F32' as const, describe: 'stored weight dtype' })
    .option('seed', { type: 'number', default: 1234, describe: 'random seed' })
    .option('pooling', { choices: ['cls', 'mean', 'last'] as const, default: 'mean' as const, describe: 'sentence-transformers pooling mode' })
    .option('normalize', { type: 'boolean', default: true, describe: 'add a Normalize module' })
    .option('shards', { type: 'number', default: 1, describe: 'number of safetensors shards' })
    .option('family', { choices: Object.keys(GENERATED_FAMILIES) as GeneratedFamily[], default: 'bert' as GeneratedFamily, describe: 'checkpoint format: bert, roberta, xlm-roberta, distilbert' })
    .strict()
    .help()
    .parse();
  const dir = makeTestModel({ ...argv, shape: argv.shape as keyof typeof SHAPES });
  process.stdout.write(`${dir}\n`);
});
