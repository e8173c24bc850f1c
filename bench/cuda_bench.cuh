// What the standalone CUDA benches (bench/gemm_gelu.cu, bench/memory_bound.cu) share: seeded random
// operands filled on the GPU, and the timing rule. Include after common.cuh (ER_CHECK).
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <vector>

// p[i] = offset + scale · u, u uniform in [−1, 1) from a hash of (i, seed): the same values on every
// run and grid shape.
template <typename T> __global__ void fill_kernel(T* p, size_t n, uint32_t seed, float scale, float offset = 0.f) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    uint32_t h = (uint32_t)i * 2654435761u ^ seed;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    h *= 3266489917u;
    h ^= h >> 16;
    p[i] = (T)(offset + scale * ((h & 0xFFFFFF) / 8388608.f - 1.f));
  }
}

// µs per call of f() (which enqueues on s): the median of 7 repeats of 20 back-to-back calls, after
// 3 warm-up calls; CUDA events on s.
template <typename F> double time_us(F f, cudaStream_t s) {
  cudaEvent_t a, b;
  ER_CHECK(cudaEventCreate(&a));
  ER_CHECK(cudaEventCreate(&b));
  for (int i = 0; i < 3; i++) f();
  std::vector<double> v;
  for (int rep = 0; rep < 7; rep++) {
    ER_CHECK(cudaEventRecord(a, s));
    for (int i = 0; i < 20; i++) f();
    ER_CHECK(cudaEventRecord(b, s));
    ER_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    ER_CHECK(cudaEventElapsedTime(&ms, a, b));
    v.push_back(ms * 1000.0 / 20);
  }
  std::sort(v.begin(), v.end());
  ER_CHECK(cudaEventDestroy(a));
  ER_CHECK(cudaEventDestroy(b));
  ER_CHECK(cudaGetLastError());
  return v[3];
}
