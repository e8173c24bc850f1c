// sentence-transformers folder rules, each case with its expected value and where it comes from:
// folders written by sentence-transformers 6.0.1 itself (test/fixtures/hf, scripts/gpu/
// hf_fixtures.py) with the outputs it computed, and generated folders edited to hit one rule.
import { expect } from 'chai';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CrossEncoder } from '../../src/cross-encoder.js';
import { Encoder, stDefaultPrompt } from '../../src/encoder.js';
import { InputError, ModelFolderError } from '../../src/errors.js';
import { loadModelFolder } from '../../src/model/folder.js';
import { feedsTokenTypeIds } from '../../src/model/sentence-transformers.js';
import { Tokenizer } from '../../src/tokenize/tokenizer.js';
import { realMiniLmModel } from '../tokenize/real-minilm.js';
import { cachedModel, cleanupTemp, expectReject, expectThrow, variant } from './helpers.js';
import { sharedData } from '../shared-data.js';

const HF = join(process.cwd(), 'test/fixtures/hf');
const MINILM = sharedData('tokenizers', 'all-MiniLM-L6-v2');

function readJ(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}
function editJson(file: string, edit: (j: Record<string, unknown>) => void): void {
  const j = existsSync(file) ? readJ(file) : {};
  edit(j);
  writeFileSync(file, JSON.stringify(j, null, 2));
}
function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).to.equal(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    expect(Number.isFinite(a[i]), `value ${i} is finite`).to.equal(true);
    m = Math.max(m, Math.abs(a[i] - b[i]));
  }
  return m;
}

