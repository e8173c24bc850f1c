#!/usr/bin/env bash
# Third device call of session 3 (one H200): the tokenizer pool and MiniLM-L6 STS end to end after
# TOKENIZERS_PARALLELISM=false (call B found tokenization bounding that workload), the GPU tests
# of the sentence-transformers modules (Dense, 3 labels) and of the other helpers' work when present
# (retrieval scoring, Qwen3), and the whole GPU suite once more.
# Before the call: npm run build && bash scripts/gpu/pack.sh
OUT=${OUT:-/tmp/out}
M=/tmp/embedrank-gpu-models
STS="--model $M/minilm-l6 --workload sts --dtype fp16 --batch-sizes 256"
PHASES=(
  "sh:node dist/bench/tokenizer.js --data-dir .gpu/sts --tokenizer .gpu/fix/minilm/tokenizer.json --repeat 2"
  "sh:node dist/bench/bench.js --out /tmp/b $STS --baseline st --tag sts-after2 | grep -E '^GPU|^embedrank|^sentence|RATIO'"
  test
)
export GPU_SPEC=${GPU_SPEC:-"dist/test/gpu/[aeqrs]*.gpu.js"}
ARCHS=${ARCHS:-"-arch=sm_90"} PREPARE_EXTRA=bench-bert-base exec bash scripts/gpu/device-run.sh "${@:-${PHASES[@]}}"
