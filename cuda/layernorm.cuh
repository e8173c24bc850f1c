// LayerNorm of one row held four values per thread across a block, fp32 statistics computed in
// two passes (mean, then centred variance) as PyTorch does for stability.
#pragma once
#include "common.cuh"

namespace er {

inline int ln_threads(int H) { return ((H / 4 + 31) / 32) * 32; }

template <typename T>
__device__ __forceinline__ void layernorm_store(const float (&v)[4], bool active, int H, const float* __restrict__ gamma,
                                                const float* __restrict__ beta, float eps, T* __restrict__ out_row,
                                                int c, float* scratch, float* __restrict__ out_f32_row = nullptr,
                                                float* kept = nullptr /* [4]: the fp32 results, where active */) {
  float s = active ? (v[0] + v[1]) + (v[2] + v[3]) : 0.f;
  const float mean = block_sum(s, scratch) / H;
  float d[4];
  float q = 0.f;
#pragma unroll
  for (int i = 0; i < 4; i++) {
    d[i] = v[i] - mean;
    q += active ? d[i] * d[i] : 0.f;
  }
  const float var = block_sum(q, scratch) / H;
  const float rstd = rsqrtf(var + eps);
  if (active) {
    float g[4], b[4], o[4];
    *reinterpret_cast<float4*>(g) = *reinterpret_cast<const float4*>(gamma + c);
    *reinterpret_cast<float4*>(b) = *reinterpret_cast<const float4*>(beta + c);
#pragma unroll
    for (int i = 0; i < 4; i++) o[i] = d[i] * rstd * g[i] + b[i];
    store4<T>(out_row + c, o);
    if (out_f32_row) *reinterpret_cast<float4*>(out_f32_row + c) = *reinterpret_cast<const float4*>(o);
    if (kept) {
#pragma unroll
      for (int i = 0; i < 4; i++) kept[i] = o[i];
    }
  }
}

}  // namespace er
