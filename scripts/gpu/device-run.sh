#!/usr/bin/env bash
# Runs on the GPU machine (no Node there): unpacks .gpu/, builds the CUDA addon, then the phases
# named on the command line: tokfix (tokenizer fixture), torch (reference outputs), test (GPU
# suite), mtest (multi-GPU suite), mbench, bench:ARGS (bench.js), prof:ARGS (profile.js with
# EMBEDRANK_PROFILE=1), sh:COMMAND (anything else, logged). Logs go to $OUT.
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
t0=$(date +%s)
ARCHS=${ARCHS:-} bash scripts/build-cuda.sh > "$OUT/build.log" 2>&1 || { tail -50 "$OUT/build.log"; exit 1; }
rm -f "$OUT/build.log"  # $OUT returns few files: keep the log only when the build fails
echo "addon built in $(( $(date +%s) - t0 ))s"
t0=$(date +%s)
pids=()
for m in minilm-l6 e5-small bert-base xlmr-large bert-base-bf16 cross-minilm ${PREPARE_EXTRA:-}; do
  node dist/scripts/gpu/prepare.js --bench --only "$m" > /dev/null &
  pids+=($!)
done
wait "${pids[@]}"  # not a bare wait: the clock logger runs in the background too
node dist/scripts/gpu/prepare.js || exit 1
echo "models written in $(( $(date +%s) - t0 ))s"
for phase in "$@"; do
  t0=$(date +%s)
  case "$phase" in
    tokfix) python3 scripts/gpu/tokenizer_fixture.py "$EMBEDRANK_GPU_MODELS/minilm-l6" test/fixtures/tokenizer/inputs.json "$OUT/tokenizer-expected.json" 2>&1 | tail -5 ;;
    torch) python3 scripts/gpu/torch_reference.py "$EMBEDRANK_GPU_MODELS/torch-jobs.json" > /tmp/torch.log 2>&1; tail -3 /tmp/torch.log ;;
    test) node node_modules/mocha/bin/mocha.js --no-config --no-package --timeout 900000 --spec "${GPU_SPEC:-dist/test/gpu/*.gpu.js}" > "$OUT/gpu-tests.log" 2>&1; grep -E "passing|failing|pending" "$OUT/gpu-tests.log"; grep -B2 -A12 -E "^  [0-9]+\) " "$OUT/gpu-tests.log" | head -120 ;;
    mtest) node node_modules/mocha/bin/mocha.js --no-config --no-package --timeout 900000 --spec "dist/test/gpu/*.mgpu.js" > "$OUT/mgpu-tests.log" 2>&1; grep -E "worst|max \||passing|failing|pending|FAILED" "$OUT/mgpu-tests.log" | head -40 ;;
    mbench) node dist/bench/multi-gpu.js --bert "$EMBEDRANK_GPU_MODELS/bert-base" --xlmr "$EMBEDRANK_GPU_MODELS/xlmr-large" --out /tmp 2>&1 | tee -a "$OUT/bench.log" | grep -E "DP|TP|Error" ;;
    prof:*) EMBEDRANK_PROFILE=1 node dist/bench/profile.js ${phase#prof:} 2>&1 | tee -a "$OUT/bench.log" | grep -v "^\s*$" ;;
    sh:*) bash -c "${phase#sh:}" 2>&1 | tee -a "$OUT/bench.log" ;;
    bench:*) node dist/bench/bench.js --out "$OUT" ${phase#bench:} 2>&1 | tee -a "$OUT/bench.log" | grep -E "^GPU|RATIO|wrote|Error" ;;
    *) echo "unknown phase $phase" ;;
  esac
  echo "== $phase took $(( $(date +%s) - t0 ))s"
done
