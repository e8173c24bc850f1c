#!/usr/bin/env bash
# Fourth device call of session 4 (one H200): FP8 (issue 14 item 2: its GPU suite, fp8 vs fp16 on
# BERT-base and XLM-R-large shapes in one run, STS12 on the real data with a transformers-written
# RoBERTa-base at fp32 / fp16 / fp16+fp8 / bf16 / bf16+fp8), the Qwen3 reranker's bf16 check in logit
# space, and the tokenizer fast path's GPU test.
# Before the call: npm run build && bash scripts/gpu/pack.sh
OUT=${OUT:-/tmp/out}
M=/tmp/embedrank-gpu-models
MOCHA="node node_modules/mocha/bin/mocha.js --no-config --no-package --timeout 900000"
FAIL="grep -B2 -A14 -E '^  [0-9]+\\) '"
mkdir -p "$OUT" "$M"
rm -f /tmp/qwen3-models.rc
( PYTHONUNBUFFERED=1 python3 scripts/gpu/qwen3_models.py test/fixtures/hf .gpu/sts "$M/qwen3" > "$OUT/qwen3-models.log" 2>&1; echo $? > /tmp/qwen3-models.rc ) &
FP8T="timeout 170 $MOCHA --spec dist/test/gpu/fp8.gpu.js > $OUT/gpu-tests-fp8.log 2>&1; grep -E 'passing|failing|pending|epilogue|cosine' $OUT/gpu-tests-fp8.log | cut -c1-300 | head -40; $FAIL $OUT/gpu-tests-fp8.log | head -60"
FP8B="timeout 60 node dist/bench/bench.js --out $OUT --model $M/bench-bert-base --workload fixed512 --dtype fp16 --batch-sizes 32,128 --quantization none fp8 --iters 20 --tag fp8-bertbase | grep -E '^GPU|^embedrank|RATIO|rror'; timeout 50 node dist/bench/bench.js --out /tmp/b --model $M/bench-xlmr-large --workload fixed512 --dtype fp16 --batch-sizes 32 --quantization none fp8 --iters 10 --tag fp8-xlmr | grep -E '^GPU|^embedrank|RATIO|rror'"
QT="while [ ! -f /tmp/qwen3-models.rc ]; do sleep 1; done; timeout 60 $MOCHA --spec dist/test/gpu/qwen3-cuda.gpu.js --grep '0.6b-lm' > $OUT/gpu-tests-qwen3.log 2>&1; grep -E 'passing|failing|worst|median|logit' $OUT/gpu-tests-qwen3.log | cut -c1-400; $FAIL $OUT/gpu-tests-qwen3.log | head -30"
FT="timeout 60 $MOCHA --spec dist/test/gpu/fast-tokenize.gpu.js > $OUT/gpu-tests-fasttok.log 2>&1; grep -E 'passing|failing|pending|cosine' $OUT/gpu-tests-fasttok.log | head; $FAIL $OUT/gpu-tests-fasttok.log | head -30"
STS12="MODELS=roberta-base timeout 100 bash scripts/gpu/fp8_sts12.sh"
[ $# -gt 0 ] || set -- "sh:$FP8T" "sh:$FP8B" "sh:$QT" "sh:$FT" families "sh:$STS12"
ARCHS=${ARCHS:-"-arch=sm_90"} PREPARE_EXTRA="bench-bert-base bench-xlmr-large" exec bash scripts/gpu/device-run.sh "$@"
