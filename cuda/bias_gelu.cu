// Bias add and exact (erf) GELU in place over the FFN-up output. cuBLASLt's GELU epilogue is the
// tanh approximation, which BERT checkpoints were not trained with, so this stays a separate pass.
#include "common.cuh"
#include "ops.h"

#include <algorithm>

namespace er {

template <typename T>
__global__ void bias_gelu_kernel(T* __restrict__ x, const T* __restrict__ bias, int T_, int N) {
  for (int r = blockIdx.x; r < T_; r += gridDim.x) {
    T* row = x + (size_t)r * N;
    for (int c = threadIdx.x * 4; c < N; c += blockDim.x * 4) {
      float v[4], b[4];
      load4<T>(row + c, v);
      load4<T>(bias + c, b);
#pragma unroll
      for (int k = 0; k < 4; k++) {
        const float u = v[k] + b[k];
        v[k] = 0.5f * u * (1.f + erff(u * 0.70710678118654752f));
      }
      store4<T>(row + c, v);
    }
  }
}

void bias_gelu(DType dt, void* x, const void* bias, int T, int N, cudaStream_t s) {
  if (T == 0) return;
  int dev = 0, sms = 132;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
  const int threads = 256;
  const int blocks = std::min(T, sms * 8);
  switch (dt) {
    case DType::F32:
      bias_gelu_kernel<float><<<blocks, threads, 0, s>>>((float*)x, (const float*)bias, T, N);
      break;
    case DType::F16:
      bias_gelu_kernel<__half><<<blocks, threads, 0, s>>>((__half*)x, (const __half*)bias, T, N);
      break;
    case DType::BF16:
      bias_gelu_kernel<__nv_bfloat16><<<blocks, threads, 0, s>>>((__nv_bfloat16*)x, (const __nv_bfloat16*)bias, T, N);
      break;
  }
  ER_LAUNCH("bias_gelu");
}

}  // namespace er
