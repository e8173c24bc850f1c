// Grouped-query causal attention of a prefill step over the paged KV cache: the step's new tokens
// (sequence s has q_len = cu_q[s+1] − cu_q[s] of them, the last of its ctx_len[s] tokens; the
// first ctx_len − q_len are cached from earlier chunks or a shared prefix) attend to keys
// 0 … own position, read through block_tables[s] (max_blocks entries per sequence) from caches
// laid out [num_blocks, block_size, kv_heads, head_dim]. Query head h reads KV head h / (heads / kv_heads)
// (vLLM's / FlashAttention's varlen paged layout).
//
// fp16 / bf16 at head_dim 64 and 128: tensor cores, FlashAttention-2 style as attention.cu's
// attn_tc_kernel (64 query rows of one sequence and head per block, 4 warps × 16; K/V tiles of
// 64 keys gathered row by row from their blocks with cp.async, double-buffered; online softmax in
// the log2 domain in fp32; mma.sync m16n8k16 with fp32 accumulation). Everything else (fp32, other
// head dims, rows not 16-byte aligned) and EMBEDRANK_PAGED_ATTENTION=warp: one warp per
// (token, query head) on CUDA cores.
#include <algorithm>
#include <cfloat>
#include <cstdlib>
#include <cstring>

#include "common.cuh"
#include "mma.cuh"
#include "ops.h"

namespace er {
namespace {

// ---- tensor cores ---------------------------------------------------------------------------

constexpr int kBM = 64;  // query rows per block (4 warps × 16)
constexpr int kBN = 64;  // keys per tile
constexpr int kThreads = 128;

// Shared-memory rows are padded by 8 elements (16 bytes) so ldmatrix's eight row reads of one
// 8×8 matrix fall in distinct banks.
template <int D> constexpr int lds() { return D + 8; }
template <int D> constexpr size_t tc_smem_bytes() { return (size_t)(kBM + 4 * kBN) * lds<D>() * 2; }

// Block b serves tile tiles[b / heads] (sequence s, query rows q0 … q0 + 63 of its step) for
// query head b % heads: heads vary fastest, so the query heads of one KV head run side by side
// (their K/V tiles come from L2 once) and the tile order is the launch order.
template <typename T, int D>
__global__ void __launch_bounds__(kThreads)
    paged_attn_tc_kernel(const T* __restrict__ q, int ld_q, int heads, int group, int kv_heads, const int* __restrict__ cu_q,
                         const int* __restrict__ ctx_len, const int2* __restrict__ tiles, const T* __restrict__ k_cache,
                         const T* __restrict__ v_cache, const int* __restrict__ block_tables, int max_blocks, int block_size,
                         int block_shift, float scale_log2, T* __restrict__ out, int ld_out) {
  constexpr int LDS = lds<D>();
  constexpr int CH = D / 8;  // 16-byte chunks per row
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* sQ = reinterpret_cast<T*>(smem_raw);
  T* sK = sQ + kBM * LDS;      // two buffers of kBN rows
  T* sV = sK + 2 * kBN * LDS;  // two buffers of kBN rows

  const int2 tile = tiles[blockIdx.x / heads];
  const int h = blockIdx.x % heads;
  const int kh = h / group;
  const int s = tile.x, q0 = tile.y;
  const int start = __ldg(cu_q + s);
  const int q_len = __ldg(cu_q + s + 1) - start;
  const int past = __ldg(ctx_len + s) - q_len;  // cached keys before the step's first token
  if (q0 >= q_len) return;                      // surplus tile of a bucketed CUDA graph (empty sequence)
  const int rows = min(kBM, q_len - q0);        // valid query rows of this tile (≥ 1)
  const int p_first = past + q0;                // position of the tile's first row: every row sees keys 0 … p_first
  const int kend = p_first + rows;              // keys 0 … kend − 1: what the tile's last row sees
  const int* table = block_tables + (size_t)s * max_blocks;
  const T* Qg = q + (size_t)(start + q0) * ld_q + (size_t)h * D;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;

  for (int c = tid; c < kBM * CH; c += kThreads) {
    const int r = c / CH, col = (c % CH) * 8;
    T* dst = sQ + r * LDS + col;
    if (r < rows) cp_async16(dst, Qg + (size_t)r * ld_q + col);
    else *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);  // finite rows: no NaN from rows past q_len
  }
  // Each key row is gathered by its own address: a sequence's blocks need not be contiguous and
  // block_size is any positive integer.
  auto load_kv = [&](int buf, int k0) {
    T* dk = sK + buf * kBN * LDS;
    T* dv = sV + buf * kBN * LDS;
    for (int c = tid; c < kBN * CH; c += kThreads) {
      const int r = c / CH, col = (c % CH) * 8;
      const int key = k0 + r;
      if (key < kend) {
        // block_shift ≥ 0: block_size = 2^block_shift (16, vLLM's default), no integer division.
        const int bi = block_shift >= 0 ? key >> block_shift : key / block_size;
        const int within = key - bi * block_size;
        const size_t off = (((size_t)__ldg(table + bi) * block_size + within) * kv_heads + kh) * D + col;
        cp_async16(dk + r * LDS + col, k_cache + off);
        cp_async16(dv + r * LDS + col, v_cache + off);
      } else {
        // Keys no row sees are not read (their table entries may be anything) but must be
        // finite: 0·NaN would poison P·V even with P = 0.
        *reinterpret_cast<uint4*>(dk + r * LDS + col) = make_uint4(0, 0, 0, 0);
        *reinterpret_cast<uint4*>(dv + r * LDS + col) = make_uint4(0, 0, 0, 0);
      }
    }
  };
  load_kv(0, 0);
  cp_async_commit();

