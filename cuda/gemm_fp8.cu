// cuBLASLt FP8 linear layers (see gemm_fp8.h). Every cuBLASLt name used here, and where its
// meaning is documented:
//  - cublasLtMatmul's FP8 requirements: A transposed and B not ("TN"), compute type
//    CUBLAS_COMPUTE_32F with scale type CUDA_R_32F, e4m3 × e4m3 with C/D in CUDA_R_16F,
//    CUDA_R_16BF or CUDA_R_32F, 16-byte aligned matrices, leading dimensions multiples of 16:
//    cuBLAS docs, "cublasLtMatmul()" (https://docs.nvidia.com/cuda/cublas/#cublasltmatmul), and
//    https://forums.developer.nvidia.com/t/why-is-tn-format-required-for-fp8-in-cublasltmatmul/292575
//    which quotes it.
//  - Outer-vector scaling, D_ij = α · scaleA_i · scaleB_j · Σ_l a_il b_lj (+ β C): set
//    CUBLASLT_MATMUL_DESC_A_SCALE_MODE and _B_SCALE_MODE to CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
//    scaleA then has M elements and scaleB N (fp32); no D scale, D must be 16F, 16BF or 32F:
//    cuBLAS docs, "Outer Vector Scaling for FP8 Data Types"
//    (https://docs.nvidia.com/cuda/cublas/#outer-vector-scaling-for-fp8-data-types); the enum
//    (OUTER_VEC_32F = 3) at https://docs.nvidia.com/cuda/nvmath-python/latest/bindings/generated/nvmath.bindings.cublasLt.MatmulMatrixScale.html.
//    Here M is the weight's output channels (A = Wq, op T) and N the tokens (B = Xq), so scaleA = ws, scaleB = xs.
//    Outer-vector scaling exists from cuBLAS 12.9 on sm_90 only (Hopper): NVIDIA's answer in
//    https://github.com/NVIDIA/CUDALibrarySamples/issues/270 and PyTorch's use of it
//    (https://github.com/pytorch/pytorch/pull/154680, "Requires CUDA >= 12.9 and sm_90"); Ada
//    (sm_89) and Blackwell refuse it at the heuristic with CUBLAS_STATUS_NOT_SUPPORTED
//    (https://github.com/pytorch/pytorch/issues/192707), so there Auto takes the Kernel epilogue.
//  - CUBLASLT_MATMUL_DESC_{TRANSA, TRANSB, EPILOGUE, BIAS_POINTER, BIAS_DATA_TYPE, A_SCALE_POINTER,
//    B_SCALE_POINTER, FAST_ACCUM, A_SCALE_MODE, B_SCALE_MODE}: cublasLtMatmulDescAttributes_t,
//    https://docs.nvidia.com/cuda/cublas/#cublasltmatmuldescattributes-t (values listed at
//    https://docs.nvidia.com/cuda/nvmath-python/latest/bindings/generated/nvmath.bindings.cublasLt.MatmulDescAttribute.html).
//    FAST_ACCUM is an int8_t; the scale modes are cublasLtMatmulMatrixScale_t (an int32 enum).
//  - CUBLASLT_EPILOGUE_BIAS with an FP8 GEMM: the bias is a vector of M (output channels) in the
//    type BIAS_DATA_TYPE names, here D's.
// cublasLt.h is not on the development machine: this file is compiled on the GPU machine only
// (scripts/build-cuda.sh); its types were checked against the documentation above.
#include <cublasLt.h>

#include <cstdlib>
#include <string>

#include "gemm_fp8.h"
#include "ops.h"

