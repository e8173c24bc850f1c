#!/usr/bin/env bash
# Device call for issue 11 item 5 (GPU retrieval scoring), one call on nvidia-h200:
#   test    test/gpu/retrieval-scoring.gpu.ts only: GPU top k vs the CPU path (log: gpu-tests.log)
#   rscore  bench/retrieval-scoring.js --device cuda: SciFact-shaped (5183 x 300, its top-10 sets
#           checked against the CPU run) and 1M documents x 100 queries (the CPU table's shape),
#           then 1M x 1000 queries; JSON lines in $OUT/retrieval-scoring-gpu-<time>.jsonl
# Before the call, on the dev machine: npm run build && bash scripts/gpu/pack.sh
# then run `OUT=$OUT bash bench/runs/2026-11-29-i11g.sh` carrying .gpu. Arguments replace the phase list.
OUT=${OUT:-/tmp/out}
if [ $# -gt 0 ]; then PHASES=("$@"); else
  PHASES=(test "rscore:--docs=1000000,--queries=100" "rscore:--docs=1000000,--queries=1000")
fi
export GPU_SPEC=${GPU_SPEC:-dist/test/gpu/retrieval-scoring.gpu.js}
ARCHS=${ARCHS:-"-arch=sm_90"} exec bash scripts/gpu/device-run.sh "${PHASES[@]}"
