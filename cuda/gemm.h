// Linear layers through cuBLASLt: Y[T, N] = X[T, K] · W[N, K]^T (+ bias in the epilogue), row-major
// activations and PyTorch-layout weights. Descriptors and the heuristic's algorithm are cached per
// shape; each runner owns a handle and a workspace (one per stream slot). Unless
// EMBEDRANK_GEMM_TUNE=0, the first GEMM of each shape class (K, N, and T rounded to a
// quarter-octave) on a device times the heuristic's top candidates on the real operands and every
// runner of that device keeps the fastest for that class (the heuristic's first pick is not
// always the fastest: 454 → 389 µs for BERT-base FFN-up at 65,536 tokens on an H200). The
// candidates are the heuristic's for that T and for the class's own size (see plan()).
#pragma once
#include <cstddef>
#include <map>
#include <memory>
#include <tuple>

#include "common.cuh"

namespace er {

class GemmRunner {
 public:
  explicit GemmRunner(size_t workspace_bytes = 64u << 20);
  ~GemmRunner();
  GemmRunner(const GemmRunner&) = delete;
  GemmRunner& operator=(const GemmRunner&) = delete;

  // gelu_tanh: the epilogue is cuBLASLt's GELU_BIAS (the tanh approximation of GELU after the bias;
  // bias required, 16-bit only): an experiment (EMBEDRANK_GELU_EPILOGUE=tanh), see bert.cu.
  void linear(DType dt, const void* X, int T, int K, const void* W, int N, const void* bias, void* Y, cudaStream_t s,
              bool allow_tf32, bool gelu_tanh = false);
  // False under EMBEDRANK_GEMM_TUNE=0: every shape takes the heuristic's first pick.
  bool tuning() const { return tune_; }

 private:
  struct Plan;
  using Key = std::tuple<int, int, int, int, bool, bool, bool>;
  Plan& plan(DType dt, int T, int K, int N, const void* bias, bool tf32, bool gelu, const void* X, const void* W, void* Y,
             cudaStream_t s);
  bool tune_ = true;
  bool class_candidates_ = true;  // EMBEDRANK_GEMM_CLASS_CANDIDATES=0: the heuristic's list for T alone
  int device_ = 0;
  void* handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_;
  std::map<Key, std::unique_ptr<Plan>> plans_;
};

}  // namespace er
