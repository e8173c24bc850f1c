// Cross-encoder head in fp32 on the first token: dense → act → output layer, one block per sequence.
// act 0 = tanh serves BERT (pooler.dense, classifier) and RoBERTa/XLM-R (classifier.dense,
// classifier.out_proj); act 1 = ReLU serves DistilBERT (pre_classifier, classifier). The weights are small and kept in fp32 whatever the model dtype.
#include "common.cuh"
#include "ops.h"

namespace er {

template <typename T>
__global__ void head_kernel(const T* __restrict__ hidden, int H, const int* __restrict__ cu, const float* __restrict__ Wp,
                            const float* __restrict__ bp, const float* __restrict__ Wc, const float* __restrict__ bc,
                            int L, int act, float* __restrict__ out) {
  extern __shared__ float sm[];  // cls[H], pooled[H]
  float* cls = sm;
  float* pooled = sm + H;
  const int s = blockIdx.x;
  const int start = __ldg(cu + s);
  if (__ldg(cu + s + 1) <= start) return;  // padding sequence of a bucketed CUDA graph
  for (int d = threadIdx.x; d < H; d += blockDim.x) cls[d] = to_f<T>(hidden[(size_t)start * H + d]);
  __syncthreads();
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  for (int j = warp; j < H; j += nw) {
    const float* w = Wp + (size_t)j * H;
    float acc = 0.f;
    for (int k = lane; k < H; k += 32) acc = fmaf(w[k], cls[k], acc);
    acc = warp_sum(acc);
    if (lane == 0) pooled[j] = act == 1 ? fmaxf(acc + bp[j], 0.f) : tanhf(acc + bp[j]);
  }
  __syncthreads();
  for (int l = warp; l < L; l += nw) {
    const float* w = Wc + (size_t)l * H;
    float acc = 0.f;
    for (int k = lane; k < H; k += 32) acc = fmaf(w[k], pooled[k], acc);
    acc = warp_sum(acc);
    if (lane == 0) out[(size_t)s * L + l] = acc + bc[l];
  }
}

void classifier_head(DType dt, const void* hidden, int H, const int* cu, int nseq, const float* Wp, const float* bp,
                     const float* Wc, const float* bc, int L, int act, float* out, cudaStream_t s) {
  if (nseq == 0) return;
  const size_t smem = 2 * (size_t)H * sizeof(float);
  switch (dt) {
    case DType::F32: head_kernel<float><<<nseq, 256, smem, s>>>((const float*)hidden, H, cu, Wp, bp, Wc, bc, L, act, out); break;
    case DType::F16: head_kernel<__half><<<nseq, 256, smem, s>>>((const __half*)hidden, H, cu, Wp, bp, Wc, bc, L, act, out); break;
    case DType::BF16:
      head_kernel<__nv_bfloat16><<<nseq, 256, smem, s>>>((const __nv_bfloat16*)hidden, H, cu, Wp, bp, Wc, bc, L, act, out);
      break;
  }
  ER_LAUNCH("classifier_head");
}

}  // namespace er
