// Bias add and exact (erf) GELU in place over the FFN-up output. cuBLASLt's GELU epilogue is the
// tanh approximation, which BERT checkpoints were not trained with, so this stays a separate pass.
// It is memory traffic (read and write T·N values) plus an erff per value, so each thread moves 8
// values per access (a 4-wide row-per-block version reached only 2.3 TB/s on an H200: 354 µs at
// 65,536 × 3,072 fp16).
#include "common.cuh"
#include "ops.h"

#include <algorithm>
#include <atomic>

namespace er {

// N % 8 == 0 (the model checks). A block's threads cover one row's N / 8 groups of 8 values, so
// each thread keeps its 8 bias values in registers and needs no index division; blocks stride over
// the rows, kRows rows per step, their loads issued before any erff. (Four rows instead of two
// were meant to put more loads in flight: 70.7 → 69.7 µs at 16,384 × 3,072 fp16 on an H200. A
// cheaper erf, Abramowitz & Stegun 7.1.26, gave 0.95–1.03× too, so neither loads in flight nor
// erff bounds it alone; ncu puts it at 62% of DRAM bandwidth and 68% of SM throughput.) The
// arithmetic per value is unchanged: same results, bit for bit.
constexpr int kRows = 4;

template <typename T>
__global__ void bias_gelu_kernel(T* __restrict__ x, const T* __restrict__ bias, int rows, int N) {
  const int gpr = N / 8;  // groups per row
  for (int c = threadIdx.x; c < gpr; c += blockDim.x) {
    float b[8];
    load8<T>(bias + c * 8, b);
    int r = blockIdx.x;
    for (; r + (kRows - 1) * (int)gridDim.x < rows; r += kRows * gridDim.x) {
      float v[kRows][8];
#pragma unroll
      for (int i = 0; i < kRows; i++) load8<T>(x + (size_t)(r + i * gridDim.x) * N + c * 8, v[i]);
#pragma unroll
      for (int i = 0; i < kRows; i++) {
#pragma unroll
        for (int k = 0; k < 8; k++) v[i][k] = gelu_erf(v[i][k] + b[k]);
        store8<T>(x + (size_t)(r + i * gridDim.x) * N + c * 8, v[i]);
      }
    }
    for (; r < rows; r += gridDim.x) {
      T* p = x + (size_t)r * N + c * 8;
      float v[8];
      load8<T>(p, v);
#pragma unroll
      for (int k = 0; k < 8; k++) v[k] = gelu_erf(v[k] + b[k]);
      store8<T>(p, v);
    }
  }
}

template <typename T>
void launch_bias_gelu(T* x, const T* bias, int rows, int N, int threads, int sms, cudaStream_t s) {
  // Resident blocks per SM depend only on the block size (a warp multiple ≤ 1024): asked once each.
  static std::atomic<int> occupancy[33];
  int per_sm = occupancy[threads / 32].load(std::memory_order_relaxed);
  if (per_sm == 0) {
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, bias_gelu_kernel<T>, threads, 0) != cudaSuccess || per_sm < 1) {
      cudaGetLastError();
      per_sm = 1;
    }
    occupancy[threads / 32].store(per_sm, std::memory_order_relaxed);
  }
  const int blocks = std::max(1, std::min((rows + kRows - 1) / kRows, sms * per_sm));
  bias_gelu_kernel<T><<<blocks, threads, 0, s>>>(x, bias, rows, N);
}

void bias_gelu(DType dt, void* x, const void* bias, int T, int N, cudaStream_t s) {
  if (T == 0) return;
  const int sms = multiprocessors();
  // One thread per 8-value group of a row (a warp multiple, at most 1024) and as many blocks as are
  // resident at once (one wave: no tail of half-filled SMs), kRows rows per thread and step.
  const int threads = std::min(1024, (N / 8 + 31) / 32 * 32);
  switch (dt) {
    case DType::F32:
      launch_bias_gelu<float>((float*)x, (const float*)bias, T, N, threads, sms, s);
      break;
    case DType::F16:
      launch_bias_gelu<__half>((__half*)x, (const __half*)bias, T, N, threads, sms, s);
      break;
    case DType::BF16:
      launch_bias_gelu<__nv_bfloat16>((__nv_bfloat16*)x, (const __nv_bfloat16*)bias, T, N, threads, sms, s);
      break;
  }
  ER_LAUNCH("bias_gelu");
}

}  // namespace er
