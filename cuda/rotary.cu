// NeoX-style rotary embedding (transformers' rotate_half), in place on the heads of Q or K inside
// the QKV rows: for i < d/2, (x_i, x_{i+d/2}) ← (x_i cos − x_{i+d/2} sin, x_{i+d/2} cos + x_i sin)
// at angle position · inv_freq_i, inv_freq_i = 1 / theta^(2i/d) in fp32 as transformers' buffer
// (rope_inv_freq, computed once on the host).
// Positions come from the batch (a chunk of a longer sequence starts past 0).
#include <cmath>

#include "common.cuh"
#include "ops.h"

namespace er {

std::vector<float> rope_inv_freq(int head_dim, float theta) {
  std::vector<float> f(head_dim / 2);
  for (int i = 0; i < head_dim / 2; i++) {
    const float x = (float)(2 * i) / (float)head_dim;
    const float p = (float)std::pow((double)theta, (double)x);
    f[i] = 1.f / p;
  }
  return f;
}

template <typename T>
__global__ void rotary_kernel(T* __restrict__ x, int ld, int heads, int d, const int* __restrict__ positions, int T_, const float* __restrict__ inv_freq) {
  const int half = d / 2;
  const size_t n = (size_t)T_ * heads * half;
  for (size_t g = blockIdx.x * (size_t)blockDim.x + threadIdx.x; g < n; g += (size_t)gridDim.x * blockDim.x) {
    const int i = (int)(g % half);
    const int h = (int)((g / half) % heads);
    const int t = (int)(g / ((size_t)half * heads));
    float sn, cs;
    sincosf((float)positions[t] * inv_freq[i], &sn, &cs);
    T* p = x + (size_t)t * ld + (size_t)h * d;
    const float x1 = to_f<T>(p[i]);
    const float x2 = to_f<T>(p[i + half]);
    p[i] = from_f<T>(x1 * cs - x2 * sn);
    p[i + half] = from_f<T>(x2 * cs + x1 * sn);
  }
}

void rotary_neox(DType dt, void* x, int ld, int heads, int head_dim, const int* positions, int T, const float* inv_freq, cudaStream_t s) {
  if (T == 0) return;
  const size_t n = (size_t)T * heads * (head_dim / 2);
  const int threads = 256;
  const int blocks = (int)((n + threads - 1) / threads < 65535 * 8 ? (n + threads - 1) / threads : 65535 * 8);
  switch (dt) {
    case DType::F32:
      rotary_kernel<float><<<blocks, threads, 0, s>>>((float*)x, ld, heads, head_dim, positions, T, inv_freq);
      break;
    case DType::F16:
      rotary_kernel<__half><<<blocks, threads, 0, s>>>((__half*)x, ld, heads, head_dim, positions, T, inv_freq);
      break;
    case DType::BF16:
      rotary_kernel<__nv_bfloat16><<<blocks, threads, 0, s>>>((__nv_bfloat16*)x, ld, heads, head_dim, positions, T, inv_freq);
      break;
  }
  ER_LAUNCH("rotary_neox");
}

__global__ void rope_table_kernel(const int* __restrict__ positions, int T_, int half, const float* __restrict__ inv_freq, float2* __restrict__ out) {
  const size_t n = (size_t)T_ * half;
  for (size_t g = blockIdx.x * (size_t)blockDim.x + threadIdx.x; g < n; g += (size_t)gridDim.x * blockDim.x) {
    const int i = (int)(g % half);
    const int t = (int)(g / half);
    // Same angle arithmetic as rotary_kernel.
    float sn, cs;
    sincosf((float)positions[t] * inv_freq[i], &sn, &cs);
    out[g] = make_float2(cs, sn);
  }
}

void rope_table(const int* positions, int T, int head_dim, const float* inv_freq, float2* out, cudaStream_t s) {
  if (T == 0) return;
  const size_t n = (size_t)T * (head_dim / 2);
  const int threads = 256;
  const int blocks = (int)((n + threads - 1) / threads < 65535 * 8 ? (n + threads - 1) / threads : 65535 * 8);
  rope_table_kernel<<<blocks, threads, 0, s>>>(positions, T, head_dim / 2, inv_freq, out);
  ER_LAUNCH("rope_table");
}

}  // namespace er
