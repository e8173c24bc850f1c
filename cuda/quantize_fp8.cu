// FP8 (e4m3) quantisation for `quantization: 'fp8'` (ops.h): per-row dynamic scales, as vLLM's
// dynamic_per_token_scaled_fp8_quant and per-channel weight quantisation compute them:
//   scale[r] = amax(|x[r, :]|) / 448   (448: e4m3's largest finite value; an all-zero row: 1)
//   q[r, k]  = e4m3_rn_satfinite(x[r, k] · (1 / scale[r]))
// so x ≈ q · scale. The reciprocal is taken once per row (vLLM's inverted scale), the product
// rounds to fp32 once, the conversion rounds to nearest even and saturates at ±448 (the
// product can exceed 448 by an fp32 ulp). Rows of activations are tokens; rows of a PyTorch
// [out, in] weight are output channels. One block per row, two passes over the row (amax, then
// convert): the second pass reads from L1/L2, the row having just been read.
#include <cuda_fp8.h>

#include <algorithm>

#include "common.cuh"
#include "ops.h"

namespace er {

namespace {

constexpr float kE4M3Max = 448.f;
constexpr int kThreads = 128;

__device__ __forceinline__ uint8_t to_e4m3(float v) { return (uint8_t)__nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3); }

__device__ __forceinline__ float row_scale(float amax) { return amax > 0.f ? amax / kE4M3Max : 1.f; }

__device__ __forceinline__ void store8_e4m3(uint8_t* p, const float (&v)[8], float inv) {
  uint32_t lo = 0, hi = 0;
#pragma unroll
  for (int i = 0; i < 4; i++) lo |= (uint32_t)to_e4m3(v[i] * inv) << (8 * i);
#pragma unroll
  for (int i = 0; i < 4; i++) hi |= (uint32_t)to_e4m3(v[4 + i] * inv) << (8 * i);
  *reinterpret_cast<uint2*>(p) = make_uint2(lo, hi);
}

// K % 8 == 0; rows 16-byte aligned in x (K · sizeof(T) % 16 == 0 for 16-bit T) and 8-byte in q.
template <typename T>
__global__ void __launch_bounds__(kThreads) quantize_rows_kernel(const T* __restrict__ x, int K, uint8_t* __restrict__ q,
                                                                 float* __restrict__ scale) {
  __shared__ float scratch[32];
  const size_t r = blockIdx.x;
  const T* row = x + r * K;
  float amax = 0.f;
  for (int c = threadIdx.x * 8; c < K; c += kThreads * 8) {
    float v[8];
    load8<T>(row + c, v);
#pragma unroll
    for (int i = 0; i < 8; i++) amax = fmaxf(amax, fabsf(v[i]));
  }
  amax = block_max(amax, scratch);
  const float s = row_scale(amax), inv = 1.f / s;
  if (threadIdx.x == 0) scale[r] = s;
  for (int c = threadIdx.x * 8; c < K; c += kThreads * 8) {
    float v[8];
    load8<T>(row + c, v);
    store8_e4m3(q + r * K + c, v, inv);
  }
}

// gelu_erf(x + bias) of one row kept in shared memory (N floats) between the amax and the convert.
template <typename T>
__global__ void __launch_bounds__(kThreads) bias_gelu_quantize_kernel(const T* __restrict__ x, const T* __restrict__ bias, int N,
                                                                      uint8_t* __restrict__ q, float* __restrict__ scale) {
  extern __shared__ float row_vals[];
  __shared__ float scratch[32];
  const size_t r = blockIdx.x;
  float amax = 0.f;
  for (int c = threadIdx.x * 8; c < N; c += kThreads * 8) {
    float v[8], b[8];
    load8<T>(x + r * N + c, v);
    load8<T>(bias + c, b);
#pragma unroll
    for (int i = 0; i < 8; i++) {
      v[i] = gelu_erf(v[i] + b[i]);
      amax = fmaxf(amax, fabsf(v[i]));
      row_vals[c + i] = v[i];
    }
  }
  amax = block_max(amax, scratch);  // its __syncthreads also orders the row_vals writes
  const float s = row_scale(amax), inv = 1.f / s;
  if (threadIdx.x == 0) scale[r] = s;
  for (int c = threadIdx.x * 8; c < N; c += kThreads * 8) {
    float v[8];
#pragma unroll
    for (int i = 0; i < 8; i++) v[i] = row_vals[c + i];
    store8_e4m3(q + r * N + c, v, inv);
  }
}

// y[t, n] = acc[t, n] · xs[t] · ws[n] + bias[n], 4 columns per thread (N % 8 == 0).
template <typename T>
__global__ void dequantize_kernel(const float* __restrict__ acc, const float* __restrict__ xs, const float* __restrict__ ws,
                                  const T* __restrict__ bias, size_t groups, int N, T* __restrict__ y) {
  const int gpr = N / 4;
  for (size_t g = blockIdx.x * (size_t)blockDim.x + threadIdx.x; g < groups; g += (size_t)gridDim.x * blockDim.x) {
    const size_t t = g / gpr;
    const int c = (int)(g % gpr) * 4;
    const float4 a = *reinterpret_cast<const float4*>(acc + g * 4);
    const float4 w = *reinterpret_cast<const float4*>(ws + c);
    const float st = xs[t];
    float b[4] = {0.f, 0.f, 0.f, 0.f};
    if (bias) load4<T>(bias + c, b);
    const float v[4] = {a.x * st * w.x + b[0], a.y * st * w.y + b[1], a.z * st * w.z + b[2], a.w * st * w.w + b[3]};
    store4<T>(y + g * 4, v);
  }
}

// y[t, n] += bias[n] in place, 8 values per thread (N % 8 == 0).
template <typename T>
__global__ void add_bias_rows_kernel(T* __restrict__ y, const T* __restrict__ bias, size_t groups, int N) {
  const int gpr = N / 8;
  for (size_t g = blockIdx.x * (size_t)blockDim.x + threadIdx.x; g < groups; g += (size_t)gridDim.x * blockDim.x) {
    float v[8], b[8];
    load8<T>(y + g * 8, v);
    load8<T>(bias + (g % gpr) * 8, b);
#pragma unroll
    for (int k = 0; k < 8; k++) v[k] += b[k];
    store8<T>(y + g * 8, v);
  }
}

int grid_for(size_t groups, int threads) {
  return (int)std::max<size_t>(1, std::min<size_t>((groups + threads - 1) / threads, (size_t)multiprocessors() * 16));
}

}  // namespace

