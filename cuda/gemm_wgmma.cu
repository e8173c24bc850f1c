// Y = GELU(X·Wᵀ + b) with the exact (erf) GELU in the GEMM's epilogue, for Hopper: the FFN-up of
// BERT-family encoders. cuBLASLt fuses only the tanh approximation of GELU, which BERT checkpoints
// were not trained with; the separate bias+GELU pass costs a read and a write of the whole [T, I]
// intermediate (12.6% of a BERT-base batch at 32 × 512 on an H200).
//
// Status: an experiment (EMBEDRANK_FUSED_GELU=1), not the default. Measured on an H200
// (bench/gemm_gelu.cu, session 8): more exact than cuBLASLt + bias_gelu (one rounding instead of
// two: max relative error 5.8e-4 vs 1.3e-2 at fp16), but 14–28% slower than that pair. Its
// mainloop alone (no stores) takes 1.2–1.3× cuBLASLt's GEMM time in event timing (XLM-R-large's
// shape the most), 1.04× under ncu; the epilogue is not hidden: ~43 instructions per output value
// (erff, bias, packing, 4-byte store addressing) on one warpgroup outlast the other consumer's
// mainloop, so the turns serialise (ncu: SM 43%, L2 55%). Session 9 tried the epilogue on the
// producer warpgroup's idle warps, from a staging tile: slower still (1.27–1.60× the pair). Even a
// free epilogue would leave the mainloop's 128 × 128 tiles, which move twice the L2 bytes per
// product of cuBLASLt's 128 × 256 tiles with 2-CTA multicast (no-store variant 136 µs against
// cuBLASLt's 105 at 16,384 × 3,072 × 768 fp16), and 128 × 256 per consumer needs 256 fp32
// accumulator registers per thread, more than a thread has.
//
// Structure (CUTLASS's "warp-specialised ping-pong" schedule, as the attention kernel's roles):
//   - a persistent grid of one block per SM; block b takes output tiles b, b + G, b + 2G, … of
//     kBM × kBN, and its two consumer warpgroups take turns: consumer c owns the block's tiles
//     c, c + 2, …, and their mainloops alternate, so that one's epilogue (bias, erf, stores) runs
//     while the other's GEMMs keep the tensor cores busy — as long as the epilogue is the shorter
//     of the two, which it is not yet (see Status);
//   - warpgroup 0 is the producer: one thread issues TMA copies (128-byte swizzle) of the A (X) and
//     B (W) k-blocks of every tile, in the block's tile order, into a ring of kStages stages with
//     "full" and "empty" mbarriers; a consumer frees a stage when the wgmmas that read it are done;
//   - a consumer's tile is two m64n128k16 wgmma rows (64 rows each) over K in k-blocks of 64,
//     accumulated in fp32 registers (128 per thread); the epilogue adds the bias, applies GELU
//     and writes 16-bit pairs straight from the accumulator layout.
// Out-of-range rows of X (T not a multiple of kBM) and columns of K past its end arrive as zeros
// (TMA's fill); rows and columns past T and N are not written.
//
// The kernel body exists only in the sm_90a image (__CUDA_ARCH_FEAT_SM90_ALL); other images get an
// empty body, and linear_bias_gelu_wgmma_fits() says no on a device or build without the sm_90a one.
#include <algorithm>

#include "gemm_wgmma.h"
#include "hopper.h"
#include "wgmma.cuh"

