// Converts weights uploaded in their stored dtype (fp32/fp16/bf16 bytes straight from the
// safetensors file) to the compute dtype on the GPU.
#include "common.cuh"
#include "ops.h"

#include <algorithm>

namespace er {

template <typename S, typename D>
__global__ void convert_kernel(const S* __restrict__ in, D* __restrict__ out, size_t n) {
  const size_t stride = (size_t)gridDim.x * blockDim.x;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) out[i] = from_f<D>(to_f<S>(in[i]));
}

template <typename S>
static void convert_from(DType dst, const void* in, void* out, size_t n, cudaStream_t s) {
  const int threads = 256;
  const int blocks = (int)std::min<size_t>((n + threads - 1) / threads, 65535);
  switch (dst) {
    case DType::F32: convert_kernel<S, float><<<blocks, threads, 0, s>>>((const S*)in, (float*)out, n); break;
    case DType::F16: convert_kernel<S, __half><<<blocks, threads, 0, s>>>((const S*)in, (__half*)out, n); break;
    case DType::BF16: convert_kernel<S, __nv_bfloat16><<<blocks, threads, 0, s>>>((const S*)in, (__nv_bfloat16*)out, n); break;
  }
}

void convert(DType src, DType dst, const void* in, void* out, size_t n, cudaStream_t s) {
  if (n == 0) return;
  if (src == dst) {
    ER_CHECK(cudaMemcpyAsync(out, in, n * dtype_size(src), cudaMemcpyDeviceToDevice, s));
    return;
  }
  switch (src) {
    case DType::F32: convert_from<float>(dst, in, out, n, s); break;
    case DType::F16: convert_from<__half>(dst, in, out, n, s); break;
    case DType::BF16: convert_from<__nv_bfloat16>(dst, in, out, n, s); break;
  }
  ER_LAUNCH("convert");
}

}  // namespace er
