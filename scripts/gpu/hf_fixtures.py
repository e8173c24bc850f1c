#!/usr/bin/env python3
"""Writes test fixtures with Hugging Face's own libraries (run on the GPU machine, which has them).

For every model family embedrank supports or plans to: a tokenizer trained with `tokenizers` on
the real SemEval STS sentences (Unigram/Metaspace as XLM-R, byte-level BPE as RoBERTa and Qwen,
WordPiece as BERT/DistilBERT), a tiny random model written by `transformers`' save_pretrained,
wrapped and saved by sentence-transformers (modules.json, 1_Pooling, Dense, Normalize, the
cross-encoder config), and the outputs sentence-transformers / transformers compute for fixed
texts on the CPU in float32: token ids, embeddings, cross-encoder scores and raw logits.
Also the ids the real all-MiniLM-L6-v2 tokenizer gives (as sentence-transformers calls it,
truncation longest_first at max_seq_length) for every STS 2012-2016 sentence and pair.

usage: hf_fixtures.py STS_DIR MINILM_DIR OUT_DIR
"""
import gzip
import hashlib
import json
import os
import sys

import numpy as np
import torch
import tokenizers
import transformers
import sentence_transformers
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from sentence_transformers import CrossEncoder, SentenceTransformer
from sentence_transformers import models as stm

from sts_sentences import sts_sentences  # scripts/gpu/, beside this script

STS, MINILM, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)
V = 2000


SENTS = sts_sentences(STS)
print(len(SENTS), 'STS sentences', flush=True)


def fast(tok, **special):
    """Wraps a `tokenizers` Tokenizer as transformers' fast tokenizer, to save_pretrained it."""
    cls = getattr(transformers, 'PreTrainedTokenizerFast', None) or getattr(transformers, 'TokenizersBackend')
    return cls(tokenizer_object=tok, **special)


def train_unigram():
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(' {2,}'), ' ')])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement='▁', prepend_scheme='always')
    tok.decoder = decoders.Metaspace(replacement='▁', prepend_scheme='always')
    tr = trainers.UnigramTrainer(vocab_size=V, special_tokens=['<s>', '<pad>', '</s>', '<unk>'], unk_token='<unk>')
    tok.train_from_iterator(SENTS, tr)
    tok.add_special_tokens(['<mask>'])
    tok.post_processor = processors.TemplateProcessing(
        single='<s> $A </s>', pair='<s> $A </s> </s> $B </s>', special_tokens=[('<s>', 0), ('</s>', 2)])
    return fast(tok, bos_token='<s>', eos_token='</s>', sep_token='</s>', cls_token='<s>', unk_token='<unk>',
                pad_token='<pad>', mask_token='<mask>', model_max_length=48)


def train_bytelevel_roberta():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=V, special_tokens=['<s>', '<pad>', '</s>', '<unk>', '<mask>'],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(SENTS, tr)
    tok.post_processor = processors.RobertaProcessing(('</s>', 2), ('<s>', 0), trim_offsets=True, add_prefix_space=False)
    return fast(tok, bos_token='<s>', eos_token='</s>', sep_token='</s>', cls_token='<s>', unk_token='<unk>',
                pad_token='<pad>', mask_token='<mask>', model_max_length=48)


def train_wordpiece():
    tok = Tokenizer(models.WordPiece(unk_token='[UNK]'))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tr = trainers.WordPieceTrainer(vocab_size=V, special_tokens=['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'])
    tok.train_from_iterator(SENTS, tr)
    tok.post_processor = processors.TemplateProcessing(
        single='[CLS] $A [SEP]', pair='[CLS] $A [SEP] $B:1 [SEP]:1', special_tokens=[('[CLS]', 2), ('[SEP]', 3)])
    return fast(tok, unk_token='[UNK]', sep_token='[SEP]', pad_token='[PAD]', cls_token='[CLS]', mask_token='[MASK]',
                model_max_length=48)


QWEN_SPLIT = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""


def train_qwen_bpe(append_eos):
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior='isolated', invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=V, special_tokens=['<|endoftext|>', '<|im_start|>', '<|im_end|>'],
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(SENTS + ['yes', 'no', 'Yes', 'No'] * 50, tr)
    tok.add_tokens(['yes', 'no'])  # single tokens, as in Qwen's vocabulary (the reranker reads their logits)
    if append_eos:  # Qwen3-Embedding's tokenizer appends <|endoftext|> to every input
        tok.post_processor = processors.TemplateProcessing(
            single='$A <|endoftext|>', pair='$A <|endoftext|> $B:1 <|endoftext|>:1', special_tokens=[('<|endoftext|>', 0)])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return fast(tok, eos_token='<|endoftext|>', pad_token='<|endoftext|>', model_max_length=128)


def randomize(model):
    """transformers' init leaves LayerNorm at 1/0 and biases at 0; random values make every tensor matter."""
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith('norm.weight') or 'LayerNorm.weight' in name or 'layer_norm.weight' in name:
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
    return model