namespace er {
namespace {

// Tile shapes: a consumer's tile is BM × BN, as BM / 64 wgmma rows of m64nBNk16; k-blocks of 64
// 16-bit values (one 128-byte swizzle row). A stage holds the A (X) rows and B (W) rows of one
// k-block; the ring takes what fits in ~200 KB of shared memory.
constexpr int kBK = 64;
constexpr int kConsumers = 2;
constexpr int kThreads = 128 * (1 + kConsumers);
template <int BM, int BN> struct Shape {
  static constexpr int a_bytes = BM * kBK * 2, stage_bytes = (BM + BN) * kBK * 2;
  static constexpr int stages = 200 * 1024 / stage_bytes;
  static constexpr int bar_off = stages * stage_bytes;
  static constexpr int nbars = 2 * stages;              // full, empty per stage
  static constexpr int bias_off = bar_off + nbars * 8;  // per consumer: BN / 2 float2
  static constexpr size_t smem = bias_off + kConsumers * BN * 4 + 1024;  // + slack to align the base to 1024
};

// The 128-byte swizzle repeats every 1024 bytes: both parts of every stage must start on such a boundary.
static_assert(Shape<128, 128>::a_bytes % 1024 == 0 && Shape<128, 128>::stage_bytes % 1024 == 0, "stage alignment");

// Epilogues: the product (kGelu), and two that exist only to time the kernel in parts
// (bench/gemm_gelu.cu): bias without GELU, and no stores at all. (Session 9 measured and removed a
// fourth: acc + bias staged in shared memory, GELU and 16-byte stores by the producer warpgroup's
// three idle warps; 1.27–1.60× the default pair's time, as three warps cannot keep up with the
// erf: bench/NOTES.md.)
enum Epilogue { kGelu = 0, kBiasOnly = 1, kNoStore = 2 };

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// Registers per thread after setmaxnreg: producer warpgroup, consumers (≤ 65,536 in all).
constexpr int kProducerRegs = 24;
constexpr int kConsumerRegs = 240;
constexpr int kTurnBar = 1;         // named barriers 1 and 2: the consumers' turns
constexpr int kBiasBar = 3;         // named barriers 3 and 4: a consumer's bias copy in shared memory

#endif

template <typename T, int BM, int BN, int EPI>
__global__ void __launch_bounds__(kThreads, 1)
    gemm_bias_gelu_kernel(const __grid_constant__ CUtensorMap map_x, const __grid_constant__ CUtensorMap map_w,
                          const T* __restrict__ bias, T* __restrict__ y, int M, int N, int K) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using S = Shape<BM, BN>;
  constexpr int kStages = S::stages, H = BM / 64;
  extern __shared__ unsigned char smem_raw[];
  unsigned char* base = reinterpret_cast<unsigned char*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
  uint64_t* full = reinterpret_cast<uint64_t*>(base + S::bar_off);
  uint64_t* empty = full + kStages;
  const int tiles_n = (N + BN - 1) / BN;
  const int tiles = (M + BM - 1) / BM * tiles_n;
  const int kblocks = (K + kBK - 1) / kBK;
  const int G = gridDim.x;
  const int wg = threadIdx.x / 128;
  // Output tile → its first row and column (tiles run along N first).
  auto origin = [&](int tile) { return int2{tile / tiles_n * BM, tile % tiles_n * BN}; };

  if (threadIdx.x == 0) {
    sm90::tma_prefetch_desc(&map_x);
    sm90::tma_prefetch_desc(&map_w);
    for (int s = 0; s < kStages; s++) {
      sm90::mbar_init(full + s, 1);
      sm90::mbar_init(empty + s, 128);  // every thread of the one consumer that read the stage
    }
    sm90::fence_barrier_init();
  }
  __syncthreads();