namespace er {

static void lt8_check(cublasStatus_t st, const char* what) {
  if (st == CUBLAS_STATUS_SUCCESS) return;
  std::string msg = std::string("cuBLASLt (FP8) error ") + std::to_string((int)st) + " in " + what;
  if (st == CUBLAS_STATUS_ALLOC_FAILED) throw CudaFailure(msg + " (out of GPU memory)", false, true);
  throw CudaFailure(msg, st == CUBLAS_STATUS_EXECUTION_FAILED, false);
}
#define LT8(x) lt8_check((x), #x)

struct Fp8GemmRunner::Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  Fp8Epilogue epilogue = Fp8Epilogue::Kernel;
  bool verified = false;  // ran once: cuBLASLt accepted it (OuterVec is probed by a real call)
  ~Plan() {
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (d) cublasLtMatrixLayoutDestroy(d);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

static Fp8Epilogue epilogue_from_env() {
  const char* e = std::getenv("EMBEDRANK_FP8_EPILOGUE");
  if (!e || !*e || std::string(e) == "auto") return Fp8Epilogue::Auto;
  if (std::string(e) == "outer") return Fp8Epilogue::OuterVec;
  if (std::string(e) == "kernel") return Fp8Epilogue::Kernel;
  throw std::runtime_error(std::string("EMBEDRANK_FP8_EPILOGUE must be auto, outer or kernel, got ") + e);
}

Fp8GemmRunner::Fp8GemmRunner(Fp8Epilogue mode, size_t workspace_bytes, size_t max_acc_elems)
    : mode_(mode == Fp8Epilogue::Auto ? epilogue_from_env() : mode), workspace_bytes_(workspace_bytes), max_acc_elems_(max_acc_elems) {
  const char* fa = std::getenv("EMBEDRANK_FP8_FAST_ACCUM");
  fast_accum_ = !(fa && fa[0] == '0');
  cublasLtHandle_t h;
  LT8(cublasLtCreate(&h));
  handle_ = h;
  ER_CHECK(cudaMalloc(&workspace_, workspace_bytes_));
}

Fp8GemmRunner::~Fp8GemmRunner() {
  plans_.clear();
  if (acc_) cudaFree(acc_);
  if (workspace_) cudaFree(workspace_);
  if (handle_) cublasLtDestroy((cublasLtHandle_t)handle_);
}

// A plan for one shape and epilogue, or null where cuBLASLt's heuristic finds no algorithm.
Fp8GemmRunner::Plan* Fp8GemmRunner::plan(DType dt, int T, int K, int N, bool bias, Fp8Epilogue e) {
  const Key key{(int)dt, T, K, N, bias, (int)e};
  auto it = plans_.find(key);
  if (it != plans_.end()) return it->second.get();
  if (plans_.size() > 4096) plans_.clear();  // batches of every length: keep the cache bounded
  auto p = std::make_unique<Plan>();
  p->epilogue = e;
  const bool outer = e == Fp8Epilogue::OuterVec;
  const cudaDataType_t out_ty = !outer ? CUDA_R_32F : dt == DType::F16 ? CUDA_R_16F : CUDA_R_16BF;
  LT8(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
  LT8(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof(opT)));
  LT8(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof(opN)));
  const int8_t fast = fast_accum_ ? 1 : 0;
  LT8(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &fast, sizeof(fast)));
  // The heuristic must see pointers of the real alignment class (ours are 256-byte aligned); the
  // real ones are set before every call.
  const void* fake = reinterpret_cast<const void*>(256);
  if (outer) {
    const cublasLtMatmulMatrixScale_t vec = CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
    LT8(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &vec, sizeof(vec)));
    LT8(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &vec, sizeof(vec)));
    LT8(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &fake, sizeof(fake)));
    LT8(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &fake, sizeof(fake)));
    if (bias) {
      const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
      LT8(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
      LT8(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &out_ty, sizeof(out_ty)));
      LT8(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &fake, sizeof(fake)));
    }
  }
  LT8(cublasLtMatrixLayoutCreate(&p->a, CUDA_R_8F_E4M3, K, N, K));
  LT8(cublasLtMatrixLayoutCreate(&p->b, CUDA_R_8F_E4M3, K, T, K));
  LT8(cublasLtMatrixLayoutCreate(&p->d, out_ty, N, T, N));
  cublasLtMatmulPreference_t pref;
  LT8(cublasLtMatmulPreferenceCreate(&pref));
  LT8(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes_, sizeof(workspace_bytes_)));
  cublasLtMatmulHeuristicResult_t res{};
  int returned = 0;
  const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic((cublasLtHandle_t)handle_, p->op, p->a, p->b, p->d, p->d, pref, 1, &res,
                                                           &returned);
  cublasLtMatmulPreferenceDestroy(pref);
  if (st == CUBLAS_STATUS_NOT_SUPPORTED || st == CUBLAS_STATUS_INVALID_VALUE || (st == CUBLAS_STATUS_SUCCESS && returned == 0)) {
    return nullptr;
  }
  LT8(st);
  p->algo = res.algo;
  Plan* raw = p.get();
  plans_.emplace(key, std::move(p));
  return raw;
}

