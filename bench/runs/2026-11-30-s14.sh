#!/usr/bin/env bash
# Device calls of session 14 (one H200), issue 14. Run after `npm run build && bash scripts/gpu/pack.sh`,
# carrying .gpu: `OUT=$OUT TAG=s14X bash bench/runs/2026-11-30-s14.sh PHASES`. Phases of its own:
#   alloc   the process's malloc under Hugging Face `tokenizers` (issue 14 item 4): bench/tokenizer.ts (fast
#           path, pools of 13 and 16) with glibc's allocator and with jemalloc / tcmalloc / mimalloc
#           preloaded (LD_PRELOAD; the host's libraries, else the copies pack.sh put in .gpu/alloc), two
#           rounds; then MiniLM-L6 over all STS sentences end to end (bench.js --workload sts, no baseline)
#           glibc against jemalloc alternating ALLOC_ROUNDS times (default 2), tcmalloc and mimalloc once,
#           and once with the sentence-transformers baseline (no preload: it runs as users run it)
#   suites  every GPU suite, CUDA graphs on (the default, bucket) and off (EMBEDRANK_CUDA_GRAPHS=0) in
#           parallel processes (the Qwen3 suites' engines take 30% of the card each): on = encoders
#           (engine, families, st-fixtures, fast-tokenize, retrieval-scoring, qwen3-models), Qwen3
#           (qwen3-cuda, qwen3), FP8, attention (then its wgmma part with ping-pong off); off = encoders,
#           qwen3-cuda, FP8. Needs the families and q3models phases (named first)
# Every other phase goes to session 13's script (and on: q3models, dlat, b1, families, eng, q3, fp8, ...).
OUT=${OUT:-/tmp/out}
TAG=${TAG:-s14a}
M=/tmp/embedrank-gpu-models
mkdir -p "$OUT"
MOCHA="node node_modules/mocha/bin/mocha.js --no-config --no-package --timeout 900000"
FAST="EMBEDRANK_FAST_TOKENIZE=1 UV_THREADPOOL_SIZE=20 TOKENIZERS_PARALLELISM=false"
lib() { for d in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /usr/local/lib .gpu/alloc; do [ -f "$d/$1" ] && { echo "$(cd "$d" && pwd)/$1"; return; }; done; }
JE=$(lib libjemalloc.so.2); TC=$(lib libtcmalloc_minimal.so.4); MI=$(lib libmimalloc.so.2)
ALLOC="echo \"allocators: jemalloc=$JE tcmalloc=$TC mimalloc=$MI\"; ls /usr/lib/x86_64-linux-gnu | grep -E 'jemalloc|tcmalloc|mimalloc' | tr '\n' ' '; echo;
for r in 1 2; do for a in system:: jemalloc:$JE tcmalloc:$TC mimalloc:$MI; do n=\${a%%:*}; p=\${a#*:}; LD_PRELOAD=\$p $FAST timeout 90 node dist/bench/tokenizer.js --data-dir .gpu/sts --tokenizer .gpu/minilm-tok/tokenizer.json --repeat 1 --threads 13,16 --rounds 2 --paths fast 2>&1 | tee -a $OUT/alloc-tokenizer-$TAG.log | grep -E 'this thread|pool|rror' | sed \"s/^/\$n /\"; done; done;
for r in \$(seq ${ALLOC_ROUNDS:-2}); do for a in system:: jemalloc:$JE; do n=\${a%%:*}; p=\${a#*:}; LD_PRELOAD=\$p $FAST timeout 60 node dist/bench/bench.js --model $M/minilm-l6 --workload sts --dtype fp16 --batch-sizes 256 --out $OUT/alloc-sts 2>&1 | tee -a $OUT/alloc-sts-$TAG.log | grep -E '^embedrank|SPLIT|rror' | sed \"s/^/\$n /\"; done; done;
for a in tcmalloc:$TC mimalloc:$MI; do n=\${a%%:*}; p=\${a#*:}; LD_PRELOAD=\$p $FAST timeout 60 node dist/bench/bench.js --model $M/minilm-l6 --workload sts --dtype fp16 --batch-sizes 256 --out $OUT/alloc-sts 2>&1 | tee -a $OUT/alloc-sts-$TAG.log | grep -E '^embedrank|SPLIT|rror' | sed \"s/^/\$n /\"; done;
$FAST timeout 150 node dist/bench/bench.js --model $M/minilm-l6 --workload sts --dtype fp16 --batch-sizes 256 --baseline st --out $OUT/alloc-sts-st 2>&1 | tee -a $OUT/alloc-sts-$TAG.log | grep -E '^embedrank|^sentence-transformers|RATIO|SPLIT|rror' | sed 's/^/system+st /'"
# One suite group: mocha over the named spec files with the environment given, its own log.
group() { # name env specs...
  local name=$1 env=$2; shift 2; local specs=""; for s in "$@"; do specs+=" --spec dist/test/gpu/$s.gpu.js"; done
  echo "( env $env EMBEDRANK_EXPERIMENTAL_FP8=1 timeout ${SUITE_S:-500} $MOCHA $specs > $OUT/gpu-tests-$name-$TAG.log 2>&1; echo \"$name: \$(grep -E 'passing|failing|pending' $OUT/gpu-tests-$name-$TAG.log | tr '\n' ' ')\" ) &"
}
ENC="engine families st-fixtures fast-tokenize retrieval-scoring"
SUITES="while [ ! -f /tmp/qwen3-models.rc ]; do sleep 1; done; echo \"qwen3 models rc \$(cat /tmp/qwen3-models.rc)\";
$(group enc-on EMBEDRANK_CUDA_GRAPHS=bucket $ENC qwen3-models) $(group enc-off EMBEDRANK_CUDA_GRAPHS=0 $ENC)
$(group q3-on EMBEDRANK_CUDA_GRAPHS=bucket qwen3-cuda qwen3) $(group q3-off EMBEDRANK_CUDA_GRAPHS=0 qwen3-cuda)
$(group fp8-on EMBEDRANK_CUDA_GRAPHS=bucket fp8) $(group fp8-off EMBEDRANK_CUDA_GRAPHS=0 fp8)
( env EMBEDRANK_CUDA_GRAPHS=bucket timeout ${SUITE_S:-500} $MOCHA --spec dist/test/gpu/attention.gpu.js > $OUT/gpu-tests-attn-$TAG.log 2>&1; EMBEDRANK_WGMMA_PINGPONG=0 timeout 200 $MOCHA --spec dist/test/gpu/attention.gpu.js --grep wgmma > $OUT/gpu-tests-attn-pp0-$TAG.log 2>&1; echo \"attention: \$(grep -E 'passing|failing|pending' $OUT/gpu-tests-attn-$TAG.log | tr '\n' ' ') ping-pong off: \$(grep -E 'passing|failing|pending' $OUT/gpu-tests-attn-pp0-$TAG.log | tr '\n' ' ')\" ) &
wait; for f in $OUT/gpu-tests-*-$TAG.log; do grep -B2 -A14 -E '^  [0-9]+\) ' \$f | head -40; done"
REST=()
for q in "$@"; do
  case "$q" in
    alloc) REST+=("sh:$ALLOC") ;;
    suites) REST+=("sh:$SUITES") ;;
    *) REST+=("$q") ;;
  esac
done
OUT=$OUT TAG=$TAG exec bash bench/runs/2026-11-30-s13.sh "${REST[@]}"
