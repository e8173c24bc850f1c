#!/usr/bin/env python3
"""Summary of scripts/gpu/fp8_sts12.sh: per model and run, STS12's main score (Spearman of cosine
similarities, x100 as mteb reports it), its change against float32, and the agreement of the run's
per-pair similarities with float32's (Pearson r, Spearman rho, max |difference| over 3108 pairs).

    python3 scripts/gpu/fp8_sts12_summary.py /tmp/fp8-sts12
"""
import glob
import json
import os
import sys

import numpy as np


def ranks(x):
    """Ranks with ties averaged (scipy.stats.rankdata's 'average')."""
    order = np.argsort(x, kind="mergesort")
    r = np.empty(len(x))
    xs = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and xs[j + 1] == xs[i]:
            j += 1
        r[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return r


def pearson(a, b):
    return float(np.corrcoef(a, b)[0, 1])


def spearman(a, b):
    return pearson(ranks(a), ranks(b))


def main_score(run_dir):
    files = glob.glob(os.path.join(run_dir, "**", "STS12.json"), recursive=True)
    if not files:
        return None
    r = json.load(open(files[0]))
    return float(np.mean([e["main_score"] for entries in r["scores"].values() for e in entries]))


def pair_scores(run_dir):
    """The longest list of numbers in the predictions file (the per-pair similarities)."""
    files = glob.glob(os.path.join(run_dir, "predictions", "STS12_predictions.json"))
    if not files:
        return None
    best = []

    def walk(v):
        nonlocal best
        if isinstance(v, list) and v and all(isinstance(x, (int, float)) for x in v):
            if len(v) > len(best):
                best = v
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)

    walk(json.load(open(files[0])))
    return np.array(best, dtype=np.float64) if best else None


root = sys.argv[1]
for model in sorted(os.listdir(root)):
    base = os.path.join(root, model)
    if not os.path.isdir(base):
        continue
    ref_score, ref_pairs = main_score(os.path.join(base, "float32")), pair_scores(os.path.join(base, "float32"))
    print(f"{model}: STS12 main score (x100), change vs float32, agreement of per-pair similarities with float32")
    for run in ["float32", "float16", "float16+fp8", "bfloat16", "bfloat16+fp8"]:
        d = os.path.join(base, run)
        s, p = main_score(d), pair_scores(d)
        if s is None:
            print(f"  {run:14s} missing")
            continue
        line = f"  {run:14s} {100 * s:8.4f}"
        if ref_score is not None:
            line += f"  delta {100 * (s - ref_score):+8.4f}"
        if p is not None and ref_pairs is not None and len(p) == len(ref_pairs):
            line += f"  pairs: pearson {pearson(p, ref_pairs):.6f} spearman {spearman(p, ref_pairs):.6f} max|diff| {np.abs(p - ref_pairs).max():.2e} (n={len(p)})"
        print(line)