void quantize_fp8_rows(DType dt, const void* x, int rows, int K, uint8_t* q, float* scale, cudaStream_t s) {
  if (rows == 0) return;
  if (K % 8) throw std::runtime_error("quantize_fp8_rows: K must be a multiple of 8");
  switch (dt) {
    case DType::F32: quantize_rows_kernel<float><<<rows, kThreads, 0, s>>>((const float*)x, K, q, scale); break;
    case DType::F16: quantize_rows_kernel<__half><<<rows, kThreads, 0, s>>>((const __half*)x, K, q, scale); break;
    case DType::BF16: quantize_rows_kernel<__nv_bfloat16><<<rows, kThreads, 0, s>>>((const __nv_bfloat16*)x, K, q, scale); break;
  }
  ER_LAUNCH("quantize_fp8_rows");
}

// The row in dynamic shared memory plus the kernel's static scratch within the default 48 KB.
bool bias_gelu_quantize_fp8_fits(int N) { return N % 8 == 0 && (size_t)N * sizeof(float) + 256 <= 48 * 1024; }

void bias_gelu_quantize_fp8(DType dt, const void* x, const void* bias, int T, int N, uint8_t* q, float* scale, cudaStream_t s) {
  if (T == 0) return;
  if (!bias_gelu_quantize_fp8_fits(N)) throw std::runtime_error("bias_gelu_quantize_fp8: N must be a multiple of 8 and at most 12224");
  const size_t smem = (size_t)N * sizeof(float);
  switch (dt) {
    case DType::F32:
      bias_gelu_quantize_kernel<float><<<T, kThreads, smem, s>>>((const float*)x, (const float*)bias, N, q, scale);
      break;
    case DType::F16:
      bias_gelu_quantize_kernel<__half><<<T, kThreads, smem, s>>>((const __half*)x, (const __half*)bias, N, q, scale);
      break;
    case DType::BF16:
      bias_gelu_quantize_kernel<__nv_bfloat16><<<T, kThreads, smem, s>>>((const __nv_bfloat16*)x, (const __nv_bfloat16*)bias, N, q, scale);
      break;
  }
  ER_LAUNCH("bias_gelu_quantize_fp8");
}

void dequantize_fp8_gemm(DType dt, const float* acc, const float* x_scale, const float* w_scale, const void* bias, int T, int N,
                         void* y, cudaStream_t s) {
  if (T == 0) return;
  if (N % 8) throw std::runtime_error("dequantize_fp8_gemm: N must be a multiple of 8");
  const size_t groups = (size_t)T * N / 4;
  const int threads = 256, blocks = grid_for(groups, threads);
  switch (dt) {
    case DType::F32:
      dequantize_kernel<float><<<blocks, threads, 0, s>>>(acc, x_scale, w_scale, (const float*)bias, groups, N, (float*)y);
      break;
    case DType::F16:
      dequantize_kernel<__half><<<blocks, threads, 0, s>>>(acc, x_scale, w_scale, (const __half*)bias, groups, N, (__half*)y);
      break;
    case DType::BF16:
      dequantize_kernel<__nv_bfloat16><<<blocks, threads, 0, s>>>(acc, x_scale, w_scale, (const __nv_bfloat16*)bias, groups, N,
                                                                  (__nv_bfloat16*)y);
      break;
  }
  ER_LAUNCH("dequantize_fp8_gemm");
}

void add_bias_rows(DType dt, void* y, const void* bias, int T, int N, cudaStream_t s) {
  if (T == 0) return;
  if (N % 8) throw std::runtime_error("add_bias_rows: N must be a multiple of 8");
  const size_t groups = (size_t)T * N / 8;
  const int threads = 256, blocks = grid_for(groups, threads);
  switch (dt) {
    case DType::F32: add_bias_rows_kernel<float><<<blocks, threads, 0, s>>>((float*)y, (const float*)bias, groups, N); break;
    case DType::F16: add_bias_rows_kernel<__half><<<blocks, threads, 0, s>>>((__half*)y, (const __half*)bias, groups, N); break;
    case DType::BF16:
      add_bias_rows_kernel<__nv_bfloat16><<<blocks, threads, 0, s>>>((__nv_bfloat16*)y, (const __nv_bfloat16*)bias, groups, N);
      break;
  }
  ER_LAUNCH("add_bias_rows");
}

}  // namespace er
