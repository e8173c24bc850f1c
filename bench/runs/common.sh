# Shared by the session run scripts that source it (sessions 15 and 16): where the models and logs go, the
# mocha command of the GPU suites, the fast tokenizer path's environment, and the allocator libraries
# (the host's, else the copies scripts/gpu/pack.sh carries in .gpu/alloc). Expects TAG set or defaults it.
OUT=${OUT:-/tmp/out}
M=/tmp/embedrank-gpu-models
mkdir -p "$OUT"
MOCHA="node node_modules/mocha/bin/mocha.js --no-config --no-package --timeout 900000"
FAST="EMBEDRANK_FAST_TOKENIZE=1 UV_THREADPOOL_SIZE=20 TOKENIZERS_PARALLELISM=false"
lib() { for d in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /usr/local/lib .gpu/alloc; do [ -f "$d/$1" ] && { echo "$(cd "$d" && pwd)/$1"; return; }; done; }
JE=$(lib libjemalloc.so.2)
