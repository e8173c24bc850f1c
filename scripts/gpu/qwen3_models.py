#!/usr/bin/env python3
"""Qwen3 models written by Hugging Face's own libraries on the GPU machine, with the outputs PyTorch
computes for them: the references of test/gpu/qwen3-models.gpu.ts (issue 12).

    python3 scripts/gpu/qwen3_models.py FIXTURES_DIR STS_DIR OUT_DIR      # e.g. test/fixtures/hf ../shared/data/sts OUT

Models (random weights at trained-model scale: matrices ~ N(0, 1/fan_in), RMSNorm weights
~ 1 + N(0, 0.1^2), embeddings ~ N(0, 0.5^2)), with the byte-level BPE tokenizers of
test/fixtures/hf/qwen3-emb (appends <|endoftext|>) and qwen3-lm ("yes"/"no" single tokens):
  qwen3-0.6b-emb  Qwen3Model of Qwen3-Embedding-0.6B's shape (28 layers, hidden 1024, 16 heads,
                  8 KV heads, head_dim 128, intermediate 3072, rope_theta 1e6, tied), saved by
                  sentence-transformers with lasttoken Pooling + Normalize.
  qwen3-0.6b-lm   Qwen3ForCausalLM of Qwen3-Reranker-0.6B's shape (tied LM head).
  qwen3-0.6b-lm-spread  the same with the final norm scaled so P(yes) spreads over (0, 1).
  qwen3-tiny-emb  the same at 2 layers x 64 (4 heads, 2 KV heads, head_dim 32).

reference.json:
  embedders: texts ('', 'a', ragged STS sentences, one text over max_seq_length), input_ids (what
  sentence-transformers fed the model), embeddings_fp32 / _bf16 (SentenceTransformer.encode on
  CUDA, TF32 off, the model cast to each dtype), torch_cos_bf16 / torch_cos_fp16 (per text, cosine
  of PyTorch's bf16 / fp16 to its fp32), max_seq_length.
  reranker: instruction, prefix, suffix, yes_id, no_id, and per (query, document) pair -- 16
  queries x 20 candidates, the Qwen3-Reranker prompt so candidates share a ~200-token prefix --
  input_ids, yes / no logits at the last position and p_yes = softmax over (no, yes), in fp32, bf16
  and fp16.
OUT_DIR/qwen3.json lists the models.
"""
import json
import os
import sys
import time

import numpy as np
import torch
import transformers as T
import sentence_transformers
from sentence_transformers import SentenceTransformer
from sentence_transformers import models as stm

from sts_sentences import sts_sentences  # scripts/gpu/, beside this script

FIX, STS, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(OUT, exist_ok=True)
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


