"""sentence-transformers baseline of bench/qwen3.ts embed: SentenceTransformer.encode of the texts
the TypeScript bench wrote (the same documents it timed), on CUDA in the given dtype.

    python3 bench/st_encode_baseline.py --model DIR --texts texts.json --dtype bf16 \
        --batch-sizes 16,32,64 --sweep-docs 1024 --repeats 1 --save-first 64 --out result.json

texts.json: {"texts": [...], "warmup": [...]}. Each batch size of the sweep: one warm-up encode of
"warmup", then --repeats timed encodes (median kept) of the first --sweep-docs texts (0: all);
then, when the sweep covered fewer, all texts at the best batch size. Timed: tokenization and the
copy of float32 embeddings to the host included, model load excluded -- what embedrank's timed
embedMatrix does. result.json: points [{batchSize, seconds, texts, tokens}] (tokens: what the
model saw, special tokens included, cut to max_seq_length; the last point is the full set),
bestBatchSize, embeddings of the first --save-first texts (float32 lists, at the best batch
size), tokens, versions.
"""
import argparse
import json
import time

import numpy as np
import torch
import transformers
import sentence_transformers
from sentence_transformers import SentenceTransformer

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--texts", required=True)
p.add_argument("--dtype", default="bf16", choices=["fp32", "fp16", "bf16"])
p.add_argument("--batch-sizes", default="16,32,64")
p.add_argument("--repeats", type=int, default=1)
p.add_argument("--sweep-docs", type=int, default=0)
p.add_argument("--save-first", type=int, default=64)
p.add_argument("--out", required=True)
a = p.parse_args()

DT = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
torch.backends.cuda.matmul.allow_tf32 = False
data = json.load(open(a.texts, encoding="utf-8"))
texts, warmup = data["texts"], data.get("warmup") or data["texts"][:256]

model = SentenceTransformer(a.model, device="cuda").to(DT[a.dtype])
model.eval()
# Tokens the model sees, counted once outside the timing with encode's own tokenization (the
# tokenizer's post-processor appends the EOS Qwen3-Embedding pools; cut to max_seq_length).
# sentence-transformers 6 deprecates tokenize for preprocess (qwen3_models.py ran tokenize on 6.0.1).
tokenize = getattr(model, "tokenize", None) or model.preprocess


def count_tokens(xs):
    return sum(int(tokenize(xs[i:i + 1024])["attention_mask"].sum()) for i in range(0, len(xs), 1024))


n_tokens = count_tokens(texts)


def encode(xs, bs):
    # float32 on the host, as embedrank returns (encode's own numpy path differs across versions for bf16)
    return model.encode(xs, batch_size=bs, convert_to_tensor=True, show_progress_bar=False).float().cpu()


def timed(xs, bs):
    """Median seconds of --repeats encodes of xs after a warm-up at this batch size; None when out of memory."""
    try:
        encode(warmup, bs)
        times = []
        for _ in range(a.repeats):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            encode(xs, bs)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        return float(np.median(times))
    except torch.OutOfMemoryError:
        print(f"sentence-transformers: out of memory at batch size {bs}", flush=True)
        torch.cuda.empty_cache()
        return None


# The sweep runs on the first --sweep-docs texts (all when 0); the full set then runs once more at
# the best batch size unless the sweep already covered it.
sizes = [int(x) for x in a.batch_sizes.split(",")]
sweep = texts[:a.sweep_docs] if 0 < a.sweep_docs < len(texts) else texts
sweep_tokens = n_tokens if sweep is texts else count_tokens(sweep)
points = []
for bs in sizes:
    secs = timed(sweep, bs)
    if secs is None:
        continue
    points.append({"batchSize": bs, "seconds": secs, "texts": len(sweep), "tokens": sweep_tokens})
    print(f"sentence-transformers {a.dtype} batch {bs}: {len(sweep)} texts in {secs:.3f} s, {len(sweep) / secs:.0f} texts/s, {sweep_tokens / secs / 1e6:.3f} Mtok/s", flush=True)
if not points:
    raise SystemExit("sentence-transformers: no batch size ran")
best = min(points, key=lambda q: q["seconds"])["batchSize"]
if sweep is not texts:
    secs = timed(texts, best)
    if secs is None:
        raise SystemExit(f"sentence-transformers: out of memory on all texts at batch size {best}")
    points.append({"batchSize": best, "seconds": secs, "texts": len(texts), "tokens": n_tokens})
    print(f"sentence-transformers {a.dtype} batch {best} (best of the sweep): {len(texts)} texts in {secs:.3f} s, {len(texts) / secs:.0f} texts/s, {n_tokens / secs / 1e6:.3f} Mtok/s", flush=True)
emb = encode(texts[:a.save_first], best).numpy() if a.save_first > 0 else np.zeros((0, 0), np.float32)
json.dump({
    "points": points, "bestBatchSize": best, "embeddings": emb.tolist(), "tokens": n_tokens,
    "versions": f"sentence-transformers {sentence_transformers.__version__}, transformers {transformers.__version__}, torch {torch.__version__}",
}, open(a.out, "w"))
