#!/usr/bin/env bash
# Device calls of session 5 (one H200), issue 12 (and the SciFact row of issue 14). Call A ran
# `OUT=$OUT bash bench/runs/2026-11-29-s5.sh` (then named s5a.sh; default phases); later calls name
# their phases and TAG, e.g. `TAG=s5b SKIP_PREPARE=0 bash bench/runs/2026-11-29-s5.sh wait test rerank r64 bertsf`.
#   (background)  scripts/gpu/qwen3_models.py: the Qwen3 models written by transformers /
#                 sentence-transformers with PyTorch's fp32 / bf16 / fp16 outputs (now 16 queries x
#                 20 candidates for the reranker)
#   wait          their summary lines (PyTorch's own misses of the 5e-3 P(yes) bar)
#   test          test/gpu/qwen3-cuda.gpu.ts: fp32 / bf16 / fp16, tiny and 0.6B shapes, the CrossEncoder
#                 path (two batches in flight)
#   rerank        bench/qwen3.ts rerank, 16 queries x 20 candidates x 3 sets: cache on (two in flight),
#                 cache on one in flight (EMBEDRANK_DECODER_OVERLAP=0), cache off, transformers bf16
#   r64           the same with 64 queries per CrossEncoder.predict call (mteb passes a task's pairs in
#                 large calls), cache on (two / one in flight) and off, no transformers baseline
#   bertsf        bench/qwen3.ts embed with the BERT-base encoder (prepare.js's bert-base, fp16) over the
#                 SciFact corpus vs sentence-transformers fp16: issue 14's "SciFact end to end" row
#                 (needs SKIP_PREPARE=0)
#   suite         the kernels (qwen3.gpu.ts, with the in-process all-reduce op test), tensor-parallel ranks
#                 on one GPU (tp-local.gpu.ts, EMBEDRANK_TP_LOCAL=1; its BERT part needs the device-run
#                 phase `families` before it) and qwen3-cuda.gpu.ts (log: gpu-tests-suite.log)
#   bertsf2       bertsf with 3 timed passes and sentence-transformers at batch 32/64/128/256, then the
#                 same with the fast tokenizer path (EMBEDRANK_FAST_TOKENIZE=1 …) without the baseline
#   encoders      the encoder suites after the fp32 no-split-K change and the fp8 fixes: engine.gpu,
#                 families.gpu (needs the device-run phase `families` first), qwen3.gpu, fp8.gpu
#   prof          bench/qwen3-profile.ts on the reranker shape (120 x 262 tokens, 200 shared), cache
#                 on and off: host latency vs GPU time per batch
# Run: npm run build && bash scripts/gpu/pack.sh; then OUT=$OUT bash bench/runs/2026-11-29-s5a.sh (carry .gpu).
OUT=${OUT:-/tmp/out}
M=/tmp/embedrank-gpu-models
mkdir -p "$OUT" "$M"
[ -d .gpu/scifact ] || tar xJf .gpu/scifact.tar.xz -C .gpu || { echo "no .gpu/scifact.tar.xz: run scripts/gpu/pack.sh"; exit 1; }
rm -f /tmp/qwen3-models.rc
# The Qwen3 models only when a phase waits for them (they load the GPU while they are written).
case " ${*:-wait} " in *" wait "*)
  ( PYTHONUNBUFFERED=1 python3 scripts/gpu/qwen3_models.py test/fixtures/hf .gpu/sts "$M/qwen3" > "$OUT/qwen3-models.log" 2>&1; echo $? > /tmp/qwen3-models.rc ) & ;;
