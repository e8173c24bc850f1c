#!/usr/bin/env bash
# Device calls of session 7 (one H200), issue 14. Run: npm run build && bash scripts/gpu/pack.sh
# [&& bash scripts/gpu/pack-before.sh REV]; then `OUT=$OUT TAG=s7a bash bench/runs/2026-11-29-s7.sh PHASES`
# (carry .gpu). Phases:
#   gsm        bench/gemm_small_m.cu: the four BERT-base GEMM shapes at T = 128 (batch 1) through
#              cuBLASLt: heuristic[0], best of 8 / 64 heuristics, best of a split-K sweep
#   ncu1       ncu per-kernel GPU time of BERT-base fp16 batch 1 × 128 tokens (graph replay, kernel
#              nodes profiled one by one; --clock-control none), summarised by scripts/gpu/ncu_summary.py
#   attntest   test/gpu/attention.gpu.ts (ping-pong on, the default), then its Hopper part with
#              EMBEDRANK_WGMMA_PINGPONG=0
#   attn       bench/attention.ts: the before build's (pack-before.sh) against this one's with
#              ping-pong on and off (needs a before:… phase earlier in the call)
#   fixed      bench.js fixed512 + varlen256_768 at B 32 / 128, BERT-base fp16; XLM-R-large 32 × 512
#   b1         bench.js BERT-base fp16 batch 1 × 128 tokens (graphs), 200 iterations
#   eng        test/gpu/engine.gpu.ts (the encoder suite)
#   gelu       the experiment EMBEDRANK_GELU_EPILOGUE=tanh (FFN-up with cuBLASLt's GELU_BIAS epilogue):
#              fixed512 + varlen at B 32, XLM-R-large 32 × 512, then the engine suite's 16-bit tests under it
#   prof32     bench/profile.ts at 32 × 512 (GPU time per operation)
#   engfam     test/gpu/engine.gpu.ts and test/gpu/families.gpu.ts (needs the device-run phase families first)
#   geluprof   bias+GELU per call: bench/profile.ts at 32 × 512 of the before build (needs a before:… phase
#              earlier in the call) and of this one, twice each
#   sts        MiniLM-L6 over all STS sentences end to end vs sentence-transformers (default tokenizer
#              path), then the fast path (the embedrank command's default) alone; each with its split
#   sf         BERT-base fp16 over the SciFact corpus end to end vs sentence-transformers, with its split
#   xlmr       bench.js XLM-R-large fixed512 B=32
#   persist    bench/attention.ts and bench.js (BERT-base fixed512 + varlen at B 32 / 128) with the
#              persistent Hopper attention grid on and off (EMBEDRANK_WGMMA_PERSISTENT=1/0), twice
# Device-run phases (before:ARGS, bench:ARGS, test, families, …) pass through.
# Calls (B32 = BERT-base fixed512 varlen256_768 at B=32 [,128], XL = XLM-R-large fixed512 B=32,
# B1 = BERT-base fixed128 B=1 --iters 300, each as bench:/before: ARGS):
#   A `TAG=s7a GSM_S=110 NCU_S=150 … attntest before:B32 bench:B32 attn ncu1 gsm` (before = ea74d82)
#   B `TAG=s7b NCU_S=120 … eng before:B32,128 bench:B32,128 before:XL bench:XL before:B1 bench:B1
#      before:B1 bench:B1 ncu1 gelu prof32` (before = ea74d82)
#   C `TAG=s7c … attntest persist`;  D `TAG=s7d PERSIST_SEQ="1 0" … attntest persist eng`
#   E `TAG=s7e … families engfam before:B32 bench:B32 geluprof` (before = 05e4acf)
#   F `PREPARE_EXTRA=bench-xlmr-large TAG=s7f … sts sf xlmr`
OUT=${OUT:-/tmp/out}
M=/tmp/embedrank-gpu-models
mkdir -p "$OUT" "$M"
TAG=${TAG:-s7a}
MOCHA="node node_modules/mocha/bin/mocha.js --no-config --no-package --timeout 900000"
FAIL="grep -B2 -A14 -E '^  [0-9]+\\) '"
GSM="nvcc -O3 -std=c++17 -arch=sm_90 bench/gemm_small_m.cu -lcublasLt -o /tmp/gsm && timeout ${GSM_S:-200} /tmp/gsm ${GSM_T:-128}"
NCU1="timeout ${NCU_S:-240} ncu --clock-control none --cache-control none --metrics gpu__time_duration.sum,launch__grid_size --csv --launch-skip ${NCU_SKIP:-6000} --launch-count ${NCU_N:-220} node dist/bench/bench.js --model $M/bench-bert-base --workload fixed128 --dtype fp16 --batch-sizes 1 --iters 400 --out /tmp/ncu-bench > $OUT/ncu1.csv 2> $OUT/ncu1.err; tail -3 $OUT/ncu1.err; python3 scripts/gpu/ncu_summary.py $OUT/ncu1.csv | head -40"
ATTNTEST="timeout 300 $MOCHA --spec dist/test/gpu/attention.gpu.js > $OUT/gpu-tests-attention.log 2>&1; grep -E 'passing|failing|pending' $OUT/gpu-tests-attention.log; $FAIL $OUT/gpu-tests-attention.log | head -60; EMBEDRANK_WGMMA_PINGPONG=0 timeout 200 $MOCHA --spec dist/test/gpu/attention.gpu.js --grep Hopper > $OUT/gpu-tests-attention-pp0.log 2>&1; grep -E 'passing|failing|pending' $OUT/gpu-tests-attention-pp0.log; $FAIL $OUT/gpu-tests-attention-pp0.log | head -40"
ATTN="echo before; timeout 120 node /tmp/before/dist/bench/attention.js --dtype fp16 --iters 30 --kernels mma,wgmma 2>&1 | tail -12; for pp in 1 0; do echo \"after, EMBEDRANK_WGMMA_PINGPONG=\$pp\"; EMBEDRANK_WGMMA_PINGPONG=\$pp timeout 120 node dist/bench/attention.js --dtype fp16 --iters 30 --kernels mma,wgmma 2>&1 | tail -12; done"
FIXED="timeout 200 node dist/bench/bench.js --model $M/bench-bert-base --workload fixed512 varlen256_768 --dtype fp16 --batch-sizes 32,128 --iters 20 --out $OUT 2>&1 | grep -E '^GPU|^embedrank|rror'; timeout 100 node dist/bench/bench.js --model $M/bench-xlmr-large --workload fixed512 --dtype fp16 --batch-sizes 32 --iters 20 --out $OUT 2>&1 | grep -E '^GPU|^embedrank|rror'"
B1="timeout 120 node dist/bench/bench.js --model $M/bench-bert-base --workload fixed128 --dtype fp16 --batch-sizes 1 --iters 200 --out $OUT/b1 2>&1 | grep -E '^GPU|^embedrank|rror'"
GELU="EMBEDRANK_GELU_EPILOGUE=tanh timeout 150 node dist/bench/bench.js --model $M/bench-bert-base --workload fixed512 varlen256_768 --dtype fp16 --batch-sizes 32,128 --iters 20 --out $OUT/gelu 2>&1 | grep -E '^GPU|^embedrank|rror'; EMBEDRANK_GELU_EPILOGUE=tanh timeout 100 node dist/bench/bench.js --model $M/bench-xlmr-large --workload fixed512 --dtype fp16 --batch-sizes 32 --iters 20 --out $OUT/gelu 2>&1 | grep -E '^GPU|^embedrank|rror'; EMBEDRANK_GELU_EPILOGUE=tanh timeout 200 $MOCHA --spec dist/test/gpu/engine.gpu.js --grep 'float16|bfloat16' > $OUT/gpu-tests-gelu-tanh.log 2>&1; grep -E 'passing|failing|pending|worst|cosine' $OUT/gpu-tests-gelu-tanh.log | head -30; $FAIL $OUT/gpu-tests-gelu-tanh.log | head -50"
PROF32="EMBEDRANK_PROFILE=1 timeout 90 node dist/bench/profile.js --model $M/bench-bert-base --batch 32 --len 512 --iters 10 2>&1 | grep -v '^\\s*\$' | tail -16"
PERSIST="for p in ${PERSIST_SEQ:-1 0 1 0}; do echo \"EMBEDRANK_WGMMA_PERSISTENT=\$p\"; EMBEDRANK_WGMMA_PERSISTENT=\$p timeout 100 node dist/bench/attention.js --dtype fp16 --iters 30 --kernels mma,wgmma 2>&1 | tail -8; EMBEDRANK_WGMMA_PERSISTENT=\$p timeout 150 node dist/bench/bench.js --model $M/bench-bert-base --workload fixed512 varlen256_768 --dtype fp16 --batch-sizes 32,128 --iters 20 --out $OUT/persist\$p 2>&1 | grep -E '^GPU|^embedrank|rror'; done"
ENGFAM="timeout ${ENG_S:-300} $MOCHA --spec dist/test/gpu/engine.gpu.js --spec dist/test/gpu/families.gpu.js > $OUT/gpu-tests-encoders.log 2>&1; grep -E 'passing|failing|pending' $OUT/gpu-tests-encoders.log; $FAIL $OUT/gpu-tests-encoders.log | head -60"
GELUPROF="for d in /tmp/before/dist dist /tmp/before/dist dist; do echo \$d; EMBEDRANK_PROFILE=1 timeout 60 node \$d/bench/profile.js --model $M/bench-bert-base --batch 32 --len 512 --iters 10 2>&1 | grep -E 'bias_gelu|latency'; done"
FAST="EMBEDRANK_FAST_TOKENIZE=1 UV_THREADPOOL_SIZE=20 TOKENIZERS_PARALLELISM=false"
STS="timeout 120 node dist/bench/bench.js --model $M/minilm-l6 --workload sts --dtype fp16 --batch-sizes 256 --baseline st --out $OUT 2>&1 | grep -E '^embedrank|^sentence-transformers|RATIO|SPLIT|rror'; $FAST timeout 60 node dist/bench/bench.js --model $M/minilm-l6 --workload sts --dtype fp16 --batch-sizes 256 --out $OUT/fast 2>&1 | grep -E '^embedrank|SPLIT|rror'"
SF="[ -d .gpu/scifact ] || tar xJf .gpu/scifact.tar.xz -C .gpu; timeout 150 node dist/bench/qwen3.js embed --model $M/bert-base --dtype fp16 --data-dir .gpu --repeats 3 --st-batch-sizes 64,128 --out $OUT/qwen3 --tag h200-$TAG-bert 2>&1 | grep -E '^SciFact|^embedrank:|^CHECK|^RATIO|^SPLIT|rror'"
XLMR="timeout 60 node dist/bench/bench.js --model $M/bench-xlmr-large --workload fixed512 --dtype fp16 --batch-sizes 32 --iters 20 --out $OUT 2>&1 | grep -E '^GPU|^embedrank|rror'"
ENG="timeout ${ENG_S:-200} $MOCHA --spec dist/test/gpu/engine.gpu.js > $OUT/gpu-tests-engine.log 2>&1; grep -E 'passing|failing|pending' $OUT/gpu-tests-engine.log; $FAIL $OUT/gpu-tests-engine.log | head -60"
[ $# -gt 0 ] || set -- gsm ncu1 attntest
PHASES=()
for q in "$@"; do
  case "$q" in gsm) PHASES+=("sh:$GSM") ;; ncu1) PHASES+=("sh:$NCU1") ;; attntest) PHASES+=("sh:$ATTNTEST") ;; attn) PHASES+=("sh:$ATTN") ;; fixed) PHASES+=("sh:$FIXED") ;; b1) PHASES+=("sh:$B1") ;; eng) PHASES+=("sh:$ENG") ;; gelu) PHASES+=("sh:$GELU") ;; prof32) PHASES+=("sh:$PROF32") ;; persist) PHASES+=("sh:$PERSIST") ;; sts) PHASES+=("sh:$STS") ;; sf) PHASES+=("sh:$SF") ;; xlmr) PHASES+=("sh:$XLMR") ;; engfam) PHASES+=("sh:$ENGFAM") ;; geluprof) PHASES+=("sh:$GELUPROF") ;; *) PHASES+=("$q") ;; esac
done
PREPARE_EXTRA=${PREPARE_EXTRA:-"bench-bert-base bench-xlmr-large"} SKIP_PREPARE=${SKIP_PREPARE:-0} ARCHS=${ARCHS:-"-arch=sm_90"} exec bash scripts/gpu/device-run.sh "${PHASES[@]}"