SENTS = sts_sentences(STS)
PICKED = [SENTS[i] for i in range(0, len(SENTS), max(1, len(SENTS) // 40))][:40]
SHAPE_06B = dict(num_hidden_layers=28, hidden_size=1024, num_attention_heads=16, num_key_value_heads=8, head_dim=128, intermediate_size=3072)
SHAPE_TINY = dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=32, intermediate_size=128)


def config(shape, vocab):
    return T.Qwen3Config(vocab_size=vocab, max_position_embeddings=4096, rope_theta=1e6, rms_norm_eps=1e-6, tie_word_embeddings=True, **shape)


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith('norm.weight'):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            elif 'embed_tokens' in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)
    return model


def save_embedder(name, shape, seed, max_seq=512):
    t0 = time.time()
    tok = T.AutoTokenizer.from_pretrained(os.path.join(FIX, 'qwen3-emb'))
    tok.model_max_length = max_seq
    raw = os.path.join('/tmp/raw-qwen3', name)
    randomize(T.Qwen3Model(config(shape, len(tok))), seed).save_pretrained(raw)
    tok.save_pretrained(raw)
    tr = stm.Transformer(raw, max_seq_length=max_seq)
    st = SentenceTransformer(modules=[tr, stm.Pooling(tr.get_word_embedding_dimension(), pooling_mode='lasttoken'), stm.Normalize()], device='cpu')
    out = os.path.join(OUT, name)
    st.save(out)
    del st
    st = SentenceTransformer(out, device='cuda')
    texts = ['', 'a'] + PICKED + [' '.join(SENTS[1000:1000 + max_seq // 6])]
    feats = st.tokenize(texts)
    ids = [row[m.bool()].tolist() for row, m in zip(feats['input_ids'], feats['attention_mask'])]
    enc = lambda xs: st.encode(xs, batch_size=16, convert_to_tensor=True).double().cpu().numpy()
    with torch.inference_mode():
        st.to(torch.float32)
        e32 = enc(texts)
        st.to(torch.bfloat16)
        eb16 = enc(texts)
        st.to(torch.float16)
        ef16 = enc(texts)
    cosine = lambda a: (np.sum(a * e32, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(e32, axis=1)).tolist()
    cos, cos16 = cosine(eb16), cosine(ef16)
    ref = {'texts': texts, 'input_ids': ids, 'max_seq_length': st.max_seq_length, 'embeddings_fp32': e32.tolist(), 'embeddings_bf16': eb16.tolist(),
           'torch_cos_bf16': cos, 'torch_cos_fp16': cos16, 'made_by': f'sentence-transformers {sentence_transformers.__version__}, transformers {T.__version__}, '
                                             f'torch {torch.__version__} SentenceTransformer.encode on {torch.cuda.get_device_name()}'}
    json.dump(ref, open(os.path.join(out, 'reference.json'), 'w'))
    print(f'{name}: {len(texts)} texts, tokens {min(map(len, ids))}..{max(map(len, ids))}; PyTorch bf16 worst cosine {min(cos):.8f}, fp16 {min(cos16):.8f} ({time.time() - t0:.0f}s)', flush=True)
    del st
    torch.cuda.empty_cache()
    return {'name': name, 'dir': out, 'kind': 'encoder'}


PREFIX = ('<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the '
          'Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n')
SUFFIX = '<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n'
INSTRUCTION = 'Given a web search query, retrieve relevant passages that answer the query'


def save_reranker(name, shape, seed, spread=False):
    """spread: the final norm's weight scaled so the pairs' fp32 logits z = yes - no have an RMS of 2
    (z is linear in that weight), which puts most P(yes) inside (0.02, 0.98) -- where the sigmoid
    shows a logit error -- instead of near 0 as with the plain random model."""
    t0 = time.time()
    tok = T.AutoTokenizer.from_pretrained(os.path.join(FIX, 'qwen3-lm'))
    out = os.path.join(OUT, name)
    lm = randomize(T.Qwen3ForCausalLM(config(shape, len(tok))), seed)
    yes, no = tok.convert_tokens_to_ids('yes'), tok.convert_tokens_to_ids('no')
    # 16 queries x 20 candidates (enough pairs that a few land where P(yes) is not near 0 or 1); each query is long enough (with the system line and instruction)
    # for a shared prefix of about 200 tokens.
    queries = [' '.join(SENTS[3000 + 9 * q:3000 + 9 * q + 9]) for q in range(16)]
    rows = []
    lm.to('cuda').eval()
    with torch.inference_mode():
        for q in queries:
            for c in range(20):
                d = SENTS[4000 + len(rows)]  # a different document for every pair
                ids = tok(f'{PREFIX}<Instruct>: {INSTRUCTION}\n<Query>: {q}\n<Document>: {d}{SUFFIX}')['input_ids']
                rows.append({'query': q, 'document': d, 'input_ids': ids})
        if spread:
            zs = []
            for r in rows:
                z = lm(torch.tensor([r['input_ids']], device='cuda')).logits[0, -1].float()
                zs.append(float(z[yes] - z[no]))
            scale = 2.0 / float(np.sqrt(np.mean(np.square(zs))))
            lm.model.norm.weight.mul_(scale)
            print(f'{name}: final norm weight x {scale:.4f} (fp32 logit RMS {float(np.sqrt(np.mean(np.square(zs)))):.2f} -> 2)', flush=True)
        lm.save_pretrained(out)
        tok.save_pretrained(out)
        for dt, tag in [(torch.float32, 'fp32'), (torch.bfloat16, 'bf16'), (torch.float16, 'fp16')]:
            lm.to(dt)
            for r in rows:
                z = lm(torch.tensor([r['input_ids']], device='cuda')).logits[0, -1].float()
                r[f'yes_{tag}'], r[f'no_{tag}'] = float(z[yes]), float(z[no])
                r[f'p_yes_{tag}'] = float(torch.softmax(torch.stack([z[no], z[yes]]), 0)[1])
        # PyTorch's own fp32 under another schedule: the same pairs in right-padded batches of 20
        # (causal: padding after a sequence cannot reach it), its last real position -- how far fp32
        # summation order alone moves P(yes) and z on this 28-layer random model.
        lm.to(torch.float32)
        for b in range(0, len(rows), 20):
            grp = rows[b:b + 20]
            L = max(len(r['input_ids']) for r in grp)
            ids = torch.tensor([r['input_ids'] + [0] * (L - len(r['input_ids'])) for r in grp], device='cuda')
            mask = torch.tensor([[1] * len(r['input_ids']) + [0] * (L - len(r['input_ids'])) for r in grp], device='cuda')
            logits = lm(input_ids=ids, attention_mask=mask).logits
            for k, r in enumerate(grp):
                z = logits[k, len(r['input_ids']) - 1].float()
                r['yes_fp32_batched'], r['no_fp32_batched'] = float(z[yes]), float(z[no])
                r['p_yes_fp32_batched'] = float(torch.softmax(torch.stack([z[no], z[yes]]), 0)[1])
    ref = {'instruction': INSTRUCTION, 'prefix': PREFIX, 'suffix': SUFFIX, 'yes_id': yes, 'no_id': no, 'rows': rows,
           'made_by': f'transformers {T.__version__}, torch {torch.__version__} Qwen3ForCausalLM on {torch.cuda.get_device_name()}, TF32 off'}
    json.dump(ref, open(os.path.join(out, 'reference.json'), 'w'))
    worst = {t: max(abs(r[f'p_yes_{t}'] - r['p_yes_fp32']) for r in rows) for t in ('bf16', 'fp16')}
    miss = {t: sum(abs(r[f'p_yes_{t}'] - r['p_yes_fp32']) > 5e-3 for r in rows) for t in ('bf16', 'fp16')}
    mid = sum(0.01 < r['p_yes_fp32'] < 0.99 for r in rows)
    dp = max(abs(r['p_yes_fp32_batched'] - r['p_yes_fp32']) for r in rows)
    dz = max(abs((r['yes_fp32_batched'] - r['no_fp32_batched']) - (r['yes_fp32'] - r['no_fp32'])) for r in rows)
    print(f'{name}: PyTorch fp32 batches of 20 (right-padded) vs one pair at a time: max |dP(yes)| {dp:.2e}, max |dz| {dz:.2e}', flush=True)
    print(f'{name}: {len(rows)} pairs ({mid} with 0.01 < P(yes) < 0.99), tokens {min(len(r["input_ids"]) for r in rows)}..{max(len(r["input_ids"]) for r in rows)}; '
          f'PyTorch bf16 worst |dP(yes)| {worst["bf16"]:.2e} ({miss["bf16"]} pairs > 5e-3), fp16 {worst["fp16"]:.2e} ({miss["fp16"]} > 5e-3) ({time.time() - t0:.0f}s)', flush=True)
    del lm
    torch.cuda.empty_cache()
    return {'name': name, 'dir': out, 'kind': 'reranker'}


models = [save_embedder('qwen3-tiny-emb', SHAPE_TINY, 1), save_embedder('qwen3-0.6b-emb', SHAPE_06B, 2), save_reranker('qwen3-0.6b-lm', SHAPE_06B, 3),
          save_reranker('qwen3-0.6b-lm-spread', SHAPE_06B, 4, spread=True)]
json.dump(models, open(os.path.join(OUT, 'qwen3.json'), 'w'), indent=1)
print('wrote', os.path.join(OUT, 'qwen3.json'))
