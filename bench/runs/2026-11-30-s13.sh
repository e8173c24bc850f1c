#!/usr/bin/env bash
# Device calls of session 13 (one H200), issue 14 item 3: CUDA graphs for decoder steps.
# Run after `npm run build && bash scripts/gpu/pack.sh`, carrying .gpu:
# `OUT=$OUT TAG=s13X bash bench/runs/2026-11-30-s13.sh PHASES`. Phases of its own:
#   dlat   bench/decoder-latency.ts: ms per decoder step, EMBEDRANK_CUDA_GRAPHS=0 against =bucket,
#          alternating twice, Qwen3-Embedding-0.6B's shape (embed) and Qwen3-Reranker-0.6B's (--score),
#          bf16; needs the q3 phase's models (q3 first)
#   b1     bench.js batch 1 (BERT-base 128 and 32 tokens, 300 iterations; MiniLM-L6 32 tokens) with
#          bucketed graphs and with EMBEDRANK_CUDA_GRAPHS=0, alternating twice
#   qab    Qwen3 end to end, the build packed by scripts/gpu/pack-before.sh (before) and this one (after),
#          alternating twice: bench/qwen3.ts embed (Qwen3-Embedding-0.6B's shape over SciFact, bf16, no
#          baseline) and rerank (Qwen3-Reranker-0.6B's shape, 16 queries x 20 candidates, no baseline),
#          then embed once more with its sentence-transformers baseline; needs q3 (models) and a before:
#          phase first
#   qg     bench/qwen3.ts rerank (Qwen3-Reranker-0.6B's shape, bf16, no baseline) with EMBEDRANK_CUDA_GRAPHS=0
#          and the default (bucket), alternating twice; needs q3models (or q3) first
#   verify (call e, after the graph pass moved into ResidentModel::run_pass) the encoder bucketed-graph
#          tests for minilm-l6 fp32, bert-base fp16 and cross-minilm fp32 scores (engine.gpu.ts), then
#          bench/decoder-latency.ts on the committed tiny Qwen3 fixtures (embed fp32 and bf16, score fp32),
#          which compares every graph output with the eager engine's
#   q3models  only the Qwen3 models of the q3 phase (scripts/gpu/qwen3_models.py, in the background), for
#          dlat and qab without the Qwen3 suites
# Every other phase goes to session 12's script (and on: families, eng, q3, fp8, e2e, ...).
OUT=${OUT:-/tmp/out}
TAG=${TAG:-s13a}
M=/tmp/embedrank-gpu-models
mkdir -p "$OUT"
MOCHA="node node_modules/mocha/bin/mocha.js --no-config --no-package --timeout 900000"
FAIL="grep -B2 -A14 -E '^  [0-9]+\\) '"
DLAT="while [ ! -f /tmp/qwen3-models.rc ]; do sleep 1; done; for w in 'qwen3-0.6b-emb:' 'qwen3-0.6b-lm:--score'; do d=\${w%%:*}; a=\${w#*:}; timeout 200 node dist/bench/decoder-latency.js --model $M/qwen3/\$d \$a --dtype bf16 --iters 60 --rounds 2 --out $OUT/dlat-\$d 2>&1 | tee -a $OUT/decoder-latency-$TAG.log | grep -E '^GPU|^\\||stats|rror'; done"
B1="for r in 1 2; do for g in bucket 0; do for w in bench-bert-base:fixed128 bench-bert-base:fixed32 minilm-l6:fixed32; do m=\${w%%:*}; wl=\${w#*:}; EMBEDRANK_CUDA_GRAPHS=\$g timeout 60 node dist/bench/bench.js --model $M/\$m --workload \$wl --dtype fp16 --batch-sizes 1 --iters 300 --out $OUT/b1 2>&1 | grep -E '^embedrank|rror' | sed \"s/^/graphs=\$g \$m /\"; done; done; done"
FAST="EMBEDRANK_FAST_TOKENIZE=1 UV_THREADPOOL_SIZE=20 TOKENIZERS_PARALLELISM=false"
QAB="while [ ! -f /tmp/qwen3-models.rc ]; do sleep 1; done; [ -d .gpu/scifact ] || tar xJf .gpu/scifact.tar.xz -C .gpu; for r in 1 2; do for v in before after; do d=\$PWD; [ \$v = before ] && d=/tmp/before; (cd \$d && $FAST timeout 120 node dist/bench/qwen3.js embed --model $M/qwen3/qwen3-0.6b-emb --dtype bf16 --data-dir \$OLDPWD/.gpu --repeats 3 --baseline none --out $OUT/qab-\$v --tag $TAG-\$v 2>&1 | grep -E '^embedrank|^SPLIT|rror' | sed \"s/^/\$v /\"; $FAST timeout 150 node dist/bench/qwen3.js rerank --model $M/qwen3/qwen3-0.6b-lm --dtype bf16 --data-dir \$OLDPWD/.gpu --sts-dir \$OLDPWD/.gpu/sts --baseline none --out $OUT/qab-\$v --tag $TAG-\$v 2>&1 | grep -E '^embedrank|hit|^SPLIT|rror' | sed \"s/^/\$v /\"); done; done; $FAST timeout 240 node dist/bench/qwen3.js embed --model $M/qwen3/qwen3-0.6b-emb --dtype bf16 --data-dir .gpu --repeats 3 --out $OUT/qab-st --tag $TAG-st 2>&1 | grep -E '^embedrank:|^sentence-transformers|^SPLIT|^CHECK|^RATIO|rror'"
case " $* " in *" q3models "*)
  rm -f /tmp/qwen3-models.rc
  ( PYTHONUNBUFFERED=1 python3 scripts/gpu/qwen3_models.py test/fixtures/hf .gpu/sts "$M/qwen3" > "$OUT/qwen3-models.log" 2>&1; echo $? > /tmp/qwen3-models.rc ) & ;;
