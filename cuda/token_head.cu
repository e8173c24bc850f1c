// A linear head on each sequence's last token, in fp32 (Qwen3ForSequenceClassification's score,
// or the "yes" − "no" LM-head row of a converted Qwen3-Reranker): out[s, l] = W[l] · h[last(s)],
// no bias, no activation (the caller applies it). One warp per (sequence, label).
#include "common.cuh"
#include "ops.h"

namespace er {

template <typename T>
__global__ void last_token_head_kernel(const T* __restrict__ hidden, int H, const int* __restrict__ cu, int nseq, const float* __restrict__ W,
                                       int L, float* __restrict__ out) {
  const int warp = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (warp >= nseq * L) return;
  const int s = warp / L, l = warp % L;
  if (__ldg(cu + s + 1) <= __ldg(cu + s)) return;  // padding sequence of a bucketed CUDA graph
  const T* h = hidden + (size_t)(__ldg(cu + s + 1) - 1) * H;
  const float* w = W + (size_t)l * H;
  float acc = 0.f;
  for (int i = lane; i < H; i += 32) acc += to_f<T>(h[i]) * w[i];
  acc = warp_sum(acc);
  if (lane == 0) out[(size_t)s * L + l] = acc;
}

void last_token_head(DType dt, const void* hidden, int H, const int* cu, int nseq, const float* W, int L, float* out, cudaStream_t s) {
  if (nseq == 0 || L == 0) return;
  const int threads = 128;
  const int blocks = (int)(((size_t)nseq * L * 32 + threads - 1) / threads);
  switch (dt) {
    case DType::F32: last_token_head_kernel<float><<<blocks, threads, 0, s>>>((const float*)hidden, H, cu, nseq, W, L, out); break;
    case DType::F16: last_token_head_kernel<__half><<<blocks, threads, 0, s>>>((const __half*)hidden, H, cu, nseq, W, L, out); break;
    case DType::BF16:
      last_token_head_kernel<__nv_bfloat16><<<blocks, threads, 0, s>>>((const __nv_bfloat16*)hidden, H, cu, nseq, W, L, out);
      break;
  }
  ER_LAUNCH("last_token_head");
}

}  // namespace er
