// Qwen3's per-head q_norm / k_norm followed by NeoX rotary, fused (one pass over the Q and K heads
// of the QKV rows instead of four): for every (token, head) of the first nh + nkv heads, RMSNorm
// with q_norm.weight (query heads) or k_norm.weight (KV heads) in fp32, then rotate_half with the
// step's cos/sin table — one rounding to the dtype instead of two. One warp per (token, head); lane
// l holds elements l·PER … l·PER + PER − 1, so an element's rotary partner (± d/2) sits in lane l ^ 16.
#include "common.cuh"
#include "ops.h"

namespace er {

template <typename T, int PER>
__global__ void qk_norm_rope_kernel(T* __restrict__ qkv, int ld, int nh, int nkv, const T* __restrict__ qw, const T* __restrict__ kw,
                                    float eps, const float2* __restrict__ rope, int T_) {
  constexpr int D = PER * 32, HALF = D / 2;
  const int warp = (int)((blockIdx.x * (size_t)blockDim.x + threadIdx.x) >> 5);
  const int lane = threadIdx.x & 31;
  const int heads = nh + nkv;
  if (warp >= T_ * heads) return;
  const int t = warp / heads, h = warp % heads;
  T* p = qkv + (size_t)t * ld + (size_t)h * D + lane * PER;
  const T* w = (h < nh ? qw : kw) + lane * PER;
  float x[PER];
  float ss = 0.f;
#pragma unroll
  for (int e = 0; e < PER; e++) {
    x[e] = to_f<T>(p[e]);
    ss += x[e] * x[e];
  }
  ss = warp_sum(ss);
  const float inv = rsqrtf(ss / D + eps);
  const float2* cs = rope + (size_t)t * HALF + (lane & 15) * PER;
#pragma unroll
  for (int e = 0; e < PER; e++) x[e] = x[e] * inv * to_f<T>(w[e]);
#pragma unroll
  for (int e = 0; e < PER; e++) {
    const float other = __shfl_xor_sync(0xffffffffu, x[e], 16);
    const float2 c = cs[e];
    p[e] = from_f<T>(lane < 16 ? x[e] * c.x - other * c.y : x[e] * c.x + other * c.y);
  }
}

void qk_norm_rope(DType dt, void* qkv, int ld, int nh, int nkv, int head_dim, const void* q_w, const void* k_w, float eps,
                  const float2* rope, int T, cudaStream_t s) {
  if (T == 0) return;
  if (head_dim != 64 && head_dim != 128 && head_dim != 256) throw std::invalid_argument("qk_norm_rope: head_dim must be 64, 128 or 256");
  const int threads = 256;
  const size_t warps = (size_t)T * (nh + nkv);
  const int blocks = (int)((warps * 32 + threads - 1) / threads);
#define ER_QKNR(TY, PER) \
  qk_norm_rope_kernel<TY, PER><<<blocks, threads, 0, s>>>((TY*)qkv, ld, nh, nkv, (const TY*)q_w, (const TY*)k_w, eps, rope, T)
#define ER_QKNR_D(TY)                    \
  switch (head_dim) {                    \
    case 64: ER_QKNR(TY, 2); break;      \
    case 128: ER_QKNR(TY, 4); break;     \
    default: ER_QKNR(TY, 8); break;      \
  }
  switch (dt) {
    case DType::F32: ER_QKNR_D(float); break;
    case DType::F16: ER_QKNR_D(__half); break;
    case DType::BF16: ER_QKNR_D(__nv_bfloat16); break;
  }
#undef ER_QKNR_D
#undef ER_QKNR
  ER_LAUNCH("qk_norm_rope");
}

}  // namespace er
