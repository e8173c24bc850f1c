#!/usr/bin/env bash
# Device calls of session 6 (one H200), issue 14. Run: npm run build && bash scripts/gpu/pack.sh;
# then `OUT=$OUT TAG=s6a [SKIP_PREPARE=0] bash bench/runs/2026-11-29-s6.sh PHASES` (carry .gpu).
#   prof1      bench/profile.ts, BERT-base fp16 batch 1 × 128 tokens: GPU time per operation
#   prof32     the same at 32 × 512 (fixed) and 32 × 256..768 (ragged)
#   host       bench/tokenizer.ts and bench/host-path.ts on the 16-core host (no GPU time)
#   sts        MiniLM-L6 over all STS sentences end to end vs sentence-transformers, default and fast
#              tokenizer paths, each with its split (tokenize alone / engine alone)
#   sf         BERT-base fp16 over the SciFact corpus end to end vs sentence-transformers, default
#              and fast tokenizer paths, each with its split
#   eng        test/gpu/engine.gpu.ts (the encoder suite)
#   fixed      bench.js fixed512 + varlen256_768 at B 32 / 128, BERT-base fp16; XLM-R-large 32 × 512
#   ffn        the same for EMBEDRANK_FFN_CHUNK=0 / 4096 / 2048 (FFN-up + bias+GELU over row chunks), one
#              after the other in one call; XLM-R-large for 0 / 4096; then the profile at 4096
#   ffntest    test/gpu/engine.gpu.ts's 16-bit and raw-batch tests with EMBEDRANK_FFN_CHUNK=64 (every
#              batch over 64 tokens runs chunked) against PyTorch and the CPU engine
#   qwen3      the Qwen3 models written by transformers (scripts/gpu/qwen3_models.py, started in the
#              background when this phase is named) and test/gpu/qwen3-cuda.gpu.ts against them
#   fasttok    test/gpu/fast-tokenize.gpu.ts (the fast tokenizer path, now the embedrank command's default)
# Device-run phases (families, test, …) pass through. EMBEDRANK_FFN_CHUNK (phases ffn, ffntest) was
# an experiment of call C, removed after it measured slower (bench/NOTES.md, session 6).
# Calls: A `TAG=s6a … prof1 prof32 sf sts host`; B `TAG=s6b … prof1 prof32 sf sts eng fixed`;
#        C `TAG=s6c … ffn ffntest sf sts`; D `TAG=s6d … qwen3 eng fasttok`; E `TAG=s6e … gelu eng`.
OUT=${OUT:-/tmp/out}
M=/tmp/embedrank-gpu-models
mkdir -p "$OUT" "$M"
[ -d .gpu/scifact ] || tar xJf .gpu/scifact.tar.xz -C .gpu || { echo "no .gpu/scifact.tar.xz: run scripts/gpu/pack.sh"; exit 1; }
TAG=${TAG:-s6a}
rm -f /tmp/qwen3-models.rc
case " $* " in *" qwen3 "*)
  ( PYTHONUNBUFFERED=1 python3 scripts/gpu/qwen3_models.py test/fixtures/hf .gpu/sts "$M/qwen3" > "$OUT/qwen3-models.log" 2>&1; echo $? > /tmp/qwen3-models.rc ) & ;;
