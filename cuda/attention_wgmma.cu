// Variable-length, non-causal attention for Hopper, FlashAttention-3 style (Shah et al., 2024):
// fp16/bf16, head_dim 64 or 128. One block owns 128 query rows of one (sequence, head):
//   - warpgroup 0 is the producer: one thread issues TMA tile copies (cp.async.bulk.tensor, 128-byte
//     swizzle) of Q once and of K and V per 128-key tile into a ring (4 stages at head_dim 64, 2 at
//     128), each stage with "K full", "V full", "K empty" and "V empty" mbarriers; it gives its
//     registers away (setmaxnreg.dec). A tile's K is released as soon as S = Q·Kᵀ of it is done and
//     its V when P·V is, so the copy of K(j+1) is not waited for at the top of every tile (with one
//     "empty" barrier per stage and 2 stages it was: K(j+1)'s slot freed only when tile j−1 ended).
//   - warpgroups 1 and 2 are consumers with 64 query rows each (setmaxnreg.inc): S = Q·Kᵀ by wgmma
//     from shared memory, online softmax in fp32 registers (log2 domain), O += P·V by wgmma with P
//     straight from registers and V read transposed from shared memory. S of the next tile is issued
//     before P·V of this one, so its softmax overlaps that GEMM (FA3's intra-warpgroup overlap).
//   - with kPingPong, the two consumers take turns to issue their GEMMs (two named barriers, FA3's
//     inter-warpgroup "ping-pong"): one warpgroup's softmax then runs while the other's GEMMs keep
//     the tensor cores busy, instead of both reaching their softmax together.
// The tensor map spans the whole [tokens, ld] qkv matrix, so a tile that runs past its sequence
// reads the next sequence's rows (or zeros past the last token): their scores are masked to −∞ and
// their P is exactly 0; rows of Q past the sequence are computed and not written.
//
// The kernel body exists only in the sm_90a image (__CUDA_ARCH_FEAT_SM90_ALL); other images get an
// empty body, and attention_wgmma_require() refuses a device or build without the sm_90a image.
#include <algorithm>
#include <cfloat>

#include "attention_wgmma.h"
#include "hopper.h"
#include "wgmma.cuh"