  // This thread's two rows (mma accumulator layout): g and g + 8 of the warp's 16. Row r sees
  // keys ≤ lim[r]; rows past q_len take the last valid row's limit (their Q is zero: finite).
  const int g = lane >> 2, tg = lane & 3;
  int lim[2];
#pragma unroll
  for (int r = 0; r < 2; r++) lim[r] = p_first + min(warp * 16 + g + 8 * r, rows - 1);
  // The warp computes a key tile only if one of its valid rows sees a key of it.
  const bool warp_rows = warp * 16 < rows;
  const int warp_last = p_first + min(warp * 16 + 15, rows - 1);

  const int nkt = (kend + kBN - 1) / kBN;
  float o[D / 8][4];
#pragma unroll
  for (int i = 0; i < D / 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float m_run[2] = {-FLT_MAX, -FLT_MAX};
  float l_run[2] = {0.f, 0.f};
  uint32_t qf[D / 16][4];

  for (int j = 0; j < nkt; j++) {
    if (j + 1 < nkt) load_kv((j + 1) & 1, (j + 1) * kBN);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    if (j == 0) {
#pragma unroll
      for (int kk = 0; kk < D / 16; kk++)
        ldsm_x4(qf[kk], sQ + (warp * 16 + (lane & 15)) * LDS + kk * 16 + (lane >> 4) * 8);
    }
    const int kbase = j * kBN;
    // Key 0 is in tile 0 and visible to every row, so m_run is finite after it and a tile a row
    // does not see at all leaves that row unchanged (alpha 1, p 0).
    if (warp_rows && kbase <= warp_last) {
      const T* ks = sK + (j & 1) * kBN * LDS;
      const T* vs = sV + (j & 1) * kBN * LDS;

      float sc[kBN / 8][4];
      attn_scores_tile<T, D, kBN, LDS>(sc, qf, ks, lane);

      // Tiles wholly at or before the block's first position need no mask (the fast path).
      const bool causal = kbase + kBN - 1 > p_first;
      float mx[2] = {-FLT_MAX, -FLT_MAX};
#pragma unroll
      for (int nt = 0; nt < kBN / 8; nt++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
          const int col = kbase + nt * 8 + 2 * tg + (e & 1);
          float v = sc[nt][e] * scale_log2;
          if (causal && col > lim[e >> 1]) v = -INFINITY;
          sc[nt][e] = v;
          mx[e >> 1] = fmaxf(mx[e >> 1], v);
        }
      }
      attn_softmax_pv_tile<T, D, kBN, LDS>(sc, mx, m_run, l_run, o, vs, lane);
    }
    __syncthreads();  // the next iteration's prefetch overwrites the buffer just read
  }

#pragma unroll
  for (int r = 0; r < 2; r++) {
    l_run[r] += __shfl_xor_sync(0xffffffffu, l_run[r], 1);
    l_run[r] += __shfl_xor_sync(0xffffffffu, l_run[r], 2);
  }
#pragma unroll
  for (int r = 0; r < 2; r++) {
    const int row = warp * 16 + g + r * 8;
    if (row >= rows) continue;
    const float inv = 1.f / l_run[r];
    T* dst = out + (size_t)(start + q0 + row) * ld_out + (size_t)h * D + 2 * tg;
#pragma unroll
    for (int dn = 0; dn < D / 8; dn++) *reinterpret_cast<uint32_t*>(dst + dn * 8) = pack2<T>(o[dn][2 * r] * inv, o[dn][2 * r + 1] * inv);
  }
}

template <typename T, int D>
void launch_tc(const void* q, int ld_q, int heads, int kv_heads, const int* cu_q, const int* ctx_len, const int2* tiles, int ntiles,
               const void* k_cache, const void* v_cache, const int* block_tables, int max_blocks, int block_size, float scale_log2,
               void* out, int ld_out, cudaStream_t s) {
  constexpr size_t smem = tc_smem_bytes<D>();
  // The attribute is set per device; each worker thread drives one device.
  static thread_local bool configured = false;
  if (!configured) {
    ER_CHECK(cudaFuncSetAttribute(paged_attn_tc_kernel<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    configured = true;
  }
  const int block_shift = (block_size & (block_size - 1)) == 0 ? __builtin_ctz((unsigned)block_size) : -1;
  paged_attn_tc_kernel<T, D><<<(unsigned)ntiles * heads, kThreads, smem, s>>>(
      (const T*)q, ld_q, heads, heads / kv_heads, kv_heads, cu_q, ctx_len, tiles, (const T*)k_cache, (const T*)v_cache, block_tables,
      max_blocks, block_size, block_shift, scale_log2, (T*)out, ld_out);
}

template <typename T>
void dispatch_tc(int head_dim, const void* q, int ld_q, int heads, int kv_heads, const int* cu_q, const int* ctx_len, const int2* tiles,
                 int ntiles, const void* k_cache, const void* v_cache, const int* block_tables, int max_blocks, int block_size,
                 float scale_log2, void* out, int ld_out, cudaStream_t s) {
  if (head_dim == 64)
    launch_tc<T, 64>(q, ld_q, heads, kv_heads, cu_q, ctx_len, tiles, ntiles, k_cache, v_cache, block_tables, max_blocks, block_size,
                     scale_log2, out, ld_out, s);
  else
    launch_tc<T, 128>(q, ld_q, heads, kv_heads, cu_q, ctx_len, tiles, ntiles, k_cache, v_cache, block_tables, max_blocks, block_size,
                      scale_log2, out, ld_out, s);
}

bool tc_serves(DType dt, int head_dim) { return dt != DType::F32 && (head_dim == 64 || head_dim == 128); }

// cp.async moves 16-byte chunks and the output is stored in 4-byte pairs.
bool tc_aligned(const void* q, int ld_q, const void* k_cache, const void* v_cache, const void* out, int ld_out) {
  auto a16 = [](const void* p) { return ((uintptr_t)p & 15) == 0; };
  return a16(q) && a16(k_cache) && a16(v_cache) && ld_q % 8 == 0 && ((uintptr_t)out & 3) == 0 && ld_out % 2 == 0;
}


void check_shape(const char* who, int heads, int kv_heads, int block_size, int max_blocks) {
  if (heads <= 0 || kv_heads <= 0 || heads % kv_heads)
    throw std::invalid_argument(std::string(who) + ": kv_heads (" + std::to_string(kv_heads) + ") must divide heads (" + std::to_string(heads) + ")");
  if (block_size <= 0 || max_blocks <= 0) throw std::invalid_argument(std::string(who) + ": block_size and max_blocks must be positive");
}

// ---- CUDA cores -----------------------------------------------------------------------------

constexpr int PA_MAX_PER_LANE = 8;  // head_dim ≤ 256

template <typename T>
__global__ void paged_attention_warp_kernel(const T* __restrict__ q, int ld_q, int heads, int kv_heads, int d, const int* __restrict__ cu_q,
                                            const int* __restrict__ ctx_len, const int* __restrict__ token_seq, const T* __restrict__ k_cache,
                                            const T* __restrict__ v_cache, const int* __restrict__ block_tables, int max_blocks,
                                            int block_size, float scale, T* __restrict__ out, int ld_out, int T_) {
  const int warp = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (warp >= T_ * heads) return;
  const int t = warp / heads;
  const int h = warp % heads;
  const int s = token_seq[t];
  const int q_len = cu_q[s + 1] - cu_q[s];
  if (t - cu_q[s] >= q_len) return;  // padding row of a bucketed CUDA graph (the empty sequence n)
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

}  // namespace

// EMBEDRANK_PAGED_ATTENTION: unset, "" or "auto" = tensor cores where they serve; "warp" = the
// CUDA-core kernel always (A/B checks). Read on every call, so a process can switch.
bool paged_attention_forced_warp() {
  const char* e = std::getenv("EMBEDRANK_PAGED_ATTENTION");
  if (!e || !*e || !std::strcmp(e, "auto")) return false;
  if (!std::strcmp(e, "warp")) return true;
  throw std::invalid_argument(std::string("EMBEDRANK_PAGED_ATTENTION must be 'auto' or 'warp', not '") + e + "'");
}

int paged_attention_block_m(DType, int) {
  // The tensor-core kernel takes 64 query rows per tile; the warp kernel ignores tiles, so the
  // same tiles serve either path (EMBEDRANK_PAGED_ATTENTION may switch between calls).
  return kBM;
}

void paged_attention_order_tiles(int2* tiles_host, int ntiles, const int* cu_q_host, const int* ctx_len_host, int block_m) {
  auto keys = [&](int2 t) {
    const int q_len = cu_q_host[t.x + 1] - cu_q_host[t.x];
    return ctx_len_host[t.x] - q_len + std::min(t.y + block_m, q_len);
  };
  std::stable_sort(tiles_host, tiles_host + ntiles, [&](int2 a, int2 b) { return keys(a) > keys(b); });
}

void paged_attention_warp(DType dt, const void* q, int ld_q, int heads, int kv_heads, int head_dim, const int* cu_q, const int* ctx_len,
                          const int* token_seq, int T, const void* k_cache, const void* v_cache, const int* block_tables, int max_blocks,
                          int block_size, float scale, void* out, int ld_out, cudaStream_t s) {
  check_shape("paged_attention", heads, kv_heads, block_size, max_blocks);
  if (head_dim <= 0 || head_dim % 32 || head_dim / 32 > PA_MAX_PER_LANE)
    throw std::invalid_argument("paged_attention: head_dim must be a multiple of 32 up to 256, not " + std::to_string(head_dim));
  if (T == 0) return;
  const int threads = 128;
  const size_t warps = (size_t)T * heads;
  const int blocks = (int)((warps * 32 + threads - 1) / threads);
#define ER_PA(TY)                                                                                                                \
  paged_attention_warp_kernel<TY><<<blocks, threads, 0, s>>>((const TY*)q, ld_q, heads, kv_heads, head_dim, cu_q, ctx_len, token_seq, \
                                                             (const TY*)k_cache, (const TY*)v_cache, block_tables, max_blocks,         \
                                                             block_size, scale, (TY*)out, ld_out, T)
  switch (dt) {
    case DType::F32: ER_PA(float); break;
    case DType::F16: ER_PA(__half); break;
    case DType::BF16: ER_PA(__nv_bfloat16); break;
  }
#undef ER_PA
  ER_LAUNCH("paged_attention (warp)");
}

void paged_attention(DType dt, const void* q, int ld_q, int heads, int kv_heads, int head_dim, const int* cu_q, const int* ctx_len,
                     const int* token_seq, int T, const int2* tiles, int ntiles, const void* k_cache, const void* v_cache,
                     const int* block_tables, int max_blocks, int block_size, float scale, void* out, int ld_out, cudaStream_t s) {
  check_shape("paged_attention", heads, kv_heads, block_size, max_blocks);
  if (!tc_serves(dt, head_dim) || paged_attention_forced_warp() || !tc_aligned(q, ld_q, k_cache, v_cache, out, ld_out)) {
    paged_attention_warp(dt, q, ld_q, heads, kv_heads, head_dim, cu_q, ctx_len, token_seq, T, k_cache, v_cache, block_tables, max_blocks,
                         block_size, scale, out, ld_out, s);
    return;
  }
  if (T == 0) return;
  if (!tiles || ntiles <= 0)
    throw std::invalid_argument("paged_attention: no tiles for " + std::to_string(T) + " tokens (attention_tiles with paged_attention_block_m)");
  if ((long long)ntiles * heads > 0x7fffffffLL) throw std::invalid_argument("paged_attention: too many tiles × heads for one launch");
  const float sl2 = scale * 1.4426950408889634f;
  if (dt == DType::F16)
    dispatch_tc<__half>(head_dim, q, ld_q, heads, kv_heads, cu_q, ctx_len, tiles, ntiles, k_cache, v_cache, block_tables, max_blocks,
                        block_size, sl2, out, ld_out, s);
  else
    dispatch_tc<__nv_bfloat16>(head_dim, q, ld_q, heads, kv_heads, cu_q, ctx_len, tiles, ntiles, k_cache, v_cache, block_tables,
                               max_blocks, block_size, sl2, out, ld_out, s);
  ER_LAUNCH("paged_attention");
}

}  // namespace er
