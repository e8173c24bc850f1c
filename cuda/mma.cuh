// Tensor-core building blocks shared by the FlashAttention-style kernels (attention.cu,
// paged_attention.cu): cp.async 16-byte copies into shared memory, ldmatrix, mma.sync m16n8k16 with
// fp32 accumulation, and packing two floats into one 16-bit pair register. sm_80 and later.
#pragma once
#include "common.cuh"

namespace er {

__device__ __forceinline__ uint32_t smem_addr(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }

// 16 bytes global → shared, bypassing L1 (both addresses 16-byte aligned).
__device__ __forceinline__ void cp_async16(void* dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_addr(dst)), "l"(src));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

// Four 8×8 b16 matrices; lane i gives the row address of matrix i / 8, row i % 8.
__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
// The same, each matrix transposed.
__device__ __forceinline__ void ldsm_x4_t(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}

// c (16×8, fp32) += a (16×16, row) · b (16×8, col) in T = __half or __nv_bfloat16.
template <typename T> __device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
template <> __device__ __forceinline__ void mma16816<__half>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <> __device__ __forceinline__ void mma16816<__nv_bfloat16>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// (lo, hi) rounded to T, lo in the low half.
template <typename T> __device__ __forceinline__ uint32_t pack2(float lo, float hi);
template <> __device__ __forceinline__ uint32_t pack2<__half>(float lo, float hi) {
  __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&h);
}
template <> __device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
  __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&h);
}

// FlashAttention-2's two per-tile steps for one warp's 16 query rows in the mma.sync fragment layout
// (this lane holds rows g = lane / 4 and g + 8: values 0, 1 and 2, 3 of each 8-column group), over a
// tile of BN keys whose K and V rows sit in shared memory at row stride LDS:
//   attn_scores_tile: s = Q · Kᵀ (raw, unscaled) from the Q fragments qf;
//   attn_softmax_pv_tile: given the scores already scaled to the log2 domain and masked (−∞), and
//   mx, this lane's row maxima of the tile, update the running max / sum, rescale o and add P · V.
template <typename T, int D, int BN, int LDS>
__device__ __forceinline__ void attn_scores_tile(float (&s)[BN / 8][4], const uint32_t (&qf)[D / 16][4], const T* ks, int lane) {
#pragma unroll
  for (int i = 0; i < BN / 8; i++) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.f;
#pragma unroll
  for (int kk = 0; kk < D / 16; kk++) {
#pragma unroll
    for (int nn = 0; nn < BN / 16; nn++) {
      uint32_t b[4];
      ldsm_x4(b, ks + (nn * 16 + (lane & 7) + (lane >> 4) * 8) * LDS + kk * 16 + ((lane >> 3) & 1) * 8);
      mma16816<T>(s[2 * nn], qf[kk], b[0], b[1]);
      mma16816<T>(s[2 * nn + 1], qf[kk], b[2], b[3]);
    }
  }
}

template <typename T, int D, int BN, int LDS>
__device__ __forceinline__ void attn_softmax_pv_tile(float (&s)[BN / 8][4], float (&mx)[2], float (&m_run)[2], float (&l_run)[2],
                                                     float (&o)[D / 8][4], const T* vs, int lane) {
  float alpha[2];
#pragma unroll
  for (int r = 0; r < 2; r++) {
    mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
    mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
    const float m_new = fmaxf(m_run[r], mx[r]);
    alpha[r] = exp2f(m_run[r] - m_new);
    m_run[r] = m_new;
    l_run[r] *= alpha[r];
  }
#pragma unroll
  for (int nt = 0; nt < BN / 8; nt++) {
#pragma unroll
    for (int e = 0; e < 4; e++) {
      const float p = exp2f(s[nt][e] - m_run[e >> 1]);
      s[nt][e] = p;
      l_run[e >> 1] += p;
    }
  }
#pragma unroll
  for (int dn = 0; dn < D / 8; dn++) {
    o[dn][0] *= alpha[0];
    o[dn][1] *= alpha[0];
    o[dn][2] *= alpha[1];
    o[dn][3] *= alpha[1];
  }
#pragma unroll
  for (int t = 0; t < BN / 16; t++) {
    uint32_t a[4];
    a[0] = pack2<T>(s[2 * t][0], s[2 * t][1]);
    a[1] = pack2<T>(s[2 * t][2], s[2 * t][3]);
    a[2] = pack2<T>(s[2 * t + 1][0], s[2 * t + 1][1]);
    a[3] = pack2<T>(s[2 * t + 1][2], s[2 * t + 1][3]);
#pragma unroll
    for (int dn = 0; dn < D / 16; dn++) {
      uint32_t b[4];
      ldsm_x4_t(b, vs + (t * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LDS + dn * 16 + (lane >> 4) * 8);
      mma16816<T>(o[2 * dn], a, b[0], b[1]);
      mma16816<T>(o[2 * dn + 1], a, b[2], b[3]);
    }
  }
}

}  // namespace er
