// The fused FFN-up (cuda/gemm_wgmma.cu: Y = GELU(X·Wᵀ + b), exact erf GELU in the epilogue) against
// what the engine ran before it: cuBLASLt's linear (GemmRunner, load-time tuned) then the separate
// bias+GELU pass (cuda/bias_gelu.cu). For each shape and dtype it
//   - checks both against an fp32 reference (a plain GPU kernel: fp32 products of the same 16-bit
//     operands, fp32 bias, erff GELU) on fresh random operands: max |error| over every value, the
//     worst error relative to max(|ref|, 1e-2), and any NaN (which fails);
//   - times each path (median of 7 repeats of 20 back-to-back calls), plus cuBLASLt's linear alone
//     and its tanh-GELU epilogue (what a free epilogue would cost), in µs and TFLOP/s;
//   - checks and times the other tile shape (64 × 256 per consumer), and times both shapes with the
//     epilogue cut down (bias only, no stores): where the time goes;
//     (Session 9's run, results/gemm-gelu-2026-11-29-s9a-h200.log, also timed a staged epilogue and
//     the default pair in row chunks; both were slower and were removed: bench/NOTES.md.)
// Exit status 1 if any check fails: the fused path's worst relative error must not exceed the old
// path's and must stay below 1e-3 (fp16) / 8e-3 (bf16).
// Build and run (device, from the repository root):
//   nvcc -O3 -std=c++17 -Icuda --expt-relaxed-constexpr -gencode=arch=compute_90a,code=sm_90a \
//     bench/gemm_gelu.cu cuda/hopper.cu cuda/bias_gelu.cu cuda/gemm.cu -lcublasLt -o /tmp/gg && /tmp/gg
// `/tmp/gg profile M N K` runs each path twice for a profiler instead (see profile()).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <unistd.h>

#include "gemm.h"
#include "../cuda/gemm_wgmma.cu"  // the kernel templates themselves: the timing variants below
#include "ops.h"
#include "cuda_bench.cuh"

using namespace er;

// 32 × 32 output tiles through shared memory (a plain kernel: independent of both paths under test).
template <typename T> __global__ void reference_kernel(const T* X, const T* W, const T* b, float* ref, int M, int N, int K) {
  __shared__ float xs[32][33], ws[32][33];
  const int tx = threadIdx.x % 32, ty = threadIdx.x / 32;  // 32 × 8 threads, 4 rows each
  const int m0 = blockIdx.y * 32, n0 = blockIdx.x * 32;
  float acc[4] = {0, 0, 0, 0};
  for (int k0 = 0; k0 < K; k0 += 32) {
    for (int r = ty; r < 32; r += 8) {
      const int k = k0 + tx;
      xs[r][tx] = m0 + r < M && k < K ? (float)X[(size_t)(m0 + r) * K + k] : 0.f;
      ws[r][tx] = n0 + r < N && k < K ? (float)W[(size_t)(n0 + r) * K + k] : 0.f;
    }
    __syncthreads();
    for (int k = 0; k < 32; k++)
      for (int i = 0; i < 4; i++) acc[i] += xs[ty + 8 * i][k] * ws[tx][k];
    __syncthreads();
  }
  for (int i = 0; i < 4; i++) {
    const int m = m0 + ty + 8 * i, n = n0 + tx;
    if (m < M && n < N) ref[(size_t)m * N + n] = gelu_erf(acc[i] + (float)b[n]);
  }
}

// Waits for the stream, at most `seconds`: a hung kernel ends the program (exit 2) instead of the call.
void sync_or_die(cudaStream_t s, const char* what, double seconds = 20) {
  for (int i = 0; i < seconds * 1000; i++) {
    const cudaError_t e = cudaStreamQuery(s);
    if (e == cudaSuccess) return;
    if (e != cudaErrorNotReady) ER_CHECK(e);
    usleep(1000);
  }
  std::printf("HANG: %s did not finish in %.0f s\n", what, seconds);
  std::exit(2);
}

struct Err {
  double max_abs = 0, max_rel = 0;
  bool nan = false;
};
template <typename T> Err compare(const T* dy, const float* dref, size_t n) {
  std::vector<T> y(n);
  std::vector<float> ref(n);
  ER_CHECK(cudaMemcpy(y.data(), dy, n * sizeof(T), cudaMemcpyDeviceToHost));
  ER_CHECK(cudaMemcpy(ref.data(), dref, n * sizeof(float), cudaMemcpyDeviceToHost));
  Err e;
  for (size_t i = 0; i < n; i++) {
    const double v = (double)(float)y[i], r = ref[i];
    if (std::isnan(v) || std::isnan(r)) e.nan = true;
    const double d = std::fabs(v - r);
    e.max_abs = std::max(e.max_abs, d);
    e.max_rel = std::max(e.max_rel, d / std::max(std::fabs(r), 1e-2));
  }
  return e;
}

