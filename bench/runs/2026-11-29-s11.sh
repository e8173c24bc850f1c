#!/usr/bin/env bash
# Device calls of session 11 (one H200), issue 14. Run after `npm run build && bash scripts/gpu/pack.sh`,
# carrying .gpu: `OUT=$OUT TAG=s11X bash bench/runs/2026-11-29-s11.sh PHASES`. Phases of its own:
#   host     the host's CPU (lscpu) and a one-thread JS loop (bench/cpu-loop.mjs), to set the host's
#            per-core speed beside the development VM's
#   ststh    MiniLM-L6 over all STS sentences end to end on the fast tokenizer path with
#            --tokenizer-threads 16 / 12 / 8 alternating twice (STSTH_SEQ), then once with the
#            sentence-transformers baseline in the same call (STSTH_ST=0: without it)
#   gsm16k   bench/gemm_small_m.cu at T = 16384 (BERT-base 32 × 512): heuristic[0], best of 8 / 64 and a
#            sweep of every algorithm × tile × stages × split-K 1, 2 × reduction scheme
#   sync     the same STS run under EMBEDRANK_CUDA_SYNC (how executor threads wait for the GPU: unset =
#            CUDA's auto, i.e. spin here; yield; blocking) × --tokenizer-threads 16 / 13, two rounds
#   b1sync   BERT-base batch 1 × 128 tokens latency (bench.js fixed128, 300 iterations) under auto /
#            yield / blocking, twice
#   sfsync   the SciFact corpus through BERT-base fp16 end to end (bench/qwen3.ts embed, no baseline,
#            medians of 3) under auto and yield × tokenizer threads 16 / 13
#   final    the session's defaults (tokenizer threads = cores − 3 with one GPU, executor threads yield)
#            against the old ones (--tokenizer-threads 16, EMBEDRANK_CUDA_SYNC=auto), alternating: STS
#            end to end twice each, then once with the sentence-transformers baseline; batch 1 twice
#            each; SciFact once each, then once with its sentence-transformers baseline
#   famtest  test/gpu/families.gpu.ts alone (after device-run's `families` phase has written the models)
# Every other phase goes to session 10's script (and on: prof32, eng, q3, fp8, ...).
OUT=${OUT:-/tmp/out}
TAG=${TAG:-s11a}
M=/tmp/embedrank-gpu-models
FAST="EMBEDRANK_FAST_TOKENIZE=1 UV_THREADPOOL_SIZE=20 TOKENIZERS_PARALLELISM=false"
HOST="lscpu | grep -E 'Model name|^CPU\\(s\\)|Thread|Core|Socket|MHz|L3'; nproc; for r in 1 2 3; do node bench/cpu-loop.mjs; done"
STSTH="for t in ${STSTH_SEQ:-16 12 8 16 12 8}; do $FAST timeout 60 node dist/bench/bench.js --model $M/minilm-l6 --workload sts --dtype fp16 --batch-sizes 256 --tokenizer-threads \$t --out $OUT/ststh\$t 2>&1 | grep -E '^embedrank|SPLIT|rror' | sed \"s/^/threads=\$t /\"; done; [ \"${STSTH_ST:-1}\" = 0 ] || $FAST timeout 150 node dist/bench/bench.js --model $M/minilm-l6 --workload sts --dtype fp16 --batch-sizes 256 --baseline st --out $OUT/stsst 2>&1 | grep -E '^embedrank|^sentence-transformers|RATIO|SPLIT|rror'"
GSM16K="nvcc -O3 -std=c++17 -arch=sm_90 bench/gemm_small_m.cu -lcublasLt -o /tmp/gsm && GSM_CALLS=12 GSM_SPLITS=1,2 timeout ${GSM_S:-240} /tmp/gsm 16384 > $OUT/gemm-16k-$TAG.log 2>&1; cat $OUT/gemm-16k-$TAG.log"
SYNC="for r in 1 2; do for c in auto:16 yield:16 blocking:16 auto:13 yield:13; do m=\${c%:*}; t=\${c#*:}; e=; [ \$m = auto ] || e=EMBEDRANK_CUDA_SYNC=\$m; env \$e $FAST timeout 60 node dist/bench/bench.js --model $M/minilm-l6 --workload sts --dtype fp16 --batch-sizes 256 --tokenizer-threads \$t --out $OUT/sync 2>&1 | grep -E '^embedrank|SPLIT|rror' | sed \"s/^/sync=\$m threads=\$t /\"; done; done"
B1SYNC="for r in 1 2; do for m in auto yield blocking; do e=; [ \$m = auto ] || e=EMBEDRANK_CUDA_SYNC=\$m; env \$e timeout 60 node dist/bench/bench.js --model $M/bench-bert-base --workload fixed128 --dtype fp16 --batch-sizes 1 --iters 300 --out $OUT/b1 2>&1 | grep -E '^embedrank|rror' | sed \"s/^/sync=\$m /\"; done; done"
SFSYNC="[ -d .gpu/scifact ] || tar xJf .gpu/scifact.tar.xz -C .gpu; for c in auto:16 yield:16 auto:13 yield:13; do m=\${c%:*}; t=\${c#*:}; e=; [ \$m = auto ] || e=EMBEDRANK_CUDA_SYNC=\$m; env \$e $FAST timeout 100 node dist/bench/qwen3.js embed --model $M/bert-base --dtype fp16 --data-dir .gpu --repeats 3 --baseline none --tokenizer-threads \$t --out $OUT/sf --tag $TAG 2>&1 | grep -E '^SciFact|^embedrank:|^SPLIT|rror' | sed \"s/^/sync=\$m threads=\$t /\"; done"
OLD="EMBEDRANK_CUDA_SYNC=auto"
FINAL="[ -d .gpu/scifact ] || tar xJf .gpu/scifact.tar.xz -C .gpu; for r in 1 2; do for v in new old; do a=; e=; [ \$v = new ] || { a='--tokenizer-threads 16'; e=$OLD; }; env \$e $FAST timeout 60 node dist/bench/bench.js --model $M/minilm-l6 --workload sts --dtype fp16 --batch-sizes 256 \$a --out $OUT/final-\$v 2>&1 | grep -E '^embedrank|SPLIT|rror' | sed \"s/^/\$v /\"; done; done; $FAST timeout 150 node dist/bench/bench.js --model $M/minilm-l6 --workload sts --dtype fp16 --batch-sizes 256 --baseline st --out $OUT/final-st 2>&1 | grep -E '^embedrank|^sentence-transformers|RATIO|SPLIT|rror'; for r in 1 2; do for v in new old; do e=; [ \$v = new ] || e=$OLD; env \$e timeout 60 node dist/bench/bench.js --model $M/bench-bert-base --workload fixed128 --dtype fp16 --batch-sizes 1 --iters 300 --out $OUT/final-b1 2>&1 | grep -E '^embedrank|rror' | sed \"s/^/\$v /\"; done; done; for v in old new; do a=; e=; [ \$v = new ] || { a='--tokenizer-threads 16'; e=$OLD; }; env \$e $FAST timeout 100 node dist/bench/qwen3.js embed --model $M/bert-base --dtype fp16 --data-dir .gpu --repeats 3 --baseline none \$a --out $OUT/final-sf --tag $TAG-\$v 2>&1 | grep -E '^embedrank:|^SPLIT|rror' | sed \"s/^/\$v /\"; done; $FAST timeout 200 node dist/bench/qwen3.js embed --model $M/bert-base --dtype fp16 --data-dir .gpu --repeats 3 --st-batch-sizes 64,128 --out $OUT/final-sf --tag $TAG-st 2>&1 | grep -E '^embedrank:|^SPLIT|^CHECK|^RATIO|rror'"
FAMTEST="timeout ${FAM_S:-150} node node_modules/mocha/bin/mocha.js --no-config --no-package --timeout 900000 --spec dist/test/gpu/families.gpu.js > $OUT/gpu-tests-families-$TAG.log 2>&1; grep -E 'passing|failing|pending' $OUT/gpu-tests-families-$TAG.log; grep -B2 -A14 -E '^  [0-9]+\\) ' $OUT/gpu-tests-families-$TAG.log | head -60"
REST=()
for q in "$@"; do
  case "$q" in
    host) REST+=("sh:$HOST") ;;
    ststh) REST+=("sh:$STSTH") ;;
    gsm16k) REST+=("sh:$GSM16K") ;;
    sync) REST+=("sh:$SYNC") ;;
    b1sync) REST+=("sh:$B1SYNC") ;;
    sfsync) REST+=("sh:$SFSYNC") ;;
    final) REST+=("sh:$FINAL") ;;
    famtest) REST+=("sh:$FAMTEST") ;;
    *) REST+=("$q") ;;
  esac
done
OUT=$OUT TAG=$TAG exec bash bench/runs/2026-11-29-s10.sh "${REST[@]}"
