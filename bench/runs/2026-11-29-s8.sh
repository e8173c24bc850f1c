#!/usr/bin/env bash
# Device calls of session 8 (one H200), issue 14: the fused FFN-up (cuda/gemm_wgmma.cu). Run:
# npm run build && bash scripts/gpu/pack.sh; then `OUT=$OUT TAG=s8a bash bench/runs/2026-11-29-s8.sh PHASES`
# (carry .gpu). Phases:
#   gg       (first, before the addon build; the call stops if it fails) bench/gemm_gelu.cu: the fused
#            kernel and cuBLASLt + bias_gelu against an fp32 reference, then timed, per shape and dtype
#   ab       bench.js BERT-base fixed512 + varlen256_768 at B 32 / 128 and XLM-R-large 32 × 512 with
#            EMBEDRANK_FUSED_GELU=0 and =1, alternating (FUSED_SEQ, default "0 1 0 1")
#   b1ab     bench.js BERT-base batch 1 × 128 tokens (graphs) with EMBEDRANK_FUSED_GELU=0 / 1
#   eng      test/gpu/engine.gpu.ts and test/gpu/families.gpu.ts (needs the device-run phase families first)
#   prof32   bench/profile.ts at 32 × 512 (GPU time per operation)
#   q3       test/gpu/qwen3-cuda.gpu.ts and qwen3.gpu.ts (decoder families; models written by scripts/gpu/qwen3_models.py)
#   fp8      test/gpu/fp8.gpu.ts
#   engfused test/gpu/engine.gpu.ts's 16-bit tests with EMBEDRANK_FUSED_GELU=1 (the experiment's model-level check)
#   tokscale bench/tokenizer-cost.mjs scale: the `tokenizers` binding against @huggingface/tokenizers
#            (exact ids with embedrank's truncation) in 1 / 8 / 16 worker threads on this host
# Device-run phases (before:ARGS, bench:ARGS, test, families, …) pass through.
OUT=${OUT:-/tmp/out}
M=/tmp/embedrank-gpu-models
mkdir -p "$OUT" "$M"
TAG=${TAG:-s8a}
MOCHA="node node_modules/mocha/bin/mocha.js --no-config --no-package --timeout 900000"
FAIL="grep -B2 -A14 -E '^  [0-9]+\\) '"
if [ "${1:-}" = gg ]; then
  shift
  nvcc -O3 -std=c++17 -Icuda --expt-relaxed-constexpr -gencode=arch=compute_90a,code=sm_90a bench/gemm_gelu.cu \
    cuda/hopper.cu cuda/bias_gelu.cu cuda/gemm.cu -lcublasLt -o /tmp/gg || exit 1
  if [ -n "${GG_SKIP_RUN:-}" ]; then echo ok > "$OUT/gemm-gelu-$TAG.log"; rc=0; else
  timeout ${GG_S:-150} /tmp/gg > "$OUT/gemm-gelu-$TAG.log" 2>&1; rc=$?; fi
  cat "$OUT/gemm-gelu-$TAG.log"
  [ $rc = 0 ] || { echo "gemm_gelu failed (rc $rc): stopping"; exit 1; }
  if [ -n "${GG_NCU:-}" ]; then  # GG_NCU="16384 3072 768": Speed-of-light of each path at that shape
    timeout 200 ncu --clock-control none --cache-control none --section SpeedOfLight --csv /tmp/gg profile $GG_NCU > "$OUT/ncu-gg-$TAG.csv" 2> "$OUT/ncu-gg-$TAG.err"
    tail -3 "$OUT/ncu-gg-$TAG.err"; python3 -c "
import csv,sys
rows=list(csv.DictReader(l for l in open('$OUT/ncu-gg-$TAG.csv') if l.startswith('\"')))
keep=('Duration','Memory Throughput','DRAM Throughput','L2 Cache Throughput','L1/TEX Cache Throughput','Compute (SM) Throughput')
for r in rows:
  if r['Metric Name'] in keep: print(r['ID'], r['Kernel Name'][:48], '|', r['Metric Name'], r['Metric Value'], r['Metric Unit'])
"
  fi
  if [ -n "${GG_STALLS:-}" ]; then  # GG_STALLS="16384 3072 768": warp stall reasons of the fused kernel, with and without stores
    timeout 200 ncu --clock-control none --cache-control none --kernel-name regex:gemm_bias_gelu --launch-count 2 \
      --section WarpStateStats --section SchedulerStats --section Occupancy --csv /tmp/gg profile $GG_STALLS > "$OUT/ncu-stalls-$TAG.csv" 2> "$OUT/ncu-stalls-$TAG.err"
    tail -3 "$OUT/ncu-stalls-$TAG.err"; python3 -c "
import csv
rows=list(csv.DictReader(l for l in open('$OUT/ncu-stalls-$TAG.csv') if l.startswith('\"')))
for r in rows:
  v=r['Metric Value']
  try: ok=float(v.replace(',',''))>=0.05
  except: ok=True
  if ok: print(r['ID'], r['Kernel Name'][30:70], '|', r['Section Name'][:16], '|', r['Metric Name'], v, r['Metric Unit'])
