#!/usr/bin/env python3
"""Independent reference values for embedrank's Classification, Clustering, PairClassification and
Summarization evaluators, computed with mteb 2.x's formulas (mteb/abstasks/{classification,
clustering,pair_classification}.py, mteb/_evaluators/text/summarization_evaluator.py) on small
fixed embeddings, in numpy / scipy / scikit-learn. No torch and no mteb needed: the few torch
operations mteb uses (cos_sim, dot_score in float32) are written with numpy float32.

Inputs (committed): test/fixtures/eval/mteb-inputs/*.json, made deterministically by
    python3 scripts/gpu/mteb_reference.py --make-inputs
Outputs: <out>/<name>.json
    python3 scripts/gpu/mteb_reference.py --out test/fixtures/eval/mteb-reference

Which outputs need what:
    pairclassification.json          numpy only (sklearn, when present, cross-checks the AP)
    summarization.json               numpy (scipy when present, else an own rankdata/pearson)
    classification-undersampling.json numpy only (np.random.RandomState, as mteb)
    clustering-sampling.json         Python's random only (random.Random, as mteb)
    hf-train-test-split.json         numpy only (default_rng: SeedSequence + PCG64 permutation)
    classification.json              scikit-learn (LogisticRegression, f1/precision/recall/ap)
    clustering.json                  scikit-learn (MiniBatchKMeans, v_measure, AMI)
A part whose library is missing is skipped with a message; its file is not written, and the
embedrank tests that read it skip.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sys
from collections import defaultdict

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
INPUTS = os.path.join(ROOT, "test", "fixtures", "eval", "mteb-inputs")
SEED = 42  # mteb's AbsTask seed

try:
    import sklearn  # noqa: F401

    HAVE_SKLEARN = True
except ImportError:
    HAVE_SKLEARN = False
try:
    from scipy.stats import pearsonr as _scipy_pearsonr
    from scipy.stats import spearmanr as _scipy_spearmanr

    HAVE_SCIPY = True
except ImportError:
    HAVE_SCIPY = False


# ---------------------------------------------------------------------------------------------
# inputs


def f32list(a):
    """float32 values as JSON numbers: repr of the double equal to each float32 (exact)."""
    return np.asarray(a, dtype=np.float32).astype(np.float64).tolist()


def make_inputs(out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(20261129)

    # PairClassification: 300 pairs, 16 dims, ~40% duplicates; positives are noisy copies. A few
    # pairs repeat exactly (tied scores), so tie handling is exercised.
    n, d = 300, 16
    e1 = rng.standard_normal((n, d)).astype(np.float32)
    labels = (rng.random(n) < 0.4).astype(int)
    noise = rng.standard_normal((n, d)).astype(np.float32)
    e2 = np.where(labels[:, None] == 1, 0.6 * e1 + 0.8 * noise, 0.25 * e1 + noise).astype(np.float32)
    e2[::7] *= 1.7  # different norms, so cosine and dot / euclidean orders differ
    for i, j in [(10, 11), (20, 21), (30, 31), (40, 41)]:
        e1[j], e2[j] = e1[i], e2[i]
        labels[j] = 1 - labels[i] if i != 30 else labels[i]
    with open(os.path.join(out_dir, "pairclassification.json"), "w") as f:
        json.dump({"embeddings1": [f32list(r) for r in e1], "embeddings2": [f32list(r) for r in e2], "labels": labels.tolist(), "similarity_fn": "cosine"}, f)

    # Summarization: 12 texts, 3-5 human and 5-8 machine summaries each; relevance = mean of 3
    # annotators on 1..5; text 4 has equal relevance everywhere (mteb skips it).
    texts = []
    d = 12
    for t in range(12):
        base = rng.standard_normal(d)
        nh = int(rng.integers(3, 6))
        nm = int(rng.integers(5, 9))
        human = (base + 0.7 * rng.standard_normal((nh, d))).astype(np.float32)
        quality = rng.random(nm)
        machine = (base * quality[:, None] + rng.standard_normal((nm, d))).astype(np.float32)
        rel = np.round(np.clip(1 + 4 * quality + 0.8 * rng.standard_normal(nm), 1, 5) * 3) / 3
        if t == 4:
            rel[:] = 3.0
        texts.append({"human": [f32list(r) for r in human], "machine": [f32list(r) for r in machine], "relevance": rel.tolist()})
    with open(os.path.join(out_dir, "summarization.json"), "w") as f:
        json.dump({"texts": texts, "min_score": 0, "max_score": 5, "similarity_fn": "cosine"}, f)

    # Classification: a 4-class task (samples_per_label 8) and a binary one (samples_per_label
    # 32), overlapping Gaussian classes, unbalanced train labels.
    def cls_task(n_train, n_test, d, k, spl, sep):
        means = rng.standard_normal((k, d)) * sep
        p = rng.dirichlet(np.ones(k) * 3)
        ytr = rng.choice(k, size=n_train, p=p)
        yte = rng.choice(k, size=n_test, p=p)
        xtr = (means[ytr] + rng.standard_normal((n_train, d))).astype(np.float32)
        xte = (means[yte] + rng.standard_normal((n_test, d))).astype(np.float32)
        return {"train": {"embeddings": [f32list(r) for r in xtr], "labels": ytr.tolist()}, "test": {"embeddings": [f32list(r) for r in xte], "labels": yte.tolist()}, "samples_per_label": spl, "n_experiments": 10}

    with open(os.path.join(out_dir, "classification.json"), "w") as f:
        json.dump({"multiclass": cls_task(240, 160, 12, 4, 8, 0.9), "binary": cls_task(300, 200, 10, 2, 32, 0.6)}, f)

    # Clustering: 2500 documents, 10 dims, two label levels (3 main categories, 8 sub-categories
    # as "main.sub" strings, as ArXivHierarchicalClustering's split_labels gives).
    n, d = 2500, 10
    sub_of_main = {0: [0, 1, 2], 1: [3, 4], 2: [5, 6, 7]}
    main_means = rng.standard_normal((3, d)) * 2.0
    sub_means = {s: main_means[m] + rng.standard_normal(d) * 1.0 for m, subs in sub_of_main.items() for s in subs}
    mains = rng.choice(3, size=n, p=[0.5, 0.2, 0.3])
    subs = np.array([rng.choice(sub_of_main[m]) for m in mains])
    x = np.stack([sub_means[s] for s in subs]) + rng.standard_normal((n, d))
    names = ["cs", "math", "q-bio"]
    labels = [[names[m], f"{names[m]}.{s}"] for m, s in zip(mains, subs)]
    with open(os.path.join(out_dir, "clustering.json"), "w") as f:
        json.dump(
            {
                "embeddings": [f32list(r) for r in x.astype(np.float32)],
                "labels": labels,
                "max_fraction_of_documents_to_embed": 0.04,
                "max_documents_per_cluster": 16384,
                "n_clusters": 10,
                "k_mean_batch_size": 512,
                "max_depth": None,
            },
            f,
        )
    print(f"inputs written to {out_dir}")


def load(name):
    with open(os.path.join(INPUTS, name)) as f:
        return json.load(f)


# ---------------------------------------------------------------------------------------------
# numpy versions of what mteb calls (float32 in, float32 arithmetic as sklearn / torch do it)


def sk_normalize_f32(x):
    """sklearn.preprocessing.normalize (l2) on float32: rows / norm, zero rows kept."""
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    norms[norms == 0.0] = 1.0
    return x / norms[:, None]


def paired_cosine_similarity_f32(a, b):
    """1 - sklearn.metrics.pairwise.paired_cosine_distances(a, b) for float32 input."""
    diff = sk_normalize_f32(a) - sk_normalize_f32(b)
    return 1 - 0.5 * np.einsum("ij,ij->i", diff, diff)


def paired_euclidean_f32(a, b):
    diff = a - b
    return np.sqrt(np.einsum("ij,ij->i", diff, diff))


def paired_manhattan_f32(a, b):
    return np.abs(a - b).sum(axis=1)


def torch_normalize_f32(x):
    """torch.nn.functional.normalize(p=2, dim=1, eps=1e-12) in float32."""
    n = np.sqrt((x * x).sum(axis=1, dtype=np.float32))
    return x / np.maximum(n, np.float32(1e-12))[:, None]


def average_precision(y_true, y_score):
    """sklearn.metrics.average_precision_score for binary labels (pos_label 1), step by step."""
    y_true = np.asarray(y_true) == 1
    y_score = np.asarray(y_score, dtype=np.float64)
    order = np.argsort(y_score, kind="mergesort")[::-1]
    y_score = y_score[order]
    y_true = y_true[order].astype(np.float64)
    distinct = np.where(np.diff(y_score))[0]
    thr_idx = np.r_[distinct, y_true.size - 1]
    tps = np.cumsum(y_true)[thr_idx]
    fps = 1 + thr_idx - tps
    ps = tps + fps
    precision = np.divide(tps, ps, out=np.zeros_like(tps), where=(ps != 0))
    recall = tps / tps[-1]
    precision = np.hstack((precision[::-1], 1))
    recall = np.hstack((recall[::-1], 0))
    return float(max(0.0, -np.sum(np.diff(recall) * np.array(precision)[:-1])))


def rankdata(a):
    a = np.asarray(a, dtype=np.float64)
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(len(a), dtype=np.float64)
    i = 0
    while i < len(a):
        j = i
        while j + 1 < len(a) and a[order[j + 1]] == a[order[i]]:
            j += 1
        ranks[order[i : j + 1]] = 0.5 * (i + 1 + j + 1)
        i = j + 1
    return ranks


def pearson(x, y):
    if HAVE_SCIPY:
        return float(_scipy_pearsonr(x, y).statistic)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    xm = x - x.mean()
    ym = y - y.mean()
    xm = xm / np.abs(xm).max()
    ym = ym / np.abs(ym).max()
    r = np.dot(xm / np.linalg.norm(xm), ym / np.linalg.norm(ym))
    return float(np.clip(r, -1, 1))


def spearman(x, y):
    if HAVE_SCIPY:
        return float(_scipy_spearmanr(x, y).statistic)
    return pearson(rankdata(x), rankdata(y))


# ---------------------------------------------------------------------------------------------
# PairClassification (AbsTaskPairClassification._compute_metrics)


def best_acc(scores, labels, reverse):
    rows = sorted(zip(scores, labels), key=lambda x: x[0], reverse=reverse)
    max_acc, best_t = 0, -1.0
    pos = 0
    neg_left = int(sum(np.asarray(labels) == 0))
    for i in range(len(rows) - 1):
        if rows[i][1] == 1:
            pos += 1
        else:
            neg_left -= 1
        acc = (pos + neg_left) / len(labels)
        if acc > max_acc:
            max_acc, best_t = acc, (rows[i][0] + rows[i + 1][0]) / 2
    return max_acc, best_t


def best_f1(scores, labels, reverse):
    rows = sorted(zip(scores, labels), key=lambda x: x[0], reverse=reverse)
    best = (0.0, 0.0, 0.0, 0)
    nextract = ncorrect = 0
    total = int(sum(labels))
    for i in range(len(rows) - 1):
        nextract += 1
        if rows[i][1] == 1:
            ncorrect += 1
        if ncorrect > 0:
            p = ncorrect / nextract
            r = ncorrect / total
            f1 = 2 * p * r / (p + r)
            if f1 > best[0]:
                best = (f1, p, r, (rows[i][0] + rows[i + 1][0]) / 2)
    return best


def pairclassification(out):
    inp = load("pairclassification.json")
    e1 = np.asarray(inp["embeddings1"], dtype=np.float32)
    e2 = np.asarray(inp["embeddings2"], dtype=np.float32)
    labels = np.asarray(inp["labels"], dtype=np.int64)
    cos = paired_cosine_similarity_f32(e1, e2)
    sims = {
        "similarity": (pairwise_cos := (torch_normalize_f32(e1) * torch_normalize_f32(e2)).sum(axis=1)).tolist(),
        "cosine": cos.tolist(),
        "manhattan": paired_manhattan_f32(e1, e2).tolist(),
        "euclidean": paired_euclidean_f32(e1, e2).tolist(),
        "dot": np.asarray([np.dot(e1[i], e2[i]) for i in range(len(e1))]).tolist(),
    }
    del pairwise_cos
    scores = {}
    thresholds = {}
    maxes = defaultdict(list)
    for name, reverse in [("similarity", True), ("cosine", True), ("manhattan", False), ("euclidean", False), ("dot", True)]:
        s = sims[name]
        acc, acc_t = best_acc(s, labels, reverse)
        f1, p, r, f1_t = best_f1(s, labels, reverse)
        ap = average_precision(labels, np.array(s) * (1 if reverse else -1))
        if HAVE_SKLEARN:
            from sklearn.metrics import average_precision_score

            ap_sk = float(average_precision_score(labels, np.array(s) * (1 if reverse else -1)))
            if os.environ.get("MTEB_REFERENCE_SMOKE") is None:
                assert abs(ap - ap_sk) < 1e-12, (name, ap, ap_sk)
        m = {"accuracy": float(acc), "f1": float(f1), "precision": float(p), "recall": float(r), "ap": float(ap)}
        for k, v in m.items():
            scores[f"{name}_{k}"] = v
            maxes[k].append(v)
        thresholds[name] = {"accuracy_threshold": float(acc_t), "f1_threshold": float(f1_t)}
    for k in maxes:
        scores[f"max_{k}"] = max(maxes[k])
    write(out, "pairclassification", {"scores": scores, "thresholds": thresholds, "similarities": sims, "tolerance": {"scores": 0.0, "similarities": 1e-6}})


# ---------------------------------------------------------------------------------------------
# Summarization (SummarizationEvaluator, the v2 metrics)


def summarization(out):
    inp = load("summarization.json")
    lo, hi = inp["min_score"], inp["max_score"]
    all_c, all_d, all_s, all_h = [], [], [], []
    skipped = []
    for i, t in enumerate(inp["texts"]):
        human = np.asarray(t["human"], dtype=np.float32)
        machine = np.asarray(t["machine"], dtype=np.float32)
        gold = ((np.array(t["relevance"]) - lo) / (hi - lo)).tolist()
        hn = torch_normalize_f32(human)
        c_scores, d_scores, s_scores, h_scores = [], [], [], []
        for m, g in zip(machine, gold):
            cos = (torch_normalize_f32(m[None, :]) @ hn.T)[0]  # cos_sim in float32
            dot = (m[None, :] @ human.T)[0]
            c_scores.append(float(np.max(cos)))
            d_scores.append(float(np.max(dot)))
            s_scores.append(float(np.max(cos)))  # model.similarity = cosine
            h_scores.append(g)
        if len(set(h_scores)) == 1 or len(set(d_scores)) == 1 or len(set(c_scores)) == 1:
            skipped.append(i)
            continue
        all_c.append(c_scores)
        all_d.append(d_scores)
        all_s.append(s_scores)
        all_h.append(h_scores)
    cs, cp, ds, dp, ps, ss = [], [], [], [], [], []
    for h, c, d, s in zip(all_h, all_c, all_d, all_s):
        cs.append(spearman(h, c))
        cp.append(pearson(h, c))
        ds.append(spearman(h, d))
        dp.append(pearson(h, d))
        ss.append(spearman(h, s))
        ps.append(pearson(h, s))
    scores = {
        "pearson": float(np.mean(ps)),
        "spearman": float(np.mean(ss)),
        "cosine_spearman": float(np.mean(cs)),
        "cosine_pearson": float(np.mean(cp)),
        "dot_pearson": float(np.mean(dp)),
        "dot_spearman": float(np.mean(ds)),
    }
    write(out, "summarization", {"scores": scores, "skipped_texts": skipped, "cosine_max_scores": all_c, "dot_max_scores": all_d, "tolerance": {"scores": 1e-12, "max_scores": 1e-6}, "correlation": "scipy" if HAVE_SCIPY else "numpy rankdata/pearson"})


# ---------------------------------------------------------------------------------------------
# Classification (AbsTaskClassification._evaluate_subset with LogisticRegression(max_iter=100))


def undersample(labels, n_experiments, samples_per_label):
    """AbsTaskClassification._undersample_data, called once per experiment with the idxs it returned."""
    idxs = None
    selected = []
    for _ in range(n_experiments):
        if idxs is None:
            idxs = list(range(len(labels)))
        rs = np.random.RandomState(SEED)
        rs.shuffle(idxs)
        counter = defaultdict(int)
        sel = []
        for i in idxs:
            if counter[labels[i]] < samples_per_label:
                sel.append(i)
                counter[labels[i]] += 1
        selected.append(sel)
    return selected


def classification_undersampling(out):
    inp = load("classification.json")
    res = {}
    for name, t in inp.items():
        res[name] = {"selected": undersample(t["train"]["labels"], t["n_experiments"], t["samples_per_label"])}
    # a longer list, so numpy's 32-bit masked rejection and shuffle order are exercised broadly
    labels = [i % 5 for i in range(1000)]
    res["long"] = {"labels": labels, "samples_per_label": 16, "selected": undersample(labels, 3, 16)}
    rs = np.random.RandomState(SEED)
    res["mt19937_first_uint32"] = [int(x) for x in rs.randint(0, 2**32, size=8, dtype=np.uint64)]
    write(out, "classification-undersampling", res)


def classification_scores(y_test, y_pred):
    from sklearn.metrics import accuracy_score, average_precision_score, f1_score, precision_score, recall_score

    s = {
        "accuracy": accuracy_score(y_test, y_pred),
        "f1": f1_score(y_test, y_pred, average="macro"),
        "f1_weighted": f1_score(y_test, y_pred, average="weighted"),
        "precision": precision_score(y_test, y_pred, average="macro"),
        "precision_weighted": precision_score(y_test, y_pred, average="weighted"),
        "recall": recall_score(y_test, y_pred, average="macro"),
        "recall_weighted": recall_score(y_test, y_pred, average="weighted"),
        "ap": None,
        "ap_weighted": None,
    }
    if len(np.unique(y_test)) == 2:
        s["ap"] = average_precision_score(y_test, y_pred, average="macro")
        s["ap_weighted"] = average_precision_score(y_test, y_pred, average="weighted")
    return {k: (None if v is None else float(v)) for k, v in s.items()}


def classification(out):
    if not HAVE_SKLEARN:
        print("classification.json: skipped (scikit-learn is not installed)")
        return
    import warnings

    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    inp = load("classification.json")
    res = {"sklearn": sklearn.__version__}
    for name, t in inp.items():
        xtr = np.asarray(t["train"]["embeddings"], dtype=np.float32)
        ytr = np.asarray(t["train"]["labels"])
        xte = np.asarray(t["test"]["embeddings"], dtype=np.float32)
        yte = np.asarray(t["test"]["labels"])
        selected = undersample(t["train"]["labels"], t["n_experiments"], t["samples_per_label"])
        exps = []
        for sel in selected:
            clf = LogisticRegression(max_iter=100).set_params(random_state=SEED)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(xtr[sel], ytr[sel])
            y_pred = clf.predict(xte)
            # the exact optimum of the same objective, to measure a solver against
            tight = LogisticRegression(max_iter=100000, tol=1e-12).fit(xtr[sel].astype(np.float64), ytr[sel])
            exps.append(
                {
                    "selected": sel,
                    "n_iter": int(np.max(clf.n_iter_)),
                    "coef": clf.coef_.tolist(),
                    "intercept": clf.intercept_.tolist(),
                    "coef_converged": tight.coef_.tolist(),
                    "intercept_converged": tight.intercept_.tolist(),
                    "predictions": y_pred.tolist(),
                    "predictions_converged": tight.predict(xte.astype(np.float64)).tolist(),
                    "scores": classification_scores(yte, y_pred),
                }
            )
        keys = exps[0]["scores"].keys()
        avg = {}
        for k in keys:
            vals = [e["scores"][k] for e in exps if e["scores"][k] is not None]
            avg[k] = float(np.mean(vals)) if vals else float("nan")
        res[name] = {"experiments": exps, "scores": avg}
    # metric functions on fixed predictions (multiclass with a class never predicted, and binary)
    r = np.random.default_rng(7)
    yt = r.integers(0, 5, size=200)
    yp = np.where(r.random(200) < 0.6, yt, r.integers(0, 4, size=200))
    yb = r.integers(0, 2, size=150)
    ybp = np.where(r.random(150) < 0.7, yb, 1 - yb)
    res["metrics"] = [
        {"y_true": yt.tolist(), "y_pred": yp.tolist(), "scores": classification_scores(yt, yp)},
        {"y_true": yb.tolist(), "y_pred": ybp.tolist(), "scores": classification_scores(yb, ybp)},
    ]
    res["tolerance"] = {"metrics": 1e-12, "main_score": 0.005, "undersampling": 0}
    write(out, "classification", res)


# ---------------------------------------------------------------------------------------------
# Clustering (AbsTaskClustering._evaluate_subset + _evaluate_clustering_bootstrapped)


def clustering_draws(inp):
    """The Python random draws mteb makes: the documents to embed, then each bootstrap sample."""
    rng_state = random.Random(SEED)
    labels = inp["labels"]
    n = len(labels)
    k = min(n, int(inp["max_fraction_of_documents_to_embed"] * n))
    example_indices = rng_state.sample(range(n), k=k)
    labs = [labels[i] if isinstance(labels[i], list) else [labels[i]] for i in example_indices]
    max_depth = max(map(len, labs)) if inp["max_depth"] is None else min(inp["max_depth"], max(map(len, labs)))
    levels = []
    for lvl in range(max_depth):
        level_labels = np.array([lab[lvl] if len(lab) > lvl else -1 for lab in labs])
        valid = np.array([x != -1 for x in level_labels])
        n_emb = int(valid.sum())
        draws = [rng_state.choices(range(n_emb), k=inp["max_documents_per_cluster"]) for _ in range(inp["n_clusters"])]
        levels.append({"valid": valid.tolist(), "bootstrap_indices": draws})
    return example_indices, labs, levels


def clustering_sampling(out):
    inp = load("clustering.json")
    example_indices, _, levels = clustering_draws(inp)
    r = random.Random(SEED)
    # the bootstrap draws are 16,384 indices each: keep their first 64 and two checksums
    for lv in levels:
        draws = lv.pop("bootstrap_indices")
        lv["bootstrap_head"] = [d[:64] for d in draws]
        lv["bootstrap_sum"] = [int(sum(d)) for d in draws]
        lv["bootstrap_weighted_sum"] = [int(sum((i + 1) * x for i, x in enumerate(d))) for d in draws]
    write(out, "clustering-sampling", {"example_indices": example_indices, "levels": levels, "random_first": [r.random() for _ in range(5)], "sample_small": random.Random(SEED).sample(range(10), k=7)})


def _approximate_mode(class_counts, n_draws, rng):
    continuous = n_draws * class_counts / class_counts.sum()
    floored = np.floor(continuous)
    need = int(n_draws - floored.sum())
    if need > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need)
            floored[rng.choice(inds, size=add_now, replace=False)] += 1
            need -= add_now
            if need == 0:
                break
    return floored.astype(np.int64)


def stratified_test_indices(labels, n_test, seed):
    """Dataset.train_test_split(test_size=n_test, seed=seed, stratify_by_column=...)["test"] rows:
    class_encode_column (names sorted as strings), then the datasets library's stratified shuffle
    split (first split) on np.random.default_rng(seed)."""
    names = sorted(str(x) for x in set(labels))
    y = np.array([names.index(str(x)) for x in labels])
    rng = np.random.default_rng(seed)
    n = len(y)
    n_train = n - n_test
    classes, y_idx = np.unique(y, return_inverse=True)
    counts = np.bincount(y_idx)
    class_indices = np.split(np.argsort(y_idx, kind="mergesort"), np.cumsum(counts)[:-1])
    n_i = _approximate_mode(counts, n_train, rng)
    t_i = _approximate_mode(counts - n_i, n_test, rng)
    train, test = [], []
    for i in range(len(classes)):
        perm = class_indices[i].take(rng.permutation(counts[i]), mode="clip")
        train.extend(perm[: n_i[i]])
        test.extend(perm[n_i[i] : n_i[i] + t_i[i]])
    rng.permutation(train)
    return [int(x) for x in rng.permutation(test)]


def hf_train_test_split(out):
    """datasets' Dataset.train_test_split(test_size=k, seed=42)["test"] indices: the first k of
    np.random.default_rng(42).permutation(n) (numpy only)."""
    res = []
    for n, k in [(10, 3), (5000, 2048), (100000, 2048)]:
        perm = np.random.default_rng(SEED).permutation(n)
        test = perm[:k]
        res.append({"n": n, "k": k, "head": test[:64].tolist(), "sum": int(test.sum()), "weighted_sum": int(sum((i + 1) * int(x) for i, x in enumerate(test)))})
    # the stratified variant (datasets/utils/stratify.py, as mteb's stratified_subsampling calls it)
    strat = []
    r = np.random.default_rng(5)
    for n, k, n_classes in [(3000, 2048, 2), (5000, 2048, 7), (2100, 2048, 3)]:
        p = r.dirichlet(np.ones(n_classes) * 2)
        labels = [f"label-{x}" for x in r.choice(n_classes, size=n, p=p)]
        test = stratified_test_indices(labels, k, SEED)
        strat.append({"labels": labels, "k": k, "head": test[:64], "sum": int(sum(test)), "weighted_sum": int(sum((i + 1) * x for i, x in enumerate(test)))})
    g = np.random.PCG64(SEED)
    write(out, "hf-train-test-split", {"stratified": strat, "cases": res, "pcg64_first_uint64": [str(int(x)) for x in g.random_raw(4)]})


def clustering(out):
    if not HAVE_SKLEARN:
        print("clustering.json: skipped (scikit-learn is not installed)")
        return
    import sklearn
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.metrics.cluster import adjusted_mutual_info_score, v_measure_score

    inp = load("clustering.json")
    emb_all = np.asarray(inp["embeddings"], dtype=np.float32)
    example_indices, labs, levels = clustering_draws(inp)
    emb = emb_all[example_indices]
    per_level = {"v_measure": defaultdict(list), "ami": defaultdict(list)}
    assignments = defaultdict(list)
    for lvl, info in enumerate(levels):
        level_labels = np.array([lab[lvl] if len(lab) > lvl else -1 for lab in labs])
        valid = np.array(info["valid"])
        level_labels = level_labels[valid]
        level_emb = emb[valid]
        model = MiniBatchKMeans(n_clusters=np.unique(level_labels).size, batch_size=inp["k_mean_batch_size"], init="k-means++", n_init=1, random_state=SEED)
        for idx in info["bootstrap_indices"]:
            a = model.fit_predict(level_emb[idx])
            per_level["v_measure"][f"Level {lvl}"].append(float(v_measure_score(level_labels[idx], a)))
            per_level["ami"][f"Level {lvl}"].append(float(adjusted_mutual_info_score(level_labels[idx], a)))
            assignments[f"Level {lvl}"].append(a.tolist())
    scores = {}
    for metric, by_level in per_level.items():
        flat = [x for v in by_level.values() for x in v]
        scores["v_measures" if metric == "v_measure" else f"{metric}_scores"] = dict(by_level)
        scores[metric] = float(np.mean(flat))
        scores[f"{metric}_std"] = float(np.std(flat))
    # metric functions on fixed label pairs (string and integer labels, unequal cluster counts)
    r = np.random.default_rng(11)
    metric_cases = []
    for n, kt, kp in [(50, 3, 3), (400, 7, 5), (1000, 12, 12)]:
        t = r.integers(0, kt, size=n)
        p = np.where(r.random(n) < 0.5, t % kp, r.integers(0, kp, size=n))
        tl = [f"c{x}" for x in t]
        metric_cases.append({"labels_true": tl, "labels_pred": p.tolist(), "v_measure": float(v_measure_score(tl, p)), "ami": float(adjusted_mutual_info_score(tl, p))})
    write(out, "clustering", {"sklearn": sklearn.__version__, "scores": scores, "assignments": dict(assignments), "metrics": metric_cases, "tolerance": {"metrics": 1e-12, "main_score": 0.005}})


# ---------------------------------------------------------------------------------------------


def write(out, name, obj):
    os.makedirs(out, exist_ok=True)
    obj = {
        "_generated_by": "scripts/gpu/mteb_reference.py",
        "_python": platform.python_version(),
        "_numpy": np.__version__,
        **obj,
    }
    with open(os.path.join(out, f"{name}.json"), "w") as f:
        json.dump(obj, f, allow_nan=True)
        f.write("\n")
    print(f"{name}.json written")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "test", "fixtures", "eval", "mteb-reference"))
    ap.add_argument("--make-inputs", action="store_true", help="(re)write the committed inputs and exit")
    ap.add_argument("--only", nargs="*", help="parts to compute (default: all)")
    a = ap.parse_args()
    if a.make_inputs:
        make_inputs(INPUTS)
        return
    parts = {
        "pairclassification": pairclassification,
        "summarization": summarization,
        "classification-undersampling": classification_undersampling,
        "clustering-sampling": clustering_sampling,
        "hf-train-test-split": hf_train_test_split,
        "classification": classification,
        "clustering": clustering,
    }
    for name, fn in parts.items():
        if a.only and name not in a.only:
            continue
        fn(a.out)
    print(f"python {platform.python_version()}, numpy {np.__version__}, scipy {'yes' if HAVE_SCIPY else 'no'}, sklearn {'yes' if HAVE_SKLEARN else 'no'}", file=sys.stderr)


if __name__ == "__main__":
    main()