  if (wg == 0) {
    sm90::setmaxnreg_dec<kProducerRegs>();
    if (threadIdx.x == 0) {
      int n = 0;  // k-blocks loaded: the ring position
      for (int tile = blockIdx.x; tile < tiles; tile += G) {
        const auto [m0, n0] = origin(tile);
        for (int j = 0; j < kblocks; j++, n++) {
          const int s = n % kStages;
          if (n >= kStages) sm90::mbar_wait(empty + s, (n / kStages - 1) & 1);
          sm90::mbar_expect_tx(full + s, S::stage_bytes);
          unsigned char* st = base + s * S::stage_bytes;
          sm90::tma_load_2d(st, &map_x, j * kBK, m0, full + s);
          sm90::tma_load_2d(st + S::a_bytes, &map_w, j * kBK, n0, full + s);
        }
      }
    }
  } else {
    sm90::setmaxnreg_inc<kConsumerRegs>();
    const int c = wg - 1;
    const int t = threadIdx.x % 128, warp = t / 32, lane = t % 32, g = lane >> 2, tq = lane & 3;
    const uint32_t ring = sm90::smem_u32(base);
    // Turns (named barriers kTurnBar + c): a consumer waits for its turn before its mainloop and
    // passes it once it has waited for its last stage. Besides the ping-pong itself this keeps each
    // consumer's stage waits within one round of the ring: the full barriers count phases only by
    // parity, so a consumer running ahead into its next tile would see a stage two rounds early as
    // complete. Consumer 1 passes once at the start (consumer 0 goes first); the one whose turn is
    // still owed at the end takes it, so both barriers end balanced.
    auto take_turn = [&] { sm90::named_bar_sync(kTurnBar + c, 256); };
    auto pass_turn = [&] { sm90::named_bar_arrive(kTurnBar + (c ^ 1), 256); };
    if (c == 1) pass_turn();
    // The tile's bias as fp32 pairs in shared memory: loaded into a register when the mainloop
    // starts (its latency hidden behind the GEMMs) and stored after it, instead of 16–32 dependent
    // global loads per thread in the epilogue (measured: bias-only epilogue 161.8 → 156.2 µs at
    // 16,384 × 3,072 × 768; the full one did not get faster).
    float2* sbias = reinterpret_cast<float2*>(base + S::bias_off) + c * (BN / 2);
    float acc[H][BN / 2];
    // Block-local tile i (this consumer's: i ≡ c mod 2) starts at ring position i · kblocks.
    for (int i = c, tile = blockIdx.x + c * G; tile < tiles; i += kConsumers, tile += kConsumers * G) {
      const int pos0 = i * kblocks;  // ring position of the tile's first k-block
      const int2 o = origin(tile);
      const int bcol = o.y + 2 * t;  // this thread's bias pair (t < BN / 2)
      uint32_t braw = 0;
      if (EPI != kNoStore && t < BN / 2 && bcol < N) braw = __ldg(reinterpret_cast<const unsigned int*>(bias + bcol));
      take_turn();
      for (int j = 0; j < kblocks; j++) {
        const int s = (pos0 + j) % kStages;
        sm90::mbar_wait<false>(full + s, ((pos0 + j) / kStages) & 1);  // no trap counter: no register for it
#pragma unroll
        for (int h = 0; h < H; h++) sm90::fence_regs(acc[h]);
        sm90::wgmma_fence();
        const uint32_t a = ring + s * S::stage_bytes, b = a + S::a_bytes;
#pragma unroll
        for (int kk = 0; kk < kBK / 16; kk++) {  // 16 columns = 32 bytes inside the swizzled 128-byte rows
          const uint64_t db = sm90::desc_sw128(b + kk * 32, 16, 1024);
#pragma unroll
          for (int h = 0; h < H; h++) sm90::Wgmma<T>::ss(acc[h], sm90::desc_sw128(a + h * 64 * 128 + kk * 32, 16, 1024), db, (j | kk) != 0);
        }
        sm90::wgmma_commit();
        if (j + 1 == kblocks) pass_turn();
        sm90::wgmma_wait<1>();  // k-block j − 1's wgmmas are done: free its stage
#pragma unroll
        for (int h = 0; h < H; h++) sm90::fence_regs(acc[h]);
        if (j > 0) sm90::mbar_arrive(empty + (pos0 + j - 1) % kStages);
      }
      sm90::wgmma_wait<0>();
#pragma unroll
      for (int h = 0; h < H; h++) sm90::fence_regs(acc[h]);
      sm90::mbar_arrive(empty + (pos0 + kblocks - 1) % kStages);
      if constexpr (EPI != kNoStore) {
        sm90::named_bar_sync(kBiasBar + c, 128);  // the previous tile's epilogue has read sbias
        if (t < BN / 2) sbias[t] = sm90::Wgmma<T>::unpack(braw);
        sm90::named_bar_sync(kBiasBar + c, 128);
      }

      // Epilogue: thread holds, per 8-column chunk q, rows g and g + 8 of its warp's 16 at columns
      // 8q + 2tq and + 1 (wgmma.cuh's accumulator layout), in each 64-row part.
      const int row0 = o.x + warp * 16 + g, col0 = o.y + 2 * tq;
      if constexpr (EPI == kNoStore) {
        float sum = 0.f;
#pragma unroll
        for (int h = 0; h < H; h++)
#pragma unroll
          for (int v = 0; v < BN / 2; v++) sum += acc[h][v];
        if (sum == 1234.5f && row0 < M) y[(size_t)row0 * N] = (T)sum;  // keeps the products live
      } else {
#pragma unroll
        for (int q = 0; q < BN / 8; q++) {
          const int col = col0 + 8 * q;
          if (col >= N) continue;
          const float2 b2 = sbias[4 * q + tq];
#pragma unroll
          for (int h = 0; h < H; h++)
#pragma unroll
            for (int r = 0; r < 2; r++) {
              const int row = row0 + h * 64 + r * 8;
              if (row >= M) continue;
              float lo = acc[h][4 * q + 2 * r] + b2.x, hi = acc[h][4 * q + 2 * r + 1] + b2.y;
              if constexpr (EPI == kGelu) {
                lo = gelu_erf(lo);
                hi = gelu_erf(hi);
              }
              *reinterpret_cast<uint32_t*>(y + (size_t)row * N + col) = sm90::Wgmma<T>::pack(lo, hi);
            }
        }
      }
    }
    // Block tiles: consumer 0 has as many as consumer 1 or one more. Equal: consumer 1's first pass
    // is still owed to consumer 0; one more: consumer 0's last pass is owed to consumer 1.
    const int block_tiles = tiles > (int)blockIdx.x ? (tiles - 1 - (int)blockIdx.x) / G + 1 : 0;
    if ((block_tiles % 2 == 0) == (c == 0)) take_turn();
  }
#endif
}

template <typename T, int BM, int BN, int EPI>
void launch(DType dt, const void* X, int M, int K, const void* W, int N, const void* bias, void* y, cudaStream_t s) {
  using S = Shape<BM, BN>;
  // The epilogues write pairs checked by their first column only.
  if (N % 8 || K % 8) throw std::runtime_error("linear+GELU (wgmma): N and K must be multiples of 8");
  const CUtensorMap mx = tensor_map_2d(dt, X, K, M, K, kBK, BM, "linear+GELU (wgmma) X");
  const CUtensorMap mw = tensor_map_2d(dt, W, K, N, K, kBK, BN, "linear+GELU (wgmma) W");
  allow_dynamic_smem((const void*)gemm_bias_gelu_kernel<T, BM, BN, EPI>, S::smem);
  const int tiles = (M + BM - 1) / BM * ((N + BN - 1) / BN);
  const int blocks = std::min(tiles, multiprocessors());
  gemm_bias_gelu_kernel<T, BM, BN, EPI><<<blocks, kThreads, S::smem, s>>>(mx, mw, (const T*)bias, (T*)y, M, N, K);
  ER_LAUNCH("linear_bias_gelu_wgmma");
}

}  // namespace