Fp8Epilogue Fp8GemmRunner::linear(DType dt, const uint8_t* Xq, const float* xs, int T, int K, const uint8_t* Wq, const float* ws,
                                  int N, const void* bias, void* Y, cudaStream_t s) {
  if (T == 0) return mode_ == Fp8Epilogue::Kernel ? Fp8Epilogue::Kernel : Fp8Epilogue::OuterVec;
  if (dt == DType::F32) throw std::runtime_error("FP8 GEMM: the output dtype must be float16 or bfloat16");
  if (K % 16 || N % 16) {
    throw std::runtime_error("FP8 GEMM: K (" + std::to_string(K) + ") and N (" + std::to_string(N) + ") must be multiples of 16");
  }
  const float alpha = 1.f, beta = 0.f;
  // OuterVec with (with_bias) or without cuBLASLt's bias epilogue; false where cuBLASLt refuses the
  // combination. A refusal at the first call (one the heuristic offered but the kernel rejects)
  // is remembered and falls back; the first call of every shape is eager (bert.cu captures graphs
  // of shapes seen before), so no refusal happens inside a capture.
  auto try_outer = [&](bool with_bias) {
    const auto rkey = std::make_tuple((int)dt, K, N, with_bias);
    if (outer_refused_.count(rkey)) return false;
    Plan* p = plan(dt, T, K, N, with_bias, Fp8Epilogue::OuterVec);
    if (p) {
      LT8(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &ws, sizeof(ws)));
      LT8(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &xs, sizeof(xs)));
      if (with_bias) LT8(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
      const cublasStatus_t st = cublasLtMatmul((cublasLtHandle_t)handle_, p->op, &alpha, Wq, p->a, Xq, p->b, &beta, Y, p->d, Y, p->d,
                                               &p->algo, workspace_, workspace_bytes_, s);
      if (st == CUBLAS_STATUS_SUCCESS) {
        p->verified = true;
        return true;
      }
      if (p->verified || (st != CUBLAS_STATUS_NOT_SUPPORTED && st != CUBLAS_STATUS_INVALID_VALUE)) LT8(st);
      plans_.erase(Key{(int)dt, T, K, N, with_bias, (int)Fp8Epilogue::OuterVec});
    }
    outer_refused_[rkey] = true;
    return false;
  };
  if (mode_ != Fp8Epilogue::Kernel) {
    if (bias && try_outer(true)) return Fp8Epilogue::OuterVec;
    // Scales in cuBLASLt, the bias in a pass of its own: still far less traffic than the fp32 product.
    if (try_outer(false)) {
      if (bias) add_bias_rows(dt, Y, bias, T, N, s);
      return Fp8Epilogue::OuterVec;
    }
    if (mode_ == Fp8Epilogue::OuterVec) {
      throw std::runtime_error("FP8 GEMM: cuBLASLt has no outer-vector-scaled algorithm for T=" + std::to_string(T) + " K=" +
                               std::to_string(K) + " N=" + std::to_string(N) + " (EMBEDRANK_FP8_EPILOGUE=outer)");
    }
  }
  Plan* p = plan(dt, T, K, N, false, Fp8Epilogue::Kernel);
  if (!p) {
    throw CudaFailure("cuBLASLt found no FP8 algorithm for " + std::to_string(T) + "x" + std::to_string(N) + "x" + std::to_string(K),
                      false, false);
  }
  // The fp32 product buffer must never move once a graph may have captured it: growing it (free +
  // malloc) left BertModel's graphs of earlier, smaller batches writing freed memory at their next
  // replay — the likely cudaErrorIllegalAddress of the s4d GPU run, whose EMBEDRANK_FP8_EPILOGUE=kernel
  // engine runs an 11,064-token batch after capturing bucketed graphs of up to 1,536 rows, then
  // replays those. So with max_acc_elems it is allocated once, at the largest size, outside any capture.
  const size_t need = (size_t)T * N * sizeof(float);
  if (max_acc_elems_ && need > max_acc_elems_ * sizeof(float)) {
    throw std::runtime_error("FP8 GEMM: T·N = " + std::to_string((size_t)T * N) + " exceeds the runner's " + std::to_string(max_acc_elems_));
  }
  if (need > acc_bytes_) {
    cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
    ER_CHECK(cudaStreamIsCapturing(s, &cap));
    if (cap != cudaStreamCaptureStatusNone) {
      throw CudaFailure("FP8 GEMM: the Kernel epilogue's buffer cannot be allocated inside a stream capture", false, false);
    }
    const size_t bytes = max_acc_elems_ ? max_acc_elems_ * sizeof(float) : need;
    if (acc_) cudaFree(acc_);  // only without max_acc_elems: nothing captured holds it
    acc_ = nullptr;
    acc_bytes_ = 0;
    ER_CHECK(cudaMalloc(&acc_, bytes));
    acc_bytes_ = bytes;
  }
  LT8(cublasLtMatmul((cublasLtHandle_t)handle_, p->op, &alpha, Wq, p->a, Xq, p->b, &beta, acc_, p->d, acc_, p->d, &p->algo, workspace_,
                     workspace_bytes_, s));
  dequantize_fp8_gemm(dt, acc_, xs, ws, bias, T, N, Y, s);
  return Fp8Epilogue::Kernel;
}

}  // namespace er
