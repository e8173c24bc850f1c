#!/usr/bin/env bash
# Device calls of session 15 (one H200), issue 14. Run after `npm run build && bash scripts/gpu/pack.sh`,
# carrying .gpu: `OUT=$OUT TAG=s15X bash bench/runs/2026-11-30-s15.sh PHASES`. Phases of its own:
#   stsgrid  MiniLM-L6 over all STS sentences end to end (bench.js --workload sts, fast path, the carried or
#            installed jemalloc) with --tokenizer-threads 12, 13, 14, 16 and --batch-sizes 256,1024, the
#            thread counts in turn, STS_ROUNDS times (default 2; the second round in reverse order)
#   stsst    the same once with the sentence-transformers baseline, at STS_THREADS (default 13) and
#            STS_B (default 256)
#   peak     the GEMM peak the card gives beside each point (bench.js --peak-matched): BERT-base fixed512
#            and varlen256_768 at B=32 and 128, XLM-R-large fixed512 B=32, 100 / 60 iterations, with
#            nvidia-smi's SM clock, power and clock-event reasons logged every 100 ms
#   cli      the `embedrank` command itself on the GPU host: evaluate MiniLM-L6 on STS12–16 (the SemEval
#            copies in .gpu/sts) with EMBEDRANK_ALLOCATOR=system and =<jemalloc>, alternating twice, wall
#            time and main_score of each
#   suites15 the GPU suites session 14 did not run: engine (its maxAbsDiff swap) and st-fixtures with graphs
#            on and off, qwen3 (op level) and, once the Qwen3 and family models exist, tp-local; needs
#            q3late and families first
#   stsdef   MiniLM-L6 over all STS sentences end to end at 256 and 1024 sequences per batch (1024: the
#            CUDA default on this card since this session), 13 tokenizer threads, jemalloc, with the
#            sentence-transformers baseline at the same batch sizes (the ratio takes each side's best),
#            STS_REPS times (default 2)
#   q3ops    (after q3late) the op-level Qwen3 suite (qwen3) and tp-local's Qwen3 part, in parallel
#   engoff   engine.gpu.ts with graphs off, in the background (its batch-composition bar changed)
#   q3seqs   (after q3late and engoff) Qwen3 end to end with --max-num-seqs 256 against the new default (1024
#            here), alternating twice: bench/qwen3.ts embed (Qwen3-Embedding-0.6B's shape over SciFact,
#            bf16) and rerank (Qwen3-Reranker-0.6B's shape, 16 queries x 20 candidates), no baselines;
#            needs .gpu/scifact.tar.xz
#   suitesall  (after q3late and families) every suite but FP8 and attention, graphs on and off: encoders
#            (engine, families, st-fixtures, fast-tokenize, retrieval-scoring; qwen3-models with graphs on),
#            qwen3-cuda on and off with qwen3 (op level), tp-local; SUITE_S seconds each (default 400)
# Every other phase goes to session 14's script (and on: q3late, q3cuda, tarlogs, families, ...).
TAG=${TAG:-s15a}
source "$(dirname "$0")/common.sh"
STS="--model $M/minilm-l6 --workload sts --dtype fp16 --data-dir .gpu/sts"
STSGRID="echo \"jemalloc: $JE\"; for r in \$(seq ${STS_ROUNDS:-2}); do ts='12 13 14 16'; [ \$((r % 2)) = 0 ] && ts='16 14 13 12'; for t in \$ts; do EMBEDRANK_ALLOCATOR=$JE $FAST timeout 90 node dist/bench/bench.js $STS --batch-sizes 256,1024 --tokenizer-threads \$t --out $OUT/stsgrid 2>&1 | tee -a $OUT/stsgrid-$TAG.log | grep -E '^embedrank|SPLIT|rror' | sed \"s/^/threads=\$t /\"; done; done"
STSST="EMBEDRANK_ALLOCATOR=$JE $FAST timeout 200 node dist/bench/bench.js $STS --batch-sizes ${STS_B:-256} --tokenizer-threads ${STS_THREADS:-13} --baseline st --out $OUT/stsst 2>&1 | tee -a $OUT/stsst-$TAG.log | grep -E '^allocator|^embedrank|^sentence-transformers|RATIO|SPLIT|rror'"
CLOCKS="( nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu,clocks_event_reasons.active --format=csv -lms 100 > $OUT/clocks-$TAG.csv 2>&1 & echo \$! > /tmp/clocks.pid )"
PEAK="$CLOCKS; echo \"bert-base start \$(date +%T.%N)\" >> $OUT/peak-marks-$TAG.txt;
timeout 200 node dist/bench/bench.js --model $M/bench-bert-base --workload fixed512 varlen256_768 --dtype fp16 --batch-sizes 32,128 --iters 100 --peak-matched --out $OUT/peak 2>&1 | tee -a $OUT/peak-$TAG.log | grep -E '^GPU|^embedrank|rror';
echo \"xlmr start \$(date +%T.%N)\" >> $OUT/peak-marks-$TAG.txt;
timeout 150 node dist/bench/bench.js --model $M/bench-xlmr-large --workload fixed512 --dtype fp16 --batch-sizes 32 --iters 60 --peak-matched --out $OUT/peak 2>&1 | tee -a $OUT/peak-$TAG.log | grep -E '^GPU|^embedrank|rror';
echo \"end \$(date +%T.%N)\" >> $OUT/peak-marks-$TAG.txt; kill \$(cat /tmp/clocks.pid); python3 - $OUT/clocks-$TAG.csv <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))[1:]
sm = [int(r[1].split()[0]) for r in rows if len(r) > 4 and r[1].strip().split()[0].isdigit()]
pw = [float(r[3].split()[0]) for r in rows if len(r) > 4 and r[3].strip().split()[0].replace('.', '').isdigit()]
if sm: print(f'clocks: {len(sm)} samples, SM MHz min {min(sm)} median {sorted(sm)[len(sm)//2]} max {max(sm)}; power W median {sorted(pw)[len(pw)//2]:.0f} max {max(pw):.0f}')
reasons = {}
for r in rows:
    if len(r) > 5: reasons[r[5].strip()] = reasons.get(r[5].strip(), 0) + 1
