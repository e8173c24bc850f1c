#!/usr/bin/env bash
# Device calls of session 16 (one H200), issue 14. Run after `npm run build && bash scripts/gpu/pack.sh`,
# carrying .gpu: `OUT=$OUT TAG=s16X bash bench/runs/2026-11-30-s16.sh PHASES`. Phases of its own:
#   ststrace  MiniLM-L6 over all STS sentences end to end (bench.js --workload sts, --batch-sizes 1024, 13
#             tokenizer threads, jemalloc, no baseline) with the timeline (EMBEDRANK_TRACE) and V8 CPU profiles
#             of every thread (node --cpu-prof, 250 µs), the scheduler's sequence window on
#             (EMBEDRANK_SEQ_WINDOW=1) and off (=0, session 15's token-only window) alternating TRACE_ROUNDS
#             times (default 2); bench/trace-summary.mjs prints each run's stages and threads
#   stswin    the same without tracing or profiles, on / off alternating WIN_ROUNDS times (default 3)
#   stsst16   the same once with the sentence-transformers baseline (--batch-sizes 1024 on both sides)
#   cpu       the host's CPU (lscpu: sockets, cores, threads per core, model)
#   tokscale  tokenizing all STS sentences alone (bench/tokenizer.ts, fast path, jemalloc) with 1, 2, 4, 8, 12 and
#             16 worker threads, two rounds: how the tokenizer scales on this host
#   prefetch  MiniLM-L6 STS end to end as in stswin with a second tokenizer task waiting in each worker
#             (EMBEDRANK_TOKENIZE_PREFETCH=1) against one (=0), alternating PF_ROUNDS times (default 3)
#   stsst2    stsst16 twice (the sequence window is the rule from call b on)
#   attnfp8   the attention suite (then, with ATTN_PP0=1, its wgmma part with ping-pong off) beside the FP8 suite with graphs
#             on (all of it) and off (its engine-level part), SUITE_S seconds each (default 400)
#   b1gelu    BERT-base fp16 small batches (fixed128 at B = 1, 8, 32; fixed512 at B = 1; 300 iterations) with FFN-up,
#             bias and exact GELU in one kernel of our own (EMBEDRANK_FUSED_GELU=1) against cuBLASLt + bias_gelu
#             (=0), alternating B1_ROUNDS times (default 3)
#   final     (call e) the STS bench with the baseline once, then engine, st-fixtures and fast-tokenize with graphs on
#             beside engine with graphs off, SUITE_S seconds each (default 400)
#   engon     engine.gpu.ts with graphs on (its first run of the addon's deviceProperties), in the background;
#             reported by `engwait`
# ststrace, stswin and prefetch ran (calls a, b) with two A/B switches that are not in the committed code:
# bench/results/session16-switches-2026-11-30-s16ab.patch puts them back (`git apply` it, then build and pack).
# Every other phase goes to session 15's script (and on: engoff, q3late, q3cuda, tarlogs, families, ...).
TAG=${TAG:-s16a}
source "$(dirname "$0")/common.sh"
STS="--model $M/minilm-l6 --workload sts --dtype fp16 --data-dir .gpu/sts --batch-sizes 1024 --tokenizer-threads 13"
STSTRACE="for r in \$(seq ${TRACE_ROUNDS:-2}); do for w in 1 0; do d=$OUT/trace-$TAG/win\$w-r\$r; mkdir -p \$d/prof;
EMBEDRANK_SEQ_WINDOW=\$w EMBEDRANK_TRACE=\$d/t EMBEDRANK_ALLOCATOR=$JE $FAST timeout 90 node --cpu-prof --cpu-prof-interval 250 --cpu-prof-dir \$d/prof dist/bench/bench.js $STS --out \$d/bench 2>&1 | tee -a $OUT/ststrace-$TAG.log | grep -E '^embedrank|SPLIT|rror' | sed \"s/^/win=\$w /\";
node bench/trace-summary.mjs \$d/t --profiles \$d/prof > $OUT/trace-summary-win\$w-r\$r-$TAG.txt 2>&1; echo \"win=\$w round \$r:\"; grep -A14 ': 52082 inputs' $OUT/trace-summary-win\$w-r\$r-$TAG.txt | tail -15; rm -rf \$d/prof; done; done"
STSWIN="for r in \$(seq ${WIN_ROUNDS:-3}); do for w in 1 0; do EMBEDRANK_SEQ_WINDOW=\$w EMBEDRANK_ALLOCATOR=$JE $FAST timeout 90 node dist/bench/bench.js $STS --out $OUT/stswin 2>&1 | tee -a $OUT/stswin-$TAG.log | grep -E '^embedrank|SPLIT|rror' | sed \"s/^/win=\$w /\"; done; done"
STSST16="EMBEDRANK_ALLOCATOR=$JE $FAST timeout 200 node dist/bench/bench.js $STS --baseline st --out $OUT/stsst16 2>&1 | tee -a $OUT/stsst16-$TAG.log | grep -E '^allocator|^embedrank|^sentence-transformers|RATIO|SPLIT|rror'"
ENGON="rm -f /tmp/engon.done; ( env EMBEDRANK_CUDA_GRAPHS=bucket timeout ${SUITE_S:-400} $MOCHA --spec dist/test/gpu/engine.gpu.js > $OUT/gpu-tests-engon-$TAG.log 2>&1; touch /tmp/engon.done ) > /dev/null 2>&1 &"
ENGWAIT="while [ ! -f /tmp/engon.done ]; do sleep 1; done; echo \"engine, graphs on: \$(grep -E 'passing|failing|pending' $OUT/gpu-tests-engon-$TAG.log | tr '\n' ' ')\"; grep -B2 -A14 -E '^  [0-9]+\) ' $OUT/gpu-tests-engon-$TAG.log | head -40"
CPU="lscpu | grep -E 'Model name|^CPU\\(s\\)|Thread|Core|Socket|NUMA node\\(s\\)|MHz|L3'"
TOKSCALE="for r in 1 2; do EMBEDRANK_ALLOCATOR=$JE $FAST timeout 120 node dist/bench/tokenizer.js --data-dir .gpu/sts --tokenizer .gpu/minilm-tok/tokenizer.json --repeat 1 --threads 1,2,4,8,12,16 --rounds 1 --paths fast 2>&1 | tee -a $OUT/tokscale-$TAG.log | grep -E 'allocator|pool|rror'; done"
PREFETCH="for r in \$(seq ${PF_ROUNDS:-3}); do for p in 1 0; do EMBEDRANK_TOKENIZE_PREFETCH=\$p EMBEDRANK_ALLOCATOR=$JE $FAST timeout 90 node dist/bench/bench.js $STS --out $OUT/prefetch 2>&1 | tee -a $OUT/prefetch-$TAG.log | grep -E '^embedrank|SPLIT|rror' | sed \"s/^/prefetch=\$p /\"; done; done"
ATTNSUITE="( env EMBEDRANK_CUDA_GRAPHS=bucket timeout ${SUITE_S:-400} $MOCHA --spec dist/test/gpu/attention.gpu.js > $OUT/gpu-tests-attn-$TAG.log 2>&1; [ \"${ATTN_PP0:-0}\" = 1 ] && EMBEDRANK_WGMMA_PINGPONG=0 timeout 200 $MOCHA --spec dist/test/gpu/attention.gpu.js --grep wgmma > $OUT/gpu-tests-attn-pp0-$TAG.log 2>&1; echo \"attention: \$(grep -E 'passing|failing|pending' $OUT/gpu-tests-attn-$TAG.log | tr '\n' ' ') ping-pong off: \$(grep -E 'passing|failing|pending' $OUT/gpu-tests-attn-pp0-$TAG.log | tr '\n' ' ')\"; grep -B2 -A14 -E '^  [0-9]+\) ' $OUT/gpu-tests-attn*-$TAG.log | head -40 )"
group() { # name env specs... (a spec "file@pattern" also passes --grep 'pattern')
  local name=$1 env=$2; shift 2; local specs=""; for s in "$@"; do specs+=" --spec dist/test/gpu/${s%%@*}.gpu.js"; [ "$s" != "${s#*@}" ] && specs+=" --grep '${s#*@}'"; done
  echo "( env $env EMBEDRANK_EXPERIMENTAL_FP8=1 timeout ${SUITE_S:-400} $MOCHA $specs > $OUT/gpu-tests-$name-$TAG.log 2>&1; echo \"$name: \$(grep -E 'passing|failing|pending' $OUT/gpu-tests-$name-$TAG.log | tr '\n' ' ')\" ) &"
}
ATTNFP8="$ATTNSUITE & $(group fp8-on EMBEDRANK_CUDA_GRAPHS=bucket fp8) $(group fp8-off EMBEDRANK_CUDA_GRAPHS=0 'fp8@each layer tracks') wait; for f in $OUT/gpu-tests-fp8*-$TAG.log; do grep -B2 -A14 -E '^  [0-9]+\) ' \$f | head -40; done"
B1GELU="for r in \$(seq ${B1_ROUNDS:-3}); do for f in 1 0; do for w in fixed128:1,8,32 fixed512:1; do EMBEDRANK_FUSED_GELU=\$f timeout 60 node dist/bench/bench.js --model $M/bench-bert-base --workload \${w%%:*} --dtype fp16 --batch-sizes \${w#*:} --iters 300 --out $OUT/b1gelu 2>&1 | tee -a $OUT/b1gelu-$TAG.log | grep -E '^embedrank|rror' | sed \"s/^/fused=\$f /\"; done; done; done"
FINAL="$STSST16; $(group fin-on EMBEDRANK_CUDA_GRAPHS=bucket engine st-fixtures fast-tokenize) $(group fin-off EMBEDRANK_CUDA_GRAPHS=0 engine) wait; for f in $OUT/gpu-tests-fin*-$TAG.log; do grep -B2 -A14 -E '^  [0-9]+\\) ' \$f | head -40; done"
REST=()
for q in "$@"; do
  case "$q" in
    ststrace) REST+=("sh:$STSTRACE") ;;
    stswin) REST+=("sh:$STSWIN") ;;
    stsst16) REST+=("sh:$STSST16") ;;
    engon) REST+=("sh:$ENGON") ;;
    cpu) REST+=("sh:$CPU") ;;
    final) REST+=("sh:$FINAL") ;;
    b1gelu) REST+=("sh:$B1GELU") ;;
    tokscale) REST+=("sh:$TOKSCALE") ;;
    prefetch) REST+=("sh:$PREFETCH") ;;
    stsst2) REST+=("sh:$STSST16; $STSST16") ;;
    attnfp8) REST+=("sh:$ATTNFP8") ;;
    engwait) REST+=("sh:$ENGWAIT") ;;
    *) REST+=("$q") ;;
  esac
done
OUT=$OUT TAG=$TAG exec bash bench/runs/2026-11-30-s15.sh "${REST[@]}"
