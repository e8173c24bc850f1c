"""sentence-transformers baseline for bench/bench.ts: the same workloads on the same GPU.

Prints one JSON object per point (same fields as the TypeScript bench). fixed512/varlen256_768
feed padded token batches to SentenceTransformer.forward (what ST does after tokenizing); sts runs
SentenceTransformer.encode on the raw sentences, tokenization included.
"""
import argparse
import glob
import json
import os
import time

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--workload", required=True)
p.add_argument("--dtype", default="fp16")
p.add_argument("--batch-sizes", default="1,2,4,8,16,32,64,128")
p.add_argument("--data-dir", default="../shared/data/sts")
p.add_argument("--iters", type=int, default=10)
p.add_argument("--peak", type=float, default=0.0)
a = p.parse_args()

DT = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
NAME = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
torch.backends.cuda.matmul.allow_tf32 = False
model = SentenceTransformer(a.model, device="cuda").to(DT[a.dtype])
model.eval()
cfg = model[0].auto_model.config
H, NL, I = cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size


def flops_per_token(mean_len):
    return NL * (2 * (4 * H * H + 2 * H * I) + 4 * mean_len * H)


def emit(bs, ms, tokens_per_s, sent_per_s, mean_len):
    fpt = flops_per_token(mean_len)
    tf = tokens_per_s * fpt / 1e12
    print(json.dumps({
        "engine": "sentence-transformers", "workload": a.workload, "dtype": NAME[a.dtype], "batchSize": bs,
        "msPerBatch": ms, "tokensPerSec": tokens_per_s, "sentencesPerSec": sent_per_s, "flopsPerToken": fpt,
        "tflops": tf, "peakFraction": tf / a.peak if a.peak else 0,
    }), flush=True)


sizes = [int(x) for x in a.batch_sizes.split(",")]
rng = np.random.default_rng(0)
if a.workload in ("fixed512", "varlen256_768"):
    for bs in sizes:
        batches = []
        for _ in range(4):
            lens = [512] * bs if a.workload == "fixed512" else list(rng.integers(256, 769, size=bs))
            L = max(lens)
            ids = torch.zeros((bs, L), dtype=torch.long)
            mask = torch.zeros((bs, L), dtype=torch.long)
            for i, n in enumerate(lens):
                ids[i, :n] = torch.from_numpy(rng.integers(1000, cfg.vocab_size, size=n))
                mask[i, :n] = 1
            batches.append(({"input_ids": ids.cuda(), "attention_mask": mask.cuda(), "token_type_ids": torch.zeros_like(ids).cuda()}, sum(lens)))
        try:
            with torch.inference_mode():
                for i in range(3):
                    model(dict(batches[i % 4][0]))
                torch.cuda.synchronize()
                times, toks = [], 0
                for i in range(a.iters):
                    f, n = batches[i % 4]
                    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    s.record()
                    model(dict(f))
                    e.record()
                    torch.cuda.synchronize()
                    times.append(s.elapsed_time(e))
                    toks += n
        except torch.OutOfMemoryError:
            print(f"# sentence-transformers: out of memory at batch {bs}", flush=True)
            torch.cuda.empty_cache()
            continue
        ms = float(np.median(times))
        mean_tokens = toks / a.iters
        emit(bs, ms, mean_tokens / (ms / 1e3), bs / (ms / 1e3), mean_tokens / bs)
elif a.workload == "sts":
    sentences = []
    for f in sorted(glob.glob(os.path.join(a.data_dir, "*", "*.tsv"))):
        for line in open(f, encoding="utf-8"):
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3 and parts[1] and parts[2]:
                sentences += [parts[1], parts[2]]
    tok = model.tokenizer
    n_tokens = sum(len(x) for x in tok(sentences, truncation=True, max_length=model.max_seq_length)["input_ids"])
    for bs in sizes:
        model.encode(sentences[:2000], batch_size=bs)
        times = []
        for _ in range(3):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            model.encode(sentences, batch_size=bs, convert_to_numpy=True)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        secs = float(np.median(times))
        emit(bs, secs * 1000 * bs / len(sentences), n_tokens / secs, len(sentences) / secs, n_tokens / len(sentences))
else:
    raise SystemExit(f"unknown workload {a.workload}")
