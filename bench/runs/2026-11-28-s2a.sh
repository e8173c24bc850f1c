#!/usr/bin/env bash
# Device call of session 2 (nvidia-h100-x2; first try hung on a bare `wait`): per-operation
# profile of the single-GPU fixed-512 workload and of tensor-parallel batch-1 latency, with GEMM
# autotuning and NCCL protocol variants; the fixed-512 bench with its sentence-transformers
# baseline; then the GPU and multi-GPU suites after session 1's refactors.
#   OUT=$OUT bash bench/runs/2026-11-28-s2a.sh
M=/tmp/embedrank-gpu-models
P="sh:EMBEDRANK_PROFILE=1 node dist/bench/profile.js"
T="sh:EMBEDRANK_GEMM_TUNE=1 EMBEDRANK_PROFILE=1 node dist/bench/profile.js"
B="--model $M/bench-bert-base --len 512 --iters 12"
X="--model $M/xlmr-large --batch 1 --len 512 --iters 50 --in-flight 1"
PREPARE_EXTRA=bench-bert-base exec bash scripts/gpu/device-run.sh \
  "$P $B --batch 128 --label base" \
  "$T $B --batch 128 --label tune" \
  "$T $B --batch 128 --in-flight 1 --label tune-1slot" \
  "$P $B --batch 32 --label base" \
  "$T $B --batch 32 --label tune" \
  "$P $X --tp 1 --label base" \
  "$T $X --tp 1 --label tune" \
  "$P $X --tp 2 --label base" \
  "$T $X --tp 2 --label tune" \
  "sh:NCCL_PROTO=LL128 ${T#sh:} $X --tp 2 --label tune-LL128" \
  "sh:NCCL_PROTO=LL ${T#sh:} $X --tp 2 --label tune-LL" \
  "sh:EMBEDRANK_GEMM_TUNE=1 node dist/bench/profile.js $X --tp 2 --label tune-noprof" \
  "sh:EMBEDRANK_GEMM_TUNE=1 node dist/bench/bench.js --out $OUT --model $M/bench-bert-base --workload fixed512 --dtype fp16 --batch-sizes 32,128 --baseline st" \
  torch test mtest
