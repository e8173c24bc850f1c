#!/usr/bin/env bash
# Device call of session 4 (issue 12, Qwen3 on CUDA), one call on nvidia-h200, under 600 s:
#   (background)  the Qwen3 models written by transformers / sentence-transformers with their PyTorch
#                 references (scripts/gpu/qwen3_models.py: qwen3-tiny-emb, qwen3-0.6b-emb,
#                 qwen3-0.6b-lm; ~40 s), started at once beside the addon build (log: qwen3-models.log)
#   sh:wait       waits for them, prints their summary lines
#   test          GPU_SPEC='dist/test/gpu/qwen3*.gpu.js': the CUDA decoder against those references,
#                 and the kernels one by one (log: gpu-tests.log)
#   sh:embed      bench/qwen3.ts embed: Qwen3-Embedding 0.6B shape over the SciFact corpus (5183
#                 documents once) bf16 vs sentence-transformers bf16 (sweep 16/32/64 on 1024 documents,
#                 the best over all), cosine check on the first 64
#   sh:rerank     bench/qwen3.ts rerank: Qwen3-Reranker 0.6B shape, 3 timed sets of 16 queries × 20
#                 candidates (+1 warm-up set), shared prefix ≥ 200 tokens, prefix caching on vs off,
#                 vs transformers bf16 (batches of 20/40/80/160 pairs)
# Results: $OUT/qwen3/qwen3.log (everything the benches printed, Python included) and
# $OUT/qwen3/qwen3-{embed,rerank}-DATE-h200.json; bench.log holds the summary lines.
# Before the call, on the dev machine: npm run build && bash scripts/gpu/pack.sh (packs SciFact too)
# then run `OUT=$OUT bash bench/runs/2026-11-29-s4.sh` carrying .gpu.
OUT=${OUT:-/tmp/out}
M=/tmp/embedrank-gpu-models
mkdir -p "$OUT" "$M"
[ -d .gpu/scifact ] || tar xJf .gpu/scifact.tar.xz -C .gpu || { echo "no .gpu/scifact.tar.xz: run scripts/gpu/pack.sh"; exit 1; }
rm -f /tmp/qwen3-models.rc
( PYTHONUNBUFFERED=1 python3 scripts/gpu/qwen3_models.py test/fixtures/hf .gpu/sts "$M/qwen3" > "$OUT/qwen3-models.log" 2>&1; echo $? > /tmp/qwen3-models.rc ) &
# A file, not the pid: device-run.sh (exec'd below) is not the process that started it.
WAITQ="while [ ! -f /tmp/qwen3-models.rc ]; do sleep 1; done; grep -E '^qwen3-|^wrote|Error|Traceback' $OUT/qwen3-models.log;"
WAITQ+=" rc=\$(cat /tmp/qwen3-models.rc); [ \"\$rc\" = 0 ] || { echo \"qwen3_models.py failed (exit \$rc)\"; tail -30 $OUT/qwen3-models.log; }"
SHOW="grep -E '^\\||^GPU|^SciFact|^embedrank:|^PREFIX|^KV|^SPEEDUP|^CHECK|^RATIO|^wrote|rror'"
EMBED="timeout 170 node dist/bench/qwen3.js embed --model $M/qwen3/qwen3-0.6b-emb --data-dir .gpu --out $OUT/qwen3 --tag h200 2>&1 | $SHOW"
RERANK="timeout 150 node dist/bench/qwen3.js rerank --model $M/qwen3/qwen3-0.6b-lm --data-dir .gpu --sts-dir .gpu/sts --queries 16 --candidates 20 --repeats 3 --out $OUT/qwen3 --tag h200 2>&1 | $SHOW"
# Arguments replace the phase list; wait, embed and rerank name the three phases above, e.g.
# `bash bench/runs/2026-11-29-s4.sh wait rerank` (any device-run.sh phase may be given too).
[ $# -gt 0 ] || set -- wait test embed rerank
PHASES=()
for q in "$@"; do
  case "$q" in wait) PHASES+=("sh:$WAITQ") ;; embed) PHASES+=("sh:$EMBED") ;; rerank) PHASES+=("sh:$RERANK") ;; *) PHASES+=("$q") ;; esac
done
export GPU_SPEC=${GPU_SPEC:-"dist/test/gpu/qwen3*.gpu.js"}
ARCHS=${ARCHS:-"-arch=sm_90"} exec bash scripts/gpu/device-run.sh "${PHASES[@]}"
