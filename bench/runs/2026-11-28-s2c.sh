#!/usr/bin/env bash
# Device call C of session 2 (nvidia-h100-x1, last 5 minutes of device time): the fixed-512 bench
# with its sentence-transformers baseline on an H100, then the single-GPU correctness suite (CPU
# engine as reference; PyTorch references skipped for time) with the new kernels and CUDA graphs.
M=/tmp/embedrank-gpu-models
exec bash scripts/gpu/device-run.sh \
  "sh:node dist/bench/bench.js --out $OUT --model $M/bert-base --workload fixed512 --dtype fp16 --batch-sizes 32,128 --baseline st" \
  test
