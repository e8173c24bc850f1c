#!/usr/bin/env bash
# Device calls of session 9 (one H200), issue 14. Run: `OUT=$OUT TAG=s9X bash bench/runs/2026-11-29-s9.sh PHASES`.
# Phases of its own (standalone, no addon, no carry), run first in the order given:
#   gr   bench/gemm_ragged.cu: cuBLASLt's candidates for the four BERT-base linears at ragged token counts
#   mb   bench/memory_bound.cu: bias_gelu and add+LN checked, then timed against plain kernels of the
#        same memory traffic (call c also ran candidate versions of both, kept in before-s9/ then;
#        its log names the builds: /tmp/mbb = session 8's files, /tmp/mb, mb1, mb4 = the candidates)
# Phases passed on (after device-run's addon build and models):
#   pa   bench/paged-attention.ts: the decoder's paged attention, tensor-core kernel against the warp kernel
# Every other phase goes to session 8's script (bench/runs/2026-11-29-s8.sh: gg, ab, eng, q3, fp8, …;
# those with the addon need `npm run build && bash scripts/gpu/pack.sh` first and carry .gpu).
OUT=${OUT:-/tmp/out}
TAG=${TAG:-s9a}
mkdir -p "$OUT"
REST=()
for q in "$@"; do
  case "$q" in
    mb)
      # This tree's passes and, when before-s9/ holds other versions of bias_gelu.cu and
      # add_layernorm.cu (untracked, copied by hand: call c), those, in alternating runs.
      NV="nvcc -O3 -std=c++17 -Icuda -arch=sm_90 bench/memory_bound.cu"
      $NV -o /tmp/mb || exit 1
      RUNS="mb"
      if [ -f before-s9/bias_gelu.cu ]; then $NV -DMB_BEFORE=before-s9 -o /tmp/mbb || exit 1; RUNS="mbb mb mbb mb"; fi
      rc=0
      for b in $RUNS; do echo "== /tmp/$b"; timeout ${MB_S:-60} /tmp/$b || rc=1; done > "$OUT/memory-bound-$TAG.log" 2>&1
      cat "$OUT/memory-bound-$TAG.log"; [ $rc = 0 ] || { echo "memory_bound failed"; exit 1; } ;;
    gr)
      nvcc -O3 -std=c++17 -arch=sm_90 bench/gemm_ragged.cu -lcublasLt -o /tmp/gr || exit 1
      timeout ${GR_S:-200} /tmp/gr > "$OUT/gemm-ragged-$TAG.log" 2>&1; rc=$?
      cat "$OUT/gemm-ragged-$TAG.log"; [ $rc = 0 ] || { echo "gemm_ragged failed (rc $rc)"; exit 1; } ;;
    pa) REST+=("sh:timeout 150 node dist/bench/paged-attention.js --iters 50 --out $OUT/paged-attention-$TAG.jsonl 2>&1 | tail -12") ;;
    *) REST+=("$q") ;;
  esac
done
[ ${#REST[@]} -gt 0 ] || exit 0
OUT=$OUT TAG=$TAG exec bash bench/runs/2026-11-29-s8.sh "${REST[@]}"
