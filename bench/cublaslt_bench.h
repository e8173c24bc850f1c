// What the standalone cuBLASLt benches (bench/gemm_small_m.cu, bench/gemm_ragged.cu) share: error
// macros that end the program, an algorithm's configuration as text, and the timing rule.
#pragma once
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#define CK(x)                                                          \
  do {                                                                 \
    cudaError_t e_ = (x);                                              \
    if (e_ != cudaSuccess) {                                           \
      std::fprintf(stderr, "%s: %s\n", #x, cudaGetErrorString(e_));    \
      std::exit(1);                                                    \
    }                                                                  \
  } while (0)
#define LT(x)                                                          \
  do {                                                                 \
    cublasStatus_t s_ = (x);                                           \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                 \
      std::fprintf(stderr, "%s: cuBLASLt status %d\n", #x, (int)s_);   \
      std::exit(1);                                                    \
    }                                                                  \
  } while (0)

// "id66/tile24/st35/sk1/red0/swz0/cl0": algorithm id, tile, stages, split-K, reduction scheme, CTA
// swizzling and cluster shape ids (cublasLtMatmulAlgoConfigAttributes_t).
inline std::string describe(const cublasLtMatmulAlgo_t& algo) {
  int id = 0, tile = 0, stages = 0, splitk = 0, swz = 0;
  uint32_t red = 0;
  uint16_t cluster = 0;  // a uint16_t attribute: read as an int the call fails (session 9's gemm_ragged log shows cl0 throughout)
  size_t n;
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_ID, &id, sizeof(id), &n);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof(tile), &n);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_STAGES_ID, &stages, sizeof(stages), &n);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splitk, sizeof(splitk), &n);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &red, sizeof(red), &n);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, &swz, sizeof(swz), &n);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID, &cluster, sizeof(cluster), &n);
  return "id" + std::to_string(id) + "/tile" + std::to_string(tile) + "/st" + std::to_string(stages) + "/sk" + std::to_string(splitk) +
         "/red" + std::to_string(red) + "/swz" + std::to_string(swz) + "/cl" + std::to_string(cluster);
}

// µs per call: `calls` calls of call(i) (each returning its cublasStatus_t) captured in one CUDA
// graph on s, then the median of 7 replays after a first one. < 0 when a call fails.
template <typename F> float graph_median_us(F call, int calls, cudaStream_t s) {
  if (call(0) != CUBLAS_STATUS_SUCCESS || cudaStreamSynchronize(s) != cudaSuccess) {
    cudaGetLastError();
    return -1.f;
  }
  cudaGraph_t g;
  cudaGraphExec_t ge;
  CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  bool ok = true;
  for (int i = 0; i < calls; i++) ok = ok && call(i) == CUBLAS_STATUS_SUCCESS;
  CK(cudaStreamEndCapture(s, &g));
  if (!ok) {
    cudaGraphDestroy(g);
    return -1.f;
  }
  CK(cudaGraphInstantiate(&ge, g, 0));
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  std::vector<float> t;
  CK(cudaGraphLaunch(ge, s));
  for (int r = 0; r < 7; r++) {
    CK(cudaEventRecord(e0, s));
    CK(cudaGraphLaunch(ge, s));
    CK(cudaEventRecord(e1, s));
    CK(cudaEventSynchronize(e1));
    float ms;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    t.push_back(ms * 1000.f / calls);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  cudaGraphExecDestroy(ge);
  cudaGraphDestroy(g);
  std::sort(t.begin(), t.end());
  return t[3];
}
