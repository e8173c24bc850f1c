// Writes the K and V of this step's tokens into the paged KV cache (vLLM's reshape_and_cache):
// cache layout [num_blocks, block_size, kv_heads, head_dim]; token t goes to slot
// slot_mapping[t] = block · block_size + offset (negative: not cached, e.g. padding).
// K and V are read from the QKV rows (k at column k_col, v at v_col, row stride ld).
#include "common.cuh"
#include "ops.h"

namespace er {

template <typename T>
__global__ void kv_cache_write_kernel(const T* __restrict__ qkv, int ld, int k_col, int v_col, int width, const int* __restrict__ slots, int T_,
                                      T* __restrict__ k_cache, T* __restrict__ v_cache) {
  const size_t n = (size_t)T_ * width;
  for (size_t g = blockIdx.x * (size_t)blockDim.x + threadIdx.x; g < n; g += (size_t)gridDim.x * blockDim.x) {
    const int t = (int)(g / width);
    const int c = (int)(g % width);
    const int slot = slots[t];
    if (slot < 0) continue;
    k_cache[(size_t)slot * width + c] = qkv[(size_t)t * ld + k_col + c];
    v_cache[(size_t)slot * width + c] = qkv[(size_t)t * ld + v_col + c];
  }
}

// 16-byte chunks (8 values of a 16-bit type) when rows and columns allow it: one warp moves 512
// bytes per instruction instead of 64.
__global__ void kv_cache_write16_kernel(const uint4* __restrict__ qkv, int ld16, int k16, int v16, int width16, const int* __restrict__ slots,
                                        int n, uint4* __restrict__ k_cache, uint4* __restrict__ v_cache) {
  for (int g = blockIdx.x * blockDim.x + threadIdx.x; g < n; g += gridDim.x * blockDim.x) {
    const int t = g / width16;
    const int c = g - t * width16;
    const int slot = slots[t];
    if (slot < 0) continue;
    k_cache[(size_t)slot * width16 + c] = qkv[(size_t)t * ld16 + k16 + c];
    v_cache[(size_t)slot * width16 + c] = qkv[(size_t)t * ld16 + v16 + c];
  }
}

void kv_cache_write(DType dt, const void* qkv, int ld, int k_col, int v_col, int kv_heads, int head_dim, const int* slot_mapping, int T,
                    void* k_cache, void* v_cache, cudaStream_t s) {
  if (T == 0) return;
  const int per16 = 16 / (int)dtype_size(dt);  // values per 16 bytes
  const int w = kv_heads * head_dim;
  if (ld % per16 == 0 && k_col % per16 == 0 && v_col % per16 == 0 && w % per16 == 0 && (size_t)T * (w / per16) < (1u << 31) &&
      (reinterpret_cast<uintptr_t>(qkv) | reinterpret_cast<uintptr_t>(k_cache) | reinterpret_cast<uintptr_t>(v_cache)) % 16 == 0) {
    const int n = T * (w / per16);
    const int threads = 256;
    const int blocks = (n + threads - 1) / threads < 132 * 16 ? (n + threads - 1) / threads : 132 * 16;
    kv_cache_write16_kernel<<<blocks, threads, 0, s>>>((const uint4*)qkv, ld / per16, k_col / per16, v_col / per16, w / per16, slot_mapping, n,
                                                       (uint4*)k_cache, (uint4*)v_cache);
    ER_LAUNCH("kv_cache_write");
    return;
  }
  const int width = kv_heads * head_dim;
  const size_t n = (size_t)T * width;
  const int threads = 256;
  const int blocks = (int)((n + threads - 1) / threads < 65535 * 8 ? (n + threads - 1) / threads : 65535 * 8);
  switch (dt) {
    case DType::F32:
      kv_cache_write_kernel<float><<<blocks, threads, 0, s>>>((const float*)qkv, ld, k_col, v_col, width, slot_mapping, T, (float*)k_cache, (float*)v_cache);
      break;
    case DType::F16:
      kv_cache_write_kernel<__half><<<blocks, threads, 0, s>>>((const __half*)qkv, ld, k_col, v_col, width, slot_mapping, T, (__half*)k_cache, (__half*)v_cache);
      break;
    case DType::BF16:
      kv_cache_write_kernel<__nv_bfloat16><<<blocks, threads, 0, s>>>((const __nv_bfloat16*)qkv, ld, k_col, v_col, width, slot_mapping, T,
                                                                     (__nv_bfloat16*)k_cache, (__nv_bfloat16*)v_cache);
      break;
  }
  ER_LAUNCH("kv_cache_write");
}

}  // namespace er
