// Why ragged batches run some linears slower per token (session 9, bench/profile.ts on an H200:
// FFN-up 96.7 µs at T = 16,384 tokens but 109.8 at a mean of 16,435; out 29.9 → 32.8; QKV and
// FFN-down unchanged): cuBLASLt's candidates at token counts a ragged batch has, against those at
// T = 16,384. For the four BERT-base linears Y[T×N] = X[T×K]·W[N×K]ᵀ in fp16 (fp32 accumulate, the
// layouts and epilogues of GemmRunner::linear: bias in the epilogue for QKV only), and each T, it
// times the heuristic's first 8 algorithms (the engine's tuner's candidates; median of 7 replays of
// a graph of 12 calls, µs) and prints each one's configuration. Then each T's fastest is timed at
// every T: whether one algorithm serves a whole token-count class, and what the engine's rule (tune
// once, at the first T seen in the class) costs when that T is not the class's.
// Build and run (device): nvcc -O3 -std=c++17 -arch=sm_90 bench/gemm_ragged.cu -lcublasLt -o /tmp/gr && /tmp/gr
#include <cuda_fp16.h>

#include "cublaslt_bench.h"

static cublasLtHandle_t g_h;
static cudaStream_t g_s;
static void *g_x, *g_w, *g_y, *g_bias, *g_ws;
static const size_t kWs = 64u << 20;  // GemmRunner's workspace

struct Desc {
  cublasLtMatmulDesc_t op;
  cublasLtMatrixLayout_t a, b, c;
  Desc(int T, int K, int N, bool bias) {
    LT(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
    LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof(opT)));
    LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof(opN)));
    const cublasLtEpilogue_t epi = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
    if (bias) LT(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g_bias, sizeof(g_bias)));
    LT(cublasLtMatrixLayoutCreate(&a, CUDA_R_16F, K, N, K));
    LT(cublasLtMatrixLayoutCreate(&b, CUDA_R_16F, K, T, K));
    LT(cublasLtMatrixLayoutCreate(&c, CUDA_R_16F, N, T, N));
  }
  ~Desc() {
    cublasLtMatrixLayoutDestroy(a);
    cublasLtMatrixLayoutDestroy(b);
    cublasLtMatrixLayoutDestroy(c);
    cublasLtMatmulDescDestroy(op);
  }
};

// Median µs per call over 7 replays of a graph of 12 calls; < 0 when the algorithm does not apply here.
static float time_algo(Desc& d, const cublasLtMatmulAlgo_t& algo) {
  const float alpha = 1.f, beta = 0.f;
  cublasLtMatmulHeuristicResult_t chk{};
  if (cublasLtMatmulAlgoCheck(g_h, d.op, d.a, d.b, d.c, d.c, &algo, &chk) != CUBLAS_STATUS_SUCCESS || chk.workspaceSize > kWs) return -1.f;
  return graph_median_us(
      [&](int) { return cublasLtMatmul(g_h, d.op, &alpha, g_w, d.a, g_x, d.b, &beta, g_y, d.c, g_y, d.c, &algo, g_ws, kWs, g_s); }, 12, g_s);
}

int main() {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  LT(cublasLtCreate(&g_h));
  CK(cudaStreamCreate(&g_s));
  const int Ts[] = {16384, 16102, 16088, 15722, 17827, 20480, 65536, 63956, 66937, 68551};
  const int maxT = 68551;
  CK(cudaMalloc(&g_x, (size_t)maxT * 3072 * 2));
  CK(cudaMalloc(&g_y, (size_t)maxT * 3072 * 2));
  CK(cudaMalloc(&g_w, (size_t)3072 * 3072 * 2));
  CK(cudaMalloc(&g_bias, 3072 * 2));
  CK(cudaMalloc(&g_ws, kWs));
  // Small random-free values: zeros would let no kernel take a data-dependent path either way.
  CK(cudaMemset(g_x, 0x11, (size_t)maxT * 3072 * 2));
  CK(cudaMemset(g_w, 0x11, (size_t)3072 * 3072 * 2));
  CK(cudaMemset(g_bias, 0, 3072 * 2));
  struct Shape {
    const char* name;
    int K, N;
    bool bias;
  };
  for (const Shape sh : {Shape{"up", 768, 3072, false}, Shape{"o", 768, 768, false}, Shape{"qkv", 768, 2304, true}, Shape{"down", 3072, 768, false}}) {
    std::vector<cublasLtMatmulAlgo_t> bestAt;
    for (const int T : Ts) {
      Desc d(T, sh.K, sh.N, sh.bias);
      cublasLtMatmulPreference_t pref;
      LT(cublasLtMatmulPreferenceCreate(&pref));
      LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &kWs, sizeof(kWs)));
      std::vector<cublasLtMatmulHeuristicResult_t> res(8);
      int returned = 0;
      LT(cublasLtMatmulAlgoGetHeuristic(g_h, d.op, d.a, d.b, d.c, d.c, pref, 8, res.data(), &returned));
      cublasLtMatmulPreferenceDestroy(pref);
      std::string line;
      float best = 1e30f;
      int bi = 0;
      for (int i = 0; i < returned; i++) {
        const float t = time_algo(d, res[i].algo);
        char buf[96];
        std::snprintf(buf, sizeof buf, " [%d] %.1f %s", i, t, describe(res[i].algo).c_str());
        line += buf;
        if (t > 0 && t < best) best = t, bi = i;
      }
      bestAt.push_back(res[bi].algo);
      std::printf("CAND %-4s T=%6d: best [%d] %.1f us = %.2f ns/token |%s\n", sh.name, T, bi, best, best * 1000.0 / T, line.c_str());
    }
    // Each T's fastest, at every T (µs; "-" where it does not apply).
    for (size_t j = 0; j < bestAt.size(); j++) {
      std::string line;
      for (const int T : Ts) {
        Desc d(T, sh.K, sh.N, sh.bias);
        const float t = time_algo(d, bestAt[j]);
        char buf[32];
        if (t > 0) std::snprintf(buf, sizeof buf, " %7.1f", t);
        else std::snprintf(buf, sizeof buf, " %7s", "-");
        line += buf;
      }
      std::printf("CROSS %-4s best at T=%6d (%s) at T =", sh.name, Ts[j], describe(bestAt[j]).c_str());
      for (const int T : Ts) std::printf(" %d", T);
      std::printf(":%s\n", line.c_str());
    }
  }
  return 0;
}