esac
QG="while [ ! -f /tmp/qwen3-models.rc ]; do sleep 1; done; [ -d .gpu/scifact ] || tar xJf .gpu/scifact.tar.xz -C .gpu; for r in 1 2; do for g in 0 bucket; do EMBEDRANK_CUDA_GRAPHS=\$g $FAST timeout 150 node dist/bench/qwen3.js rerank --model $M/qwen3/qwen3-0.6b-lm --dtype bf16 --data-dir .gpu --sts-dir .gpu/sts --baseline none --out $OUT/qg-\$g --tag $TAG-g\$g 2>&1 | grep -E 'pairs/s|rror' | sed \"s/^/graphs=\$g /\"; done; done"
VERIFY="timeout 150 $MOCHA --spec dist/test/gpu/engine.gpu.js --grep 'minilm-l6 float32: ragged|bert-base float16: ragged|cross-minilm float32 scores: ragged' > $OUT/gpu-tests-verify-$TAG.log 2>&1; grep -E 'passing|failing|pending|bucket vs eager' $OUT/gpu-tests-verify-$TAG.log; $FAIL $OUT/gpu-tests-verify-$TAG.log | head -40; for w in qwen3-emb:fp32: qwen3-emb:bf16: qwen3-lm:fp32:--score; do f=\${w%%:*}; rest=\${w#*:}; dt=\${rest%%:*}; a=\${rest#*:}; timeout 60 node dist/bench/decoder-latency.js --model test/fixtures/hf/\$f \$a --dtype \$dt --shapes 1x16,1x100,3x40,8x30 --iters 10 --rounds 1 2>&1 | tee -a $OUT/decoder-verify-$TAG.log | grep -E '^GPU|^\\||stats|rror'; done"
REST=()
for q in "$@"; do
  case "$q" in
    dlat) REST+=("sh:$DLAT") ;;
    b1) REST+=("sh:$B1") ;;
    qab) REST+=("sh:$QAB") ;;
    q3models) ;;
    verify) REST+=("sh:$VERIFY") ;;
    qg) REST+=("sh:$QG") ;;
    *) REST+=("$q") ;;
  esac
done
OUT=$OUT TAG=$TAG exec bash bench/runs/2026-11-29-s12.sh "${REST[@]}"