namespace er {
namespace {

constexpr int kBM = kWgmmaBlockM;  // query rows per block
constexpr int kBN = 128;           // keys per tile
constexpr int kConsumers = 2;      // warpgroups of 64 query rows
constexpr int kThreads = 128 * (1 + kConsumers);
constexpr int kBox = 64;           // TMA box: 64 rows × 64 columns (128 bytes: one swizzle row)

// Shared memory (byte offsets from a 1024-byte aligned base). A tile of R rows × D columns is
// stored as D/64 column blocks of [R rows][64 columns], each row 128 bytes, 128-byte swizzled:
// the canonical K-major layout for Q and K, and the MN-major one (transposed read) for V.
template <int D> struct Layout {
  static constexpr int stages = D == 64 ? 4 : 2;  // 144 KB at 64; 160 KB at 128 (3 would be 224 KB)
  static constexpr int q_bytes = kBM * D * 2;
  static constexpr int kv_bytes = kBN * D * 2;  // one K or one V tile
  static constexpr int k_off = q_bytes;
  static constexpr int v_off = k_off + stages * kv_bytes;
  static constexpr int bar_off = v_off + stages * kv_bytes;
  static constexpr int nbars = 2 + 4 * stages;  // Q full, Q empty, then K full, V full, K empty, V empty per stage
  static constexpr size_t bytes = bar_off + nbars * 8 + 1024;  // + slack to align the base
};

// Device-side pieces exist only in the sm_90a pass (the other passes compile an empty kernel).
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
constexpr int kBoxBytes = kBox * kBox * 2;
constexpr int kProducerRegs = 24;
constexpr int kConsumerRegs = 240;  // 24·128 + 240·256 ≤ 65,536

// One consumer warpgroup's online softmax over a finished S tile (in place: S becomes P in fp32).
// Row r of this thread is g (values e = 0, 1) or g + 8 (e = 2, 3) of its warp's 16 rows. The
// maximum is taken over raw scores and the scale folded into one FFMA per score before exp2
// (scale_log2 > 0, so the arg-max is the same); m_run is kept in the scaled log2 domain.
__device__ __forceinline__ void softmax_tile(float (&s)[kBN / 2], int kbase, int len, float scale_log2, float (&m_run)[2],
                                             float (&l_run)[2], float (&alpha)[2], int lane) {
  if (kbase + kBN > len) {
#pragma unroll
    for (int nt = 0; nt < kBN / 8; nt++)
#pragma unroll
      for (int e = 0; e < 4; e++)
        if (kbase + nt * 8 + 2 * (lane & 3) + (e & 1) >= len) s[4 * nt + e] = -INFINITY;
  }
  float mx[2] = {-FLT_MAX, -FLT_MAX};
#pragma unroll
  for (int nt = 0; nt < kBN / 8; nt++)
#pragma unroll
    for (int e = 0; e < 4; e++) mx[e >> 1] = fmaxf(mx[e >> 1], s[4 * nt + e]);
  float neg_m[2];
#pragma unroll
  for (int r = 0; r < 2; r++) {
    mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
    mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
    const float m_new = fmaxf(m_run[r], mx[r] * scale_log2);  // finite: every tile has a key < len
    alpha[r] = exp2f(m_run[r] - m_new);
    m_run[r] = m_new;
    l_run[r] *= alpha[r];
    neg_m[r] = -m_new;
  }
#pragma unroll
  for (int nt = 0; nt < kBN / 8; nt++) {
#pragma unroll
    for (int e = 0; e < 4; e++) {
      const float p = exp2f(fmaf(s[4 * nt + e], scale_log2, neg_m[e >> 1]));
      s[4 * nt + e] = p;
      l_run[e >> 1] += p;
    }
  }
}

// Named barriers of the ping-pong: consumer c waits on kTurnBar + c for its turn to issue.
constexpr int kTurnBar = 1;
#endif

// A persistent grid of one block per SM: each block runs a list of work items, so the producer
// loads the next item's K, Q and V while the consumers finish this one (with one item per block,
// each block's first copies and last P·V and stores were exposed: 4 key tiles per item at length
// 512). Work item w (0 ≤ w < nwork = tiles × heads) is tile w / heads of head w % heads; with the
// tile list longest first (attention_tiles), w runs from the costliest items to the cheapest, and
// block b takes one item per round r, w = r·G + (r even ? b : G − 1 − b) for G blocks: dealt in a
// snake, the rounds' costs even out across blocks for ragged batches (in plain round-robin order
// the blocks with the long items of every round finish last).
template <typename T, int D, bool kPingPong>
__global__ void __launch_bounds__(kThreads, 1)
    attn_wgmma_kernel(const __grid_constant__ CUtensorMap tmap, int hidden, const int* __restrict__ cu,
                      const int2* __restrict__ tiles, int heads, int nwork, float scale_log2, T* __restrict__ out,
                      int ld_out) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using L = Layout<D>;
  constexpr int DB = D / 64;  // 64-column blocks per row
  constexpr int kStages = L::stages;
  extern __shared__ unsigned char smem_raw[];
  unsigned char* base = reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
  unsigned char* sQ = base;
  unsigned char* sK = base + L::k_off;
  unsigned char* sV = base + L::v_off;
  uint64_t* bars = reinterpret_cast<uint64_t*>(base + L::bar_off);
  uint64_t* q_full = bars;
  uint64_t* q_empty = bars + 1;
  uint64_t* k_full = bars + 2;
  uint64_t* v_full = bars + 2 + kStages;
  uint64_t* k_empty = bars + 2 + 2 * kStages;
  uint64_t* v_empty = bars + 2 + 3 * kStages;
  const int wg = threadIdx.x / 128;

