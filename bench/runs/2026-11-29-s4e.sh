#!/usr/bin/env bash
# Fifth device call of session 4 (one H200): the final code's Qwen3 CUDA suite at the 0.6B shapes
# (the bf16 reranker held to PyTorch's bf16 in logit space) and the encoder suite after the fp8
# merge touched bert.cu / add_layernorm.cu (fp8 itself off).
OUT=${OUT:-/tmp/out}
M=/tmp/embedrank-gpu-models
MOCHA="node node_modules/mocha/bin/mocha.js --no-config --no-package --timeout 900000"
FAIL="grep -B2 -A14 -E '^  [0-9]+\\) '"
mkdir -p "$OUT" "$M"
rm -f /tmp/qwen3-models.rc
( PYTHONUNBUFFERED=1 python3 scripts/gpu/qwen3_models.py test/fixtures/hf .gpu/sts "$M/qwen3" > /tmp/qwen3-models.log 2>&1; echo $? > /tmp/qwen3-models.rc ) &
QT="while [ ! -f /tmp/qwen3-models.rc ]; do sleep 1; done; timeout 90 $MOCHA --spec dist/test/gpu/qwen3-cuda.gpu.js --grep '0.6b' > $OUT/gpu-tests-qwen3.log 2>&1; grep -E 'passing|failing|worst|logit' $OUT/gpu-tests-qwen3.log | cut -c1-300; $FAIL $OUT/gpu-tests-qwen3.log | head -30"
ENG="timeout 140 $MOCHA --spec dist/test/gpu/engine.gpu.js > $OUT/gpu-tests-engine.log 2>&1; grep -E 'passing|failing|pending' $OUT/gpu-tests-engine.log; $FAIL $OUT/gpu-tests-engine.log | head -30"
ARCHS=${ARCHS:-"-arch=sm_90"} exec bash scripts/gpu/device-run.sh "sh:$QT" "sh:$ENG"