bool linear_bias_gelu_wgmma_fits(DType dt, int K, int N, const void* X, const void* W, const void* bias, const void* Y, int device) {
  auto aligned = [](const void* p, int a) { return reinterpret_cast<uintptr_t>(p) % a == 0; };
  return dt != DType::F32 && K > 0 && N > 0 && K % 8 == 0 && N % 8 == 0 && aligned(X, 16) && aligned(W, 16) && aligned(bias, 4) &&
         aligned(Y, 16) && hopper_kernels_usable(device);
}

void linear_bias_gelu_wgmma(DType dt, const void* X, int T, int K, const void* W, int N, const void* bias, void* Y, cudaStream_t s) {
  if (T == 0) return;
  int device = 0;
  ER_CHECK(cudaGetDevice(&device));
  if (!linear_bias_gelu_wgmma_fits(dt, K, N, X, W, bias, Y, device))
    throw std::runtime_error("linear+GELU (wgmma): needs fp16/bf16, K and N positive multiples of 8 (K " + std::to_string(K) + ", N " +
                             std::to_string(N) + "), 16-byte aligned X, W, Y and a 4-byte aligned bias, on a compute capability 9.0 "
                             "GPU with the sm_90a image built");
  if (dt == DType::BF16) launch<__nv_bfloat16, 128, 128, kGelu>(dt, X, T, K, W, N, bias, Y, s);
  else launch<__half, 128, 128, kGelu>(dt, X, T, K, W, N, bias, Y, s);
}

}  // namespace er
