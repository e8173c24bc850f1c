// Residual add (plus the bias of the preceding row-parallel GEMM, added once after the
// all-reduce) fused with LayerNorm. Writing in place over the residual is safe: each block
// reads its whole row before it writes. With resid_f32 the residual comes from (and the result
// also goes to) an fp32 copy of the stream, so only the GEMM inputs are rounded to 16 bits.
// Under quantization fp8 both kernels also write the next linear's e4m3 input, quantised per row
// from the fp32 LayerNorm values (never from the rounded 16-bit output), so the two paths agree.
#include <cuda_fp8.h>

#include "layernorm.cuh"
#include "ops.h"

namespace er {

template <typename T>
__global__ void add_ln_kernel(const T* __restrict__ x, const T* __restrict__ bias, const T* residual,
                              const float* __restrict__ gamma, const float* __restrict__ beta, float eps, int H,
                              T* out, float* resid_f32, uint8_t* __restrict__ fq, float* __restrict__ fq_scale) {
  __shared__ float scratch[33];
  const int t = blockIdx.x;
  const int c = threadIdx.x * 4;
  const bool active = c < H;
  float v[4] = {0.f, 0.f, 0.f, 0.f};
  if (active) {
    float a[4], r[4];
    load4<T>(x + (size_t)t * H + c, a);
    if (resid_f32) {
      *reinterpret_cast<float4*>(r) = *reinterpret_cast<const float4*>(resid_f32 + (size_t)t * H + c);
    } else {
      load4<T>(residual + (size_t)t * H + c, r);
    }
#pragma unroll
    for (int i = 0; i < 4; i++) v[i] = a[i] + r[i];
    if (bias) {
      float b[4];
      load4<T>(bias + c, b);
#pragma unroll
      for (int i = 0; i < 4; i++) v[i] += b[i];
    }
  }
  float o[4] = {0.f, 0.f, 0.f, 0.f};
  layernorm_store<T>(v, active, H, gamma, beta, eps, out + (size_t)t * H, c, scratch,
                     resid_f32 ? resid_f32 + (size_t)t * H : nullptr, o);
  if (!fq) return;  // uniform over the block: the barriers in block_max are reached by all or none
  // The next linear's e4m3 input, quantised as quantize_fp8_rows does (ops.h), from the fp32 row:
  // quantising the 16-bit output instead put the scale off by that rounding (up to 2^-9 of
  // amax in bf16), which the GPU suite caught at H = 2048.
  float amax = fmaxf(fmaxf(fabsf(o[0]), fabsf(o[1])), fmaxf(fabsf(o[2]), fabsf(o[3])));
  amax = block_max(amax, scratch);
  const float sc = amax > 0.f ? amax / 448.f : 1.f, inv = 1.f / sc;
  if (threadIdx.x == 0) fq_scale[t] = sc;
  if (active) {
    uint32_t w = 0u;
#pragma unroll
    for (int k = 0; k < 4; k++) w |= (uint32_t)__nv_cvt_float_to_fp8(o[k] * inv, __NV_SATFINITE, __NV_E4M3) << (8 * k);
    *reinterpret_cast<uint32_t*>(fq + (size_t)t * H + c) = w;  // H % 4 == 0 (the 16-bit loads need it too)
  }
}

// 16-bit activations with H ≤ 1024: one warp per row, 8 values per access, statistics by warp
// shuffles with no block barrier. The block-per-row kernel above ran at 2.2 TB/s on an H200
// (137 µs at 65,536 × 768); this one is the default wherever it applies.
// kPrefetch (small batches, where the kernel is latency-bound: 4.7 → 3.4 µs at 128 × 768 on an
// H200) loads gamma and beta with the row, so their latency hides behind its own; large batches
// keep the loads after the statistics, as the extra registers cost occupancy there (25 → 27 µs
// at 16,384 × 768).
template <typename T, int NV, bool kPrefetch>
__global__ void add_ln_warp_kernel(const T* __restrict__ x, const T* __restrict__ bias, const T* residual,
                                   const float* __restrict__ gamma, const float* __restrict__ beta, float eps, int rows,
                                   int H, T* out, float* resid_f32, uint8_t* __restrict__ fq, float* __restrict__ fq_scale) {
  const int row = (int)((blockIdx.x * (size_t)blockDim.x + threadIdx.x) >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;
  const size_t base = (size_t)row * H;
  float v[NV][8];
  float g[NV][8], bb[NV][8];  // gamma and beta
  auto load_affine = [&](int i, int c) {
    *reinterpret_cast<float4*>(g[i]) = *reinterpret_cast<const float4*>(gamma + c);
    *reinterpret_cast<float4*>(g[i] + 4) = *reinterpret_cast<const float4*>(gamma + c + 4);
    *reinterpret_cast<float4*>(bb[i]) = *reinterpret_cast<const float4*>(beta + c);
    *reinterpret_cast<float4*>(bb[i] + 4) = *reinterpret_cast<const float4*>(beta + c + 4);
  };
  float sum = 0.f;
#pragma unroll
  for (int i = 0; i < NV; i++) {
    const int c = (lane + 32 * i) * 8;
    if (c < H) {
      if (kPrefetch) load_affine(i, c);
      float a[8], r[8];
      load8<T>(x + base + c, a);
      if (resid_f32) {
        *reinterpret_cast<float4*>(r) = *reinterpret_cast<const float4*>(resid_f32 + base + c);
        *reinterpret_cast<float4*>(r + 4) = *reinterpret_cast<const float4*>(resid_f32 + base + c + 4);
      } else {
        load8<T>(residual + base + c, r);
      }
      float b[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
      if (bias) load8<T>(bias + c, b);
#pragma unroll
      for (int k = 0; k < 8; k++) {
        v[i][k] = a[k] + r[k] + b[k];
        sum += v[i][k];
      }
    } else {
#pragma unroll
      for (int k = 0; k < 8; k++) v[i][k] = 0.f;
    }
  }
  const float mean = warp_sum(sum) / H;
  float q = 0.f;
#pragma unroll
  for (int i = 0; i < NV; i++) {
    if ((lane + 32 * i) * 8 < H) {
#pragma unroll
      for (int k = 0; k < 8; k++) {
        const float d = v[i][k] - mean;
        q += d * d;
      }
    }
  }
  const float rstd = rsqrtf(warp_sum(q) / H + eps);
  float amax = 0.f;
#pragma unroll
  for (int i = 0; i < NV; i++) {
    const int c = (lane + 32 * i) * 8;
    if (c < H) {
      if (!kPrefetch) load_affine(i, c);
      float o[8];
#pragma unroll
      for (int k = 0; k < 8; k++) {
        o[k] = (v[i][k] - mean) * rstd * g[i][k] + bb[i][k];
        v[i][k] = o[k];  // kept for the fp8 copy
        amax = fmaxf(amax, fabsf(o[k]));
      }
      store8<T>(out + base + c, o);
      if (resid_f32) {
        *reinterpret_cast<float4*>(resid_f32 + base + c) = *reinterpret_cast<const float4*>(o);
        *reinterpret_cast<float4*>(resid_f32 + base + c + 4) = *reinterpret_cast<const float4*>(o + 4);
      }
    }
  }
  if (!fq) return;
  // The next linear's e4m3 input, quantised as quantize_fp8_rows does (ops.h), from the fp32 row.
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
  const float sc = amax > 0.f ? amax / 448.f : 1.f, inv = 1.f / sc;
  if (lane == 0) fq_scale[row] = sc;
#pragma unroll
  for (int i = 0; i < NV; i++) {
    const int c = (lane + 32 * i) * 8;
    if (c < H) {
      uint32_t w[2] = {0u, 0u};
#pragma unroll
      for (int k = 0; k < 8; k++) w[k / 4] |= (uint32_t)__nv_cvt_float_to_fp8(v[i][k] * inv, __NV_SATFINITE, __NV_E4M3) << (8 * (k % 4));
      *reinterpret_cast<uint2*>(fq + base + c) = make_uint2(w[0], w[1]);
    }
  }
}

template <typename T>
static bool launch_warp_ln(const void* x, const void* bias, const void* residual, const float* gamma, const float* beta,
                           float eps, int T_, int H, void* out, float* resid_f32, uint8_t* q, float* q_scale, cudaStream_t s) {
  const int per_lane = (H / 8 + 31) / 32;
  if (H % 8 || per_lane > 4) return false;
  // Small batches: two rows per block, so a batch-1 forward's 128 rows spread over 64 SMs, not 32.
  const bool small = T_ <= 1024;
  const int threads = small ? 64 : 128;
  const int blocks = (T_ + threads / 32 - 1) / (threads / 32);
  auto go = [&](auto kernel) {
    kernel<<<blocks, threads, 0, s>>>((const T*)x, (const T*)bias, (const T*)residual, gamma, beta, eps, T_, H, (T*)out,
                                      resid_f32, q, q_scale);
  };
  switch (per_lane * 2 + small) {
    case 2: go(add_ln_warp_kernel<T, 1, false>); break;
    case 3: go(add_ln_warp_kernel<T, 1, true>); break;
    case 4: go(add_ln_warp_kernel<T, 2, false>); break;
    case 5: go(add_ln_warp_kernel<T, 2, true>); break;
    case 6: go(add_ln_warp_kernel<T, 3, false>); break;
    case 7: go(add_ln_warp_kernel<T, 3, true>); break;
    case 8: go(add_ln_warp_kernel<T, 4, false>); break;
    default: go(add_ln_warp_kernel<T, 4, true>); break;
  }
  return true;
}

void add_bias_layernorm(DType dt, const void* x, const void* bias, const void* residual, const float* gamma,
                        const float* beta, float eps, int T, int H, void* out, float* resid_f32, cudaStream_t s, uint8_t* q,
                        float* q_scale) {
  if (T == 0) return;
  if (dt == DType::F16 && launch_warp_ln<__half>(x, bias, residual, gamma, beta, eps, T, H, out, resid_f32, q, q_scale, s)) {
    ER_LAUNCH("add_bias_layernorm");
    return;
  }
  if (dt == DType::BF16 && launch_warp_ln<__nv_bfloat16>(x, bias, residual, gamma, beta, eps, T, H, out, resid_f32, q, q_scale, s)) {
    ER_LAUNCH("add_bias_layernorm");
    return;
  }
  const int threads = ln_threads(H);
  switch (dt) {
    case DType::F32:
      add_ln_kernel<float><<<T, threads, 0, s>>>((const float*)x, (const float*)bias, (const float*)residual, gamma,
                                                 beta, eps, H, (float*)out, resid_f32, q, q_scale);
      break;
    case DType::F16:
      add_ln_kernel<__half><<<T, threads, 0, s>>>((const __half*)x, (const __half*)bias, (const __half*)residual,
                                                  gamma, beta, eps, H, (__half*)out, resid_f32, q, q_scale);
      break;
    case DType::BF16:
      add_ln_kernel<__nv_bfloat16><<<T, threads, 0, s>>>((const __nv_bfloat16*)x, (const __nv_bfloat16*)bias,
                                                         (const __nv_bfloat16*)residual, gamma, beta, eps, H,
                                                         (__nv_bfloat16*)out, resid_f32, q, q_scale);
      break;
  }
  ER_LAUNCH("add_bias_layernorm");
}

}  // namespace er
