"""transformers baseline of bench/qwen3.ts rerank: Qwen3-Reranker as its model card runs it --
Qwen3ForCausalLM on CUDA, left-padded batches, P(yes) = softmax over the ("no", "yes") logits at
the last position -- on the token ids embedrank's CrossEncoder built (identical inputs).

    python3 bench/qwen3_reranker_baseline.py --model DIR --inputs rerank-inputs.json --dtype bf16 \
        --batch-sizes 20,40,80,160 --out result.json

rerank-inputs.json: input_ids (timed prompts, query-major), warmup_input_ids, and prefix, suffix,
bodies, max_length for a check of the prompt itself: the card's process_inputs (prefix tokens +
tokenizer(body, truncation to max_length - prefix - suffix) + suffix tokens) is computed here
with transformers' tokenizer and compared with embedrank's ids.

Each batch size: one warm-up pass over warmup_input_ids, then one timed pass over input_ids
(padding, host-to-device copies and the P(yes) copy back included; tokenization excluded, which
favours the baseline). Only the last position's logits are computed (logits_to_keep=1, as
generate does), no KV cache is kept (use_cache=False), positions count real tokens only (left
padding shifts none). result.json: points [{batchSize, seconds, tokens}], bestBatchSize, p_yes of
every prompt from the best batch size, cardTokenization {equal, total}, versions.
"""
import argparse
import inspect
import json
import time

import torch
import transformers
from transformers import AutoTokenizer, Qwen3ForCausalLM

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--inputs", required=True)
p.add_argument("--dtype", default="bf16", choices=["fp32", "fp16", "bf16"])
p.add_argument("--batch-sizes", default="20,40,80,160")
p.add_argument("--out", required=True)
a = p.parse_args()

DT = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
data = json.load(open(a.inputs, encoding="utf-8"))
rows, warm = data["input_ids"], data["warmup_input_ids"]

tok = AutoTokenizer.from_pretrained(a.model)
yes, no = tok.convert_tokens_to_ids("yes"), tok.convert_tokens_to_ids("no")
pad = tok.pad_token_id if tok.pad_token_id is not None else tok.convert_tokens_to_ids("<|endoftext|>")

# The model card's process_inputs on the same texts, to check embedrank's prompt ids.
pre = tok.encode(data["prefix"], add_special_tokens=False)
suf = tok.encode(data["suffix"], add_special_tokens=False)
body = tok(data["bodies"], add_special_tokens=False, truncation="longest_first", max_length=data["max_length"] - len(pre) - len(suf))["input_ids"]
equal = sum(1 for b, r in zip(body, rows) if pre + b + suf == r)
print(f"transformers: card tokenization equals embedrank's ids for {equal} of {len(rows)} prompts", flush=True)

model = Qwen3ForCausalLM.from_pretrained(a.model).to("cuda", DT[a.dtype]).eval()
params = inspect.signature(model.forward).parameters
keep = {"logits_to_keep": 1} if "logits_to_keep" in params else {"num_logits_to_keep": 1} if "num_logits_to_keep" in params else {}


def batch(seqs):
    L = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), L), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), L), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, L - len(s):] = torch.tensor(s, dtype=torch.long)
        mask[i, L - len(s):] = 1
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids.to("cuda", non_blocking=True), mask.to("cuda", non_blocking=True), pos.to("cuda", non_blocking=True)


def score(seqs, bs):
    out = []
    with torch.inference_mode():
        for i in range(0, len(seqs), bs):
            ids, mask, pos = batch(seqs[i:i + bs])
            z = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False, **keep).logits[:, -1, :].float()
            out.append(torch.softmax(torch.stack([z[:, no], z[:, yes]], 1), 1)[:, 1])
    return torch.cat(out).cpu()


n_tokens = sum(len(r) for r in rows)
points, best_p, best_t = [], None, float("inf")
for bs in [int(x) for x in a.batch_sizes.split(",")]:
    try:
        score(warm, bs)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        pyes = score(rows, bs)
        torch.cuda.synchronize()
        secs = time.perf_counter() - t0
    except torch.OutOfMemoryError:
        print(f"transformers: out of memory at batch size {bs}", flush=True)
        torch.cuda.empty_cache()
        continue
    points.append({"batchSize": bs, "seconds": secs, "tokens": n_tokens})
    print(f"transformers {a.dtype} batch {bs}: {secs:.3f} s, {len(rows) / secs:.0f} pairs/s, {n_tokens / secs / 1e6:.3f} Mtok/s", flush=True)
    if secs < best_t:
        best_t, best_p, best_bs = secs, pyes, bs

if not points:
    raise SystemExit("transformers: no batch size ran")
json.dump({
    "points": points, "bestBatchSize": best_bs, "p_yes": best_p.tolist(), "cardTokenization": {"equal": equal, "total": len(rows)},
    "versions": f"transformers {transformers.__version__}, torch {torch.__version__}, {model.config._attn_implementation} attention",
}, open(a.out, "w"))
