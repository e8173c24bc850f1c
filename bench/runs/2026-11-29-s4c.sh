#!/usr/bin/env bash
# Third device call of session 4 (one H200): the Qwen3 CUDA engine after the host-path and
# element-wise-kernel fixes (suite + both benchmarks), the encoder suite under the new defaults
# (bucketed graphs, attention auto), BERT-base throughput new defaults vs the old ones
# (EMBEDRANK_CUDA_GRAPHS=shape EMBEDRANK_ATTENTION=mma) in one run, MiniLM STS end to end with the
# tokenizer fast path off/on (sentence-transformers baseline in the same run), and a bf16 reranker
# diagnosis (fused q/k-norm+RoPE off, warp attention).
# Before the call: npm run build && bash scripts/gpu/pack.sh
OUT=${OUT:-/tmp/out}
M=/tmp/embedrank-gpu-models
MOCHA="node node_modules/mocha/bin/mocha.js --no-config --no-package --timeout 900000"
FAIL="grep -B2 -A14 -E '^  [0-9]+\\) '"
QT="timeout 170 $MOCHA --spec dist/test/gpu/qwen3-cuda.gpu.js > $OUT/gpu-tests-qwen3.log 2>&1; grep -E 'passing|failing|pending|worst|median|P\\(yes\\)' $OUT/gpu-tests-qwen3.log | cut -c1-400 | head -40; $FAIL $OUT/gpu-tests-qwen3.log | head -40"
ENG="timeout 150 $MOCHA --spec dist/test/gpu/engine.gpu.js > $OUT/gpu-tests-engine.log 2>&1; grep -E 'passing|failing|pending' $OUT/gpu-tests-engine.log; $FAIL $OUT/gpu-tests-engine.log | head -40"
BB="--model $M/bench-bert-base --workload fixed512 varlen256_768 --dtype fp16 --batch-sizes 32,128 --iters 20"
BERT="echo '== old defaults (shape graphs, mma)'; EMBEDRANK_CUDA_GRAPHS=shape EMBEDRANK_ATTENTION=mma timeout 60 node dist/bench/bench.js --out /tmp/b $BB --tag bert-old | grep -E '^GPU|^embedrank'; echo '== new defaults'; timeout 60 node dist/bench/bench.js --out $OUT $BB --tag bert-new | grep -E '^GPU|^embedrank'"
STS="--model $M/minilm-l6 --workload sts --dtype fp16 --batch-sizes 256"
E2E="echo '== STS default tokenizer path'; timeout 60 node dist/bench/bench.js --out /tmp/b $STS --baseline st --tag sts-default | grep -E '^GPU|^embedrank|^sentence|RATIO'; echo '== STS EMBEDRANK_FAST_TOKENIZE=1 UV_THREADPOOL_SIZE=20 TOKENIZERS_PARALLELISM=false'; EMBEDRANK_FAST_TOKENIZE=1 UV_THREADPOOL_SIZE=20 TOKENIZERS_PARALLELISM=false timeout 40 node dist/bench/bench.js --out /tmp/b $STS --tag sts-fast | grep -E '^embedrank'"
DIAG="for v in EMBEDRANK_DECODER_FUSED_QK=0 EMBEDRANK_PAGED_ATTENTION=warp; do echo \"== \$v\"; env \$v timeout 40 $MOCHA --spec dist/test/gpu/qwen3-cuda.gpu.js --grep 'lm bfloat16' 2>&1 | grep -E 'worst|median' | cut -c1-400; done"
[ $# -gt 0 ] || set -- wait "sh:$QT" rerank embed "sh:$ENG" "sh:$BERT" "sh:$E2E" "sh:$DIAG"
PREPARE_EXTRA=bench-bert-base exec bash bench/runs/2026-11-29-s4.sh "$@"