template <typename T> bool run(DType dt, const char* name, int M, int N, int K, GemmRunner& gemm, cudaStream_t s, bool timed) {
  T *X, *W, *b, *y1, *y2;
  float* ref;
  ER_CHECK(cudaMalloc(&X, (size_t)M * K * sizeof(T)));
  ER_CHECK(cudaMalloc(&W, (size_t)N * K * sizeof(T)));
  ER_CHECK(cudaMalloc(&b, (size_t)N * sizeof(T)));
  ER_CHECK(cudaMalloc(&y1, (size_t)M * N * sizeof(T)));
  ER_CHECK(cudaMalloc(&y2, (size_t)M * N * sizeof(T)));
  ER_CHECK(cudaMalloc(&ref, (size_t)M * N * sizeof(float)));
  static uint32_t seed = 12345;
  // Scales as in a trained encoder's FFN-up: pre-activations of a few units, both GELU branches.
  fill_kernel<T><<<1024, 256, 0, s>>>(X, (size_t)M * K, seed++, 1.5f);
  fill_kernel<T><<<1024, 256, 0, s>>>(W, (size_t)N * K, seed++, 2.f / std::sqrt((float)K));
  fill_kernel<T><<<64, 256, 0, s>>>(b, (size_t)N, seed++, 0.5f);
  reference_kernel<T><<<dim3((N + 31) / 32, (M + 31) / 32), 256, 0, s>>>(X, W, b, ref, M, N, K);
  ER_CHECK(cudaMemsetAsync(y1, 0xFF, (size_t)M * N * sizeof(T), s));  // NaN-filled: unwritten values show
  sync_or_die(s, "the reference");
  linear_bias_gelu_wgmma(dt, X, M, K, W, N, b, y1, s);
  sync_or_die(s, name);
  gemm.linear(dt, X, M, K, W, N, nullptr, y2, s, false);
  bias_gelu(dt, y2, b, M, N, s);
  sync_or_die(s, "cuBLASLt + bias_gelu");
  const size_t n = (size_t)M * N;
  const Err fused = compare(y1, ref, n), old = compare(y2, ref, n);
  ER_CHECK(cudaMemsetAsync(y1, 0xFF, (size_t)M * N * sizeof(T), s));
  er::launch<T, 64, 256, kGelu>(dt, X, M, K, W, N, b, y1, s);
  sync_or_die(s, "64x256");
  const Err wide = compare(y1, ref, n);
  // One rounding of the fp32 result: within about one ulp of the dtype (measured 5.9e-4 fp16,
  // 3.9e-3 bf16), and never worse than the two-rounding path it replaces.
  const double bound = dt == DType::BF16 ? 8e-3 : 1e-3;
  const bool ok = !fused.nan && !old.nan && !wide.nan && fused.max_rel <= old.max_rel && fused.max_rel < bound &&
                  wide.max_rel <= old.max_rel && wide.max_rel < bound;
  if (wide.max_rel != fused.max_rel) std::printf("  (64x256 tiles: max|err| %.3e rel %.3e)\n", wide.max_abs, wide.max_rel);
  std::printf("%-5s %-22s M=%6d N=%5d K=%5d  fused max|err| %.3e rel %.3e%s | cuBLASLt+bias_gelu %.3e rel %.3e%s  %s\n",
              dt == DType::BF16 ? "bf16" : "fp16", name, M, N, K, fused.max_abs, fused.max_rel, fused.nan ? " NaN" : "",
              old.max_abs, old.max_rel, old.nan ? " NaN" : "", ok ? "ok" : "FAIL");
  if (timed) {
    const double flop = 2.0 * M * N * K;
    const double tf = time_us([&] { linear_bias_gelu_wgmma(dt, X, M, K, W, N, b, y1, s); }, s);
    const double to = time_us([&] {
      gemm.linear(dt, X, M, K, W, N, nullptr, y2, s, false);
      bias_gelu(dt, y2, b, M, N, s);
    }, s);
    const double tg = time_us([&] { gemm.linear(dt, X, M, K, W, N, nullptr, y2, s, false); }, s);
    const double tt = time_us([&] { gemm.linear(dt, X, M, K, W, N, b, y2, s, false, true); }, s);
    std::printf("TIME %-5s %-22s fused %8.1f us (%5.1f TFLOP/s) | cuBLASLt+bias_gelu %8.1f (%5.1f) | cuBLASLt alone %8.1f (%5.1f) | "
                "cuBLASLt tanh-GELU epilogue %8.1f (%5.1f) | fused/old %.3f\n",
                dt == DType::BF16 ? "bf16" : "fp16", name, tf, flop / tf * 1e-6, to, flop / to * 1e-6, tg, flop / tg * 1e-6, tt,
                flop / tt * 1e-6, tf / to);
    using er::launch;
    const double v[5] = {
        time_us([&] { launch<T, 128, 128, kBiasOnly>(dt, X, M, K, W, N, b, y1, s); }, s),
        time_us([&] { launch<T, 128, 128, kNoStore>(dt, X, M, K, W, N, b, y1, s); }, s),
        time_us([&] { launch<T, 64, 256, kGelu>(dt, X, M, K, W, N, b, y1, s); }, s),
        time_us([&] { launch<T, 64, 256, kBiasOnly>(dt, X, M, K, W, N, b, y1, s); }, s),
        time_us([&] { launch<T, 64, 256, kNoStore>(dt, X, M, K, W, N, b, y1, s); }, s)};
    std::printf("PARTS %-5s %-22s 128x128: gelu %.1f, bias only %.1f, no store %.1f us | 64x256: gelu %.1f, bias only %.1f, no store %.1f us\n",
                dt == DType::BF16 ? "bf16" : "fp16", name, tf, v[0], v[1], v[2], v[3], v[4]);
  }
  for (void* p : {(void*)X, (void*)W, (void*)b, (void*)y1, (void*)y2, (void*)ref}) ER_CHECK(cudaFree(p));
  return ok;
}

