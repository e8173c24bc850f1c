#!/usr/bin/env bash
# Issue 14 items 3 and 5 (one H200): CUDA graphs per token bucket (EMBEDRANK_CUDA_GRAPHS=bucket)
# and longest-first attention tiles (EMBEDRANK_ATTN_LONGEST_FIRST=1), both off by default.
#   1. GPU suite part: bucket vs eager on ragged batches (engine.gpu.js; the bucket describe block).
#   2. Batch-1 latency, BERT-base 128 tokens, graphs bucket / shape / off, fixed shape and fresh
#      lengths 1..128 every batch (two buckets, 64 and 128 rows: shape graphs rarely replay,
#      bucket graphs always do).
#   3. Ragged small batches (fresh lengths), where bucketed graphs should beat shape graphs.
#   4. Varlen 256–768 vs fixed512 at B=32/128, tiles in batch order vs longest first, each with the
#      workloads in both orders (clock drift: session 2 saw the card clock down over long B=128
#      runs, and varlen B=128 has always run last); clocks.csv in $OUT has the SM clock.
#   5. Profile of varlen 256..768 at B=128: attention time, batch order vs longest first.
# Before the call: npm run build && bash scripts/gpu/pack.sh
OUT=${OUT:-/tmp/out}
M=/tmp/embedrank-gpu-models
B1="--model $M/bench-bert-base --workload fixed128 varlen1_128 --dtype fp16 --batch-sizes 1 --iters 100 --fresh-shapes"
SM="--model $M/minilm-l6 --workload varlen8_64 --dtype fp16 --batch-sizes 1,8,32,128 --iters 100 --fresh-shapes"
VL="--model $M/bench-bert-base --dtype fp16 --batch-sizes 32,128 --iters 50"
E="grep -E '^GPU|^embedrank'"
PHASES=(
  "sh:for g in 0 shape bucket; do echo \"== EMBEDRANK_CUDA_GRAPHS=\$g\"; EMBEDRANK_CUDA_GRAPHS=\$g node dist/bench/bench.js --out /tmp/b $B1 --tag b1-\$g | $E; done"
  "sh:for g in 0 shape bucket; do echo \"== EMBEDRANK_CUDA_GRAPHS=\$g\"; EMBEDRANK_CUDA_GRAPHS=\$g node dist/bench/bench.js --out /tmp/b $SM --tag small-\$g | $E; done"
  "sh:for lf in 0 1; do for w in 'fixed512 varlen256_768' 'varlen256_768 fixed512'; do echo \"== EMBEDRANK_ATTN_LONGEST_FIRST=\$lf, workloads in the order \$w\"; EMBEDRANK_ATTN_LONGEST_FIRST=\$lf node dist/bench/bench.js --out /tmp/b $VL --workload \$w --tag lpt-\$lf | $E; done; done"
  "sh:for lf in 0 1; do EMBEDRANK_PROFILE=1 EMBEDRANK_ATTN_LONGEST_FIRST=\$lf node dist/bench/profile.js --model $M/bench-bert-base --batch 128 --len 768 --len-min 256 --label lpt-\$lf | grep -E 'latency|attention'; done"
  test
)
export GPU_SPEC=${GPU_SPEC:-"dist/test/gpu/engine.gpu.js"}
ARCHS=${ARCHS:-"-arch=sm_90"} PREPARE_EXTRA=bench-bert-base exec bash scripts/gpu/device-run.sh "${@:-${PHASES[@]}}"
