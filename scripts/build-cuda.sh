#!/usr/bin/env bash
# Builds the CUDA addon (build/embedrank_cuda.node) where nvcc and cuBLASLt exist:
#   npm run build:cuda                 # sm_90 + sm_80 + PTX fallback
#   ARCHS="-arch=sm_90" npm run build:cuda
#   scripts/build-cuda.sh --check      # compile every kernel file that needs no cuBLAS (CI)
# The Hopper kernel files (cuda/attention_wgmma.cu, cuda/gemm_wgmma.cu: wgmma/setmaxnreg; cuda/hopper.cu,
# whose probe answers for them) are built for sm_90a instead of sm_90 (see archs_for); SM90A_GENCODE=
# leaves that out (EMBEDRANK_ATTENTION=wgmma then refuses to run, the fused FFN-up GEMM is not used).
set -euo pipefail
cd "$(dirname "$0")/.."
NVCC=${NVCC:-nvcc}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
command -v "$NVCC" >/dev/null || { echo "build-cuda: nvcc not found; the CPU engine still works" >&2; exit 1; }
ARCHS=${ARCHS:-"-gencode=arch=compute_90,code=sm_90 -gencode=arch=compute_80,code=sm_80 -gencode=arch=compute_90,code=compute_90"}
NAPI="-Inode_modules/node-addon-api -Inode_modules/node-api-headers/include -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS"
FLAGS="-std=c++17 -O3 -Xcompiler -fPIC -Xcompiler -Wall --expt-relaxed-constexpr $NAPI"
OBJ=build/obj
mkdir -p "$OBJ"
JOBS=${JOBS:-$(nproc)}
SM90A_GENCODE=${SM90A_GENCODE--gencode=arch=compute_90a,code=sm_90a}

# The architecture flags for one source file: ARCHS, except that in the sm_90a-only file every sm_90
# cubin becomes an sm_90a one (one 9.0 cubin, so the driver cannot pick a plain sm_90 image without
# wgmma); SM90A_GENCODE is appended when ARCHS names no sm_90 cubin at all.
archs_for() {
  case "$1" in
    cuda/attention_wgmma.cu|cuda/gemm_wgmma.cu|cuda/hopper.cu)
      if [ -z "$SM90A_GENCODE" ]; then echo "$ARCHS"; return; fi
      local a
      a=$(echo "$ARCHS" | sed -e 's/-arch=sm_90\b/-gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_90,code=compute_90/' \
                              -e 's/arch=compute_90,code=sm_90\b/arch=compute_90a,code=sm_90a/')
      case "$a" in *sm_90a*) echo "$a" ;; *) echo "$a $SM90A_GENCODE" ;; esac ;;
    *) echo "$ARCHS" ;;
  esac
}
compile() {  # compile FILE
  $NVCC $FLAGS $(archs_for "$1") -c "$1" -o "$OBJ/$(basename "$1").o"
}
export -f archs_for compile
export NVCC FLAGS ARCHS SM90A_GENCODE OBJ

has_cublas() { [ -f "$CUDA_HOME/include/cublasLt.h" ]; }

if [ "${1:-}" = "--check" ]; then
  files=$(ls cuda/*.cu cuda/*.cc)
  if ! has_cublas; then files=$(echo "$files" | grep -v -E '^cuda/gemm(_fp8)?\.cu$'); echo "build-cuda: no cublasLt.h, skipping cuda/gemm.cu and cuda/gemm_fp8.cu" >&2; fi
  echo "$files" | xargs -P "$JOBS" -I{} bash -c 'compile {} && echo compiled {}'
  exit 0
fi

has_cublas || { echo "build-cuda: $CUDA_HOME/include/cublasLt.h not found (cuBLASLt is required)" >&2; exit 1; }
ls cuda/*.cu cuda/*.cc | xargs -P "$JOBS" -I{} bash -c 'compile {}'
$NVCC -shared $ARCHS "$OBJ"/*.o -o build/embedrank_cuda.node -L"$CUDA_HOME/lib64" -lcublasLt -cudart static -ldl
echo "built build/embedrank_cuda.node"
