// Variable-length, non-causal attention over unpadded tokens (cu_seqlens), FlashAttention-2 style:
// each block owns BM query rows of one (sequence, head), streams K/V tiles through shared memory
// (cp.async, double-buffered), keeps the softmax online in fp32 registers and never writes the
// L×L scores. fp16/bf16 use tensor cores (mma.sync m16n8k16, fp32 accumulation); fp32 has its own
// FMA kernel so float32 stays exact. On Hopper, fp16/bf16 at head_dim 64/128 can take the
// FlashAttention-3 style kernel of attention_wgmma.cu instead (EMBEDRANK_ATTENTION=wgmma).
#include <algorithm>
#include <cfloat>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "attention_wgmma.h"
#include "common.cuh"
#include "mma.cuh"
#include "ops.h"

namespace er {
namespace {

constexpr int kBM = 64;   // query rows per block of the default kernel (4 warps × 16); Mma128: 128 (8 warps)
constexpr int kBN = 64;   // keys per tile

// Shared-memory rows are padded by 8 elements (16 bytes) so ldmatrix's eight row reads of one
// 8×8 matrix fall in distinct banks.
template <int D> __host__ __device__ constexpr int lds() { return D + 8; }
template <int D, int BM> __host__ __device__ constexpr size_t smem_bytes_tc() { return (size_t)(BM + 4 * kBN) * lds<D>() * 2; }

// BM query rows per block, one warp per 16 (BM = 128: each K/V tile in shared memory serves 8 warps).
template <typename T, int D, int BM>
__global__ void __launch_bounds__(BM * 2) attn_tc_kernel(const T* __restrict__ qkv, int ld, int hidden,
                                                           const int* __restrict__ cu, const int2* __restrict__ tiles,
                                                           float scale_log2, T* __restrict__ out, int ld_out) {
  constexpr int LDS = lds<D>();
  constexpr int CH = D / 8;  // 16-byte chunks per row
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* sQ = reinterpret_cast<T*>(smem_raw);
  constexpr int kThreads = BM * 2;
  T* sK = sQ + BM * LDS;       // two buffers of kBN rows
  T* sV = sK + 2 * kBN * LDS;  // two buffers of kBN rows

  const int2 tile = tiles[blockIdx.x];
  const int head = blockIdx.y;
  const int start = __ldg(cu + tile.x);
  const int len = __ldg(cu + tile.x + 1) - start;
  const int q0 = tile.y;
  // A tile past its sequence's end does nothing: a CUDA graph made for a token bucket launches
  // the bucket's largest tile count and points the surplus tiles at an empty sequence.
  if (q0 >= len) return;
  const T* Qg = qkv + (size_t)start * ld + head * D;
  const T* Kg = Qg + hidden;
  const T* Vg = Qg + 2 * hidden;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;

  for (int c = tid; c < BM * CH; c += kThreads) {
    const int r = c / CH, col = (c % CH) * 8;
    T* dst = sQ + r * LDS + col;
    if (q0 + r < len) cp_async16(dst, Qg + (size_t)(q0 + r) * ld + col);
    else *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
  }
  auto load_kv = [&](int buf, int k0) {
    T* dk = sK + buf * kBN * LDS;
    T* dv = sV + buf * kBN * LDS;
    for (int c = tid; c < kBN * CH; c += kThreads) {
      const int r = c / CH, col = (c % CH) * 8;
      if (k0 + r < len) {
        cp_async16(dk + r * LDS + col, Kg + (size_t)(k0 + r) * ld + col);
        cp_async16(dv + r * LDS + col, Vg + (size_t)(k0 + r) * ld + col);
      } else {
        // Rows past the sequence must be finite: 0·NaN would poison P·V even with P = 0.
        *reinterpret_cast<uint4*>(dk + r * LDS + col) = make_uint4(0, 0, 0, 0);
        *reinterpret_cast<uint4*>(dv + r * LDS + col) = make_uint4(0, 0, 0, 0);
      }
    }
  };
  load_kv(0, 0);
  cp_async_commit();

  const int ntiles = (len + kBN - 1) / kBN;
  float o[D / 8][4];
#pragma unroll
  for (int i = 0; i < D / 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float m_run[2] = {-FLT_MAX, -FLT_MAX};
  float l_run[2] = {0.f, 0.f};
  uint32_t qf[D / 16][4];

  for (int j = 0; j < ntiles; j++) {
    if (j + 1 < ntiles) load_kv((j + 1) & 1, (j + 1) * kBN);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    if (j == 0) {
#pragma unroll
      for (int kk = 0; kk < D / 16; kk++)
        ldsm_x4(qf[kk], sQ + (warp * 16 + (lane & 15)) * LDS + kk * 16 + (lane >> 4) * 8);
    }
    const T* ks = sK + (j & 1) * kBN * LDS;
    const T* vs = sV + (j & 1) * kBN * LDS;

    float s[kBN / 8][4];
    attn_scores_tile<T, D, kBN, LDS>(s, qf, ks, lane);

    const int kbase = j * kBN;
    const bool ragged = kbase + kBN > len;
    // Row r of this thread is g (values 0,1) or g+8 (values 2,3); scale into the log2 domain.
    float mx[2] = {-FLT_MAX, -FLT_MAX};
#pragma unroll
    for (int nt = 0; nt < kBN / 8; nt++) {
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int col = kbase + nt * 8 + 2 * (lane & 3) + (e & 1);
        float v = s[nt][e] * scale_log2;
        if (ragged && col >= len) v = -INFINITY;
        s[nt][e] = v;
        mx[e >> 1] = fmaxf(mx[e >> 1], v);
      }
    }
    attn_softmax_pv_tile<T, D, kBN, LDS>(s, mx, m_run, l_run, o, vs, lane);
    __syncthreads();  // the next iteration's prefetch overwrites the buffer just read
  }

#pragma unroll
  for (int r = 0; r < 2; r++) {
    l_run[r] += __shfl_xor_sync(0xffffffffu, l_run[r], 1);
    l_run[r] += __shfl_xor_sync(0xffffffffu, l_run[r], 2);
  }
  const int g = lane >> 2, tg = lane & 3;
#pragma unroll
  for (int r = 0; r < 2; r++) {
    const int q = q0 + warp * 16 + g + r * 8;
    if (q >= len) continue;
    const float inv = 1.f / l_run[r];
    T* dst = out + (size_t)(start + q) * ld_out + head * D + 2 * tg;
#pragma unroll
    for (int dn = 0; dn < D / 8; dn++) {
      const uint32_t v = pack2<T>(o[dn][2 * r] * inv, o[dn][2 * r + 1] * inv);
      *reinterpret_cast<uint32_t*>(dst + dn * 8) = v;
    }
  }
}

// fp32: 128 threads own 32 query rows; a quad of 4 threads shares a row. Key tiles shrink for
// D = 128 to stay inside 48 KB of static shared memory.
constexpr int kBM32 = 32;

template <int D>
__global__ void __launch_bounds__(128) attn_f32_kernel(const float* __restrict__ qkv, int ld, int hidden,
                                                       const int* __restrict__ cu, const int2* __restrict__ tiles,
                                                       float scale_log2, float* __restrict__ out, int ld_out) {
  constexpr int kBN32 = D >= 128 ? 16 : 32;
  constexpr int KPT = kBN32 / 4;  // keys per thread
  __shared__ float sQ[kBM32][D + 1];
  __shared__ float sK[kBN32][D + 1];
  __shared__ float sV[kBN32][D];
  __shared__ float sP[kBM32][kBN32 + 1];
  const int2 tile = tiles[blockIdx.x];
  const int head = blockIdx.y;
  const int start = __ldg(cu + tile.x);
  const int len = __ldg(cu + tile.x + 1) - start;
  const int q0 = tile.y;
  if (q0 >= len) return;  // surplus tile of a bucketed CUDA graph (see attn_tc_kernel)
  const float* Qg = qkv + (size_t)start * ld + head * D;
  const float* Kg = Qg + hidden;
  const float* Vg = Qg + 2 * hidden;
  const int tid = threadIdx.x, qi = tid >> 2, part = tid & 3;

  for (int c = tid; c < kBM32 * D; c += 128) {
    const int r = c / D, d = c % D;
    sQ[r][d] = q0 + r < len ? Qg[(size_t)(q0 + r) * ld + d] : 0.f;
  }
  constexpr int DP = D / 4;
  float o[DP];
#pragma unroll
  for (int k = 0; k < DP; k++) o[k] = 0.f;
  float m_run = -FLT_MAX, l_run = 0.f;

  for (int k0 = 0; k0 < len; k0 += kBN32) {
    __syncthreads();
    for (int c = tid; c < kBN32 * D; c += 128) {
      const int r = c / D, d = c % D;
      const bool ok = k0 + r < len;
      sK[r][d] = ok ? Kg[(size_t)(k0 + r) * ld + d] : 0.f;
      sV[r][d] = ok ? Vg[(size_t)(k0 + r) * ld + d] : 0.f;
    }
    __syncthreads();
    float s[KPT];
    float mx = -FLT_MAX;
#pragma unroll
    for (int jj = 0; jj < KPT; jj++) {
      const int j = part * KPT + jj;
      float acc = 0.f;
#pragma unroll 8
      for (int d = 0; d < D; d++) acc = fmaf(sQ[qi][d], sK[j][d], acc);
      acc *= scale_log2;
      if (k0 + j >= len) acc = -INFINITY;
      s[jj] = acc;
      mx = fmaxf(mx, acc);
    }
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    const float m_new = fmaxf(m_run, mx);
    const float alpha = exp2f(m_run - m_new);
    m_run = m_new;
    float sum = 0.f;
#pragma unroll
    for (int jj = 0; jj < KPT; jj++) {
      const float p = exp2f(s[jj] - m_new);
      sum += p;
      sP[qi][part * KPT + jj] = p;
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    l_run = l_run * alpha + sum;
    __syncwarp();
#pragma unroll
    for (int k = 0; k < DP; k++) {
      float acc = o[k] * alpha;
      const int d = part + 4 * k;
#pragma unroll 8
      for (int j = 0; j < kBN32; j++) acc = fmaf(sP[qi][j], sV[j][d], acc);
      o[k] = acc;
    }
  }
  const int q = q0 + qi;
  if (q < len) {
    const float inv = 1.f / l_run;
    float* dst = out + (size_t)(start + q) * ld_out + head * D;
#pragma unroll
    for (int k = 0; k < DP; k++) dst[part + 4 * k] = o[k] * inv;
  }
}

template <typename T, int D, int BM>
void launch_tc(const void* qkv, int ld, int heads, const int* cu, const int2* tiles, int ntiles, float scale_log2,
               void* out, int ld_out, cudaStream_t s) {
  constexpr size_t smem = smem_bytes_tc<D, BM>();
  // The attribute is set per device; each worker thread drives one device.
  static thread_local bool configured = false;
  if (!configured) {
    ER_CHECK(cudaFuncSetAttribute(attn_tc_kernel<T, D, BM>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    configured = true;
  }
  dim3 grid(ntiles, heads);
  attn_tc_kernel<T, D, BM><<<grid, BM * 2, smem, s>>>((const T*)qkv, ld, heads * D, cu, tiles, scale_log2, (T*)out, ld_out);
}

template <int D>
void launch_f32(const void* qkv, int ld, int heads, const int* cu, const int2* tiles, int ntiles, float scale_log2,
                void* out, int ld_out, cudaStream_t s) {
  dim3 grid(ntiles, heads);
  attn_f32_kernel<D><<<grid, 128, 0, s>>>((const float*)qkv, ld, heads * D, cu, tiles, scale_log2, (float*)out, ld_out);
}

template <typename T, int BM>
void dispatch_tc(int head_dim, const void* qkv, int ld, int heads, const int* cu, const int2* tiles, int ntiles,
                 float sl2, void* out, int ld_out, cudaStream_t s) {
  switch (head_dim) {
    case 32: launch_tc<T, 32, BM>(qkv, ld, heads, cu, tiles, ntiles, sl2, out, ld_out, s); break;
    case 64: launch_tc<T, 64, BM>(qkv, ld, heads, cu, tiles, ntiles, sl2, out, ld_out, s); break;
    case 128: launch_tc<T, 128, BM>(qkv, ld, heads, cu, tiles, ntiles, sl2, out, ld_out, s); break;
    default: throw std::runtime_error("attention: head_dim " + std::to_string(head_dim) + " is not supported (32, 64, 128)");
  }
}

}  // namespace

AttentionKernel attention_kernel_from_env() {
  const char* v = std::getenv("EMBEDRANK_ATTENTION");
  // Default auto: the Hopper kernel for long-sequence batches where it runs, mma elsewhere.
  if (!v || !*v) return AttentionKernel::Auto;
  if (!std::strcmp(v, "mma")) return AttentionKernel::Mma;
  if (!std::strcmp(v, "mma128")) return AttentionKernel::Mma128;
  if (!std::strcmp(v, "wgmma")) return AttentionKernel::Wgmma;
  if (!std::strcmp(v, "auto")) return AttentionKernel::Auto;
  throw std::runtime_error(std::string("EMBEDRANK_ATTENTION='") + v + "' is not a kernel: use mma, mma128, wgmma or auto");
}

AttentionKernel attention_kernel(DType dt, int head_dim, AttentionKernel wanted) {
  if (dt == DType::F32) return AttentionKernel::Mma;
  if (wanted == AttentionKernel::Mma128) return AttentionKernel::Mma128;
  if ((wanted != AttentionKernel::Wgmma && wanted != AttentionKernel::Auto) || (head_dim != 64 && head_dim != 128)) return AttentionKernel::Mma;
  if (wanted == AttentionKernel::Auto) {
    // A policy degrades quietly where the Hopper kernel cannot run (another GPU, an sm_80 build).
    try {
      int device = 0;
      ER_CHECK(cudaGetDevice(&device));
      attention_wgmma_require(device);
    } catch (const std::exception&) {
      return AttentionKernel::Mma;
    }
    return AttentionKernel::Auto;
  }
  int device = 0;
  ER_CHECK(cudaGetDevice(&device));
  attention_wgmma_require(device);
  return AttentionKernel::Wgmma;
}

AttentionKernel attention_kernel_for_batch(AttentionKernel k, int tokens, int seqs) {
  if (k != AttentionKernel::Auto) return k;
  return (long)tokens >= (long)kAttentionAutoMinLen * seqs ? AttentionKernel::Wgmma : AttentionKernel::Mma;
}

int attention_block_m(DType dt, int head_dim, AttentionKernel k) {
  if (dt == DType::F32) return kBM32;
  if (k == AttentionKernel::Mma128) return 2 * kBM;
  return k == AttentionKernel::Wgmma && (head_dim == 64 || head_dim == 128) ? kWgmmaBlockM : kBM;
}

int attention_tiles(const int* cu, int nseq, int block_m, int2* tiles, int cap, bool longest_first) {
  // A tile's block streams every key of its sequence, so its cost grows with the sequence's
  // length. The grid runs tiles in list order (blockIdx.x fastest, one sweep per head); listing the
  // longest sequences first leaves the shortest tiles for the end of each sweep — the last wave of
  // a ragged batch is then short blocks, not a few 768-key ones (longest-processing-time-first).
  int n = 0;
  auto emit = [&](int i) {
    const int len = cu[i + 1] - cu[i];
    for (int q = 0; q < len; q += block_m) {
      if (n >= cap) throw std::runtime_error("attention: tile buffer too small");
      tiles[n++] = make_int2(i, q);
    }
  };
  if (!longest_first) {
    for (int i = 0; i < nseq; i++) emit(i);
    return n;
  }
  std::vector<int> order(nseq);
  for (int i = 0; i < nseq; i++) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [cu](int a, int b) { return cu[a + 1] - cu[a] > cu[b + 1] - cu[b]; });
  for (const int i : order) emit(i);
  return n;
}

void attention(AttentionKernel k, DType dt, const void* qkv, int ld_qkv, int tokens, int heads, int head_dim, const int* cu,
               const int2* tiles, int ntiles, float scale, void* out, int ld_out, cudaStream_t s) {
  if (ntiles == 0) return;
  if (heads > 65535) throw std::runtime_error("attention: too many heads");
  const float sl2 = scale * 1.4426950408889634f;
  if (k == AttentionKernel::Wgmma && dt != DType::F32 && (head_dim == 64 || head_dim == 128)) {
    attention_wgmma(dt, qkv, ld_qkv, tokens, heads, head_dim, cu, tiles, ntiles, sl2, out, ld_out, s);
    ER_LAUNCH("attention (wgmma)");
    return;
  }
  switch (dt) {
    case DType::F16:
      if (k == AttentionKernel::Mma128) dispatch_tc<__half, 2 * kBM>(head_dim, qkv, ld_qkv, heads, cu, tiles, ntiles, sl2, out, ld_out, s);
      else dispatch_tc<__half, kBM>(head_dim, qkv, ld_qkv, heads, cu, tiles, ntiles, sl2, out, ld_out, s);
      break;
    case DType::BF16:
      if (k == AttentionKernel::Mma128) dispatch_tc<__nv_bfloat16, 2 * kBM>(head_dim, qkv, ld_qkv, heads, cu, tiles, ntiles, sl2, out, ld_out, s);
      else dispatch_tc<__nv_bfloat16, kBM>(head_dim, qkv, ld_qkv, heads, cu, tiles, ntiles, sl2, out, ld_out, s);
      break;
    case DType::F32:
      switch (head_dim) {
        case 32: launch_f32<32>(qkv, ld_qkv, heads, cu, tiles, ntiles, sl2, out, ld_out, s); break;
        case 64: launch_f32<64>(qkv, ld_qkv, heads, cu, tiles, ntiles, sl2, out, ld_out, s); break;
        case 128: launch_f32<128>(qkv, ld_qkv, heads, cu, tiles, ntiles, sl2, out, ld_out, s); break;
        default: throw std::runtime_error("attention: head_dim " + std::to_string(head_dim) + " is not supported (32, 64, 128)");
      }
      break;
  }
  ER_LAUNCH("attention");
}

}  // namespace er
