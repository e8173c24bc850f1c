// Sentence pooling (CLS, mean over tokens, last token) and L2 normalisation in fp32, one block
// per sequence, straight from the unpadded hidden states.
#include "common.cuh"
#include "ops.h"

namespace er {

template <typename T>
__global__ void pool_kernel(const T* __restrict__ hidden, int H, const int* __restrict__ cu, const int* __restrict__ skip,
                            int mode, bool normalize, float* __restrict__ out) {
  extern __shared__ float row[];  // H floats
  __shared__ float scratch[33];
  const int s = blockIdx.x;
  const int start = __ldg(cu + s);
  const int len = __ldg(cu + s + 1) - start;
  if (len <= 0) return;  // padding sequence of a bucketed CUDA graph: no row to pool
  int from = 0, to = 1;
  if (mode == 1) {
    from = skip ? min(__ldg(skip + s), len - 1) : 0;
    to = len;
  } else if (mode == 2) {
    from = len - 1;
    to = len;
  }
  const float inv = 1.f / (float)(to - from);
  float sq = 0.f;
  for (int d = threadIdx.x; d < H; d += blockDim.x) {
    float acc = 0.f;
    for (int t = from; t < to; t++) acc += to_f<T>(hidden[(size_t)(start + t) * H + d]);
    acc *= inv;
    row[d] = acc;
    sq += acc * acc;
  }
  float scale = 1.f;
  if (normalize) {
    const float norm = sqrtf(block_sum(sq, scratch));
    scale = 1.f / fmaxf(norm, 1e-12f);
  }
  for (int d = threadIdx.x; d < H; d += blockDim.x) out[(size_t)s * H + d] = row[d] * scale;
}

void pool(DType dt, const void* hidden, int H, const int* cu, const int* skip, int nseq, int mode, bool normalize,
          float* out, cudaStream_t s) {
  if (nseq == 0) return;
  const int threads = H >= 1024 ? 1024 : ((H + 31) / 32) * 32;
  const size_t smem = (size_t)H * sizeof(float);
  switch (dt) {
    case DType::F32: pool_kernel<float><<<nseq, threads, smem, s>>>((const float*)hidden, H, cu, skip, mode, normalize, out); break;
    case DType::F16: pool_kernel<__half><<<nseq, threads, smem, s>>>((const __half*)hidden, H, cu, skip, mode, normalize, out); break;
    case DType::BF16:
      pool_kernel<__nv_bfloat16><<<nseq, threads, smem, s>>>((const __nv_bfloat16*)hidden, H, cu, skip, mode, normalize, out);
      break;
  }
  ER_LAUNCH("pool");
}

}  // namespace er
