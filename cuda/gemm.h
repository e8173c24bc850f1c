// Linear layers through cuBLASLt: Y[T, N] = X[T, K] · W[N, K]^T (+ bias in the epilogue), row-major
// activations and PyTorch-layout weights. Descriptors and the heuristic's algorithm are cached per
// shape; each runner owns a handle and a workspace (one per stream slot).
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

  void linear(DType dt, const void* X, int T, int K, const void* W, int N, const void* bias, void* Y, cudaStream_t s,
              bool allow_tf32);

 private:
  struct Plan;
  using Key = std::tuple<int, int, int, int, bool, bool>;
  Plan& plan(DType dt, int T, int K, int N, bool bias, bool tf32);
  void* handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_;
  std::map<Key, std::unique_ptr<Plan>> plans_;
};

}  // namespace er
