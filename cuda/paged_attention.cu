// Grouped-query causal attention of a prefill step over the paged KV cache: the step's new tokens
// (sequence s has q_len = cu_q[s+1] − cu_q[s] of them, the last of its ctx_len[s] tokens; the
// first ctx_len − q_len are cached from earlier chunks or a shared prefix) attend to keys
// 0 … own position, read through block_tables[s] (max_blocks entries per sequence) from caches
// laid out [num_blocks, block_size, kv_heads, head_dim]. Query head h reads KV head h / (heads / kv_heads).
//
// One warp per (token, query head), online softmax in fp32, head_dim / 32 values per lane. This is
// the correct, simple form (CUDA cores); the tensor-core tiling of attention.cu for the causal
// varlen case is the remaining work of issue 12.
#include "common.cuh"
#include "ops.h"

namespace er {

constexpr int PA_MAX_PER_LANE = 8;  // head_dim ≤ 256

template <typename T>
__global__ void paged_attention_kernel(const T* __restrict__ q, int ld_q, int heads, int kv_heads, int d, const int* __restrict__ cu_q,
                                       const int* __restrict__ ctx_len, const int* __restrict__ token_seq, const T* __restrict__ k_cache,
                                       const T* __restrict__ v_cache, const int* __restrict__ block_tables, int max_blocks, int block_size,
                                       float scale, T* __restrict__ out, int ld_out, int T_) {
  const int warp = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (warp >= T_ * heads) return;
  const int t = warp / heads;
  const int h = warp % heads;
  const int s = token_seq[t];
  const int q_len = cu_q[s + 1] - cu_q[s];
  const int pos = ctx_len[s] - q_len + (t - cu_q[s]);
  const int kh = h / (heads / kv_heads);
  const int per = d / 32;
  float qv[PA_MAX_PER_LANE], acc[PA_MAX_PER_LANE];
#pragma unroll
  for (int e = 0; e < PA_MAX_PER_LANE; e++) {
    qv[e] = e < per ? to_f<T>(q[(size_t)t * ld_q + (size_t)h * d + lane * per + e]) * scale : 0.f;
    acc[e] = 0.f;
  }
  float m = -INFINITY, l = 0.f;
  const int* table = block_tables + (size_t)s * max_blocks;
  for (int j = 0; j <= pos; j++) {
    const size_t row = ((size_t)table[j / block_size] * block_size + j % block_size) * kv_heads + kh;
    const T* kp = k_cache + row * d + lane * per;
    float dot = 0.f;
#pragma unroll
    for (int e = 0; e < PA_MAX_PER_LANE; e++)
      if (e < per) dot += qv[e] * to_f<T>(kp[e]);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
    const float m_new = fmaxf(m, dot);
    const float c = expf(m - m_new);
    const float p = expf(dot - m_new);
    l = l * c + p;
    const T* vp = v_cache + row * d + lane * per;
#pragma unroll
    for (int e = 0; e < PA_MAX_PER_LANE; e++)
      if (e < per) acc[e] = acc[e] * c + p * to_f<T>(vp[e]);
    m = m_new;
  }
#pragma unroll
  for (int e = 0; e < PA_MAX_PER_LANE; e++)
    if (e < per) out[(size_t)t * ld_out + (size_t)h * d + lane * per + e] = from_f<T>(acc[e] / l);
}

void paged_attention(DType dt, const void* q, int ld_q, int heads, int kv_heads, int head_dim, const int* cu_q, const int* ctx_len,
                     const int* token_seq, int T, const void* k_cache, const void* v_cache, const int* block_tables, int max_blocks,
                     int block_size, float scale, void* out, int ld_out, cudaStream_t s) {
  if (T == 0) return;
  if (head_dim % 32 || head_dim / 32 > PA_MAX_PER_LANE) throw std::invalid_argument("paged_attention: head_dim must be a multiple of 32 up to 256");
  if (heads % kv_heads) throw std::invalid_argument("paged_attention: kv_heads must divide heads");
  const int threads = 128;
  const size_t warps = (size_t)T * heads;
  const int blocks = (int)((warps * 32 + threads - 1) / threads);
#define ER_PA(TY)                                                                                                                    \
  paged_attention_kernel<TY><<<blocks, threads, 0, s>>>((const TY*)q, ld_q, heads, kv_heads, head_dim, cu_q, ctx_len, token_seq,    \
                                                        (const TY*)k_cache, (const TY*)v_cache, block_tables, max_blocks, block_size, \
                                                        scale, (TY*)out, ld_out, T)
  switch (dt) {
    case DType::F32: ER_PA(float); break;
    case DType::F16: ER_PA(__half); break;
    case DType::BF16: ER_PA(__nv_bfloat16); break;
  }
#undef ER_PA
  ER_LAUNCH("paged_attention");
}

}  // namespace er
