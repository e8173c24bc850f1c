#!/usr/bin/env bash
# Second device call of session 4 (one H200): where a Qwen3 prefill step's time goes
# (bench/qwen3-profile.ts, EMBEDRANK_PROFILE=1: embedder 64 × 512; reranker 110 × 262 with a
# 200-token shared prefix, prefix caching on and off; the fused q/k-norm + RoPE kernel off vs on),
# the CUDA engine at the 0.6B shape against transformers with the fused kernel, then issue 14's
# Hopper attention (SASS, its GPU suite, the kernel bench) and bucketed CUDA graphs at batch 1.
# Before the call: npm run build && bash scripts/gpu/pack.sh
OUT=${OUT:-/tmp/out}
M=/tmp/embedrank-gpu-models
MOCHA="node node_modules/mocha/bin/mocha.js --no-config --no-package --timeout 900000"
FAIL="grep -B2 -A14 -E '^  [0-9]+\\) '"
mkdir -p "$OUT" "$M"
rm -f /tmp/qwen3-models.rc
( PYTHONUNBUFFERED=1 python3 scripts/gpu/qwen3_models.py test/fixtures/hf .gpu/sts "$M/qwen3" > "$OUT/qwen3-models.log" 2>&1; echo $? > /tmp/qwen3-models.rc ) &
WAITQ="while [ ! -f /tmp/qwen3-models.rc ]; do sleep 1; done; grep -E '^qwen3-|Error|Traceback' $OUT/qwen3-models.log"
QP="node dist/bench/qwen3-profile.js --dtype bf16"
PROF="EMBEDRANK_PROFILE=1 $QP --model $M/qwen3/qwen3-0.6b-emb --batch 64 --len 512 --label emb; EMBEDRANK_DECODER_FUSED_QK=0 EMBEDRANK_PROFILE=1 $QP --model $M/qwen3/qwen3-0.6b-emb --batch 64 --len 512 --label emb-unfused | head -1;"
PROF+=" EMBEDRANK_PROFILE=1 $QP --model $M/qwen3/qwen3-0.6b-lm --batch 110 --len 262 --prefix 200 --label rerank; EMBEDRANK_PROFILE=1 $QP --model $M/qwen3/qwen3-0.6b-lm --batch 110 --len 262 --prefix 200 --no-cache --label rerank | head -4;"
PROF+=" $QP --model $M/qwen3/qwen3-0.6b-emb --batch 64 --len 512 --label emb-noprof | head -1"
QT="timeout 150 $MOCHA --spec dist/test/gpu/qwen3-cuda.gpu.js --grep '0.6b' > $OUT/gpu-tests-qwen3.log 2>&1; grep -E 'passing|failing|pending|worst|P\\(yes\\)' $OUT/gpu-tests-qwen3.log | head -20; $FAIL $OUT/gpu-tests-qwen3.log | head -60"
SASS="cuobjdump -sass build/obj/attention_wgmma.cu.o | grep -oE 'HGMMA\\.[A-Z0-9_.]+|USETMAXREG[A-Z0-9_.]*|UTMALDG[A-Z0-9_.]*|\\bLDL\\b|\\bSTL\\b|\\bHMMA\\b' | sort | uniq -c | head"
ATTN="timeout 150 $MOCHA --spec dist/test/gpu/attention.gpu.js > $OUT/gpu-attention.log 2>&1; echo rc=\$?; grep -E 'passing|failing|pending' $OUT/gpu-attention.log; $FAIL $OUT/gpu-attention.log | head -60"
ABENCH="timeout 60 node dist/bench/attention.js --dtype fp16 --iters 30"
B1="--model $M/bench-bert-base --workload fixed128 varlen1_128 --dtype fp16 --batch-sizes 1 --iters 100 --fresh-shapes"
G1="for g in 0 shape bucket; do echo \"== EMBEDRANK_CUDA_GRAPHS=\$g\"; EMBEDRANK_CUDA_GRAPHS=\$g timeout 60 node dist/bench/bench.js --out /tmp/b $B1 --tag b1-\$g | grep -E '^GPU|^embedrank'; done"
ARCHS=${ARCHS:-"-arch=sm_90"} PREPARE_EXTRA=bench-bert-base exec bash scripts/gpu/device-run.sh "sh:$WAITQ" "sh:$PROF" "sh:$QT" "sh:$SASS" "sh:$ATTN" "sh:$ABENCH" "sh:$G1"
