// Model folders: a generated folder loads with the right dimensions and sentence-transformers
// settings; each way of breaking one is reported with the file that is wrong.
import { expect } from 'chai';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestModel } from '../../scripts/make-test-model.js';
import { ModelFolderError } from '../../src/errors.js';
import { loadModelFolder } from '../../src/model/folder.js';
import { WeightStore, writeSafetensors, type TensorToWrite } from '../../src/model/safetensors.js';
import { cachedModel, cleanupTemp, expectThrow, tempDir, tinyCrossEncoder, tinyEncoder, tinyEncoderCls, variant } from './helpers.js';

function readJ(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8'));
}
function editJson(file: string, edit: (j: Record<string, unknown>) => void): void {
  const j = readJ(file);
  edit(j);
  writeFileSync(file, JSON.stringify(j, null, 2));
}

/** Rewrites model.safetensors through `edit`, which may rename, drop or replace tensors. */
function rewriteWeights(dir: string, edit: (t: Record<string, TensorToWrite>) => void): void {
  const file = join(dir, 'model.safetensors');
  const store = WeightStore.openSingle(file);
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, info] of store.tensors) tensors[name] = { dtype: info.dtype as 'F32', shape: info.shape, data: store.f32(name) };
  edit(tensors);
  writeSafetensors(file, tensors);
}

function expectFolderError(dir: string, file: string, ...patterns: Array<RegExp | string>): ModelFolderError {
  const e = expectThrow(() => loadModelFolder(dir), ModelFolderError, ...patterns);
  expect(e.file, `error should name ${file}: ${e.message}`).to.equal(join(dir, file));
  expect(e.message).to.include(join(dir, file));
  return e;
}

