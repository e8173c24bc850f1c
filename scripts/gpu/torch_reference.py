"""Reference outputs from PyTorch + sentence-transformers for GPU correctness tests.

    python3 scripts/gpu/torch_reference.py JOBS.json

JOBS.json is a list of {"model": DIR, "kind": "encoder"|"cross-encoder", "texts": [...] or
"pairs": [[q, d], ...], "out": FILE}. Each FILE gets little-endian float32 rows (embeddings, or one
score per pair) computed in float32 with TF32 off.
"""
import json
import sys

import numpy as np
import torch
from sentence_transformers import CrossEncoder, SentenceTransformer

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False

for job in json.load(open(sys.argv[1], encoding="utf-8")):
    if job["kind"] == "encoder":
        m = SentenceTransformer(job["model"], device="cuda").to(torch.float32)
        out = m.encode(job["texts"], batch_size=64, convert_to_numpy=True)
    else:
        m = CrossEncoder(job["model"], device="cuda")
        (m if isinstance(m, torch.nn.Module) else m.model).to(torch.float32)
        out = m.predict([tuple(p) for p in job["pairs"]], batch_size=64, convert_to_numpy=True)
    np.asarray(out, dtype="<f4").tofile(job["out"])
    if job["kind"] == "cross-encoder":
        # Plain transformers as well: BertForSequenceClassification on tokenizer(query, document),
        # sigmoid of the single logit, to tell model semantics from sentence-transformers' own handling.
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(job["model"])
        hf = AutoModelForSequenceClassification.from_pretrained(job["model"]).to("cuda", torch.float32).eval()
        scores = []
        with torch.inference_mode():
            for q, d in job["pairs"]:
                f = tok(q, d, truncation="longest_first", max_length=512, return_tensors="pt").to("cuda")
                scores.append(torch.sigmoid(hf(**f).logits[0, 0]).item())
        np.asarray(scores, dtype="<f4").tofile(job["out"] + ".hf")
        f0 = tok(*job["pairs"][0])
        print("pair 0 ids", f0["input_ids"], "types", f0["token_type_ids"])
        print("cross-encoder: max |ST - transformers| =", float(np.max(np.abs(np.asarray(out) - np.asarray(scores)))), flush=True)
    print("torch reference:", job["out"], np.asarray(out).shape, flush=True)
