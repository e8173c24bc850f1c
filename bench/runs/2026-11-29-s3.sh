#!/usr/bin/env bash
# Device call of session 3 (issue 10, model families), one call on nvidia-h200, most important first:
#   families  models written by transformers / sentence-transformers on the GPU (XLM-R, RoBERTa,
#             DistilBERT encoders and rerankers; an XLM-R of bge-m3's shape, 24 × 1024, 8194
#             positions) and their PyTorch outputs (scripts/gpu/family_models.py; it starts at once
#             in the background, beside the addon build)
#   sh:mocha  test/gpu/families.gpu.ts: the CUDA engine on those models vs PyTorch (log: gpu-families.log)
#   before    BERT-base fixed512 + varlen256_768 fp16 on main before the family layer (pack-before.sh)
#   bench     the same on this build: BERT speed before/after in one run
#   bench     XLM-R-large shape (the transformers-written 24 × 1024 model) fixed512 fp16 with sentence-transformers
#   test      the BERT GPU suite, unchanged (attention + engine .gpu.js; log: gpu-tests.log); its
#             PyTorch comparisons need the `torch` phase first (left out for time, as in 2026-11-28-s2c)
# Before the call, on the dev machine: npm run build && bash scripts/gpu/pack.sh && bash scripts/gpu/pack-before.sh
# then run `OUT=$OUT bash bench/runs/2026-11-29-s3.sh` carrying .gpu. Arguments replace the phase list.
OUT=${OUT:-/tmp/out}
M=/tmp/embedrank-gpu-models
BB="--model $M/bench-bert-base --workload fixed512 varlen256_768 --dtype fp16 --batch-sizes 1,32,128 --iters 10"
XL="--model $M/families/xlmr-large-8k --workload fixed512 --dtype fp16 --batch-sizes 1,32,128 --iters 10 --baseline st"
FAM="node node_modules/mocha/bin/mocha.js --no-config --no-package --timeout 1800000 --spec dist/test/gpu/families.gpu.js > $OUT/gpu-families.log 2>&1;"
FAM+=" grep -E 'passing|failing|pending|worst cosine|max \\|Δ|end-to-end|FAILED|^    \\(no ' $OUT/gpu-families.log"
if [ $# -gt 0 ]; then PHASES=("$@"); else
  PHASES=(families "sh:$FAM" "before:$BB --tag bert-before" "bench:$BB --tag bert-after" "bench:$XL --tag xlmr-large" test)
fi
export GPU_SPEC=${GPU_SPEC:-"dist/test/gpu/[ae]*.gpu.js"}
ARCHS=${ARCHS:-"-arch=sm_90"} PREPARE_EXTRA=bench-bert-base exec bash scripts/gpu/device-run.sh "${PHASES[@]}"
