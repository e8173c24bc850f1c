#!/usr/bin/env bash
# Device calls of session 12 (one H200), issue 14: skinny linears at batch 1 (cuda/gemm_skinny.cu).
# Run after `npm run build && bash scripts/gpu/pack.sh`, carrying .gpu:
# `OUT=$OUT TAG=s12X bash bench/runs/2026-11-29-s12.sh PHASES`. Phases of its own:
#   gsk      (call a; first, before the addon build; the call stops if a check fails) bench/gemm_skinny.cu:
#            the skinny kernel against an fp32 reference (every split count, fp16/bf16, ragged sizes),
#            then timed against cuBLASLt per shape and T (GSK_T, default "16 64 128 256"). The kernel,
#            its engine wiring and the bench were removed after call a (refuted, bench/NOTES.md session
#            12); apply results/skinny-linear-2026-11-29-s12a.patch to run gsk, b1sk, bigsk or engsk again
#   b1sk     bench.js batch 1: BERT-base 128 tokens (300 iterations), BERT-base 32 and 256 tokens, and
#            XLM-R-large 128 tokens, with the skinny path (default) and EMBEDRANK_SKINNY_MAX_T=0
#            (cuBLASLt), alternating twice (B1_SEQ)
#   bigsk    bench.js BERT-base fixed512 + varlen256_768 at B 32 / 128 with the default and
#            EMBEDRANK_SKINNY_MAX_T=0, alternating
#   engsk    test/gpu/engine.gpu.ts and test/gpu/families.gpu.ts (needs the device-run phase families first)
#   floor    (first, before the addon build) bench/launch_floor.cu: µs per kernel of 48 back-to-back
#            kernels in a graph (empty, and reading 1.2 MB from HBM), plain and as PDL dependents
#   e2e      the end-to-end rows with their sentence-transformers baselines in the same call: MiniLM-L6
#            over all STS sentences (bench.js --workload sts --baseline st), then the SciFact corpus
#            through BERT-base fp16 (bench/qwen3.ts embed, --st-batch-sizes 64,128), E2E_ROUNDS times
#   stpar    bench/st_baseline.py (sentence-transformers, MiniLM-L6 over all STS sentences, batch 256)
#            with TOKENIZERS_PARALLELISM unset and =false, alternating twice: what the setting the
#            fast tokenizer path exports does to the baseline when inherited (baselineEnv drops it now)
#   ncusk    (first, before the addon build) ncu of the skinny kernel, BERT-base's four linears at T = 128
#            (the launcher's split pick and S = 1, third launch of each): speed of light, warp states,
#            occupancy, launch, stall reasons; the bench's GSK_NCU mode makes one eager launch per shape
#            and split. Needs the patch above applied (call d ran the same files from a copy in .gpu/skinny/)
#   stsab    MiniLM-L6 over all STS sentences end to end (fast path, no baseline) with the build packed by
#            scripts/gpu/pack-before.sh (before) and this one (after), alternating STSAB_ROUNDS times
#            (default 4); needs a before: phase first (it waits for the before build)
# Every other phase goes to session 11's script (and on: eng, q3, fp8, prof32, final, ...).
OUT=${OUT:-/tmp/out}
TAG=${TAG:-s12a}
M=/tmp/embedrank-gpu-models
mkdir -p "$OUT"
MOCHA="node node_modules/mocha/bin/mocha.js --no-config --no-package --timeout 900000"
FAIL="grep -B2 -A14 -E '^  [0-9]+\\) '"
if [ "${1:-}" = gsk ]; then
  shift
  nvcc -O3 -std=c++17 -Icuda --expt-relaxed-constexpr -gencode=arch=compute_90a,code=sm_90a bench/gemm_skinny.cu \
    cuda/gemm_skinny.cu cuda/hopper.cu cuda/bias_gelu.cu -lcublasLt -o /tmp/gsk || exit 1
  timeout ${GSK_S:-200} /tmp/gsk ${GSK_T:-16 64 128 256} > "$OUT/gemm-skinny-$TAG.log" 2>&1; rc=$?
  grep -v '^CHECK.* ok$' "$OUT/gemm-skinny-$TAG.log"; grep -c '^CHECK.* ok$' "$OUT/gemm-skinny-$TAG.log" | sed 's/^/checks ok: /'
  [ $rc = 0 ] || { echo "gemm_skinny failed (rc $rc): stopping"; exit 1; }
  [ $# -gt 0 ] || exit 0
fi
if [ "${1:-}" = floor ]; then
  shift
  nvcc -O3 -std=c++17 -arch=sm_90 bench/launch_floor.cu -lcublasLt -o /tmp/floor && timeout 60 /tmp/floor | tee "$OUT/launch-floor-$TAG.log"
  [ $# -gt 0 ] || exit 0
fi
if [ "${1:-}" = ncusk ]; then
  shift
  nvcc -O3 -std=c++17 -Icuda --expt-relaxed-constexpr -gencode=arch=compute_90a,code=sm_90a bench/gemm_skinny.cu \
    cuda/gemm_skinny.cu cuda/hopper.cu cuda/bias_gelu.cu -lcublasLt -o /tmp/gskn || exit 1
  GSK_NCU=1 timeout 240 ncu --clock-control none --cache-control none --kernel-name regex:skinny --section SpeedOfLight --section WarpStateStats \
    --section Occupancy --section LaunchStats --metrics smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_barrier_per_issue_active.ratio,smsp__average_warps_issue_stalled_wait_per_issue_active.ratio,smsp__average_warps_issue_stalled_short_scoreboard_per_issue_active.ratio,smsp__average_warps_issue_stalled_mio_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_math_pipe_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_membar_per_issue_active.ratio,smsp__average_warps_issue_stalled_sleeping_per_issue_active.ratio,smsp__average_warps_issue_stalled_no_instruction_per_issue_active.ratio,smsp__average_warps_issue_stalled_lg_throttle_per_issue_active.ratio,smsp__average_warps_issue_stalled_dispatch_stall_per_issue_active.ratio --csv /tmp/gskn 128 > "$OUT/ncu-skinny-$TAG.csv" 2> "$OUT/ncu-skinny-$TAG.err"
  tail -3 "$OUT/ncu-skinny-$TAG.err"; grep '^NCU' "$OUT/ncu-skinny-$TAG.csv"
  python3 - "$OUT/ncu-skinny-$TAG.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(l for l in open(sys.argv[1]) if l.startswith('"')))
keep = ('Duration', 'Compute (SM) Throughput', 'DRAM Throughput', 'L2 Cache Throughput', 'Memory Throughput', 'Achieved Occupancy',
        'Grid Size', 'Cluster Size', 'Registers Per Thread', 'Warp Cycles Per Issued Instruction', 'Issue Slot Utilization',
        'Avg. Active Threads Per Warp', 'Theoretical Occupancy', 'Block Limit Shared Mem')
for r in rows:
  if int(r['ID']) % 3 == 2 and (r['Metric Name'] in keep or ('issue_stalled' in r['Metric Name'] and float(r['Metric Value'] or 0) >= 0.05)):
    print(r['ID'], r['Kernel Name'][r['Kernel Name'].find('skinny'):][:60], '|', r['Metric Name'], r['Metric Value'], r['Metric Unit'])
PY
  [ $# -gt 0 ] || exit 0
fi
FAST="EMBEDRANK_FAST_TOKENIZE=1 UV_THREADPOOL_SIZE=20 TOKENIZERS_PARALLELISM=false"
E2E="[ -d .gpu/scifact ] || tar xJf .gpu/scifact.tar.xz -C .gpu; for r in \$(seq ${E2E_ROUNDS:-1}); do $FAST timeout 150 node dist/bench/bench.js --model $M/minilm-l6 --workload sts --dtype fp16 --batch-sizes 256 --baseline st --out $OUT/e2e-sts 2>&1 | grep -E '^embedrank|^sentence-transformers|RATIO|SPLIT|rror'; $FAST timeout 240 node dist/bench/qwen3.js embed --model $M/bert-base --dtype fp16 --data-dir .gpu --repeats 3 --st-batch-sizes 64,128 --out $OUT/e2e-sf --tag $TAG 2>&1 | grep -E '^embedrank:|^sentence-transformers|^SPLIT|^CHECK|^RATIO|rror'; done"
STPAR="for v in unset false unset false; do e=; [ \$v = unset ] || e=TOKENIZERS_PARALLELISM=false; env -u TOKENIZERS_PARALLELISM \$e timeout 120 python3 bench/st_baseline.py --model $M/minilm-l6 --workload sts --dtype fp16 --batch-sizes 256 --data-dir .gpu/sts --iters 3 2>&1 | grep '^{' | sed \"s/^/TOKENIZERS_PARALLELISM=\$v /\"; done"
STSAB="for r in \$(seq ${STSAB_ROUNDS:-4}); do for v in before after; do d=.; [ \$v = before ] && d=/tmp/before; (cd \$d && $FAST timeout 60 node dist/bench/bench.js --model $M/minilm-l6 --workload sts --dtype fp16 --batch-sizes 256 --out $OUT/stsab 2>&1 | grep -E '^embedrank|SPLIT|rror' | sed \"s/^/\$v /\"); done; done"
B1="for r in ${B1_SEQ:-1 2}; do for v in skinny lt; do e=; [ \$v = skinny ] || e=EMBEDRANK_SKINNY_MAX_T=0; for w in bench-bert-base:fixed128:300 bench-bert-base:fixed32:300 bench-bert-base:fixed256:200 bench-xlmr-large:fixed128:200; do m=\${w%%:*}; rest=\${w#*:}; wl=\${rest%:*}; it=\${rest#*:}; env \$e timeout 60 node dist/bench/bench.js --model $M/\$m --workload \$wl --dtype fp16 --batch-sizes 1 --iters \$it --out $OUT/b1 2>&1 | grep -E '^embedrank|rror' | sed \"s/^/\$v \$m /\"; done; done; done"
BIG="for v in skinny lt skinny lt; do e=; [ \$v = skinny ] || e=EMBEDRANK_SKINNY_MAX_T=0; env \$e timeout 150 node dist/bench/bench.js --model $M/bench-bert-base --workload fixed512 varlen256_768 --dtype fp16 --batch-sizes 32,128 --iters 20 --out $OUT/big 2>&1 | grep -E '^GPU|^embedrank|rror' | sed \"s/^/\$v /\"; done"
ENGSK="timeout ${ENG_S:-300} $MOCHA --spec dist/test/gpu/engine.gpu.js --spec dist/test/gpu/families.gpu.js > $OUT/gpu-tests-encoders-$TAG.log 2>&1; grep -E 'passing|failing|pending' $OUT/gpu-tests-encoders-$TAG.log; $FAIL $OUT/gpu-tests-encoders-$TAG.log | head -80"
REST=()
for q in "$@"; do
  case "$q" in
    b1sk) REST+=("sh:$B1") ;;
    bigsk) REST+=("sh:$BIG") ;;
    engsk) REST+=("sh:$ENGSK") ;;
    e2e) REST+=("sh:$E2E") ;;
    stpar) REST+=("sh:$STPAR") ;;
    stsab) REST+=("sh:$STSAB") ;;
    *) REST+=("$q") ;;
  esac
done
OUT=$OUT TAG=$TAG exec bash bench/runs/2026-11-29-s11.sh "${REST[@]}"