describe('foundation: sentence-transformers folder rules', function () {
  this.timeout(180_000);
  const opened: Array<Encoder | CrossEncoder> = [];
  after(async () => {
    await Promise.all(opened.map((m) => m.close()));
    cleanupTemp();
  });
  async function encoder(model: string, extra: Record<string, unknown> = {}): Promise<Encoder> {
    const e = await Encoder.create({ model, device: 'cpu', tokenizerThreads: 1, ...extra });
    opened.push(e);
    return e;
  }

  it('max_seq_length (64) overrides tokenizer_config model_max_length (32) with 128 positions: a 62-token text is not truncated', async () => {
    const dir = variant(cachedModel('st-len', { shape: 'tiny', seed: 21 }), 'st-len', (d) => {
      editJson(join(d, 'tokenizer_config.json'), (j) => (j.model_max_length = 32));
      editJson(join(d, 'sentence_bert_config.json'), (j) => (j.max_seq_length = 64));
    });
    const folder = loadModelFolder(dir);
    expect(folder.dims.maxPositions).to.equal(128);
    expect(folder.maxLength).to.equal(64); // sentence-transformers: Transformer(max_seq_length=64) sets model_max_length = 64
    const text = Array.from({ length: 60 }, (_, i) => ['alpha', 'beta', 'gamma', 'delta'][i % 4]).join(' ');
    expect((await new Tokenizer(folder.tokenizer).encode(text)).ids.length).to.equal(62);
    const e = await encoder(dir);
    expect(e.maxLength).to.equal(64);
    const full = (await e.encode([text]))[0];
    expect(e.lastTruncated).to.equal(0);
    const at32 = await encoder(dir, { maxModelLen: 32 });
    const cut = (await at32.encode([text]))[0];
    expect(at32.lastTruncated).to.equal(1);
    expect(maxAbsDiff(full, full)).to.equal(0);
    expect(Array.from(full).some((v, i) => Math.abs(v - cut[i]) > 1e-4), 'the 32-token cut changes the embedding').to.equal(true);
  });

  it('do_lower_case: true in sentence_bert_config.json lowercases whatever tokenizer.json says (the issue\'s ids)', async function () {
    if (!existsSync(MINILM)) this.skip();
    const dir = variant(realMiniLmModel(MINILM), 'st-lower', (d) => {
      editJson(join(d, 'tokenizer.json'), (j) => (j.normalizer = { ...(j.normalizer as object), lowercase: false }));
      editJson(join(d, 'sentence_bert_config.json'), (j) => (j.do_lower_case = true));
    });
    const folder = loadModelFolder(dir);
    expect(folder.tokenizer.lowercase).to.equal(true);
    const ids = (await new Tokenizer(folder.tokenizer).encode('The capital of France is Paris.')).ids;
    expect(ids).to.deep.equal([101, 1996, 3007, 1997, 2605, 2003, 3000, 1012, 102]);
  });

  it('Dense (32→16, tanh) after Pooling, then Normalize: the embeddings sentence-transformers 6.0.1 computed for the folder it saved', async () => {
    const dir = join(HF, 'bert-dense-st');
    const ref = readJ(join(dir, 'reference.json')) as { texts: string[]; embeddings: number[][]; dim: number };
    const folder = loadModelFolder(dir);
    expect(folder.st.embedDim).to.equal(16);
    expect(folder.st.afterPooling.map((m) => m.kind)).to.deep.equal(['dense', 'normalize']);
    expect(folder.st.normalize, 'the engines must not normalise before the Dense').to.equal(false);
    const e = await encoder(dir);
    expect(e.dim).to.equal(16);
    const got = await e.embedMatrix(ref.texts);
    const err = maxAbsDiff(got, ref.embeddings.flat());
    expect(err).to.be.at.most(1e-5);
    // Without the Dense (the bug this replaces), 32-d vectors would come out.
    expect(got.length).to.equal(ref.texts.length * 16);
  });

  it('Dense weights must be model.safetensors: pytorch_model.bin is refused, a missing module folder is an error', () => {
    const bin = variant(join(HF, 'bert-dense-st'), 'st-dense-bin', (d) => renameSync(join(d, '2_Dense', 'model.safetensors'), join(d, '2_Dense', 'pytorch_model.bin')));
    const e = expectThrow(() => loadModelFolder(bin), ModelFolderError, /PyTorch pickle weights are not supported/);
    expect(e.file).to.equal(join(bin, '2_Dense', 'pytorch_model.bin'));
    const gone = variant(join(HF, 'bert-dense-st'), 'st-dense-gone', (d) => rmSync(join(d, '2_Dense'), { recursive: true }));
    expect(expectThrow(() => loadModelFolder(gone), ModelFolderError, /module 2 \(Dense\) lives in "2_Dense", which does not exist/).file).to.equal(join(gone, 'modules.json'));
    const act = variant(join(HF, 'bert-dense-st'), 'st-dense-act', (d) => editJson(join(d, '2_Dense', 'config.json'), (j) => (j.activation_function = 'my.module.Swish')));
    expect(expectThrow(() => loadModelFolder(act), ModelFolderError, /"activation_function": "my.module.Swish" is not supported/).file).to.equal(join(act, '2_Dense', 'config.json'));
  });

  it('every unknown setting is refused with the file and key: sentence_bert_config.json, config_sentence_transformers.json, Pooling, modules.json', () => {
    const base = join(HF, 'bert-dense-st');
    const cases: Array<[string, (d: string) => void, string, RegExp]> = [
      ['sbc', (d) => editJson(join(d, 'sentence_bert_config.json'), (j) => (j.query_length = 32)), 'sentence_bert_config.json', /"query_length": is not supported/],
      ['sbc2', (d) => editJson(join(d, 'sentence_bert_config.json'), (j) => (j.frobnicate = true)), 'sentence_bert_config.json', /"frobnicate": unknown setting/],
      ['task', (d) => editJson(join(d, 'sentence_bert_config.json'), (j) => (j.transformer_task = 'text-generation')), 'sentence_bert_config.json', /"transformer_task": "text-generation" is not supported/],
      ['tok', (d) => editJson(join(d, 'sentence_bert_config.json'), (j) => (j.processor_kwargs = { add_prefix_space: true })), 'sentence_bert_config.json', /"processor_kwargs.add_prefix_space": is not supported/],
      ['cst', (d) => editJson(join(d, 'config_sentence_transformers.json'), (j) => (j.truncate_dim = 8)), 'config_sentence_transformers.json', /"truncate_dim": unknown setting/],
      ['dpn', (d) => editJson(join(d, 'config_sentence_transformers.json'), (j) => (j.default_prompt_name = 'nope')), 'config_sentence_transformers.json', /"default_prompt_name": "nope" is not one of the prompts \(document, query\)/],
      ['pool', (d) => editJson(join(d, '1_Pooling', 'config.json'), (j) => (j.pooling_mode = ['mean', 'max'])), join('1_Pooling', 'config.json'), /concatenated poolings are not supported/],
      ['mod', (d) => editJson(join(d, 'modules.json'), (j) => ((j as unknown as unknown[]).push({ idx: 4, name: '4', path: '4_LayerNorm', type: 'sentence_transformers.models.LayerNorm' }))), 'modules.json', /module 4 has type "sentence_transformers.models.LayerNorm", which is not supported/],
      ['custom', (d) => editJson(join(d, 'modules.json'), (j) => (((j as unknown as Array<Record<string, unknown>>)[1].type = 'my_package.MyPooling'))), 'modules.json', /"my_package.MyPooling", which is not supported/],
    ];
    for (const [tag, mutate, file, re] of cases) {
      const dir = variant(base, `st-${tag}`, mutate);
      const err = expectThrow(() => loadModelFolder(dir), ModelFolderError, re);
      expect(err.file, tag).to.equal(join(dir, file));
    }
  });

  it('legacy (sentence-transformers ≤ 5) and 6.x folders read alike: module type names, pooling flags vs pooling_mode', () => {
    const six = loadModelFolder(join(HF, 'bert-dense-st'));
    const legacy = variant(join(HF, 'bert-dense-st'), 'st-legacy', (d) => {
      editJson(join(d, 'modules.json'), (j) => {
        const m = j as unknown as Array<Record<string, unknown>>;
        for (const x of m) x.type = `sentence_transformers.models.${String(x.type).split('.').pop()}`;
      });
      writeFileSync(join(d, '1_Pooling', 'config.json'), JSON.stringify({ word_embedding_dimension: 32, pooling_mode_cls_token: false, pooling_mode_mean_tokens: true, pooling_mode_max_tokens: false, pooling_mode_mean_sqrt_len_tokens: false, pooling_mode_weightedmean_tokens: false, pooling_mode_lasttoken: false, include_prompt: true }));
      writeFileSync(join(d, 'sentence_bert_config.json'), JSON.stringify({ max_seq_length: 40, do_lower_case: false }));
    });
    const old = loadModelFolder(legacy);
    expect(old.st.pooling).to.equal(six.st.pooling);
    expect(old.st.embedDim).to.equal(six.st.embedDim);
    expect(old.maxLength).to.equal(six.maxLength);
  });

  describe('prompts, as mteb reaches them through sentence-transformers', () => {
    const prompts = { query: 'query: ', passage: 'passage: ', sts: 'similar: ' };
    let dir: string;
    before(() => {
      dir = variant(cachedModel('st-prompts', { shape: 'tiny', seed: 23 }), 'st-prompts', (d) =>
        editJson(join(d, 'config_sentence_transformers.json'), (j) => {
          j.prompts = prompts;
          j.default_prompt_name = 'sts';
        }),
      );
    });

    it('no mteb match: queries use "query", documents the first of document/passage/corpus, anything else default_prompt_name', async () => {
      // sentence-transformers encode_query / encode_document / encode (_resolve_prompt with default_prompt_name).
      expect(stDefaultPrompt(prompts, 'sts', 'document')).to.equal('passage: ');
      expect(stDefaultPrompt({ corpus: 'c' }, undefined, 'document')).to.equal('c');
      expect(stDefaultPrompt({ passage: 'p' }, undefined, 'query')).to.equal(undefined);
      const e = await encoder(dir);
      expect(e.promptFor({ promptType: 'query', taskName: 'SciFact' })).to.equal('query: ');
      expect(e.promptFor({ promptType: 'document', taskName: 'SciFact' })).to.equal('passage: ');
      expect(e.promptFor({ taskName: 'STS12', taskType: 'STS' }), 'STS texts get default_prompt_name').to.equal('similar: ');
      const text = 'two dogs play in the snow';
      const [viaDefault] = await e.encode([text], { taskName: 'STS12', taskType: 'STS' });
      const [byHand] = await e.encode([`similar: ${text}`], { prompt: '' });
      expect(maxAbsDiff(viaDefault, byHand)).to.be.at.most(1e-6);
    });

    it('promptName picks any prompt the model defines; an unknown one is an InputError', async () => {
      const e = await encoder(dir);
      expect(e.promptFor({ promptName: 'passage' })).to.equal('passage: ');
      const [named] = await e.encode(['x'], { promptName: 'passage' });
      const [byHand] = await e.encode(['passage: x'], { prompt: '' });
      expect(maxAbsDiff(named, byHand)).to.be.at.most(1e-6);
      await expectReject(e.encode(['x'], { promptName: 'document' }), InputError, /prompt name "document" is not one of the model's prompts \(query, passage, sts\)/);
    });
  });

  describe('a cross-encoder with 3 labels (saved by sentence-transformers 6.0.1)', () => {
    const dir = join(HF, 'bert-ce3');
    const ref = readJ(join(dir, 'reference.json')) as { pairs: Array<[string, string]>; scores: number[][]; rank_refused: string };
    let ce: CrossEncoder;
    before(async () => {
      ce = await CrossEncoder.create({ model: dir, device: 'cpu', tokenizerThreads: 1 });
      opened.push(ce);
    });

    it('predict returns [n, 3]: one row of 3 scores per pair, equal to CrossEncoder.predict (Identity activation from its config)', async () => {
      expect(ce.numLabels).to.equal(3);
      const rows = (await ce.predict(ref.pairs)) as Float32Array[];
      expect(rows.length).to.equal(ref.pairs.length);
      rows.forEach((r, i) => expect(maxAbsDiff(r, ref.scores[i]), `pair ${i}`).to.be.at.most(1e-5));
    });

    it('rank refuses it, as sentence-transformers does (today 6 values for 2 documents would be mis-assigned)', async () => {
      expect(ref.rank_refused).to.match(/only works for models with num_labels=1/);
      await expectReject(ce.rank('a query', ['doc one', 'doc two']), InputError, /only works for models with one label/, /has 3/);
    });
  });

  it('token_type_ids reach the model only when the tokenizer\'s model_input_names have them (transformers)', () => {
    expect(feedsTokenTypeIds({ tokenizer_class: 'BertTokenizer' })).to.equal(true);
    expect(feedsTokenTypeIds({ tokenizer_class: 'BertTokenizerFast' })).to.equal(true);
    expect(feedsTokenTypeIds({ tokenizer_class: 'XLMRobertaTokenizer' })).to.equal(false);
    expect(feedsTokenTypeIds({ tokenizer_class: 'TokenizersBackend' })).to.equal(false);
    expect(feedsTokenTypeIds({ tokenizer_class: 'TokenizersBackend', model_input_names: ['input_ids', 'token_type_ids', 'attention_mask'] })).to.equal(true);
    // bert-ce3's tokenizer is the generic one: its scores above match sentence-transformers only without token types.
    expect(loadModelFolder(join(HF, 'bert-ce3')).tokenizer.tokenTypeIds).to.equal(false);
  });

  it('one-label cross-encoders: predict gives a Float32Array of n scores, the same as scoreMatrix', async function () {
    const dir = cachedModel('st-ce1', { shape: 'tiny', seed: 24, kind: 'cross-encoder' });
    const ce = await CrossEncoder.create({ model: dir, device: 'cpu', tokenizerThreads: 1 });
    opened.push(ce);
    const pairs: Array<[string, string]> = [['a', 'b'], ['c', 'd e f']];
    const p = await ce.predict(pairs);
    expect(p).to.be.instanceOf(Float32Array);
    expect(Array.from(p as Float32Array)).to.deep.equal(Array.from(await ce.scoreMatrix(pairs)));
  });

  it('a Transformer saved in a subfolder (old 0_Transformer layout) is refused clearly', () => {
    const dir = variant(join(HF, 'bert-dense-st'), 'st-sub', (d) => {
      mkdirSync(join(d, '0_Transformer'));
      editJson(join(d, 'modules.json'), (j) => (((j as unknown as Array<Record<string, unknown>>)[0].path = '0_Transformer')));
    });
    expectThrow(() => loadModelFolder(dir), ModelFolderError, /a Transformer in a subfolder \("0_Transformer"\) is not supported/);
  });
});
