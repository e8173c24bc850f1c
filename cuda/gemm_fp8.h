// FP8 linear layers through cuBLASLt for `quantization: 'fp8'` (Ada / Hopper, sm_89+):
//   Y[T, N] = (Xq[T, K] · diag(xs)) · (Wq[N, K] · diag(ws))^T + bias[N]
// with e4m3 operands (quantize_fp8.cu: per-token xs, per-output-channel ws), fp32 accumulation
// and Y in fp16/bf16 — the W8A8 "per-token × per-channel" scheme of vLLM's Fp8LinearMethod and
// TensorRT-LLM. Layout as GemmRunner's (gemm.h): column-major C[N×T] = op_T(Wq as K×N) · Xq as
// K×T, which is the "TN" form cuBLASLt requires for FP8. How the scales reach the output:
//   OuterVec: cuBLASLt applies them itself (CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F on A and
//             B, CUDA 12.9+), with the bias in its epilogue; nothing but the GEMM touches Y.
//   Kernel:   cuBLASLt writes the unscaled fp32 product; dequantize_fp8_gemm (ops.h) applies
//             xs · ws and the bias — an extra T·N·(4 + 4 + 2)-byte round trip.
// Auto (default) uses OuterVec — the bias in cuBLASLt's epilogue, or in add_bias_rows (ops.h) where
// cuBLASLt refuses the bias epilogue together with outer-vector scales — and falls back to Kernel
// for a shape cuBLASLt refuses OuterVec for altogether;
// EMBEDRANK_FP8_EPILOGUE=outer|kernel forces one (tests compare them). The FP8 tensor cores'
// fast accumulation is on unless EMBEDRANK_FP8_FAST_ACCUM=0 (TransformerEngine's forward setting).
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include "common.cuh"

namespace er {

enum class Fp8Epilogue : int { Auto = 0, OuterVec = 1, Kernel = 2 };

class Fp8GemmRunner {
 public:
  // mode Auto reads EMBEDRANK_FP8_EPILOGUE. max_acc_elems: the largest T·N the Kernel epilogue
  // will see; where non-zero its fp32 product buffer is allocated once at that size (on first use)
  // and never moves, as CUDA graphs that captured a call keep its address; 0 grows it on demand
  // (for callers that capture nothing). Throws CudaFailure when the handle or workspace cannot be made.
  explicit Fp8GemmRunner(Fp8Epilogue mode = Fp8Epilogue::Auto, size_t workspace_bytes = 32u << 20, size_t max_acc_elems = 0);
  ~Fp8GemmRunner();
  Fp8GemmRunner(const Fp8GemmRunner&) = delete;
  Fp8GemmRunner& operator=(const Fp8GemmRunner&) = delete;

  // dt: F16 or BF16 (Y's and bias's dtype). K and N multiples of 16; Xq, Wq, Y, xs, ws 16-byte
  // aligned. bias may be null. Returns the epilogue that ran (OuterVec or Kernel). Throws
  // CudaFailure on a cuBLASLt error or where the Kernel epilogue's buffer would first be allocated
  // inside a stream capture (not sticky: the capture fails and the caller runs eagerly),
  // std::runtime_error for a bad shape or dtype or T·N above max_acc_elems.
  Fp8Epilogue linear(DType dt, const uint8_t* Xq, const float* xs, int T, int K, const uint8_t* Wq, const float* ws, int N,
                     const void* bias, void* Y, cudaStream_t s);

 private:
  struct Plan;
  using Key = std::tuple<int, int, int, int, bool, int>;  // dt, T, K, N, bias, epilogue
  Plan* plan(DType dt, int T, int K, int N, bool bias, Fp8Epilogue e);
  Fp8Epilogue mode_;
  bool fast_accum_ = true;
  void* handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_;
  float* acc_ = nullptr;  // Kernel epilogue: the fp32 product (see the constructor)
  size_t acc_bytes_ = 0;
  size_t max_acc_elems_ = 0;
  std::map<Key, std::unique_ptr<Plan>> plans_;
  std::map<std::tuple<int, int, int, bool>, bool> outer_refused_;  // (dt, K, N, bias) cuBLASLt has no OuterVec algorithm for
};

}  // namespace er
