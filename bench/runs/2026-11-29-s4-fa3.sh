#!/usr/bin/env bash
# Device call for issue 14 item 1 (session 4, one H200): the Hopper attention kernel
# (cuda/attention_wgmma.cu, EMBEDRANK_ATTENTION=wgmma) against the FlashAttention-2 style one (mma).
#   sass      HGMMA / USETMAXREG / UTMALDG present, LDL/STL (local memory) absent in its sm_90a image
#   attn      test/gpu/attention.gpu.ts: both kernels vs float64, wgmma vs mma (log: gpu-attention.log);
#             under `timeout`, so a kernel that never finishes costs minutes, not the call (the
#             kernel's own mbarrier waits also trap after 2^28 polls)
#   abench    bench/attention.ts: attention alone, mma vs mma128 vs wgmma TFLOP/s, fp16 then bf16
#   torch     PyTorch references for the engine suite
#   models    test/gpu/engine.gpu.ts with EMBEDRANK_ATTENTION=wgmma: bert-base, bert-base-bf16 and
#             xlmr-large (head_dim 64) run the new kernel end to end vs the CPU engine and PyTorch
#             (minilm / e5-small are head_dim 32 and keep the mma kernel) (log: gpu-engine-wgmma.log)
#   prof      per-op profile of BERT-base 128 × 512 fp16, mma, mma128 (128-row mma.sync tiles), wgmma
#   bench     BERT-base fixed512 + varlen256_768 fp16 end to end, mma, mma128, wgmma
# Before the call, on the dev machine: npm run build && bash scripts/gpu/pack.sh
# then run `OUT=$OUT bash bench/runs/2026-11-29-s4-fa3.sh` carrying .gpu. Arguments replace the phase list.
OUT=${OUT:-/tmp/out}
M=/tmp/embedrank-gpu-models
MOCHA="node node_modules/mocha/bin/mocha.js --no-config --no-package --timeout 900000"
FAIL="grep -B2 -A14 -E '^  [0-9]+\\) '"
SASS="cuobjdump -sass build/obj/attention_wgmma.cu.o | grep -oE 'HGMMA\\.[A-Z0-9_.]+|USETMAXREG[A-Z0-9_.]*|UTMALDG[A-Z0-9_.]*|\\bLDL\\b|\\bSTL\\b|\\bHMMA\\b' | sort | uniq -c"
ATTN="timeout 420 $MOCHA --spec dist/test/gpu/attention.gpu.js > $OUT/gpu-attention.log 2>&1; echo rc=\$?; grep -E 'passing|failing|pending|skipped' $OUT/gpu-attention.log; $FAIL $OUT/gpu-attention.log | head -80"
ABENCH="timeout 300 node dist/bench/attention.js --dtype fp16 --iters 50; timeout 300 node dist/bench/attention.js --dtype bf16 --iters 50"
MODELS="EMBEDRANK_ATTENTION=wgmma timeout 540 $MOCHA --spec dist/test/gpu/engine.gpu.js > $OUT/gpu-engine-wgmma.log 2>&1; echo rc=\$?; grep -E 'passing|failing|pending|cosine|FAILED' $OUT/gpu-engine-wgmma.log | head -40; $FAIL $OUT/gpu-engine-wgmma.log | head -60"
PROF="for k in mma mma128 wgmma; do EMBEDRANK_ATTENTION=\$k EMBEDRANK_PROFILE=1 node dist/bench/profile.js --model $M/bench-bert-base --batch 128 --len 512 --iters 10 --label \$k | grep -vE '^\\s*$'; done"
BB="--model $M/bench-bert-base --workload fixed512 varlen256_768 --dtype fp16 --batch-sizes 1,32,128 --iters 10"
BENCH="for k in mma mma128 wgmma; do EMBEDRANK_ATTENTION=\$k node dist/bench/bench.js --out $OUT $BB --tag bert-\$k 2>&1 | grep -E '^GPU|^embedrank|RATIO|Error'; done"
if [ $# -gt 0 ]; then PHASES=("$@"); else
  PHASES=("sh:$SASS" "sh:$ATTN" "sh:$ABENCH" torch "sh:$MODELS" "sh:$PROF" "sh:$BENCH")
fi
ARCHS=${ARCHS:-"-arch=sm_90"} PREPARE_EXTRA=bench-bert-base exec bash scripts/gpu/device-run.sh "${PHASES[@]}"
