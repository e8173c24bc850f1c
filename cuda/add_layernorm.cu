// Residual add (plus the bias of the preceding row-parallel GEMM, added once after the
// all-reduce) fused with LayerNorm. Writing in place over the residual is safe: each block
// reads its whole row before it writes.
#include "layernorm.cuh"
#include "ops.h"

namespace er {

template <typename T>
__global__ void add_ln_kernel(const T* __restrict__ x, const T* __restrict__ bias, const T* residual,
                              const float* __restrict__ gamma, const float* __restrict__ beta, float eps, int H,
                              T* out) {
  __shared__ float scratch[33];
  const int t = blockIdx.x;
  const int c = threadIdx.x * 4;
  const bool active = c < H;
  float v[4] = {0.f, 0.f, 0.f, 0.f};
  if (active) {
    float a[4], r[4];
    load4<T>(x + (size_t)t * H + c, a);
    load4<T>(residual + (size_t)t * H + c, r);
#pragma unroll
    for (int i = 0; i < 4; i++) v[i] = a[i] + r[i];
    if (bias) {
      float b[4];
      load4<T>(bias + c, b);
#pragma unroll
      for (int i = 0; i < 4; i++) v[i] += b[i];
    }
  }
  layernorm_store<T>(v, active, H, gamma, beta, eps, out + (size_t)t * H, c, scratch);
}

void add_bias_layernorm(DType dt, const void* x, const void* bias, const void* residual, const float* gamma,
                        const float* beta, float eps, int T, int H, void* out, cudaStream_t s) {
  if (T == 0) return;
  const int threads = ln_threads(H);
  switch (dt) {
    case DType::F32:
      add_ln_kernel<float><<<T, threads, 0, s>>>((const float*)x, (const float*)bias, (const float*)residual, gamma,
                                                 beta, eps, H, (float*)out);
      break;
    case DType::F16:
      add_ln_kernel<__half><<<T, threads, 0, s>>>((const __half*)x, (const __half*)bias, (const __half*)residual,
                                                  gamma, beta, eps, H, (__half*)out);
      break;
    case DType::BF16:
      add_ln_kernel<__nv_bfloat16><<<T, threads, 0, s>>>((const __nv_bfloat16*)x, (const __nv_bfloat16*)bias,
                                                         (const __nv_bfloat16*)residual, gamma, beta, eps, H,
                                                         (__nv_bfloat16*)out);
      break;
  }
  ER_LAUNCH("add_bias_layernorm");
}

}  // namespace er
