// Token embedding lookup into the fp32 residual stream of a pre-norm decoder (Qwen3's
// embed_tokens): out[t] = float(table[ids[t]]). The stored dtype's values are exact in fp32, so the
// residual starts exact and the first RMSNorm reads it like any later layer's.
#include "common.cuh"
#include "ops.h"

namespace er {

template <typename T>
__global__ void embedding_kernel(const int* __restrict__ ids, int T_, const T* __restrict__ table, int H, float* __restrict__ out) {
  const size_t n = (size_t)T_ * H;
  for (size_t g = blockIdx.x * (size_t)blockDim.x + threadIdx.x; g < n; g += (size_t)gridDim.x * blockDim.x) {
    const size_t t = g / H;
    const int c = (int)(g % H);
    out[g] = to_f<T>(table[(size_t)__ldg(ids + t) * H + c]);
  }
}

void embedding_f32(DType dt, const int* ids, int T, const void* table, int H, float* out, cudaStream_t s) {
  if (T == 0) return;
  const size_t n = (size_t)T * H;
  const int threads = 256;
  const int blocks = (int)((n + threads - 1) / threads < 65535 * 8 ? (n + threads - 1) / threads : 65535 * 8);
  switch (dt) {
    case DType::F32: embedding_kernel<float><<<blocks, threads, 0, s>>>(ids, T, (const float*)table, H, out); break;
    case DType::F16: embedding_kernel<__half><<<blocks, threads, 0, s>>>(ids, T, (const __half*)table, H, out); break;
    case DType::BF16: embedding_kernel<__nv_bfloat16><<<blocks, threads, 0, s>>>(ids, T, (const __nv_bfloat16*)table, H, out); break;
  }
  ER_LAUNCH("embedding_f32");
}

}  // namespace er
