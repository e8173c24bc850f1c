// Word + position (+ token-type) embedding gather fused with the embedding LayerNorm: one read of
// each table row, one write of the hidden state. Position ids come from the host (the family's rule);
// a null type table means the model has no token types.
#include "layernorm.cuh"
#include "ops.h"

namespace er {

template <typename T>
__global__ void embed_ln_kernel(const int* __restrict__ ids, const int* __restrict__ types,
                                const int* __restrict__ positions, const T* __restrict__ word, const T* __restrict__ pos,
                                const T* __restrict__ type, const float* __restrict__ gamma,
                                const float* __restrict__ beta, float eps, int H, T* __restrict__ out,
                                float* __restrict__ out_f32) {
  __shared__ float scratch[33];
  const int t = blockIdx.x;
  const int c = threadIdx.x * 4;
  const bool active = c < H;
  const int p = __ldg(positions + t);
  float v[4] = {0.f, 0.f, 0.f, 0.f};
  if (active) {
    float a[4], b[4], d[4] = {0.f, 0.f, 0.f, 0.f};
    load4<T>(word + (size_t)__ldg(ids + t) * H + c, a);
    load4<T>(pos + (size_t)p * H + c, b);
    if (type) load4<T>(type + (size_t)__ldg(types + t) * H + c, d);
#pragma unroll
    for (int i = 0; i < 4; i++) v[i] = a[i] + b[i] + d[i];
  }
  layernorm_store<T>(v, active, H, gamma, beta, eps, out + (size_t)t * H, c, scratch,
                     out_f32 ? out_f32 + (size_t)t * H : nullptr);
}

void embed_layernorm(DType dt, const int* ids, const int* types, const int* positions, int T, const void* word,
                     const void* pos, const void* type, const float* gamma, const float* beta, float eps, int H,
                     void* out, float* out_f32, cudaStream_t s) {
  if (T == 0) return;
  const int threads = ln_threads(H);
  switch (dt) {
    case DType::F32:
      embed_ln_kernel<float><<<T, threads, 0, s>>>(ids, types, positions, (const float*)word, (const float*)pos,
                                                   (const float*)type, gamma, beta, eps, H, (float*)out, out_f32);
      break;
    case DType::F16:
      embed_ln_kernel<__half><<<T, threads, 0, s>>>(ids, types, positions, (const __half*)word, (const __half*)pos,
                                                    (const __half*)type, gamma, beta, eps, H, (__half*)out, out_f32);
      break;
    case DType::BF16:
      embed_ln_kernel<__nv_bfloat16><<<T, threads, 0, s>>>(ids, types, positions, (const __nv_bfloat16*)word,
                                                           (const __nv_bfloat16*)pos, (const __nv_bfloat16*)type,
                                                           gamma, beta, eps, H, (__nv_bfloat16*)out, out_f32);
      break;
  }
  ER_LAUNCH("embed_layernorm");
}

}  // namespace er
