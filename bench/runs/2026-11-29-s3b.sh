#!/usr/bin/env bash
# Second device call of session 3 (one H200): scikit-learn references for issue 11's evaluators,
# the tokenizer before/after (issue 9) on a quiet 16-core machine, BERT-base before/after with more
# iterations (issue 10's speed check: the first call's B=1 points moved by ±12% at 10 iterations),
# MiniLM-L6 on the real STS sentences end to end before/after (tokenization included), then the
# server throughput vs the direct Encoder on the GPU (issue 13), the PyTorch references and the GPU suite (attention, BERT engine, sentence-transformers fixtures).
# Before the call: npm run build && bash scripts/gpu/pack.sh && bash scripts/gpu/pack-before.sh 578450f
OUT=${OUT:-/tmp/out}
M=/tmp/embedrank-gpu-models
BB="--model $M/bench-bert-base --workload fixed512 varlen256_768 --dtype fp16 --batch-sizes 1,32,128 --iters 50"
STS="--model $M/minilm-l6 --workload sts --dtype fp16 --batch-sizes 256"
TOK="node bench/tokenizer-before-after.mjs .gpu/oldwp/tokenize/wordpiece.js .gpu/sts"
PHASES=(
  "sh:python3 scripts/gpu/mteb_reference.py --out $OUT/mteb-ref --only classification clustering 2>&1 | tail -15"
  "sh:$TOK .gpu/fix/minilm/tokenizer.json 256 3; $TOK .gpu/fix/bert-uncased-tokenizer.json 512 2; node dist/bench/tokenizer.js --data-dir .gpu/sts --tokenizer .gpu/fix/minilm/tokenizer.json --repeat 2"
  "before:$BB --tag bert-before"
  "sh:node dist/bench/bench.js --out /tmp/b $BB --tag bert-after | grep -E '^GPU|^embedrank'"
  "sh:node /tmp/before/dist/bench/bench.js --out /tmp/b $STS --tag sts-before | grep -E '^GPU|^embedrank'"
  "sh:node dist/bench/bench.js --out /tmp/b $STS --baseline st --tag sts-after | grep -E '^GPU|^embedrank|^sentence|RATIO'"
  "sh:node dist/bench/serve.js --model $M/minilm-l6 --device cuda --texts 20000 --concurrency 1,16,64 --client-batch 256,32 --repeats 1 --out /tmp/b/serve-gpu-minilm-l6.json 2>&1 | tail -25"
  torch
  test
)
export GPU_SPEC=${GPU_SPEC:-"dist/test/gpu/[aes]*.gpu.js"}
ARCHS=${ARCHS:-"-arch=sm_90"} PREPARE_EXTRA=bench-bert-base exec bash scripts/gpu/device-run.sh "${@:-${PHASES[@]}}"