print('clock-event reasons (samples):', reasons)
PY"
CLI="for r in 1 2; do for a in system $JE; do rm -rf /tmp/cli-res; s=\$(date +%s.%N); EMBEDRANK_ALLOCATOR=\$a timeout 120 node dist/src/cli/launch.cjs evaluate -m $M/minilm-l6 --device cuda -t STS12 STS13 STS14 STS15 STS16 --data-dir .gpu/sts -o /tmp/cli-res --overwrite-strategy always > $OUT/cli-\$r-\$(basename \$a)-$TAG.log 2>&1; rc=\$?; e=\$(date +%s.%N); echo \"allocator=\$a rc=\$rc wall \$(python3 -c \"print(round(\$e-\$s,2))\") s; \$(grep -ihE 'allocator|main_score' $OUT/cli-\$r-\$(basename \$a)-$TAG.log | tr '\n' ' ' | cut -c1-400)\"; python3 -c \"import json,glob; print(sorted((f.split('/')[-1], round(json.load(open(f))['scores']['test'][0]['main_score'],6)) for f in glob.glob('/tmp/cli-res/*/*/STS1*.json')))\"; done; done"
# One suite group: mocha over the named spec files with the environment given, its own log.
group() { # name env specs...
  local name=$1 env=$2; shift 2; local specs=""; for s in "$@"; do specs+=" --spec dist/test/gpu/$s.gpu.js"; done
  echo "( env $env timeout ${SUITE_S:-400} $MOCHA $specs > $OUT/gpu-tests-$name-$TAG.log 2>&1; echo \"$name: \$(grep -E 'passing|failing|pending' $OUT/gpu-tests-$name-$TAG.log | tr '\n' ' ')\" ) &"
}
SHOWFAIL="for f in $OUT/gpu-tests-*-$TAG.log; do grep -B2 -A14 -E '^  [0-9]+\) ' \$f | head -40; done"
WAITQ3="while [ ! -f /tmp/qwen3-models.rc ]; do sleep 1; done; echo \"qwen3 models rc \$(cat /tmp/qwen3-models.rc)\";"
SUITES15="$(group enc15-on EMBEDRANK_CUDA_GRAPHS=bucket engine st-fixtures) $(group enc15-off EMBEDRANK_CUDA_GRAPHS=0 engine st-fixtures) $(group q3ops EMBEDRANK_CUDA_GRAPHS=bucket qwen3)
$WAITQ3 $(group tplocal EMBEDRANK_CUDA_GRAPHS=bucket tp-local) wait; $SHOWFAIL"
# suitesall (after q3late and families): every suite but FP8 and attention (whose kernels this session does
# not touch), graphs on and off, after the CUDA maxNumSeqs default became vLLM's (1024 on this card).
ENCALL="engine families st-fixtures fast-tokenize retrieval-scoring"
SUITESALL="$(group encall-on EMBEDRANK_CUDA_GRAPHS=bucket $ENCALL qwen3-models) $(group encall-off EMBEDRANK_CUDA_GRAPHS=0 $ENCALL)
( $WAITQ3 $(group q3all-on EMBEDRANK_CUDA_GRAPHS=bucket qwen3-cuda qwen3) $(group q3all-off EMBEDRANK_CUDA_GRAPHS=0 qwen3-cuda) $(group tpall EMBEDRANK_CUDA_GRAPHS=bucket tp-local) wait ) &
wait; $SHOWFAIL"
STSDEF="for r in \$(seq ${STS_REPS:-2}); do EMBEDRANK_ALLOCATOR=$JE $FAST timeout 200 node dist/bench/bench.js $STS --batch-sizes 256,1024 --tokenizer-threads 13 --baseline st --out $OUT/stsdef 2>&1 | tee -a $OUT/stsdef-$TAG.log | grep -E '^allocator|^embedrank|^sentence-transformers|RATIO|SPLIT|rror'; done"
Q3OPS="$WAITQ3 ( env EMBEDRANK_CUDA_GRAPHS=bucket timeout ${SUITE_S:-400} $MOCHA --spec dist/test/gpu/tp-local.gpu.js --grep qwen3 > $OUT/gpu-tests-tpq3-$TAG.log 2>&1; echo \"tp-local qwen3: \$(grep -E 'passing|failing|pending' $OUT/gpu-tests-tpq3-$TAG.log | tr '\n' ' ')\" ) & $(group q3ops EMBEDRANK_CUDA_GRAPHS=bucket qwen3) wait; $SHOWFAIL"
ENGOFF="rm -f /tmp/engoff.done; ( env EMBEDRANK_CUDA_GRAPHS=0 timeout ${SUITE_S:-400} $MOCHA --spec dist/test/gpu/engine.gpu.js > $OUT/gpu-tests-engoff-$TAG.log 2>&1; touch /tmp/engoff.done ) > /dev/null 2>&1 &"
Q3SEQS="$WAITQ3 while [ ! -f /tmp/engoff.done ]; do sleep 1; done; echo \"engine, graphs off: \$(grep -E 'passing|failing|pending' $OUT/gpu-tests-engoff-$TAG.log | tr '\n' ' ')\"; $SHOWFAIL;
[ -d .gpu/scifact ] || tar xJf .gpu/scifact.tar.xz -C .gpu; for r in 1 2; do for s in 256 default; do a=''; [ \$s = 256 ] && a='--max-num-seqs 256';
$FAST timeout 100 node dist/bench/qwen3.js embed --model $M/qwen3/qwen3-0.6b-emb --dtype bf16 --data-dir .gpu --repeats 3 --baseline none \$a --out $OUT/q3seqs --tag $TAG-\$s 2>&1 | tee -a $OUT/q3seqs-$TAG.log | grep -E '^embedrank|^SPLIT|rror' | sed \"s/^/seqs=\$s /\";
$FAST timeout 120 node dist/bench/qwen3.js rerank --model $M/qwen3/qwen3-0.6b-lm --dtype bf16 --data-dir .gpu --sts-dir .gpu/sts --baseline none \$a --out $OUT/q3seqs --tag $TAG-\$s 2>&1 | tee -a $OUT/q3seqs-$TAG.log | grep -E '^embedrank|hit|rror' | sed \"s/^/seqs=\$s /\"; done; done"
REST=()
for q in "$@"; do
  case "$q" in
    stsgrid) REST+=("sh:$STSGRID") ;;
    stsst) REST+=("sh:$STSST") ;;
    peak) REST+=("sh:$PEAK") ;;
    cli) REST+=("sh:$CLI") ;;
    suites15) REST+=("sh:$SUITES15") ;;
    suitesall) REST+=("sh:$SUITESALL") ;;
    stsdef) REST+=("sh:$STSDEF") ;;
    q3ops) REST+=("sh:$Q3OPS") ;;
    engoff) REST+=("sh:$ENGOFF") ;;
    q3seqs) REST+=("sh:$Q3SEQS") ;;
    *) REST+=("$q") ;;
  esac
done
OUT=$OUT TAG=$TAG exec bash bench/runs/2026-11-30-s14.sh "${REST[@]}"
