#!/usr/bin/env python3
"""Models of every family written by Hugging Face's own libraries on the GPU machine, with the
outputs PyTorch computes for them: the references of test/gpu/families.gpu.ts (issue 10).

    python3 scripts/gpu/family_models.py FIXTURES_DIR STS_DIR OUT_DIR

For each model: a random transformers model (XLMRobertaModel, RobertaModel, DistilBertModel and
the *ForSequenceClassification classes; one XLM-R of bge-m3's shape: 24 layers x 1024, 16 heads,
8194 positions, vocab 250002) written by save_pretrained, with the tokenizer of the matching
test/fixtures/hf folder (Unigram/Metaspace for XLM-R, byte-level BPE for RoBERTa, WordPiece for
DistilBERT), wrapped and saved by sentence-transformers (Transformer, Pooling, Normalize) or
CrossEncoder. Weights are random at the scale of trained models (matrices ~ N(0, 1/fan_in),
LayerNorm ~ 1 + N(0, 0.1^2), biases ~ N(0, 0.05^2)) so activations stay unit-sized at any depth.

OUT_DIR/families.json lists the models; each model folder gets reference.json:
  encoders: texts (ragged STS sentences, '', 'a', one text longer than max_seq_length), input_ids
  (the ids sentence-transformers fed the model, truncated), pooling, normalize, embeddings_fp32 /
  _fp16 / _bf16 (SentenceTransformer.encode on CUDA, TF32 off, the model cast to each dtype),
  torch_cos_bf16 / torch_cos_fp16 (per text, cosine of PyTorch's own bf16 / fp16 to its fp32),
  batch1_fp32 (the first text alone).
  cross-encoders: pairs, input_ids, logits_fp32 (transformers' model on the ids), scores_fp32 /
  _fp16 / _bf16 (CrossEncoder.predict, sigmoid).
"""
import json
import os
import sys
import time

import numpy as np
import torch
import transformers as T
import sentence_transformers
from sentence_transformers import CrossEncoder, SentenceTransformer
from sentence_transformers import models as stm

from sts_sentences import sts_sentences  # scripts/gpu/, beside this script

FIX, STS, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(OUT, exist_ok=True)
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
ONLY = set(os.environ.get('FAMILY_MODELS', '').split(',')) - {''}


