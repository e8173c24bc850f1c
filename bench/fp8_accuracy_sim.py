#!/usr/bin/env python3
"""Prediction, before any GPU run, of the embedding cosine `quantization: 'fp8'` reaches against
fp32: a float64 NumPy forward pass of a generated BERT (scripts/make-test-model.ts's weight
statistics: N(0, std) matrices, LayerNorm gains N(1, 0.1)) run twice — exact, and with the four
linears of every layer on e4m3 operands quantised as cuda/quantize_fp8.cu does (per-token and
per-output-channel scale = amax / 448, round to nearest even, saturate) with exact accumulation.
Everything else stays float64, so this isolates the quantisation error (fp16 rounding and FP8
fast accumulation come on top on the GPU).

  python3 bench/fp8_accuracy_sim.py --shape bert-base --lengths 1,7,64,128,512 --pool cls
"""
import argparse

import numpy as np

SHAPES = {
    "minilm-l6": (384, 6, 12, 1536),
    "bert-base": (768, 12, 12, 3072),
    "xlmr-large": (1024, 24, 16, 4096),
}


def e4m3(v):
    """Round to the nearest e4m3 value, ties to even, saturating at ±448 (values, not codes)."""
    a = np.abs(v)
    e = np.floor(np.log2(np.maximum(a, 2.0**-30)))
    e = np.maximum(e, -6)  # subnormals: fixed step 2^-9
    step = 2.0 ** (e - 3)
    q = np.round(a / step) * step  # numpy rounds half to even
    return np.sign(v) * np.minimum(q, 448.0)


def quantize_rows(x):
    amax = np.abs(x).max(axis=-1, keepdims=True)
    scale = np.where(amax > 0, amax / 448.0, 1.0).astype(np.float32).astype(np.float64)
    return e4m3(x / scale) * scale


def linear(x, w, b, fp8):
    if fp8:
        x, w = quantize_rows(x), quantize_rows(w)
    y = x @ w.T
    return y + b if b is not None else y


def layernorm(x, g, b, eps=1e-12):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * g + b


def gelu(x):
    from math import erf

    return 0.5 * x * (1 + np.vectorize(erf)(x / np.sqrt(2)))


def forward(params, ids, H, heads, fp8):
    L = len(ids)
    x = layernorm(params["word"][ids] + params["pos"][:L] + params["type"][0], *params["emb_ln"])
    d = H // heads
    for p in params["layers"]:
        qkv = linear(x, p["qkv_w"], p["qkv_b"], fp8)
        q, k, v = np.split(qkv, 3, axis=-1)
        q = q.reshape(L, heads, d).transpose(1, 0, 2)
        k = k.reshape(L, heads, d).transpose(1, 0, 2)
        v = v.reshape(L, heads, d).transpose(1, 0, 2)
        s = q @ k.transpose(0, 2, 1) / np.sqrt(d)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(1, 0, 2).reshape(L, H)
        x = layernorm(linear(ctx, p["o_w"], p["o_b"], fp8) + x, *p["ln1"])
        h = gelu(linear(x, p["up_w"], p["up_b"], fp8))
        x = layernorm(linear(h, p["down_w"], p["down_b"], fp8) + x, *p["ln2"])
    return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="bert-base", choices=SHAPES)
    ap.add_argument("--lengths", default="1,7,64,128")
    ap.add_argument("--pool", default="cls", choices=["cls", "mean"])
    ap.add_argument("--std", type=float, default=0.05, help="weight std (make-test-model default 0.05; HF init 0.02)")
    ap.add_argument("--fan-in", action="store_true", help="matrices ~ N(0, 1/fan_in), as scripts/gpu/family_models.py (trained scale)")
    ap.add_argument("--layers", type=int, default=0, help="override the layer count (0: the shape's)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    H, layers, heads, inter = SHAPES[a.shape]
    layers = a.layers or layers
    rng = np.random.default_rng(a.seed)
    n = lambda *s, m=0.0, sd=a.std: rng.normal(m, sd, s)
    w = (lambda o, i: rng.normal(0, 1 / np.sqrt(i), (o, i))) if a.fan_in else (lambda o, i: n(o, i))
    params = {
        "word": n(30522, H), "pos": n(512, H), "type": n(2, H),
        "emb_ln": (n(H, m=1, sd=0.1), n(H, sd=0.1)),
        "layers": [
            {
                "qkv_w": w(3 * H, H), "qkv_b": n(3 * H, sd=0.05), "o_w": w(H, H), "o_b": n(H, sd=0.05),
                "up_w": w(inter, H), "up_b": n(inter, sd=0.05), "down_w": w(H, inter), "down_b": n(H, sd=0.05),
                "ln1": (n(H, m=1, sd=0.1), n(H, sd=0.1)), "ln2": (n(H, m=1, sd=0.1), n(H, sd=0.1)),
            }
            for _ in range(layers)
        ],
    }
    cos = []
    for L in map(int, a.lengths.split(",")):
        ids = rng.integers(1000, 30522, L)
        ref = forward(params, ids, H, heads, False)
        q8 = forward(params, ids, H, heads, True)
        pr, pq = (ref[0], q8[0]) if a.pool == "cls" else (ref.mean(0), q8.mean(0))
        c = float(pr @ pq / np.linalg.norm(pr) / np.linalg.norm(pq))
        tok = np.sum(ref * q8, -1) / np.linalg.norm(ref, axis=-1) / np.linalg.norm(q8, axis=-1)
        cos.append(c)
        print(f"{a.shape} {layers} layers {'1/fan_in' if a.fan_in else f'std {a.std}'} length {L:4d}: pooled ({a.pool}) cosine {c:.6f}; per-token hidden cosine min {tok.min():.6f} mean {tok.mean():.6f}")
    print(f"worst pooled cosine {min(cos):.6f}")


if __name__ == "__main__":
    main()
