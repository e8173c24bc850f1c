#!/usr/bin/env bash
# Device calls of session 14 (one H200), issue 14. Run after `npm run build && bash scripts/gpu/pack.sh`,
# carrying .gpu: `OUT=$OUT TAG=s14X bash bench/runs/2026-11-30-s14.sh PHASES`. Phases of its own:
#   alloc   the process's malloc under Hugging Face `tokenizers` (issue 14 item 4): bench/tokenizer.ts (fast
#           path, pools of 13 and 16) with glibc's allocator (EMBEDRANK_ALLOCATOR=system) and with
#           jemalloc / tcmalloc / mimalloc preloaded (EMBEDRANK_ALLOCATOR=<path>: the host's libraries,
#           else the copies pack.sh put in .gpu/alloc), two rounds; then MiniLM-L6 over all STS sentences
#           end to end (bench.js --workload sts, no baseline) with =system and the default (auto)
#           alternating ALLOC_ROUNDS times (default 2), then each once with the sentence-transformers
#           baseline (baselineEnv: it runs without the preload, as users run it)
#   stsalloc  (call c: the host has no allocator library installed, so `auto` ran glibc's in call b) MiniLM-L6
#           over all STS sentences end to end, EMBEDRANK_ALLOCATOR=system against =<the carried
#           libjemalloc.so.2> alternating twice, then that jemalloc once with the sentence-transformers baseline
#   q3late  the Qwen3 models of the q3models phase, started here (after the timed phases, whose CPU they
#           would share) rather than at the script's start
#   q3cuda  the Qwen3 engine suite (qwen3-cuda) with graphs on and off in parallel (the op-level qwen3
#           suite calls kernels directly, graphs or not); needs q3late
#   tarlogs (last) every log of the call in one $OUT/logs-$TAG.tar.gz (the device tool returns few files)
#   suites  every GPU suite, CUDA graphs on (the default, bucket) and off (EMBEDRANK_CUDA_GRAPHS=0) in
#           parallel processes (the Qwen3 suites' engines have a fixed KV pool, so they fit beside the
#           others): on = encoders (engine, families, st-fixtures, fast-tokenize, retrieval-scoring,
#           qwen3-models), Qwen3 (qwen3-cuda, qwen3), FP8, attention (then its wgmma part with ping-pong
#           off); off = encoders, qwen3-cuda, FP8. Needs the families and q3models phases (named first).
#           Seven processes on 16 cores took call a past 430 s; the parts run alone as:
#   q3suites  the Qwen3 groups only (needs q3models);  fp8suites  the FP8 groups only
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
for r in 1 2; do for a in system jemalloc:$JE tcmalloc:$TC mimalloc:$MI; do n=\${a%%:*}; p=\${a#*:}; EMBEDRANK_ALLOCATOR=\$p $FAST timeout 90 node dist/bench/tokenizer.js --data-dir .gpu/sts --tokenizer .gpu/minilm-tok/tokenizer.json --repeat 1 --threads 13,16 --rounds 2 --paths fast 2>&1 | tee -a $OUT/alloc-tokenizer-$TAG.log | grep -E 'allocator|pool|rror' | sed \"s/^/\$n /\"; done; done;
for r in \$(seq ${ALLOC_ROUNDS:-2}); do for a in system auto; do EMBEDRANK_ALLOCATOR=\$a $FAST timeout 60 node dist/bench/bench.js --model $M/minilm-l6 --workload sts --dtype fp16 --batch-sizes 256 --out $OUT/alloc-sts 2>&1 | tee -a $OUT/alloc-sts-$TAG.log | grep -E '^allocator|^embedrank|SPLIT|rror' | sed \"s/^/\$a /\"; done; done;
for a in system auto; do EMBEDRANK_ALLOCATOR=\$a $FAST timeout 150 node dist/bench/bench.js --model $M/minilm-l6 --workload sts --dtype fp16 --batch-sizes 256 --baseline st --out $OUT/alloc-sts-st 2>&1 | tee -a $OUT/alloc-sts-$TAG.log | grep -E '^allocator|^embedrank|^sentence-transformers|RATIO|SPLIT|rror' | sed \"s/^/\$a+st /\"; done"
STSALLOC="for r in 1 2; do for a in system $JE; do EMBEDRANK_ALLOCATOR=\$a $FAST timeout 60 node dist/bench/bench.js --model $M/minilm-l6 --workload sts --dtype fp16 --batch-sizes 256 --out $OUT/alloc-sts 2>&1 | tee -a $OUT/alloc-sts-$TAG.log | grep -E '^allocator|^embedrank|SPLIT|rror'; done; done;
EMBEDRANK_ALLOCATOR=$JE $FAST timeout 150 node dist/bench/bench.js --model $M/minilm-l6 --workload sts --dtype fp16 --batch-sizes 256 --baseline st --out $OUT/alloc-sts-st 2>&1 | tee -a $OUT/alloc-sts-$TAG.log | grep -E '^allocator|^embedrank|^sentence-transformers|RATIO|SPLIT|rror'"
Q3LATE="rm -f /tmp/qwen3-models.rc; ( PYTHONUNBUFFERED=1 python3 scripts/gpu/qwen3_models.py test/fixtures/hf .gpu/sts $M/qwen3 > $OUT/qwen3-models.log 2>&1; echo \$? > /tmp/qwen3-models.rc ) > /dev/null 2>&1 &"
# One suite group: mocha over the named spec files with the environment given, its own log.
group() { # name env specs... (a spec "file@pattern" also passes --grep 'pattern')
  local name=$1 env=$2; shift 2; local specs=""; for s in "$@"; do specs+=" --spec dist/test/gpu/${s%%@*}.gpu.js"; [ "$s" != "${s#*@}" ] && specs+=" --grep '${s#*@}'"; done
  echo "( env $env EMBEDRANK_EXPERIMENTAL_FP8=1 timeout ${SUITE_S:-500} $MOCHA $specs > $OUT/gpu-tests-$name-$TAG.log 2>&1; echo \"$name: \$(grep -E 'passing|failing|pending' $OUT/gpu-tests-$name-$TAG.log | tr '\n' ' ')\" ) &"
}
ENC="engine families st-fixtures fast-tokenize retrieval-scoring"
WAITQ3="while [ ! -f /tmp/qwen3-models.rc ]; do sleep 1; done; echo \"qwen3 models rc \$(cat /tmp/qwen3-models.rc)\";"
SHOWFAIL="for f in $OUT/gpu-tests-*-$TAG.log; do grep -B2 -A14 -E '^  [0-9]+\) ' \$f | head -40; done"
Q3SUITES="$WAITQ3 $(group q3-on EMBEDRANK_CUDA_GRAPHS=bucket qwen3-cuda qwen3) $(group q3-off EMBEDRANK_CUDA_GRAPHS=0 qwen3-cuda) wait; $SHOWFAIL"
# Graphs off, FP8: the model-level tests (engines); the kernel tests call their ops directly either way.
FP8SUITES="$(group fp8-on EMBEDRANK_CUDA_GRAPHS=bucket fp8) $(group fp8-off EMBEDRANK_CUDA_GRAPHS=0 'fp8@each layer tracks') wait; $SHOWFAIL"
Q3CUDA="$WAITQ3 $(group q3-on EMBEDRANK_CUDA_GRAPHS=bucket qwen3-cuda) $(group q3-off EMBEDRANK_CUDA_GRAPHS=0 qwen3-cuda) wait; $SHOWFAIL"
SUITES="$WAITQ3
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
    q3suites) REST+=("sh:$Q3SUITES") ;;
    stsalloc) REST+=("sh:$STSALLOC") ;;
    q3late) REST+=("sh:$Q3LATE") ;;
    q3cuda) REST+=("sh:$Q3CUDA") ;;
    fp8suites) REST+=("sh:$FP8SUITES") ;;
    tarlogs) REST+=("sh:cd $OUT && tar czf logs-$TAG.tar.gz --exclude='logs-*' --exclude=bench.log * && find . -mindepth 1 -maxdepth 1 ! -name 'logs-*' ! -name bench.log -exec rm -rf {} +") ;;
    *) REST+=("$q") ;;
  esac
done
OUT=$OUT TAG=$TAG exec bash bench/runs/2026-11-30-s13.sh "${REST[@]}"
