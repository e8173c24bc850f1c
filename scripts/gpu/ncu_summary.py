"""Summarises `ncu --csv --metrics gpu__time_duration.sum,launch__grid_size` output: per kernel name,
the number of launches, the mean duration in µs, the grid size, and the share of the total, sorted
by total time; then the sum over all profiled kernels. ncu serialises kernels, so the sum is GPU
time without launch gaps (what a replayed CUDA graph could approach).
Usage: python3 scripts/gpu/ncu_summary.py ncu.csv"""
import csv
import sys
from collections import defaultdict

rows = defaultdict(dict)  # launch id -> {name, metrics}
with open(sys.argv[1], newline="") as f:
    lines = [l for l in f if l.startswith('"')]
for r in csv.DictReader(lines):
    k = r["ID"]
    rows[k]["name"] = r["Kernel Name"][:90]
    v = r["Metric Value"].replace(",", "")
    scale = {"nsecond": 1.0, "usecond": 1e3, "msecond": 1e6, "second": 1e9}.get(r.get("Metric Unit", ""), 1.0)
    try:
        rows[k][r["Metric Name"]] = float(v) * scale  # durations in ns
    except ValueError:
        rows[k][r["Metric Name"]] = v
by = defaultdict(lambda: [0, 0.0, None])
total = 0.0
for r in rows.values():
    unit_ns = r.get("gpu__time_duration.sum", 0.0)
    b = by[r["name"]]
    b[0] += 1
    b[1] += unit_ns
    b[2] = r.get("launch__grid_size")
    total += unit_ns
print(f"{len(rows)} kernels profiled, {total / 1e3:.1f} us in all")
for name, (n, t, grid) in sorted(by.items(), key=lambda kv: -kv[1][1]):
    print(f"{t / total * 100:5.1f}%  {n:4d} x {t / n / 1e3:7.2f} us  grid {grid}  {name}")