esac
WAITQ="while [ ! -f /tmp/qwen3-models.rc ]; do sleep 1; done; grep -E '^qwen3-|^wrote|Error|Traceback' $OUT/qwen3-models.log;"
WAITQ+=" rc=\$(cat /tmp/qwen3-models.rc); [ \"\$rc\" = 0 ] || { echo \"qwen3_models.py failed (exit \$rc)\"; tail -30 $OUT/qwen3-models.log; }"
MOCHA="node node_modules/mocha/bin/mocha.js --no-config --no-package --timeout 900000"
FAIL="grep -B2 -A14 -E '^  [0-9]+\\) '"
QT="timeout ${TEST_S:-200} $MOCHA --spec dist/test/gpu/qwen3-cuda.gpu.js > $OUT/gpu-tests-qwen3.log 2>&1; grep -E 'passing|failing|worst|logit|within|vs default' $OUT/gpu-tests-qwen3.log | cut -c1-330; $FAIL $OUT/gpu-tests-qwen3.log | head -40"
SHOW="grep -E '^\\||^GPU|^PREFIX|^KV|^SPEEDUP|^CHECK|^RATIO|^wrote|rror'"
RERANK="timeout 170 node dist/bench/qwen3.js rerank --model $M/qwen3/qwen3-0.6b-lm --data-dir .gpu --sts-dir .gpu/sts --queries ${QUERIES:-16} --candidates 20 --repeats 3 --compare-overlap ${RERANK_EXTRA:-} --out $OUT/qwen3 --tag h200-${TAG:-s5a} 2>&1 | $SHOW"
R64="timeout 150 node dist/bench/qwen3.js rerank --model $M/qwen3/qwen3-0.6b-lm --data-dir .gpu --sts-dir .gpu/sts --queries 64 --candidates 20 --repeats 2 --baseline none --compare-overlap --out $OUT/qwen3 --tag h200-${TAG:-s5a}-q64 2>&1 | $SHOW"
BERTSF="timeout 150 node dist/bench/qwen3.js embed --model $M/bert-base --dtype fp16 --data-dir .gpu --out $OUT/qwen3 --tag h200-${TAG:-s5a}-bert 2>&1 | grep -E '^\||^GPU|^SciFact|^embedrank:|^CHECK|^RATIO|^wrote|rror'"
SUITE="timeout ${SUITE_S:-330} $MOCHA --spec dist/test/gpu/qwen3.gpu.js --spec dist/test/gpu/tp-local.gpu.js --spec dist/test/gpu/qwen3-cuda.gpu.js > $OUT/gpu-tests-suite.log 2>&1; grep -E 'passing|failing|pending|TP|tp ' $OUT/gpu-tests-suite.log | cut -c1-300 | head -60; $FAIL $OUT/gpu-tests-suite.log | head -60"
BERTSF2="timeout 200 node dist/bench/qwen3.js embed --model $M/bert-base --dtype fp16 --data-dir .gpu --repeats 3 --st-batch-sizes 32,64,128,256 --out $OUT/qwen3 --tag h200-${TAG:-s5a}-bert 2>&1 | grep -E '^\||^SciFact|^CHECK|^RATIO|^wrote|rror'; EMBEDRANK_FAST_TOKENIZE=1 UV_THREADPOOL_SIZE=20 TOKENIZERS_PARALLELISM=false timeout 100 node dist/bench/qwen3.js embed --model $M/bert-base --dtype fp16 --data-dir .gpu --repeats 3 --baseline none --out $OUT/qwen3 --tag h200-${TAG:-s5a}-bert-fasttok 2>&1 | grep -E '^\||^wrote|rror'"
ENGSUITE="timeout ${ENG_S:-300} $MOCHA --spec dist/test/gpu/engine.gpu.js --spec dist/test/gpu/families.gpu.js --spec dist/test/gpu/qwen3.gpu.js > $OUT/gpu-tests-encoders.log 2>&1; grep -E 'passing|failing|pending' $OUT/gpu-tests-encoders.log; $FAIL $OUT/gpu-tests-encoders.log | head -60; timeout ${FP8_S:-150} $MOCHA --spec dist/test/gpu/fp8.gpu.js > $OUT/gpu-tests-fp8.log 2>&1; grep -E 'passing|failing|pending|cosine|STS' $OUT/gpu-tests-fp8.log | cut -c1-250 | head -30; $FAIL $OUT/gpu-tests-fp8.log | head -60"
PROF="for c in --cache --no-cache; do EMBEDRANK_PROFILE=1 timeout 60 node dist/bench/qwen3-profile.js --model $M/qwen3/qwen3-0.6b-lm --batch 120 --len 262 --prefix 200 --reranker \$c --iters 6 2>&1 | tail -14; done"
[ $# -gt 0 ] || set -- wait test rerank prof r64
PHASES=()
for q in "$@"; do
  case "$q" in wait) PHASES+=("sh:$WAITQ") ;; test) PHASES+=("sh:$QT") ;; rerank) PHASES+=("sh:$RERANK") ;; prof) PHASES+=("sh:$PROF") ;; r64) PHASES+=("sh:$R64") ;; bertsf) PHASES+=("sh:$BERTSF") ;; suite) PHASES+=("sh:$SUITE") ;; bertsf2) PHASES+=("sh:$BERTSF2") ;; encoders) PHASES+=("sh:$ENGSUITE") ;; *) PHASES+=("$q") ;; esac
done
SKIP_PREPARE=${SKIP_PREPARE:-1} ARCHS=${ARCHS:-"-arch=sm_90"} exec bash scripts/gpu/device-run.sh "${PHASES[@]}"
