// The Hopper varlen attention kernel (attention_wgmma.cu), reached only through attention() in
// attention.cu, which picks it for fp16/bf16 at head_dim 64/128 when AttentionKernel::Wgmma is asked for.
#pragma once
#include "common.cuh"

namespace er {

// Query rows per tile (two consumer warpgroups × 64).
constexpr int kWgmmaBlockM = 128;

// Throws std::runtime_error unless `device` can run the kernel: compute capability 9.0 and an
// sm_90a image of attention_wgmma.cu in this build (a probe kernel is launched once per device,
// so call this before any stream capture).
void attention_wgmma_require(int device);

// Same contract as attention() (ops.h) for fp16/bf16 and head_dim 64 or 128; tiles from
// attention_tiles with kWgmmaBlockM rows; tokens = cu[nseq] (rows of qkv the tensor map may read).
// qkv must be 16-byte aligned and ld_qkv·2 bytes a multiple of 16 (TMA's rules).
void attention_wgmma(DType dt, const void* qkv, int ld_qkv, int tokens, int heads, int head_dim, const int* cu,
                     const int2* tiles, int ntiles, float scale_log2, void* out, int ld_out, cudaStream_t s);

}  // namespace er