TEXTS = [SENTS[i] for i in range(0, len(SENTS), max(1, len(SENTS) // 24))][:24]
TEXTS += ['', 'a', 'Café naïve — 東京 😀 ÅNGSTRÖM', 'The capital of France is Paris.', ' '.join(SENTS[:40])]
PAIRS = [(TEXTS[i], TEXTS[(i * 7 + 3) % len(TEXTS)]) for i in range(len(TEXTS))]
PAIRS.append((' '.join(SENTS[40:80]), ' '.join(SENTS[80:120])))


def ids_of(tokenizer, a, b=None, max_length=None):
    enc = tokenizer(a, b, truncation='longest_first', max_length=max_length) if b is not None else \
        tokenizer(a, truncation='longest_first', max_length=max_length)
    return enc['input_ids']


def save_encoder(name, hf_model, tok, pooling, dense=None, max_seq=40):
    raw = os.path.join('/tmp/raw', name)
    randomize(hf_model).save_pretrained(raw)
    tok.save_pretrained(raw)
    tr = stm.Transformer(raw, max_seq_length=max_seq)
    mods = [tr, stm.Pooling(tr.get_word_embedding_dimension(), pooling_mode=pooling)]
    if dense:
        d = stm.Dense(in_features=tr.get_word_embedding_dimension(), out_features=dense, activation_function=torch.nn.Tanh())
        randomize(d)
        mods.append(d)
    mods.append(stm.Normalize())
    st = SentenceTransformer(modules=mods, device='cpu')
    out = os.path.join(OUT, name)
    st.save(out)
    st = SentenceTransformer(out, device='cpu')  # what a user loading the folder gets
    emb = st.encode(TEXTS, batch_size=7, convert_to_numpy=True)
    one = st.encode(TEXTS[:1], batch_size=1, convert_to_numpy=True)
    feats = st.tokenize(TEXTS)
    ids = [row[m.bool()].tolist() for row, m in zip(feats['input_ids'], feats['attention_mask'])]
    ref = {'texts': TEXTS, 'input_ids': ids, 'embeddings': emb.astype(float).tolist(), 'batch1': one.astype(float).tolist(),
           'max_seq_length': st.max_seq_length, 'dim': int(emb.shape[1]),
           'made_by': f'sentence-transformers {sentence_transformers.__version__} SentenceTransformer.encode, CPU float32'}
    with open(os.path.join(OUT, name, 'reference.json'), 'w') as fh:
        json.dump(ref, fh)
    print(name, emb.shape, flush=True)


def save_cross(name, hf_model, tok, max_len=40):
    raw = os.path.join('/tmp/raw', name)
    randomize(hf_model).save_pretrained(raw)
    tok.save_pretrained(raw)
    ce = CrossEncoder(raw, device='cpu', max_length=max_len)
    out = os.path.join(OUT, name)
    ce.save(out)
    ce = CrossEncoder(out, device='cpu')
    scores = ce.predict(PAIRS, batch_size=5, convert_to_numpy=True)
    try:
        logits = ce.predict(PAIRS, batch_size=5, convert_to_numpy=True, activation_fn=torch.nn.Identity())
    except TypeError:
        logits = None
    ids = ids_of(ce.tokenizer, [p[0] for p in PAIRS], [p[1] for p in PAIRS], ce.max_length)
    ref = {'pairs': PAIRS, 'input_ids': ids, 'scores': np.asarray(scores, dtype=float).tolist(),
           'logits': None if logits is None else np.asarray(logits, dtype=float).tolist(), 'max_length': ce.max_length,
           'num_labels': ce.num_labels,
           'made_by': f'sentence-transformers {sentence_transformers.__version__} CrossEncoder.predict, CPU float32'}
    try:
        ce.rank(PAIRS[0][0], [p[1] for p in PAIRS[:3]])
        ref['rank_refused'] = False
    except Exception as e:  # sentence-transformers refuses rank() for num_labels != 1
        ref['rank_refused'] = f'{type(e).__name__}: {e}'
    with open(os.path.join(out, 'reference.json'), 'w') as fh:
        json.dump(ref, fh)
    print(name, np.asarray(scores).shape, flush=True)


T = transformers
os.makedirs('/tmp/raw', exist_ok=True)
uni, bpe, wp = train_unigram(), train_bytelevel_roberta(), train_wordpiece()
small = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
xcfg = dict(vocab_size=len(uni), max_position_embeddings=66, type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2, **small)
rcfg = dict(vocab_size=len(bpe), max_position_embeddings=66, type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2, **small)
dcfg = dict(vocab_size=len(wp), dim=32, n_layers=2, n_heads=4, hidden_dim=64, max_position_embeddings=64, pad_token_id=0)
bcfg = dict(vocab_size=len(wp), max_position_embeddings=64, type_vocab_size=2, pad_token_id=0, **small)
ONLY_QWEN = os.environ.get('ONLY') == 'qwen3'  # regenerate the Qwen3 folders alone
if not ONLY_QWEN:
  save_encoder('xlmr-st', T.XLMRobertaModel(T.XLMRobertaConfig(**xcfg), add_pooling_layer=False), uni, 'cls')
  save_cross('xlmr-ce', T.XLMRobertaForSequenceClassification(T.XLMRobertaConfig(num_labels=1, **xcfg)), uni)
  save_encoder('roberta-st', T.RobertaModel(T.RobertaConfig(**rcfg), add_pooling_layer=False), bpe, 'mean')
  save_cross('roberta-ce', T.RobertaForSequenceClassification(T.RobertaConfig(num_labels=1, **rcfg)), bpe)
  save_encoder('distilbert-st', T.DistilBertModel(T.DistilBertConfig(**dcfg)), wp, 'mean')
  save_cross('distilbert-ce', T.DistilBertForSequenceClassification(T.DistilBertConfig(num_labels=1, **dcfg)), wp)
  save_encoder('bert-dense-st', T.BertModel(T.BertConfig(**bcfg), add_pooling_layer=False), wp, 'mean', dense=16)
  save_cross('bert-ce3', T.BertForSequenceClassification(T.BertConfig(num_labels=3, **bcfg)), wp)

# Qwen3: an embedder (last-token pooling, EOS appended by the tokenizer) and a causal LM whose
# "yes"/"no" logits at the last position are what Qwen3-Reranker scores with.
try:
    qcfg = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                head_dim=32, max_position_embeddings=256, rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True)
    qe = train_qwen_bpe(True)
    qcfg['vocab_size'] = len(qe)
    save_encoder('qwen3-emb', T.Qwen3Model(T.Qwen3Config(**qcfg)), qe, 'lasttoken', max_seq=120)
    ql = train_qwen_bpe(False)
    lm = randomize(T.Qwen3ForCausalLM(T.Qwen3Config(**qcfg)))
    out = os.path.join(OUT, 'qwen3-lm')
    lm.save_pretrained(out)
    ql.save_pretrained(out)
    yes, no = ql.convert_tokens_to_ids('yes'), ql.convert_tokens_to_ids('no')
    assert isinstance(yes, int) and isinstance(no, int) and yes != no, (yes, no)
    # Qwen3-Reranker's prompt (its model card): system line, <Instruct>/<Query>/<Document>, empty think block.
    prefix = ('<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the '
              'Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n')
    suffix = '<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n'
    instruction = 'Given a web search query, retrieve relevant passages that answer the query'
    rows = []
    lm.eval()
    with torch.no_grad():
        for q, d in PAIRS[:12]:
            text = f'{prefix}<Instruct>: {instruction}\n<Query>: {q}\n<Document>: {d}{suffix}'
            ids = ql(text)['input_ids']
            logits = lm(torch.tensor([ids])).logits[0, -1]
            rows.append({'query': q, 'document': d, 'input_ids': ids, 'yes': float(logits[yes]), 'no': float(logits[no]),
                         'p_yes': float(torch.softmax(torch.stack([logits[no], logits[yes]]), 0)[1])})
    with open(os.path.join(out, 'reference.json'), 'w') as fh:
        json.dump({'instruction': instruction, 'prefix': prefix, 'suffix': suffix, 'yes_id': yes, 'no_id': no, 'rows': rows,
                   'made_by': f'transformers {transformers.__version__} Qwen3ForCausalLM logits at the last position, CPU float32'}, fh)
    print('qwen3-lm', flush=True)
except Exception as e:  # the Qwen3 fixtures are for a later issue: never lose the others over them
    print('qwen3 fixtures failed:', repr(e), flush=True)
    if ONLY_QWEN:
        raise

# The real all-MiniLM-L6-v2 tokenizer as sentence-transformers calls it (max_seq_length 256).
if ONLY_QWEN:
    sys.exit(0)
tok = T.AutoTokenizer.from_pretrained(MINILM)
singles = ids_of(tok, SENTS, max_length=256)
firsts, seconds = SENTS[0::2], SENTS[1::2]
pairs = ids_of(tok, firsts, seconds, max_length=40)
digest = hashlib.sha256('\n'.join(SENTS).encode('utf-8')).hexdigest()
with gzip.open(os.path.join(OUT, 'minilm-sts-ids.json.gz'), 'wt') as fh:
    json.dump({'sentences': len(SENTS), 'sha256_of_sentences': digest, 'single_max_length': 256, 'pair_max_length': 40,
               'singles': singles, 'pairs': pairs,
               'made_by': f'transformers {transformers.__version__} AutoTokenizer (tokenizers {tokenizers.__version__}), truncation longest_first'}, fh)
print('minilm ids', len(singles), len(pairs), flush=True)
with open(os.path.join(OUT, 'VERSIONS.json'), 'w') as fh:
    json.dump({'torch': torch.__version__, 'transformers': transformers.__version__, 'tokenizers': tokenizers.__version__,
               'sentence_transformers': sentence_transformers.__version__}, fh)
