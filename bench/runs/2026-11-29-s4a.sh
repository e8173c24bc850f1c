#!/usr/bin/env bash
# First device call of session 4 (one H200): the Qwen3 CUDA engine and kernels against the
# transformers references, the two Qwen3 benchmarks, then the encoder suite (BertModel now derives
# from ResidentModel; bucketed graphs and the wgmma kernel are off by default, their A/B blocks run).
# Before the call: npm run build && bash scripts/gpu/pack.sh
OUT=${OUT:-/tmp/out}
MOCHA="node node_modules/mocha/bin/mocha.js --no-config --no-package --timeout 900000"
FAILS="grep -B2 -A14 -E '^  [0-9]+\) '"
exec bash bench/runs/2026-11-29-s4.sh wait \
  "sh:timeout 200 $MOCHA --spec dist/test/gpu/qwen3.gpu.js --spec dist/test/gpu/qwen3-cuda.gpu.js > $OUT/gpu-tests-qwen3.log 2>&1; grep -E 'passing|failing|pending|worst|hit|P\(yes\)|cos' $OUT/gpu-tests-qwen3.log | head -40; $FAILS $OUT/gpu-tests-qwen3.log | head -100" \
  rerank embed \
  "sh:timeout 170 $MOCHA --spec dist/test/gpu/engine.gpu.js > $OUT/gpu-tests-engine.log 2>&1; grep -E 'passing|failing|pending' $OUT/gpu-tests-engine.log; $FAILS $OUT/gpu-tests-engine.log | head -60"
