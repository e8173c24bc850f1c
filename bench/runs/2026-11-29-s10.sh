#!/usr/bin/env bash
# Device calls of session 10 (one H200), issue 14. Run after `npm run build && bash scripts/gpu/pack.sh`,
# carrying .gpu: `OUT=$OUT TAG=s10X bash bench/runs/2026-11-29-s10.sh PHASES`. Phases of its own (re,
# reprof and resid ran in call a on the residual-epilogue candidate, since removed from main: it is
# bench/results/residual-epilogue-2026-11-29-s10a.patch; on main they run without the switch):
#   re       bench.js BERT-base fixed512 + varlen256_768 at B 32 / 128 and XLM-R-large 32 × 512 with
#            EMBEDRANK_RESIDUAL_EPILOGUE=1 and =0 alternating (RE_SEQ, default "1 0 1 0")
#   reprof   bench/profile.ts (graphs off, GPU time per operation) at BERT-base 32 × 512 and lengths
#            256-768, with the residual epilogue on and off
#   resid    test/gpu/engine.gpu.ts's residual-epilogue tests alone
#   attn     test/gpu/attention.gpu.ts (then its wgmma part with EMBEDRANK_WGMMA_PINGPONG=0) and
#            bench/attention.ts (wgmma, fp16) of the packed "before" build and of this one (call e:
#            the half-width last key tile; needs a before: phase first, which builds /tmp/before)
# Every other phase goes to session 9's script (and from there to session 8's: eng, q3, fp8, ...).
OUT=${OUT:-/tmp/out}
TAG=${TAG:-s10a}
M=/tmp/embedrank-gpu-models
MOCHA="node node_modules/mocha/bin/mocha.js --no-config --no-package --timeout 900000"
FAIL="grep -B2 -A14 -E '^  [0-9]+\\) '"
RE="for f in ${RE_SEQ:-1 0 1 0}; do echo \"RE=\$f\"; EMBEDRANK_RESIDUAL_EPILOGUE=\$f timeout 150 node dist/bench/bench.js --model $M/bench-bert-base --workload fixed512 varlen256_768 --dtype fp16 --batch-sizes 32,128 --iters 20 --out $OUT/re\$f 2>&1 | sed \"s/^/RE=\$f /\" | grep -E 'GPU|embedrank|rror'; EMBEDRANK_RESIDUAL_EPILOGUE=\$f timeout 80 node dist/bench/bench.js --model $M/bench-xlmr-large --workload fixed512 --dtype fp16 --batch-sizes 32 --iters 20 --out $OUT/re\$f 2>&1 | sed \"s/^/RE=\$f /\" | grep -E 'GPU|embedrank|rror'; done"
REPROF="for f in 1 0; do for a in '--len 512' '--len 768 --len-min 256'; do EMBEDRANK_RESIDUAL_EPILOGUE=\$f EMBEDRANK_PROFILE=1 timeout 90 node dist/bench/profile.js --model $M/bench-bert-base --batch 32 \$a --iters 10 2>&1 | grep -v '^\\s*\$' | grep -E 'tokens per batch|gemm|add_ln|attention|bias_gelu' | sed \"s/^/RE=\$f /\"; done; done"
RESID="timeout 300 $MOCHA --spec dist/test/gpu/engine.gpu.js --grep 'residual add in the GEMM epilogue' > $OUT/gpu-tests-resid-$TAG.log 2>&1; grep -E 'passing|failing|pending|epilogue,' $OUT/gpu-tests-resid-$TAG.log; $FAIL $OUT/gpu-tests-resid-$TAG.log | head -60"
ATTN="timeout 150 $MOCHA --spec dist/test/gpu/attention.gpu.js > $OUT/gpu-tests-attention-$TAG.log 2>&1; grep -E 'passing|failing|pending' $OUT/gpu-tests-attention-$TAG.log; $FAIL $OUT/gpu-tests-attention-$TAG.log | head -40; EMBEDRANK_WGMMA_PINGPONG=0 timeout 90 $MOCHA --spec dist/test/gpu/attention.gpu.js --grep wgmma > $OUT/gpu-tests-attention-pp0-$TAG.log 2>&1; grep -E 'passing|failing|pending' $OUT/gpu-tests-attention-pp0-$TAG.log; $FAIL $OUT/gpu-tests-attention-pp0-$TAG.log | head -40; for b in /tmp/before .; do echo \"== attention.js of \$b\"; (cd \$b && timeout 60 node dist/bench/attention.js --dtype fp16 --iters 30 --kernels wgmma 2>&1 | tail -9); done"
REST=()
for q in "$@"; do
  case "$q" in
    re) REST+=("sh:$RE") ;;
    reprof) REST+=("sh:$REPROF") ;;
    resid) REST+=("sh:$RESID") ;;
    attn) REST+=("sh:$ATTN") ;;
    *) REST+=("$q") ;;
  esac
done
OUT=$OUT TAG=$TAG exec bash bench/runs/2026-11-29-s9.sh "${REST[@]}"