"
  fi
  [ $# -gt 0 ] || exit 0
fi
AB="for f in ${FUSED_SEQ:-0 1 0 1}; do echo \"EMBEDRANK_FUSED_GELU=\$f\"; EMBEDRANK_FUSED_GELU=\$f timeout 150 node dist/bench/bench.js --model $M/bench-bert-base --workload fixed512 varlen256_768 --dtype fp16 --batch-sizes 32,128 --iters 20 --out $OUT/ab\$f 2>&1 | grep -E '^GPU|^embedrank|rror'; EMBEDRANK_FUSED_GELU=\$f timeout 80 node dist/bench/bench.js --model $M/bench-xlmr-large --workload fixed512 --dtype fp16 --batch-sizes 32 --iters 20 --out $OUT/ab\$f 2>&1 | grep -E '^GPU|^embedrank|rror'; done"
B1AB="for f in 0 1 0 1; do echo \"EMBEDRANK_FUSED_GELU=\$f\"; EMBEDRANK_FUSED_GELU=\$f timeout 60 node dist/bench/bench.js --model $M/bench-bert-base --workload fixed128 --dtype fp16 --batch-sizes 1 --iters 300 --out $OUT/b1 2>&1 | grep -E '^embedrank|rror'; done"
ENG="timeout ${ENG_S:-300} $MOCHA --spec dist/test/gpu/engine.gpu.js --spec dist/test/gpu/families.gpu.js > $OUT/gpu-tests-encoders-$TAG.log 2>&1; grep -E 'passing|failing|pending' $OUT/gpu-tests-encoders-$TAG.log; $FAIL $OUT/gpu-tests-encoders-$TAG.log | head -60"
PROF32="EMBEDRANK_PROFILE=1 timeout 90 node dist/bench/profile.js --model $M/bench-bert-base --batch 32 --len 512 --iters 10 2>&1 | grep -v '^\\s*\$' | tail -16"
Q3="timeout ${Q3_S:-300} $MOCHA --spec dist/test/gpu/qwen3-cuda.gpu.js --spec dist/test/gpu/qwen3.gpu.js > $OUT/gpu-tests-qwen3-$TAG.log 2>&1; grep -E 'passing|failing|pending' $OUT/gpu-tests-qwen3-$TAG.log; $FAIL $OUT/gpu-tests-qwen3-$TAG.log | head -60"
FP8="EMBEDRANK_EXPERIMENTAL_FP8=1 timeout ${FP8_S:-240} $MOCHA --spec dist/test/gpu/fp8.gpu.js > $OUT/gpu-tests-fp8-$TAG.log 2>&1; grep -E 'passing|failing|pending' $OUT/gpu-tests-fp8-$TAG.log; $FAIL $OUT/gpu-tests-fp8-$TAG.log | head -60"
ENGFUSED="EMBEDRANK_FUSED_GELU=1 timeout 200 $MOCHA --spec dist/test/gpu/engine.gpu.js --grep 'float16|bfloat16' > $OUT/gpu-tests-fused-$TAG.log 2>&1; grep -E 'passing|failing|pending' $OUT/gpu-tests-fused-$TAG.log; $FAIL $OUT/gpu-tests-fused-$TAG.log | head -50"
TOKSCALE="UV_THREADPOOL_SIZE=20 TOKENIZERS_PARALLELISM=false timeout 120 node bench/tokenizer-cost.mjs scale --threads 1,8,16 --rounds 3 --sts .gpu/sts --tokenizer .gpu/minilm-tok 2>&1 | tail -12"
case " $* " in *" q3 "*)
  # The Qwen3 models (written by transformers) for the q3 phase, beside the addon build.
  rm -f /tmp/qwen3-models.rc
  ( PYTHONUNBUFFERED=1 python3 scripts/gpu/qwen3_models.py test/fixtures/hf .gpu/sts "$M/qwen3" > "$OUT/qwen3-models.log" 2>&1; echo $? > /tmp/qwen3-models.rc ) & ;;
esac
Q3="while [ ! -f /tmp/qwen3-models.rc ]; do sleep 1; done; [ \"\$(cat /tmp/qwen3-models.rc)\" = 0 ] || tail -20 $OUT/qwen3-models.log; $Q3"
PHASES=()
for q in "$@"; do
  case "$q" in ab) PHASES+=("sh:$AB") ;; b1ab) PHASES+=("sh:$B1AB") ;; eng) PHASES+=("sh:$ENG") ;; prof32) PHASES+=("sh:$PROF32") ;; q3) PHASES+=("sh:$Q3") ;; fp8) PHASES+=("sh:$FP8") ;; engfused) PHASES+=("sh:$ENGFUSED") ;; tokscale) PHASES+=("sh:$TOKSCALE") ;; *) PHASES+=("$q") ;; esac
done
PREPARE_EXTRA=${PREPARE_EXTRA:-"bench-bert-base bench-xlmr-large"} SKIP_PREPARE=${SKIP_PREPARE:-0} ARCHS=${ARCHS:-"-arch=sm_90"} exec bash scripts/gpu/device-run.sh "${PHASES[@]}"