  // One work item: its sequence's first row and length, its first query row and head. Surplus
  // tiles of a bucketed CUDA graph (empty sequences) have q0 ≥ len and are skipped by every role.
  struct Item {
    int start, len, q0, head, nk;
  };
  const int G = gridDim.x, b = blockIdx.x;
  auto work = [&](int r) { return r * G + ((r & 1) ? G - 1 - b : b); };  // ≥ nwork: no more
  auto item = [&](int w) {
    const int2 tile = tiles[w / heads];
    Item it;
    it.head = w % heads;
    it.start = __ldg(cu + tile.x);
    it.len = __ldg(cu + tile.x + 1) - it.start;
    it.q0 = tile.y;
    it.nk = (it.len + kBN - 1) / kBN;
    return it;
  };

  if (threadIdx.x == 0) {
    sm90::tma_prefetch_desc(&tmap);
    sm90::mbar_init(q_full, 1);
    sm90::mbar_init(q_empty, 128 * kConsumers);
    for (int s = 0; s < kStages; s++) {
      sm90::mbar_init(k_full + s, 1);
      sm90::mbar_init(v_full + s, 1);
      sm90::mbar_init(k_empty + s, 128 * kConsumers);
      sm90::mbar_init(v_empty + s, 128 * kConsumers);
    }
    sm90::fence_barrier_init();
  }
  __syncthreads();

