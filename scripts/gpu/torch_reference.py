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
    print("torch reference:", job["out"], np.asarray(out).shape, flush=True)
