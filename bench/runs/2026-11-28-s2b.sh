#!/usr/bin/env bash
# Device call B of session 2 (nvidia-h100-x2): after 8-wide bias+GELU, warp-per-row add+LN,
# GEMM tuning shared by slots and CUDA graphs for repeated shapes: the per-op profile again
# (profiling turns graphs off), latency/throughput without profiling (graphs on, replays checked
# against eager first runs), the graph test, and the fixed-512 bench with its ST baseline.
M=/tmp/embedrank-gpu-models
P="sh:EMBEDRANK_PROFILE=1 node dist/bench/profile.js"
N="sh:node dist/bench/profile.js"
B="--model $M/bench-bert-base --len 512 --iters 12"
X="--model $M/xlmr-large --batch 1 --len 512 --iters 100 --in-flight 1"
PREPARE_EXTRA=bench-bert-base exec bash scripts/gpu/device-run.sh \
  "$P $B --batch 128 --label prof" \
  "$N $B --batch 128 --label graphs" \
  "sh:EMBEDRANK_CUDA_GRAPHS=0 node dist/bench/profile.js $B --batch 128 --label eager" \
  "$N $X --tp 1 --label graphs" \
  "$N $X --tp 2 --label graphs" \
  "sh:EMBEDRANK_CUDA_GRAPHS=0 node dist/bench/profile.js $X --tp 1 --label eager" \
  "sh:EMBEDRANK_CUDA_GRAPHS=0 node dist/bench/profile.js $X --tp 2 --label eager" \
  "$P $X --tp 2 --label prof" \
  "sh:node node_modules/mocha/bin/mocha.js --no-config --no-package --timeout 900000 --spec dist/test/gpu/engine.gpu.js --grep 'CUDA graphs'" \
  "sh:node dist/bench/bench.js --out $OUT --model $M/bench-bert-base --workload fixed512 --dtype fp16 --batch-sizes 32,128 --baseline st"
