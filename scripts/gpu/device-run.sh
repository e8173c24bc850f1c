#!/usr/bin/env bash
# Runs on the GPU machine (no Node there): unpacks .gpu/, builds the CUDA addon, then the phases
# named on the command line: tokfix (tokenizer fixture), torch (reference outputs), families
# (models of every family written by transformers + their PyTorch outputs, for test/gpu/families;
# started in the background at once when named), test (GPU suite), mtest (multi-GPU suite),
# mbench, bench:ARGS (bench.js), before:ARGS (bench.js of the build packed by
# scripts/gpu/pack-before.sh, built in the background when named), prof:ARGS (profile.js with
# EMBEDRANK_PROFILE=1), rscore:ARGS (bench/retrieval-scoring.js --device cuda; ARGS as
# --docs=1000000,--queries=100), sh:COMMAND (anything else, logged). Logs go to $OUT.
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" /tmp/bin
export PATH=/tmp/bin:$PATH PYTHONUNBUFFERED=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export EMBEDRANK_STS_DIR=$PWD/.gpu/sts EMBEDRANK_GPU_MODELS=/tmp/embedrank-gpu-models
xz -dc .gpu/node.xz > /tmp/bin/node && chmod +x /tmp/bin/node
tar xJf .gpu/modules.tar.xz && tar xJf .gpu/dist.tar.xz
nvidia-smi --query-gpu=index,name,memory.total,driver_version,clocks.sm --format=csv
# SM clock, power and temperature once a second, to tell throttling from a slow kernel.
nvidia-smi --query-gpu=timestamp,index,clocks.sm,power.draw,temperature.gpu --format=csv,noheader -l 1 > "$OUT/clocks.csv" 2>/dev/null &
SMI=$!
trap 'kill $SMI 2>/dev/null' EXIT
FAM_DIR=$EMBEDRANK_GPU_MODELS/families
case " $* " in *" families "*)
  # Python only (transformers, sentence-transformers): runs beside the addon build and node's models.
  mkdir -p "$EMBEDRANK_GPU_MODELS"
  python3 scripts/gpu/family_models.py test/fixtures/hf "$EMBEDRANK_STS_DIR" "$FAM_DIR" > "$OUT/families.log" 2>&1 &
  FAM_PID=$! ;;
esac
t0=$(date +%s)
ARCHS=${ARCHS:-} bash scripts/build-cuda.sh > "$OUT/build.log" 2>&1 || { tail -50 "$OUT/build.log"; exit 1; }
rm -f "$OUT/build.log"  # $OUT returns few files: keep the log only when the build fails
echo "addon built in $(( $(date +%s) - t0 ))s"
case " $* " in *" before:"*)
  # The "before" side of a before/after benchmark: its own dist/ and addon under /tmp/before.
  rm -rf /tmp/before && mkdir -p /tmp/before && tar xJf .gpu/before.tar.xz -C /tmp/before && ln -s "$PWD/node_modules" /tmp/before/node_modules
  (cd /tmp/before && ARCHS=${ARCHS:-} bash scripts/build-cuda.sh > "$OUT/build-before.log" 2>&1 && rm -f "$OUT/build-before.log") &
  BEFORE_PID=$! ;;
esac
t0=$(date +%s)
# SKIP_PREPARE=1: a call that needs none of the encoder models (e.g. Qwen3 only) saves ~25 s.
if [ "${SKIP_PREPARE:-0}" != 1 ]; then
pids=()
for m in minilm-l6 e5-small bert-base xlmr-large bert-base-bf16 cross-minilm ${PREPARE_EXTRA:-}; do
  node dist/scripts/gpu/prepare.js --bench --only "$m" > /dev/null &
  pids+=($!)
done
wait "${pids[@]}"  # not a bare wait: the clock logger runs in the background too
node dist/scripts/gpu/prepare.js || exit 1
echo "models written in $(( $(date +%s) - t0 ))s"
fi
for phase in "$@"; do
  t0=$(date +%s)
  case "$phase" in
    tokfix) python3 scripts/gpu/tokenizer_fixture.py "$EMBEDRANK_GPU_MODELS/minilm-l6" test/fixtures/tokenizer/inputs.json "$OUT/tokenizer-expected.json" 2>&1 | tail -5 ;;
    families) wait "$FAM_PID"; grep -E "^[a-z0-9-]+: |families.json|Error|Traceback" "$OUT/families.log" ;;
    before:*) wait "$BEFORE_PID"; [ -f /tmp/before/build/embedrank_cuda.node ] || { tail -30 "$OUT/build-before.log"; continue; }
      echo "before = $(cat /tmp/before/REV 2>/dev/null)"; mkdir -p "$OUT/before"
      node /tmp/before/dist/bench/bench.js --out "$OUT/before" ${phase#before:} 2>&1 | tee -a "$OUT/bench.log" | grep -E "^GPU|^embedrank|^sentence-transformers|RATIO|wrote|Error" ;;
    torch) python3 scripts/gpu/torch_reference.py "$EMBEDRANK_GPU_MODELS/torch-jobs.json" > /tmp/torch.log 2>&1; tail -3 /tmp/torch.log ;;
    test) node node_modules/mocha/bin/mocha.js --no-config --no-package --timeout 900000 --spec "${GPU_SPEC:-dist/test/gpu/*.gpu.js}" > "$OUT/gpu-tests.log" 2>&1; grep -E "passing|failing|pending" "$OUT/gpu-tests.log"; grep -B2 -A12 -E "^  [0-9]+\) " "$OUT/gpu-tests.log" | head -120 ;;
    mtest) node node_modules/mocha/bin/mocha.js --no-config --no-package --timeout 900000 --spec "dist/test/gpu/*.mgpu.js" > "$OUT/mgpu-tests.log" 2>&1; grep -E "worst|max \||passing|failing|pending|FAILED" "$OUT/mgpu-tests.log" | head -40 ;;
    mbench) node dist/bench/multi-gpu.js --bert "$EMBEDRANK_GPU_MODELS/bert-base" --xlmr "$EMBEDRANK_GPU_MODELS/xlmr-large" --out /tmp 2>&1 | tee -a "$OUT/bench.log" | grep -E "DP|TP|Error" ;;
    prof:*) EMBEDRANK_PROFILE=1 node dist/bench/profile.js ${phase#prof:} 2>&1 | tee -a "$OUT/bench.log" | grep -v "^\s*$" ;;
    sh:*) bash -c "${phase#sh:}" 2>&1 | tee -a "$OUT/bench.log" ;;
    rscore:*) node dist/bench/retrieval-scoring.js --device cuda --out "$OUT/retrieval-scoring-gpu-$t0.jsonl" $(echo "${phase#rscore:}" | tr ',=' '  ') 2>&1 | tee -a "$OUT/bench.log" | grep -vE "^\s*$" ;;
    bench:*) node dist/bench/bench.js --out "$OUT" ${phase#bench:} 2>&1 | tee -a "$OUT/bench.log" | grep -E "^GPU|^embedrank|^sentence-transformers|RATIO|wrote|Error" ;;
    *) echo "unknown phase $phase" ;;
  esac
  echo "== $phase took $(( $(date +%s) - t0 ))s"
done