esac
MOCHA="node node_modules/mocha/bin/mocha.js --no-config --no-package --timeout 900000"
FAIL="grep -B2 -A14 -E '^  [0-9]+\\) '"
FAST="EMBEDRANK_FAST_TOKENIZE=1 UV_THREADPOOL_SIZE=20 TOKENIZERS_PARALLELISM=false"
PROF1="EMBEDRANK_PROFILE=1 timeout 60 node dist/bench/profile.js --model $M/bench-bert-base --batch 1 --len 128 --iters 50 --in-flight 1 2>&1 | grep -v '^\\s*\$' | tail -30"
PROF32="for extra in '--len 512' '--len-min 256 --len 768'; do EMBEDRANK_PROFILE=1 timeout 90 node dist/bench/profile.js --model $M/bench-bert-base --batch 32 \$extra --iters 10 2>&1 | grep -v '^\\s*\$' | tail -30; done"
HOST="UV_THREADPOOL_SIZE=20 timeout 120 node dist/bench/tokenizer.js --data-dir .gpu/sts --tokenizer .gpu/minilm-tok/tokenizer.json --threads 1,4,8,16 --rounds 2 2>&1 | tail -25; UV_THREADPOOL_SIZE=20 timeout 120 node dist/bench/host-path.js --data-dir .gpu/sts --tokenizer-dir .gpu/minilm-tok --threads 8,16 --rounds 2 2>&1 | tail -20"
STS="timeout 200 node dist/bench/bench.js --model $M/minilm-l6 --workload sts --dtype fp16 --batch-sizes 256 --baseline st --out $OUT 2>&1 | grep -E '^embedrank|^sentence-transformers|RATIO|SPLIT|rror'; $FAST timeout 100 node dist/bench/bench.js --model $M/minilm-l6 --workload sts --dtype fp16 --batch-sizes 256 --out $OUT/fast 2>&1 | grep -E '^embedrank|SPLIT|rror'"
SF="timeout 200 node dist/bench/qwen3.js embed --model $M/bert-base --dtype fp16 --data-dir .gpu --repeats 3 --st-batch-sizes 32,64,128 --out $OUT/qwen3 --tag h200-$TAG-bert 2>&1 | grep -E '^\\||^SciFact|^embedrank:|^CHECK|^RATIO|^SPLIT|^wrote|rror'; $FAST timeout 100 node dist/bench/qwen3.js embed --model $M/bert-base --dtype fp16 --data-dir .gpu --repeats 3 --baseline none --out $OUT/qwen3 --tag h200-$TAG-bert-fasttok 2>&1 | grep -E '^\\||^SPLIT|^wrote|rror'"
ENG="timeout ${ENG_S:-200} $MOCHA --spec dist/test/gpu/engine.gpu.js > $OUT/gpu-tests-engine.log 2>&1; grep -E 'passing|failing|pending' $OUT/gpu-tests-engine.log; $FAIL $OUT/gpu-tests-engine.log | head -60"
FIXED="timeout 200 node dist/bench/bench.js --model $M/bench-bert-base --workload fixed512 varlen256_768 --dtype fp16 --batch-sizes 32,128 --iters 20 --out $OUT 2>&1 | grep -E '^GPU|^embedrank|rror'; timeout 100 node dist/bench/bench.js --model $M/bench-xlmr-large --workload fixed512 --dtype fp16 --batch-sizes 32 --iters 20 --out $OUT 2>&1 | grep -E '^GPU|^embedrank|rror'"
FFN="for c in 0 4096 2048; do echo \"EMBEDRANK_FFN_CHUNK=\$c\"; EMBEDRANK_FFN_CHUNK=\$c timeout 120 node dist/bench/bench.js --model $M/bench-bert-base --workload fixed512 varlen256_768 --dtype fp16 --batch-sizes 32,128 --iters 10 --out $OUT/ffn\$c 2>&1 | grep -E '^GPU|^embedrank|rror'; done; for c in 0 4096; do echo \"XLM-R EMBEDRANK_FFN_CHUNK=\$c\"; EMBEDRANK_FFN_CHUNK=\$c timeout 100 node dist/bench/bench.js --model $M/bench-xlmr-large --workload fixed512 --dtype fp16 --batch-sizes 32 --iters 10 --out $OUT/ffnx\$c 2>&1 | grep -E '^GPU|^embedrank|rror'; done; EMBEDRANK_FFN_CHUNK=4096 EMBEDRANK_PROFILE=1 timeout 60 node dist/bench/profile.js --model $M/bench-bert-base --batch 32 --len 512 --iters 10 2>&1 | grep -v '^\\s*\$' | tail -14"
FFNTEST="EMBEDRANK_FFN_CHUNK=64 timeout 200 $MOCHA --spec dist/test/gpu/engine.gpu.js --grep 'float16|bfloat16|raw batches' > $OUT/gpu-tests-ffnchunk.log 2>&1; grep -E 'passing|failing|pending|worst cosine' $OUT/gpu-tests-ffnchunk.log | head -40; $FAIL $OUT/gpu-tests-ffnchunk.log | head -40"
QWEN3="while [ ! -f /tmp/qwen3-models.rc ]; do sleep 1; done; grep -E '^qwen3-|Error|Traceback' $OUT/qwen3-models.log | cut -c1-200; timeout ${TEST_S:-200} $MOCHA --spec dist/test/gpu/qwen3-cuda.gpu.js > $OUT/gpu-tests-qwen3.log 2>&1; grep -E 'passing|failing|pending|worst|within' $OUT/gpu-tests-qwen3.log | cut -c1-300 | head -30; $FAIL $OUT/gpu-tests-qwen3.log | head -40"
FASTTOK="timeout 150 $MOCHA --spec dist/test/gpu/fast-tokenize.gpu.js > $OUT/gpu-tests-fasttok.log 2>&1; grep -E 'passing|failing|pending|cosine' $OUT/gpu-tests-fasttok.log | head; $FAIL $OUT/gpu-tests-fasttok.log | head -30"
# gelu: the bias+GELU kernel's row-group version (after) against HEAD's flattened one (before, packed
# by `bash scripts/gpu/pack-before.sh HEAD`), alternating before/after twice, then the profile.
B="--model $M/bench-bert-base --workload fixed512 varlen256_768 --dtype fp16 --batch-sizes 32,128 --iters 20"
GELU_PROF="EMBEDRANK_PROFILE=1 timeout 60 node dist/bench/profile.js --model $M/bench-bert-base --batch 32 --len 512 --iters 10 2>&1 | grep -E 'bias_gelu|latency'"
[ $# -gt 0 ] || set -- prof1 prof32 host sts sf eng
PHASES=()
for q in "$@"; do
  case "$q" in gelu) PHASES+=("before:$B" "bench:$B" "before:$B" "bench:$B" "sh:$GELU_PROF") ;; prof1) PHASES+=("sh:$PROF1") ;; prof32) PHASES+=("sh:$PROF32") ;; host) PHASES+=("sh:$HOST") ;; sts) PHASES+=("sh:$STS") ;; sf) PHASES+=("sh:$SF") ;; eng) PHASES+=("sh:$ENG") ;; fixed) PHASES+=("sh:$FIXED") ;; ffn) PHASES+=("sh:$FFN") ;; ffntest) PHASES+=("sh:$FFNTEST") ;; qwen3) PHASES+=("sh:$QWEN3") ;; fasttok) PHASES+=("sh:$FASTTOK") ;; *) PHASES+=("$q") ;; esac
done
PREPARE_EXTRA=${PREPARE_EXTRA:-"bench-bert-base bench-xlmr-large"} SKIP_PREPARE=${SKIP_PREPARE:-0} ARCHS=${ARCHS:-"-arch=sm_90"} exec bash scripts/gpu/device-run.sh "${PHASES[@]}"