describe('foundation: model folder', () => {
  after(cleanupTemp);

  describe('a generated folder loads', () => {
    it('encoder: dims, pooling, normalize, prompts, similarity, kind', () => {
      const f = loadModelFolder(tinyEncoder());
      expect(f.kind).to.equal('encoder');
      expect(f.architecture).to.equal('BertModel');
      expect(f.dims).to.include({ hidden: 64, layers: 2, heads: 2, headDim: 32, intermediate: 128, maxPositions: 128, typeVocab: 2 });
      expect(f.dims.vocab).to.equal(readJ(join(f.dir, 'config.json')).vocab_size);
      expect(f.st.pooling).to.equal('mean');
      expect(f.st.normalize).to.equal(true);
      expect(f.st.prompts).to.deep.equal({ query: 'query: ', document: 'passage: ' });
      expect(f.st.similarityFn).to.equal('cosine');
      expect(f.maxLength).to.equal(128);
      expect(f.storedDtype).to.equal('F32');
      expect(f.tokenizer).to.deep.equal({ file: join(f.dir, 'tokenizer.json'), lowercase: false, truncationSide: 'right', tokenTypeIds: true });
      expect(f.numLabels).to.equal(0);
      expect(f.onnxFile).to.equal(undefined);
    });

    it('CLS pooling without Normalize, custom prompts', () => {
      const f = loadModelFolder(tinyEncoderCls());
      expect(f.st.pooling).to.equal('cls');
      expect(f.st.normalize).to.equal(false);
      expect(f.st.prompts).to.deep.equal({ query: 'q: ', document: 'd: ', Banking77: 'classify: ' });
    });

    it('last-token pooling, dot similarity, default prompt name, include_prompt false', () => {
      const dir = variant(tinyEncoder(), 'fold-last', (d) => {
        editJson(join(d, '1_Pooling', 'config.json'), (j) => {
          j.pooling_mode_mean_tokens = false;
          j.pooling_mode_lasttoken = true;
          j.include_prompt = false;
        });
        editJson(join(d, 'config_sentence_transformers.json'), (j) => {
          j.similarity_fn_name = 'dot';
          j.default_prompt_name = 'query';
        });
      });
      const f = loadModelFolder(dir);
      expect(f.st).to.include({ pooling: 'last', similarityFn: 'dot', defaultPromptName: 'query', includePrompt: false });
    });

    it("maxLength is sentence-transformers' max_seq_length: it overrides model_max_length; else min(model_max_length, positions)", () => {
      const base = tinyEncoder();
      // Transformer.__init__: max_seq_length becomes the tokenizer's model_max_length, larger or not.
      const tok = variant(base, 'fold-len-tok', (d) => {
        editJson(join(d, 'tokenizer_config.json'), (j) => (j.model_max_length = 90));
        editJson(join(d, 'sentence_bert_config.json'), (j) => (j.max_seq_length = 100));
      });
      expect(loadModelFolder(tok).maxLength).to.equal(100);
      const over = variant(base, 'fold-len-over', (d) => editJson(join(d, 'sentence_bert_config.json'), (j) => (j.max_seq_length = 4096)));
      expect(loadModelFolder(over).maxLength, 'capped at the 128 positions').to.equal(128);
      expect(loadModelFolder(over).maxLengthCappedFrom).to.equal(4096);
      const noSbc = variant(base, 'fold-len-nosbc', (d) => {
        editJson(join(d, 'tokenizer_config.json'), (j) => (j.model_max_length = 90));
        rmSync(join(d, 'sentence_bert_config.json'));
      });
      expect(loadModelFolder(noSbc).maxLength).to.equal(90);
      const sbc = variant(base, 'fold-len-sbc', (d) => {
        editJson(join(d, 'tokenizer_config.json'), (j) => (j.model_max_length = 100));
        editJson(join(d, 'sentence_bert_config.json'), (j) => (j.max_seq_length = 80));
      });
      expect(loadModelFolder(sbc).maxLength).to.equal(80);
      const pos = variant(base, 'fold-len-pos', (d) => {
        // transformers writes a huge sentinel when a tokenizer has no limit.
        editJson(join(d, 'tokenizer_config.json'), (j) => (j.model_max_length = 1e30));
        rmSync(join(d, 'sentence_bert_config.json'));
      });
      expect(loadModelFolder(pos).maxLength).to.equal(128);
      expect(loadModelFolder(pos).st.maxSeqLength).to.equal(undefined);
    });

    it('a plain transformers checkpoint (no modules.json) mean-pools without normalising', () => {
      const dir = variant(tinyEncoder(), 'fold-plain', (d) => {
        for (const f of ['modules.json', 'sentence_bert_config.json', 'config_sentence_transformers.json']) rmSync(join(d, f));
        rmSync(join(d, '1_Pooling'), { recursive: true });
      });
      const f = loadModelFolder(dir);
      expect(f.st).to.include({ pooling: 'mean', normalize: false, similarityFn: 'cosine' });
      expect(f.st.prompts).to.deep.equal({});
    });

    it('sharded weights load and hold the same values as the single file', () => {
      const single = loadModelFolder(cachedModel('tiny-s1', { shape: 'tiny', seed: 21 }));
      const sharded = loadModelFolder(cachedModel('tiny-s3', { shape: 'tiny', seed: 21, shards: 3 }));
      expect(sharded.weights.store.files.length).to.equal(3);
      for (const name of ['embeddings.word_embeddings.weight', 'encoder.layer.1.output.LayerNorm.bias', 'pooler.dense.weight']) {
        expect(Array.from(sharded.weights.f32(name))).to.deep.equal(Array.from(single.weights.f32(name)));
      }
    });

    it('"bert."-prefixed tensor names resolve to the same canonical names', () => {
      const plain = loadModelFolder(cachedModel('tiny-plain22', { shape: 'tiny', seed: 22 }));
      const pre = loadModelFolder(cachedModel('tiny-prefixed22', { shape: 'tiny', seed: 22, prefixed: true }));
      expect(pre.weights.store.has('bert.embeddings.word_embeddings.weight')).to.equal(true);
      expect(pre.weights.store.has('embeddings.word_embeddings.weight')).to.equal(false);
      expect(pre.weights.resolve('encoder.layer.0.attention.self.query.weight')).to.equal('bert.encoder.layer.0.attention.self.query.weight');
      expect(Array.from(pre.weights.f32('encoder.layer.0.attention.self.query.weight'))).to.deep.equal(
        Array.from(plain.weights.f32('encoder.layer.0.attention.self.query.weight')),
      );
    });

    it('legacy LayerNorm gamma/beta names are read as weight/bias', () => {
      const base = tinyEncoder();
      const orig = loadModelFolder(base);
      const dir = variant(base, 'fold-gamma', (d) =>
        rewriteWeights(d, (t) => {
          for (const name of Object.keys(t)) {
            const legacy = name.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta');
            if (legacy !== name) {
              t[legacy] = t[name];
              delete t[name];
            }
          }
        }),
      );
      const f = loadModelFolder(dir);
      expect(f.weights.store.has('embeddings.LayerNorm.gamma')).to.equal(true);
      expect(f.weights.store.has('embeddings.LayerNorm.weight')).to.equal(false);
      for (const n of ['embeddings.LayerNorm.weight', 'embeddings.LayerNorm.bias', 'encoder.layer.1.attention.output.LayerNorm.weight']) {
        expect(Array.from(f.weights.f32(n)), n).to.deep.equal(Array.from(orig.weights.f32(n)));
      }
    });

    it('F16 and BF16 checkpoints report their stored dtype', () => {
      expect(loadModelFolder(cachedModel('tiny-f16', { shape: 'tiny', dtype: 'F16' })).storedDtype).to.equal('F16');
      expect(loadModelFolder(cachedModel('tiny-bf16', { shape: 'tiny', dtype: 'BF16' })).storedDtype).to.equal('BF16');
    });
  });

  describe('cross-encoders', () => {
    it('BertForSequenceClassification is a cross-encoder with one label and a sigmoid', () => {
      const f = loadModelFolder(tinyCrossEncoder());
      expect(f.kind).to.equal('cross-encoder');
      expect(f.architecture).to.equal('BertForSequenceClassification');
      expect(f.numLabels).to.equal(1);
      expect(f.activation).to.equal('sigmoid');
      expect(f.st.pooling).to.equal('cls');
    });

    it('activation follows sentence_transformers.activation_fn, then the legacy key, then num_labels', () => {
      const base = tinyCrossEncoder();
      const ident = variant(base, 'ce-ident', (d) =>
        editJson(join(d, 'config.json'), (j) => ((j.sentence_transformers as Record<string, unknown>).activation_fn = 'torch.nn.modules.linear.Identity')),
      );
      expect(loadModelFolder(ident).activation).to.equal('identity');
      const legacy = variant(base, 'ce-legacy', (d) =>
        editJson(join(d, 'config.json'), (j) => {
          delete j.sentence_transformers;
          j.sbert_ce_default_activation_function = 'torch.nn.modules.linear.Identity';
        }),
      );
      expect(loadModelFolder(legacy).activation).to.equal('identity');
      const none = variant(base, 'ce-none', (d) => editJson(join(d, 'config.json'), (j) => delete j.sentence_transformers));
      expect(loadModelFolder(none).activation).to.equal('sigmoid');
    });

    it('a multi-label head defaults to identity; a head that disagrees with num_labels is an error', () => {
      const base = tinyCrossEncoder();
      const three = variant(base, 'ce-3', (d) => {
        editJson(join(d, 'config.json'), (j) => {
          delete j.sentence_transformers;
          j.id2label = { 0: 'a', 1: 'b', 2: 'c' };
        });
        rewriteWeights(d, (t) => {
          t['classifier.weight'] = { dtype: 'F32', shape: [3, 64], data: new Float32Array(3 * 64).fill(0.01) };
          t['classifier.bias'] = { dtype: 'F32', shape: [3], data: new Float32Array(3) };
        });
      });
      const f = loadModelFolder(three);
      expect(f.numLabels).to.equal(3);
      expect(f.activation).to.equal('identity');
      const bad = variant(base, 'ce-bad', (d) => editJson(join(d, 'config.json'), (j) => (j.num_labels = 2)));
      expectFolderError(bad, 'model.safetensors', /classifier.weight/, /num_labels=2/);
    });

    it('a cross-encoder without a classifier is an error naming the weights file', () => {
      const dir = variant(tinyCrossEncoder(), 'ce-nocls', (d) => rewriteWeights(d, (t) => delete t['classifier.weight']));
      expectFolderError(dir, 'model.safetensors', '"classifier.weight"');
    });
  });

  describe('broken folders → ModelFolderError naming the file', () => {
    it('not a directory', () => {
      const dir = join(tempDir('fold-nodir'), 'absent');
      const e = expectThrow(() => loadModelFolder(dir), ModelFolderError, /not a directory/);
      expect(e.file).to.equal(dir);
    });

    it('missing config.json', () => {
      const dir = variant(tinyEncoder(), 'fold-nocfg', (d) => rmSync(join(d, 'config.json')));
      expectFolderError(dir, 'config.json', /not found/);
    });

    it('config.json that is not JSON, or not an object', () => {
      const dir = variant(tinyEncoder(), 'fold-badjson', (d) => writeFileSync(join(d, 'config.json'), '{"hidden_size": 64,'));
      expectFolderError(dir, 'config.json', /not valid JSON/);
      writeFileSync(join(dir, 'config.json'), '42');
      expectFolderError(dir, 'config.json', /JSON object/);
    });

    it('unknown model_type', () => {
      const dir = variant(tinyEncoder(), 'fold-type', (d) => editJson(join(d, 'config.json'), (j) => (j.model_type = 'gpt2')));
      expectFolderError(dir, 'config.json', /model_type "gpt2"/);
    });

    it('unknown architecture', () => {
      const dir = variant(tinyEncoder(), 'fold-arch', (d) => editJson(join(d, 'config.json'), (j) => (j.architectures = ['GPT2LMHeadModel'])));
      expectFolderError(dir, 'config.json', /architecture "GPT2LMHeadModel"/);
    });

    it('a missing or non-numeric dimension in config.json', () => {
      const dir = variant(tinyEncoder(), 'fold-dim', (d) => editJson(join(d, 'config.json'), (j) => delete j.hidden_size));
      expectFolderError(dir, 'config.json', /hidden_size/);
    });

    it('missing weights, and PyTorch-only weights', () => {
      const dir = variant(tinyEncoder(), 'fold-noweights', (d) => rmSync(join(d, 'model.safetensors')));
      expectFolderError(dir, 'model.safetensors', /not found/);
      writeFileSync(join(dir, 'pytorch_model.bin'), 'pickle');
      expectFolderError(dir, 'pytorch_model.bin', /safetensors/);
    });

    it('missing tensor', () => {
      const dir = variant(tinyEncoder(), 'fold-notensor', (d) => rewriteWeights(d, (t) => delete t['encoder.layer.1.intermediate.dense.weight']));
      expectFolderError(dir, 'model.safetensors', /missing tensor "encoder.layer.1.intermediate.dense.weight"/);
    });

    it('no embedding table at all: not a BERT checkpoint', () => {
      const dir = variant(tinyEncoder(), 'fold-noemb', (d) => rewriteWeights(d, (t) => delete t['embeddings.word_embeddings.weight']));
      expectFolderError(dir, 'model.safetensors', /embeddings.word_embeddings.weight/);
    });

    it('tensor shape that disagrees with config.json', () => {
      const dir = variant(tinyEncoder(), 'fold-shape', (d) => editJson(join(d, 'config.json'), (j) => (j.intermediate_size = 256)));
      expectFolderError(dir, 'model.safetensors', /intermediate.dense.weight/, /\[128,64\]/, /\[256,64\]/);
      const dir2 = variant(tinyEncoder(), 'fold-shape2', (d) =>
        rewriteWeights(d, (t) => (t['encoder.layer.0.attention.self.key.bias'] = { dtype: 'F32', shape: [63], data: new Float32Array(63) })),
      );
      expectFolderError(dir2, 'model.safetensors', /key.bias/, /\[63\]/);
    });

    it('sharded index naming a tensor that is not in its shard', () => {
      const dir = variant(cachedModel('tiny-s3', { shape: 'tiny', seed: 21, shards: 3 }), 'fold-shardmiss', (d) =>
        editJson(join(d, 'model.safetensors.index.json'), (j) => ((j.weight_map as Record<string, string>)['encoder.layer.9.output.dense.weight'] = 'model-00002-of-00003.safetensors')),
      );
      expectFolderError(dir, 'model-00002-of-00003.safetensors', '"encoder.layer.9.output.dense.weight"');
    });

    it('missing tokenizer.json', () => {
      const dir = variant(tinyEncoder(), 'fold-notok', (d) => rmSync(join(d, 'tokenizer.json')));
      expectFolderError(dir, 'tokenizer.json', /not found/);
    });

    it('tokenizer.json that is not JSON', () => {
      const dir = variant(tinyEncoder(), 'fold-badtok', (d) => writeFileSync(join(d, 'tokenizer.json'), '{"model": '));
      expectFolderError(dir, 'tokenizer.json', /not valid JSON/);
    });

    it('modules.json that is not JSON, or not an array', () => {
      const dir = variant(tinyEncoder(), 'fold-badmod', (d) => writeFileSync(join(d, 'modules.json'), '[{'));
      expectFolderError(dir, 'modules.json', /not valid JSON/);
      writeFileSync(join(dir, 'modules.json'), '{}');
      expectFolderError(dir, 'modules.json', /array/);
    });

    it('missing pooling config', () => {
      const dir = variant(tinyEncoder(), 'fold-nopool', (d) => rmSync(join(d, '1_Pooling'), { recursive: true }));
      expectFolderError(dir, 'modules.json', /module 1 \(Pooling\) lives in "1_Pooling", which does not exist/);
    });

    it('two pooling modes on', () => {
      const dir = variant(tinyEncoder(), 'fold-2pool', (d) => editJson(join(d, '1_Pooling', 'config.json'), (j) => (j.pooling_mode_cls_token = true)));
      expectFolderError(dir, join('1_Pooling', 'config.json'), /expected exactly one mode/, /cls \+ mean/);
    });

    it('no pooling mode on', () => {
      const dir = variant(tinyEncoder(), 'fold-0pool', (d) => editJson(join(d, '1_Pooling', 'config.json'), (j) => (j.pooling_mode_mean_tokens = false)));
      expectFolderError(dir, join('1_Pooling', 'config.json'), /expected exactly one mode/, /none/);
    });

    it('unsupported pooling modes', () => {
      const names: Record<string, string> = { pooling_mode_max_tokens: 'max', pooling_mode_mean_sqrt_len_tokens: 'mean_sqrt_len_tokens', pooling_mode_weightedmean_tokens: 'weightedmean' };
      for (const mode of Object.keys(names)) {
        const dir = variant(tinyEncoder(), 'fold-maxpool', (d) =>
          editJson(join(d, '1_Pooling', 'config.json'), (j) => {
            j.pooling_mode_mean_tokens = false;
            j[mode] = true;
          }),
        );
        expectFolderError(dir, join('1_Pooling', 'config.json'), new RegExp(`"pooling_mode": "${names[mode]}" is not supported`));
      }
    });

    it('unknown similarity function', () => {
      const dir = variant(tinyEncoder(), 'fold-sim', (d) => editJson(join(d, 'config_sentence_transformers.json'), (j) => (j.similarity_fn_name = 'hamming')));
      expectFolderError(dir, 'config_sentence_transformers.json', /hamming/);
    });

    it('a cross-encoder folder written from scratch fails cleanly without its tokenizer', () => {
      const dir = join(tempDir('fold-ce-notok'), 'm');
      makeTestModel({ shape: 'tiny', out: dir, kind: 'cross-encoder' });
      rmSync(join(dir, 'tokenizer.json'));
      expectFolderError(dir, 'tokenizer.json', /not found/);
    });
  });
});
