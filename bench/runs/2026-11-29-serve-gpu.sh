#!/usr/bin/env bash
# Serving benchmark on one GPU (not yet run): direct Encoder.embedMatrix vs `embedrank serve` over
# HTTP on the same card, closed-loop clients at several concurrencies, for a small and a base
# model on the SemEval STS sentences. Writes serve-gpu-*.json and the log to $OUT.
M=/tmp/embedrank-gpu-models
exec bash scripts/gpu/device-run.sh \
  "sh:node dist/bench/serve.js --model $M/minilm-l6 --device cuda --texts 20000 --concurrency 1,4,16,64 --client-batch 256,32,1 --repeats 2 --out $OUT/serve-gpu-minilm-l6.json" \
  "sh:node dist/bench/serve.js --model $M/bert-base --device cuda --texts 20000 --concurrency 1,4,16,64 --client-batch 256,32 --repeats 2 --out $OUT/serve-gpu-bert-base.json"
