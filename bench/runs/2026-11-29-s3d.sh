#!/usr/bin/env bash
# Fourth device call of session 3 (one H200): Qwen3 (issue 12: the CPU engine against transformers
# at the 0.6B shape, the decoder kernels one by one), the retrieval-scoring Encoder test on a
# head_dim-32 model, and the tokenizer pool / STS end to end under libuv and rayon settings (call C:
# the binding's async encodeBatch runs on libuv's 4-thread pool, so a 16-thread pool saturates).
# Before the call: npm run build && bash scripts/gpu/pack.sh
OUT=${OUT:-/tmp/out}
M=/tmp/embedrank-gpu-models
STS="--model $M/minilm-l6 --workload sts --dtype fp16 --batch-sizes 256"
TOKB="node dist/bench/tokenizer.js --data-dir .gpu/sts --tokenizer .gpu/fix/minilm/tokenizer.json --repeat 2"
PHASES=(
  "sh:python3 scripts/gpu/qwen3_models.py test/fixtures/hf .gpu/sts $M/qwen3 2>&1 | grep -vE 'Loading|Writing|^\s*$' | tail -20"
  "sh:GPU_SPEC='dist/test/gpu/qwen3*.gpu.js dist/test/gpu/retrieval-scoring.gpu.js'; node node_modules/mocha/bin/mocha.js --no-config --no-package --timeout 900000 --spec 'dist/test/gpu/qwen3*.gpu.js' --spec dist/test/gpu/retrieval-scoring.gpu.js > $OUT/gpu-tests-d.log 2>&1; grep -E 'passing|failing|pending|worst|max|P\(yes\)' $OUT/gpu-tests-d.log | head -60; grep -B2 -A14 -E '^  [0-9]+\) ' $OUT/gpu-tests-d.log | head -80"
  "sh:echo '-- UV_THREADPOOL_SIZE=16'; UV_THREADPOOL_SIZE=16 $TOKB; echo '-- UV_THREADPOOL_SIZE=16 TOKENIZERS_PARALLELISM=false'; UV_THREADPOOL_SIZE=16 TOKENIZERS_PARALLELISM=false $TOKB"
  "sh:echo '-- STS, UV_THREADPOOL_SIZE=16'; UV_THREADPOOL_SIZE=16 node dist/bench/bench.js --out /tmp/b $STS --tag sts-uv16 | grep -E '^embedrank'; echo '-- STS, UV_THREADPOOL_SIZE=16 TOKENIZERS_PARALLELISM=false'; UV_THREADPOOL_SIZE=16 TOKENIZERS_PARALLELISM=false node dist/bench/bench.js --out /tmp/b $STS --tag sts-uv16-norayon | grep -E '^embedrank'; echo '-- STS, defaults'; node dist/bench/bench.js --out /tmp/b $STS --tag sts-default | grep -E '^embedrank'"
)
ARCHS=${ARCHS:-"-arch=sm_90"} exec bash scripts/gpu/device-run.sh "${@:-${PHASES[@]}}"
