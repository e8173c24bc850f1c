#!/usr/bin/env bash
# STS12 (the real SemEval 2012 data) with and without quantization fp8, on the GPU machine, for
# issue 14's "STS12 score change". Run through scripts/gpu/device-run.sh after its `families`
# phase, which writes transformers-made sentence-transformers folders (random weights at trained
# scale, real tokenizers of test/fixtures/hf) — there are no trained weights here, so the absolute
# Spearman of these models means nothing; what is measured is how far fp8 moves it, and how well
# fp8's per-pair similarities agree with fp32's (the summary prints both):
#
#   device-run.sh families "sh:bash scripts/gpu/fp8_sts12.sh"
#
# MODELS (default roberta-base xlmr-base distilbert-base) and DTYPES can be overridden.
set -u
export EMBEDRANK_EXPERIMENTAL_FP8=1  # fp8 is opt-in until its GPU suite passes (src/core/options.ts)
OUT=${OUT:-/tmp/out}
FAM_DIR=${FAM_DIR:-${EMBEDRANK_GPU_MODELS:-/tmp/embedrank-gpu-models}/families}
STS=${EMBEDRANK_STS_DIR:-$PWD/.gpu/sts}
RES=/tmp/fp8-sts12
rm -rf "$RES"
for m in ${MODELS:-roberta-base xlmr-base distilbert-base}; do
  [ -f "$FAM_DIR/$m/config.json" ] || { echo "fp8_sts12: $FAM_DIR/$m missing (run the families phase first)"; continue; }
  for run in float32 float16 float16+fp8 bfloat16 bfloat16+fp8; do
    dt=${run%+fp8}
    q=(); [ "$run" != "$dt" ] && q=(--quantization fp8)
    node dist/src/cli/main.js evaluate -m "$FAM_DIR/$m" -t STS12 --data-dir "$STS" --device cuda --dtype "$dt" "${q[@]}" \
      --output-folder "$RES/$m/$run" --prediction-folder "$RES/$m/$run/predictions" --quiet > "$RES.$m.$run.log" 2>&1 \
      || { echo "fp8_sts12: $m $run failed:"; tail -5 "$RES.$m.$run.log"; }
  done
done
python3 scripts/gpu/fp8_sts12_summary.py "$RES" | tee "$OUT/fp8-sts12.txt"