SENTS = sts_sentences(STS)
PICKED = [SENTS[i] for i in range(0, len(SENTS), max(1, len(SENTS) // 48))][:48]


def texts_for(max_seq):
    # Ragged real sentences, the empty string, one character, and one text over max_seq_length
    # (about 12 tokens per sentence with these 2000-word tokenizers).
    n = max(60, max_seq // 6)
    return ['', 'a'] + PICKED + [' '.join(SENTS[1000:1000 + n])]


def pairs_for():
    t = PICKED
    pairs = [(t[i], t[(i * 7 + 3) % len(t)]) for i in range(len(t))]
    pairs.append(('a query', ' '.join(SENTS[2000:2120])))  # the document is truncated
    return pairs


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith('norm.weight') or 'LayerNorm.weight' in name or 'layer_norm.weight' in name:
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
            elif 'embeddings' in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)
    return model


def tokenizer_from(fixture, max_len):
    tok = T.AutoTokenizer.from_pretrained(os.path.join(FIX, fixture))
    tok.model_max_length = max_len  # the fixtures' tokenizers say 48
    return tok


def cast(st, dt):
    st.to(dt)
    return st


def save_encoder(name, model, fixture, pooling, max_seq, seed):
    t0 = time.time()
    raw = os.path.join('/tmp/raw-families', name)
    tok = tokenizer_from(fixture, max_seq)
    randomize(model, seed).save_pretrained(raw)
    tok.save_pretrained(raw)
    del model
    tr = stm.Transformer(raw, max_seq_length=max_seq)
    st = SentenceTransformer(modules=[tr, stm.Pooling(tr.get_word_embedding_dimension(), pooling_mode=pooling), stm.Normalize()], device='cpu')
    out = os.path.join(OUT, name)
    st.save(out)
    del st
    st = SentenceTransformer(out, device='cuda')  # what a user loading the folder gets
    texts = texts_for(max_seq)
    feats = st.tokenize(texts)
    ids = [row[m.bool()].tolist() for row, m in zip(feats['input_ids'], feats['attention_mask'])]
    # Tensors, widened here: numpy has no bfloat16.
    enc = lambda m, xs: m.encode(xs, batch_size=16, convert_to_tensor=True).double().cpu().numpy()
    with torch.inference_mode():
        e32 = enc(cast(st, torch.float32), texts)
        one = enc(st, texts[:1])
        e16 = enc(cast(st, torch.float16), texts)
        eb16 = enc(cast(st, torch.bfloat16), texts)
    cos = lambda a, b: (np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).tolist()
    ref = {'texts': texts, 'input_ids': ids, 'pooling': pooling, 'normalize': True, 'max_seq_length': st.max_seq_length,
           'embeddings_fp32': e32.tolist(), 'embeddings_fp16': e16.tolist(), 'embeddings_bf16': eb16.tolist(),
           'torch_cos_fp16': cos(e16, e32), 'torch_cos_bf16': cos(eb16, e32), 'batch1_fp32': one.tolist(),
           'made_by': f'sentence-transformers {sentence_transformers.__version__}, transformers {T.__version__}, '
                      f'torch {torch.__version__} SentenceTransformer.encode on {torch.cuda.get_device_name()}'}
    json.dump(ref, open(os.path.join(out, 'reference.json'), 'w'))
    lens = [len(x) for x in ids]
    print(f'{name}: {len(texts)} texts, tokens {min(lens)}..{max(lens)}; PyTorch worst cosine to its fp32: '
          f'fp16 {min(ref["torch_cos_fp16"]):.8f}, bf16 {min(ref["torch_cos_bf16"]):.8f} ({time.time() - t0:.0f}s)', flush=True)
    del st
    torch.cuda.empty_cache()
    return {'name': name, 'dir': out, 'kind': 'encoder'}


def save_cross(name, model, fixture, max_len, seed):
    t0 = time.time()
    raw = os.path.join('/tmp/raw-families', name)
    tok = tokenizer_from(fixture, max_len)
    randomize(model, seed).save_pretrained(raw)
    tok.save_pretrained(raw)
    del model
    ce = CrossEncoder(raw, device='cpu', max_length=max_len)
    out = os.path.join(OUT, name)
    ce.save(out)
    ce = CrossEncoder(out, device='cuda')
    pairs = pairs_for()
    enc = ce.tokenizer([p[0] for p in pairs], [p[1] for p in pairs], truncation='longest_first', max_length=ce.max_length)
    ids = enc['input_ids']
    hf = T.AutoModelForSequenceClassification.from_pretrained(out).to('cuda', torch.float32).eval()
    with torch.inference_mode():
        # Plain transformers on the same ids, one pair at a time (no padding): the raw logits.
        logits = [hf(input_ids=torch.tensor([x], device='cuda')).logits[0].double().cpu().tolist() for x in ids]
        m = ce if isinstance(ce, torch.nn.Module) else ce.model
        pred = lambda: ce.predict(pairs, batch_size=16, convert_to_tensor=True).double().cpu().reshape(-1).tolist()
        m.to(torch.float32)
        s32 = pred()
        m.to(torch.float16)
        s16 = pred()
        m.to(torch.bfloat16)
        sb16 = pred()
    ref = {'pairs': pairs, 'input_ids': ids, 'logits_fp32': logits, 'scores_fp32': s32, 'scores_fp16': s16, 'scores_bf16': sb16,
           'max_length': ce.max_length,
           'made_by': f'sentence-transformers {sentence_transformers.__version__} CrossEncoder.predict / transformers {T.__version__} on {torch.cuda.get_device_name()}'}
    json.dump(ref, open(os.path.join(out, 'reference.json'), 'w'))
    d16 = np.max(np.abs(np.asarray(s16) - np.asarray(s32)))
    db16 = np.max(np.abs(np.asarray(sb16) - np.asarray(s32)))
    print(f'{name}: {len(pairs)} pairs; PyTorch max |score - fp32|: fp16 {d16:.2e}, bf16 {db16:.2e} ({time.time() - t0:.0f}s)', flush=True)
    del ce, hf
    torch.cuda.empty_cache()
    return {'name': name, 'dir': out, 'kind': 'cross-encoder'}


V = {'xlmr': len(tokenizer_from('xlmr-st', 512)), 'roberta': len(tokenizer_from('roberta-st', 512)), 'distilbert': len(tokenizer_from('distilbert-st', 512))}
base = dict(hidden_size=384, num_hidden_layers=4, num_attention_heads=6, intermediate_size=1536)
rob = dict(max_position_embeddings=514, type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2, **base)
dis = dict(vocab_size=V['distilbert'], dim=384, n_layers=4, n_heads=6, hidden_dim=1536, max_position_embeddings=512, pad_token_id=0)
large = dict(vocab_size=250002, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
             max_position_embeddings=8194, type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2)
JOBS = [
    ('xlmr-base', lambda: save_encoder('xlmr-base', T.XLMRobertaModel(T.XLMRobertaConfig(vocab_size=V['xlmr'], **rob), add_pooling_layer=False), 'xlmr-st', 'mean', 512, 1)),
    ('roberta-base', lambda: save_encoder('roberta-base', T.RobertaModel(T.RobertaConfig(vocab_size=V['roberta'], **rob), add_pooling_layer=False), 'roberta-st', 'mean', 512, 2)),
    ('distilbert-base', lambda: save_encoder('distilbert-base', T.DistilBertModel(T.DistilBertConfig(**dis)), 'distilbert-st', 'cls', 512, 3)),
    ('xlmr-ce', lambda: save_cross('xlmr-ce', T.XLMRobertaForSequenceClassification(T.XLMRobertaConfig(vocab_size=V['xlmr'], num_labels=1, **rob)), 'xlmr-st', 512, 4)),
    ('roberta-ce', lambda: save_cross('roberta-ce', T.RobertaForSequenceClassification(T.RobertaConfig(vocab_size=V['roberta'], num_labels=1, **rob)), 'roberta-st', 512, 5)),
    ('distilbert-ce', lambda: save_cross('distilbert-ce', T.DistilBertForSequenceClassification(T.DistilBertConfig(num_labels=1, **dis)), 'distilbert-st', 512, 6)),
    # bge-m3's shape: CLS pooling + normalise, 8192 tokens.
    ('xlmr-large-8k', lambda: save_encoder('xlmr-large-8k', T.XLMRobertaModel(T.XLMRobertaConfig(**large), add_pooling_layer=False), 'xlmr-st', 'cls', 8192, 7)),
]
manifest = []
for name, job in JOBS:
    if ONLY and name not in ONLY:
        continue
    try:
        manifest.append(job())
    except Exception as e:  # one family's failure must not hide the others
        print(f'{name}: FAILED {type(e).__name__}: {e}', flush=True)
json.dump(manifest, open(os.path.join(OUT, 'families.json'), 'w'))
print(f'families.json: {len(manifest)} of {len(JOBS)} models in {OUT}', flush=True)
