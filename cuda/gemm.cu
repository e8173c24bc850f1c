// cuBLASLt linear layers (see gemm.h). In column-major terms the product is
// C[N×T] = op_T(W as K×N) · X as K×T, so no transposes are materialised.
#include <cublasLt.h>

#include <string>

#include "gemm.h"

namespace er {

static void lt_check(cublasStatus_t st, const char* what) {
  if (st == CUBLAS_STATUS_SUCCESS) return;
  std::string msg = std::string("cuBLASLt error ") + std::to_string((int)st) + " in " + what;
  if (st == CUBLAS_STATUS_ALLOC_FAILED) throw CudaFailure(msg + " (out of GPU memory)", false, true);
  throw CudaFailure(msg, st == CUBLAS_STATUS_EXECUTION_FAILED, false);
}
#define LT(x) lt_check((x), #x)

struct GemmRunner::Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  ~Plan() {
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

GemmRunner::GemmRunner(size_t workspace_bytes) : workspace_bytes_(workspace_bytes) {
  cublasLtHandle_t h;
  LT(cublasLtCreate(&h));
  handle_ = h;
  ER_CHECK(cudaMalloc(&workspace_, workspace_bytes_));
}

GemmRunner::~GemmRunner() {
  plans_.clear();
  if (workspace_) cudaFree(workspace_);
  if (handle_) cublasLtDestroy((cublasLtHandle_t)handle_);
}

static cudaDataType_t cuda_type(DType dt) {
  return dt == DType::F32 ? CUDA_R_32F : dt == DType::F16 ? CUDA_R_16F : CUDA_R_16BF;
}

GemmRunner::Plan& GemmRunner::plan(DType dt, int T, int K, int N, bool bias, bool tf32) {
  Key key{(int)dt, T, K, N, bias, tf32};
  auto it = plans_.find(key);
  if (it != plans_.end()) return *it->second;
  if (plans_.size() > 4096) plans_.clear();  // batches of every length: keep the cache bounded
  auto p = std::make_unique<Plan>();
  const cudaDataType_t ty = cuda_type(dt);
  // fp16/bf16 accumulate in fp32 like PyTorch; float32 is exact fp32 unless TF32 is asked for.
  const cublasComputeType_t compute = dt == DType::F32 && tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  LT(cublasLtMatmulDescCreate(&p->op, compute, CUDA_R_32F));
  const cublasOperation_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
  LT(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof(opT)));
  LT(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof(opN)));
  const cublasLtEpilogue_t epi = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
  LT(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
  LT(cublasLtMatrixLayoutCreate(&p->a, ty, K, N, K));
  LT(cublasLtMatrixLayoutCreate(&p->b, ty, K, T, K));
  LT(cublasLtMatrixLayoutCreate(&p->c, ty, N, T, N));
  cublasLtMatmulPreference_t pref;
  LT(cublasLtMatmulPreferenceCreate(&pref));
  LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes_, sizeof(workspace_bytes_)));
  if (bias) {
    // The heuristic must see a bias pointer's alignment class; real pointers are 256-byte aligned.
    const void* fake = reinterpret_cast<const void*>(256);
    LT(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &fake, sizeof(fake)));
  }
  cublasLtMatmulHeuristicResult_t res{};
  int returned = 0;
  const cublasStatus_t st =
      cublasLtMatmulAlgoGetHeuristic((cublasLtHandle_t)handle_, p->op, p->a, p->b, p->c, p->c, pref, 1, &res, &returned);
  cublasLtMatmulPreferenceDestroy(pref);
  LT(st);
  if (returned == 0) throw CudaFailure("cuBLASLt found no algorithm for " + std::to_string(T) + "x" + std::to_string(N) + "x" + std::to_string(K), false, false);
  p->algo = res.algo;
  auto& ref = *p;
  plans_.emplace(key, std::move(p));
  return ref;
}

void GemmRunner::linear(DType dt, const void* X, int T, int K, const void* W, int N, const void* bias, void* Y,
                        cudaStream_t s, bool allow_tf32) {
  if (T == 0) return;
  Plan& p = plan(dt, T, K, N, bias != nullptr, allow_tf32);
  if (bias) LT(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
  const float alpha = 1.f, beta = 0.f;
  LT(cublasLtMatmul((cublasLtHandle_t)handle_, p.op, &alpha, W, p.a, X, p.b, &beta, Y, p.c, Y, p.c, &p.algo, workspace_,
                    workspace_bytes_, s));
}

}  // namespace er
