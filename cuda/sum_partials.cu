// The reduction of the in-process all-reduce (local_comm.cu): out[i] = Σ_r parts[r][i] over r =
// 0 … n−1 in that order, accumulated in fp32 and rounded once to the dtype — the same additions on
// every rank, so every rank of a tensor-parallel group ends with bit-identical activations.
#include <algorithm>

#include "common.cuh"
#include "ops.h"

namespace er {

// By value as a kernel parameter: the device addresses of the parts (no host-to-device copy).
struct PartPointers {
  const void* p[kMaxSumParts];
};

template <typename T>
__global__ void sum_partials_kernel(PartPointers parts, int n, size_t count, T* __restrict__ out) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x) {
    float acc = 0.f;
    for (int r = 0; r < n; r++) acc += to_f<T>(static_cast<const T*>(parts.p[r])[i]);
    out[i] = from_f<T>(acc);
  }
}

void sum_partials(DType dt, const void* const* parts, int n, size_t count, void* out, cudaStream_t s) {
  if (n < 1 || n > kMaxSumParts) throw std::invalid_argument("sum_partials: " + std::to_string(n) + " parts (1 … " + std::to_string(kMaxSumParts) + ")");
  if (count == 0) return;
  PartPointers pp{};
  for (int r = 0; r < n; r++) pp.p[r] = parts[r];
  const int threads = 256;
  const int blocks = (int)std::min<size_t>((count + threads - 1) / threads, 132 * 16);
  switch (dt) {
    case DType::F32:
      sum_partials_kernel<float><<<blocks, threads, 0, s>>>(pp, n, count, (float*)out);
      break;
    case DType::F16:
      sum_partials_kernel<__half><<<blocks, threads, 0, s>>>(pp, n, count, (__half*)out);
      break;
    case DType::BF16:
      sum_partials_kernel<__nv_bfloat16><<<blocks, threads, 0, s>>>(pp, n, count, (__nv_bfloat16*)out);
      break;
  }
  ER_LAUNCH("sum_partials");
}

}  // namespace er
