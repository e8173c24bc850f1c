#!/usr/bin/env bash
# Device call of session 3 (issue 10, model families), one call on nvidia-h200:
#   1. families  models written by transformers/sentence-transformers on the GPU (XLM-R, RoBERTa,
#                DistilBERT encoders and rerankers, an XLM-R of 24 × 1024 with 8194 positions) and
#                their PyTorch outputs (scripts/gpu/family_models.py; starts at once, in the background)
#   2. torch     PyTorch references of the BERT suite
#   3. test      the GPU suite: test/gpu/engine.gpu.ts (BERT, unchanged) + test/gpu/families.gpu.ts
#   4. before    BERT-base fixed512 + varlen256_768 fp16 on the build of the last merged main commit
#   5. bench     the same on this build (before/after in one run: BERT speed not lower)
#   6. bench     XLM-R-large shape (transformers-written, 24 × 1024) fixed512 fp16 with sentence-transformers
# Before the call (on the dev machine): npm run build && bash scripts/gpu/pack.sh && bash scripts/gpu/pack-before.sh
# and carry .gpu. Arguments, when given, replace the phase list (e.g. to rerun only the benches).
M=/tmp/embedrank-gpu-models
BB="--model $M/bench-bert-base --workload fixed512 varlen256_768 --dtype fp16 --batch-sizes 1,32,128 --iters 10"
XL="--model $M/families/xlmr-large-8k --workload fixed512 --dtype fp16 --batch-sizes 1,32,128 --iters 10 --baseline st"
if [ $# -gt 0 ]; then PHASES=("$@"); else
  PHASES=(families torch test "before:$BB --tag bert-before" "bench:$BB --tag bert-after" "bench:$XL --tag xlmr-large")
fi
ARCHS=${ARCHS:-"-arch=sm_90"} PREPARE_EXTRA=bench-bert-base exec bash scripts/gpu/device-run.sh "${PHASES[@]}"