  if (wg == 0) {
    sm90::setmaxnreg_dec<kProducerRegs>();
    if (threadIdx.x == 0) {
      int kv = 0;     // K/V tiles this block has loaded: the ring position
      int items = 0;  // items this block has loaded Q for
      // Tile j of the item's K (column block `hidden`) or V (2·hidden) into its ring slot, once the
      // consumers have released that slot's previous tile.
      auto load_tile = [&](uint64_t* full, uint64_t* empty, unsigned char* ring, int col0, const Item& it, int j) {
        const int n = kv + j, s = n % kStages, round = n / kStages;
        if (round > 0) sm90::mbar_wait(empty + s, (round - 1) & 1);
        sm90::mbar_expect_tx(full + s, L::kv_bytes);
        unsigned char* dst = ring + s * L::kv_bytes;
#pragma unroll
        for (int b = 0; b < DB; b++)
#pragma unroll
          for (int c = 0; c < kBN / kBox; c++)
            sm90::tma_load_2d(dst + b * kBN * 128 + c * kBoxBytes, &tmap, col0 + it.head * D + b * 64, it.start + j * kBN + c * kBox,
                              full + s);
      };
      auto load_k = [&](const Item& it, int j) { load_tile(k_full, k_empty, sK, hidden, it, j); };
      auto load_v = [&](const Item& it, int j) { load_tile(v_full, v_empty, sV, 2 * hidden, it, j); };
      for (int r = 0, w; (w = work(r)) < nwork; r++) {
        const Item it = item(w);
        if (it.q0 >= it.len) continue;
        // K(0) first: its slot frees early; Q waits until the consumers' last S of the previous item.
        load_k(it, 0);
        if (items > 0) sm90::mbar_wait(q_empty, (items - 1) & 1);
        sm90::mbar_expect_tx(q_full, L::q_bytes);
#pragma unroll
        for (int b = 0; b < DB; b++)
#pragma unroll
          for (int c = 0; c < kBM / kBox; c++)
            sm90::tma_load_2d(sQ + b * kBM * 128 + c * kBoxBytes, &tmap, it.head * D + b * 64, it.start + it.q0 + c * kBox,
                              q_full);
        load_v(it, 0);
        for (int j = 1; j < it.nk; j++) {
          load_k(it, j);
          load_v(it, j);
        }
        kv += it.nk;
        items++;
      }
    }
  } else {
    sm90::setmaxnreg_inc<kConsumerRegs>();
    const int cw = wg - 1;
    const int t = threadIdx.x % 128, warp = t / 32, lane = t % 32;
    const uint32_t q_addr = sm90::smem_u32(sQ) + cw * 64 * 128;
    const uint32_t k_addr = sm90::smem_u32(sK);
    const uint32_t v_addr = sm90::smem_u32(sV);

    // The waits come before wgmma.fence, so no register traffic sits between fence and MMAs. At
    // head_dim 128 the consumers have no register left for the hang-trap counter (168 at entry
    // caps them; setmaxnreg.inc does not raise ptxas's budget): they spin, and rely on the
    // producer's trapping waits.
    constexpr bool kTrap = D <= 64;
    int kv = 0, items = 0;  // as the producer counts them
    auto wait_k = [&](int j) { sm90::mbar_wait<kTrap>(k_full + (kv + j) % kStages, ((kv + j) / kStages) & 1); };
    auto wait_v = [&](int j) { sm90::mbar_wait<kTrap>(v_full + (kv + j) % kStages, ((kv + j) / kStages) & 1); };
    auto release_k = [&](int j) { sm90::mbar_arrive(k_empty + (kv + j) % kStages); };
    auto release_v = [&](int j) { sm90::mbar_arrive(v_empty + (kv + j) % kStages); };

    // Ping-pong turns (FA3's warp-scheduler barriers): each consumer waits on its own barrier before
    // issuing a group of GEMMs and arrives at the other's after (256 threads each), so the two
    // alternate over every group of every item both have rows in. Consumer 1 arrives once at the
    // start (consumer 0 goes first) and consumer 0 waits once at the end, so both barriers end
    // balanced. Items where one consumer has no rows skip the turns; the other issues freely.
    if (kPingPong && cw == 1) sm90::named_bar_arrive(kTurnBar, 256);

    for (int r = 0, w; (w = work(r)) < nwork; r++) {
      const Item it = item(w);
      if (it.q0 >= it.len) continue;
      const int len = it.len, ntiles = it.nk;
      if (it.q0 + cw * 64 >= len) {
        // No query row of this warpgroup is in the sequence: only keep the ring turning.
        for (int j = 0; j < ntiles; j++) {
          wait_k(j);
          release_k(j);
          wait_v(j);
          release_v(j);
        }
        sm90::mbar_arrive(q_empty);
        kv += ntiles;
        items++;
        continue;
      }
      const bool turns = kPingPong && it.q0 + 64 < len;
      auto take_turn = [&] {
        if (turns) sm90::named_bar_sync(kTurnBar + cw, 256);
      };
      auto pass_turn = [&] {
        if (turns) sm90::named_bar_arrive(kTurnBar + (cw ^ 1), 256);
      };

      float s_acc[kBN / 2];
      float o[D / 2];
#pragma unroll
      for (int i = 0; i < D / 2; i++) o[i] = 0.f;
      uint32_t p[kBN / 16][4];
      float m_run[2] = {-FLT_MAX, -FLT_MAX};
      float l_run[2] = {0.f, 0.f};
      float alpha[2];

      // S = Q·Kᵀ for tile j (K landed): D/16 k-steps of 16 columns (32 bytes) inside the 128-byte swizzled rows.
      auto issue_qk = [&](int j) {
        const int s = (kv + j) % kStages;
#pragma unroll
        for (int kk = 0; kk < D / 16; kk++) {
          const uint32_t off = (kk % 4) * 32;  // within the 128-byte swizzled row
          const uint64_t da = sm90::desc_sw128(q_addr + (kk / 4) * kBM * 128 + off, 16, 1024);
          const uint64_t db = sm90::desc_sw128(k_addr + s * L::kv_bytes + (kk / 4) * kBN * 128 + off, 16, 1024);
          sm90::Wgmma<T>::ss(s_acc, da, db, kk > 0);
        }
        sm90::wgmma_commit();
      };
      // O += P·V for tile j (V landed): kBN/16 k-steps of 16 keys (16 rows of 128 bytes = 2048 bytes).
      auto issue_pv = [&](int j) {
        const int s = (kv + j) % kStages;
#pragma unroll
        for (int kk = 0; kk < kBN / 16; kk++) {
          const uint64_t db = sm90::desc_sw128(v_addr + s * L::kv_bytes + kk * 16 * 128, kBN * 128, 1024);
          sm90::Wgmma<T>::rs(o, p[kk], db);
        }
        sm90::wgmma_commit();
      };
      auto pack_p = [&] {
#pragma unroll
        for (int kk = 0; kk < kBN / 16; kk++) {
          p[kk][0] = sm90::Wgmma<T>::pack(s_acc[8 * kk + 0], s_acc[8 * kk + 1]);
          p[kk][1] = sm90::Wgmma<T>::pack(s_acc[8 * kk + 2], s_acc[8 * kk + 3]);
          p[kk][2] = sm90::Wgmma<T>::pack(s_acc[8 * kk + 4], s_acc[8 * kk + 5]);
          p[kk][3] = sm90::Wgmma<T>::pack(s_acc[8 * kk + 6], s_acc[8 * kk + 7]);
        }
      };

      sm90::mbar_wait<kTrap>(q_full, items & 1);
      wait_k(0);
      take_turn();
      sm90::fence_regs(s_acc);
      sm90::fence_regs(o);
      sm90::wgmma_fence();
      issue_qk(0);
      pass_turn();
      sm90::wgmma_wait<0>();
      sm90::fence_regs(s_acc);
      release_k(0);
      softmax_tile(s_acc, 0, len, scale_log2, m_run, l_run, alpha, lane);
      pack_p();

      // Steady state, no wgmma under a branch (a conditional one makes ptxas serialise them all).
      for (int j = 0; j + 1 < ntiles; j++) {
        wait_k(j + 1);
        wait_v(j);
        take_turn();
        sm90::fence_regs(o);
        sm90::fence_regs(s_acc);
        sm90::fence_regs(p);
        sm90::wgmma_fence();
        issue_qk(j + 1);
        issue_pv(j);
        pass_turn();
        sm90::wgmma_wait<1>();  // S(j+1) is done; P(j)·V(j) may still run
        sm90::fence_regs(s_acc);
        release_k(j + 1);
        softmax_tile(s_acc, (j + 1) * kBN, len, scale_log2, m_run, l_run, alpha, lane);
        sm90::wgmma_wait<0>();
        sm90::fence_regs(o);
        release_v(j);
#pragma unroll
        for (int i = 0; i < D / 8; i++) {
          o[4 * i + 0] *= alpha[0];
          o[4 * i + 1] *= alpha[0];
          o[4 * i + 2] *= alpha[1];
          o[4 * i + 3] *= alpha[1];
        }
        pack_p();
      }
      sm90::mbar_arrive(q_empty);  // every S of this item is done: the next item's Q may land
      wait_v(ntiles - 1);
      take_turn();
      sm90::fence_regs(o);
      sm90::fence_regs(p);
      sm90::wgmma_fence();
      issue_pv(ntiles - 1);
      pass_turn();
      sm90::wgmma_wait<0>();
      sm90::fence_regs(o);
      release_v(ntiles - 1);

#pragma unroll
      for (int r = 0; r < 2; r++) {
        l_run[r] += __shfl_xor_sync(0xffffffffu, l_run[r], 1);
        l_run[r] += __shfl_xor_sync(0xffffffffu, l_run[r], 2);
      }
      const int g = lane >> 2, tg = lane & 3;
#pragma unroll
      for (int r = 0; r < 2; r++) {
        const int q = it.q0 + cw * 64 + warp * 16 + g + r * 8;
        if (q >= len) continue;
        const float inv = 1.f / l_run[r];
        T* dst = out + (size_t)(it.start + q) * ld_out + it.head * D + 2 * tg;
#pragma unroll
        for (int i = 0; i < D / 8; i++)
          *reinterpret_cast<uint32_t*>(dst + i * 8) = sm90::Wgmma<T>::pack(o[4 * i + 2 * r] * inv, o[4 * i + 2 * r + 1] * inv);
      }
      kv += ntiles;
      items++;
    }
    if (kPingPong && cw == 0) sm90::named_bar_sync(kTurnBar, 256);
  }
#endif
}

// qkv as a 2-D tensor [tokens rows, ld columns], 64 × 64 boxes.
CUtensorMap make_map(DType dt, const void* qkv, int ld, int tokens) {
  return tensor_map_2d(dt, qkv, ld, tokens, ld, kBox, kBox, "attention (wgmma)");
}

// EMBEDRANK_WGMMA_PINGPONG=0 turns the consumers' ping-pong off and EMBEDRANK_WGMMA_PERSISTENT=0
// gives every work item a block of its own (the grid before the persistent one), for same-run
// comparisons; both are read once.
bool pingpong_from_env() {
  static const bool on = env_flag("EMBEDRANK_WGMMA_PINGPONG", true);
  return on;
}
bool persistent_from_env() {
  static const bool on = env_flag("EMBEDRANK_WGMMA_PERSISTENT", true);
  return on;
}

template <typename T, int D, bool kPingPong>
void launch(const CUtensorMap& map, int heads, const int* cu, const int2* tiles, int ntiles, float sl2, void* out, int ld_out,
            cudaStream_t s) {
  constexpr size_t smem = Layout<D>::bytes;
  allow_dynamic_smem((const void*)attn_wgmma_kernel<T, D, kPingPong>, smem);
  const int nwork = ntiles * heads;
  const int blocks = persistent_from_env() ? std::min(nwork, multiprocessors()) : nwork;
  attn_wgmma_kernel<T, D, kPingPong><<<blocks, kThreads, smem, s>>>(map, heads * D, cu, tiles, heads, nwork, sl2, (T*)out, ld_out);
}

}  // namespace