// `gg profile M N K`: each fp16 path once after a warm-up, nothing else timed or checked, for a
// profiler (ncu --section SpeedOfLight): the fused kernel, it without stores, cuBLASLt's GEMM and
// the separate bias+GELU pass.
int profile(int M, int N, int K, GemmRunner& gemm, cudaStream_t s) {
  if (M < 1 || N < 8 || K < 8 || N % 8 || K % 8) {
    std::printf("profile M N K: M ≥ 1, N and K positive multiples of 8\n");
    return 2;
  }
  __half *X, *W, *b, *y;
  ER_CHECK(cudaMalloc(&X, (size_t)M * K * 2));
  ER_CHECK(cudaMalloc(&W, (size_t)N * K * 2));
  ER_CHECK(cudaMalloc(&b, (size_t)N * 2));
  ER_CHECK(cudaMalloc(&y, (size_t)M * N * 2));
  fill_kernel<__half><<<1024, 256, 0, s>>>(X, (size_t)M * K, 1, 1.5f);
  fill_kernel<__half><<<1024, 256, 0, s>>>(W, (size_t)N * K, 2, 2.f / std::sqrt((float)K));
  fill_kernel<__half><<<64, 256, 0, s>>>(b, (size_t)N, 3, 0.5f);
  for (int rep = 0; rep < 2; rep++) {
    er::launch<__half, 128, 128, kGelu>(DType::F16, X, M, K, W, N, b, y, s);
    er::launch<__half, 128, 128, kNoStore>(DType::F16, X, M, K, W, N, b, y, s);
    gemm.linear(DType::F16, X, M, K, W, N, nullptr, y, s, false);
    bias_gelu(DType::F16, y, b, M, N, s);
  }
  sync_or_die(s, "profile");
  std::printf("profiled M=%d N=%d K=%d\n", M, N, K);
  for (void* p : {(void*)X, (void*)W, (void*)b, (void*)y}) ER_CHECK(cudaFree(p));
  return 0;
}

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  cudaStream_t s;
  ER_CHECK(cudaStreamCreate(&s));
  GemmRunner gemm;
  if (!linear_bias_gelu_wgmma_fits(DType::F16, 768, 3072, (void*)256, (void*)256, (void*)256, (void*)256, 0)) {
    std::printf("the fused kernel cannot run here (needs an H100/H200 and the sm_90a image)\n");
    return 1;
  }
  if (argc == 5 && !std::strcmp(argv[1], "profile")) return profile(std::atoi(argv[2]), std::atoi(argv[3]), std::atoi(argv[4]), gemm, s);
  struct Shape {
    const char* name;
    int M, N, K;
    bool timed;
  };
  const Shape shapes[] = {
      {"K tail 1 row", 1, 136, 8, false},            {"odd tails", 300, 200, 72, false},
      {"N below one tile", 77, 64, 40, false},
      {"one row", 1, 3072, 768, false},              {"bert-base batch 1", 128, 3072, 768, true},
      {"minilm 256 sts", 4000, 1536, 384, true},     {"bert-base 32x512", 16384, 3072, 768, true},
      {"bert-base ragged", 16347, 3072, 768, true},  {"bert-base 128x512", 65536, 3072, 768, true},
      {"xlmr-large 32x512", 16384, 4096, 1024, true},
  };
  bool ok = true;
  for (const Shape& sh : shapes) ok &= run<__half>(DType::F16, sh.name, sh.M, sh.N, sh.K, gemm, s, sh.timed);
  for (const Shape& sh : shapes) ok &= run<__nv_bfloat16>(DType::BF16, sh.name, sh.M, sh.N, sh.K, gemm, s, sh.timed && sh.M >= 16384);
  std::printf(ok ? "ALL OK\n" : "SOME FAILED\n");
  return ok ? 0 : 1;
}