void attention_wgmma_require(int device) {
  if (!hopper_kernels_usable(device))
    throw std::runtime_error("EMBEDRANK_ATTENTION=wgmma needs a compute capability 9.0 GPU (H100/H200) and an addon whose "
                             "Hopper kernel files were built with -gencode=arch=compute_90a,code=sm_90a (scripts/build-cuda.sh "
                             "adds it); use EMBEDRANK_ATTENTION=mma");
}

void attention_wgmma(DType dt, const void* qkv, int ld_qkv, int tokens, int heads, int head_dim, const int* cu,
                     const int2* tiles, int ntiles, float scale_log2, void* out, int ld_out, cudaStream_t s) {
  if (ntiles == 0) return;
  if (dt == DType::F32) throw std::runtime_error("attention (wgmma): fp16 and bf16 only");
  const CUtensorMap map = make_map(dt, qkv, ld_qkv, tokens);
  if (head_dim != 64 && head_dim != 128)
    throw std::runtime_error("attention (wgmma): head_dim " + std::to_string(head_dim) + " is not supported (64, 128)");
  const bool bf = dt == DType::BF16, d64 = head_dim == 64, pp = pingpong_from_env();
  using Launch = void (*)(const CUtensorMap&, int, const int*, const int2*, int, float, void*, int, cudaStream_t);
  // [bf16][head_dim 128][ping-pong]
  static const Launch table[2][2][2] = {
      {{launch<__half, 64, false>, launch<__half, 64, true>}, {launch<__half, 128, false>, launch<__half, 128, true>}},
      {{launch<__nv_bfloat16, 64, false>, launch<__nv_bfloat16, 64, true>},
       {launch<__nv_bfloat16, 128, false>, launch<__nv_bfloat16, 128, true>}}};
  table[bf][!d64][pp](map, heads, cu, tiles, ntiles, scale_log2, out, ld_out, s);
}

}  // namespace er
