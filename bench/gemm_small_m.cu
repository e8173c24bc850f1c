// Small-M linear layers (batch 1: T = 128 tokens) through cuBLASLt: how fast the four BERT-base
// GEMM shapes can go, and which configuration gets there. For each shape Y[T×N] = X[T×K]·W[N×K]ᵀ
// (+ bias, fp16, fp32 accumulate: the engine's GemmRunner::linear) it times
//   - heuristic[0] (what the engine runs with EMBEDRANK_GEMM_TUNE=0),
//   - the best of the heuristic's first 8 (the engine's load-time tuner) and of its first 64,
//   - the best of a sweep over every algorithm id × tile × stages × split-K (1..32) × reduction
//     scheme that cublasLtMatmulAlgoCheck accepts.
// Weights rotate over enough copies (> 60 MB) that each call reads W from HBM, as a 12-layer model
// does; each time is the median over 7 repeats of 48 back-to-back calls captured in a CUDA graph.
// Build and run (device): nvcc -O3 -std=c++17 -arch=sm_90 bench/gemm_small_m.cu -lcublasLt -o /tmp/gsm && /tmp/gsm [T ...]
// For large T (e.g. 16384, a 32 × 512 batch) set GSM_CALLS (calls per graph, default 48) and GSM_SPLITS
// (split-K counts to sweep, default 1,2,3,4,6,8,12,16,24,32) lower, or the sweep takes minutes per shape.
#include <cuda_fp16.h>

#include "cublaslt_bench.h"

struct Problem {
  int T, K, N;
  cublasLtMatmulDesc_t op;
  cublasLtMatrixLayout_t a, b, c;
  std::vector<void*> w;  // rotating weight copies
  void *x, *y, *bias, *ws;
  size_t ws_bytes = 32u << 20;
};

static cublasLtHandle_t g_h;
static cudaStream_t g_s;

// Median µs per call of 48 calls in one graph (weights rotating), 7 replays; < 0 when the configuration fails.
static int g_calls = 48;
static std::vector<int> g_splits = {1, 2, 3, 4, 6, 8, 12, 16, 24, 32};

static float time_algo(Problem& p, const cublasLtMatmulAlgo_t& algo) {
  const float alpha = 1.f, beta = 0.f;
  return graph_median_us(
      [&](int i) {
        return cublasLtMatmul(g_h, p.op, &alpha, p.w[i % p.w.size()], p.a, p.x, p.b, &beta, p.y, p.c, p.y, p.c, &algo, p.ws,
                              p.ws_bytes, g_s);
      },
      g_calls, g_s);
}

static void run_shape(int T, int K, int N) {
  Problem p;
  p.T = T, p.K = K, p.N = N;
  LT(cublasLtMatmulDescCreate(&p.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
  LT(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof(opT)));
  LT(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof(opN)));
  const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
  LT(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
  LT(cublasLtMatrixLayoutCreate(&p.a, CUDA_R_16F, K, N, K));
  LT(cublasLtMatrixLayoutCreate(&p.b, CUDA_R_16F, K, T, K));
  LT(cublasLtMatrixLayoutCreate(&p.c, CUDA_R_16F, N, T, N));
  const size_t wbytes = (size_t)K * N * 2;
  const int copies = std::max<int>(8, (int)((64u << 20) / wbytes) + 1);
  for (int i = 0; i < copies; i++) {
    void* w;
    CK(cudaMalloc(&w, wbytes));
    CK(cudaMemset(w, 0, wbytes));
    p.w.push_back(w);
  }
  CK(cudaMalloc(&p.x, (size_t)T * K * 2));
  CK(cudaMemset(p.x, 0, (size_t)T * K * 2));
  CK(cudaMalloc(&p.y, (size_t)T * N * 2));
  CK(cudaMalloc(&p.bias, (size_t)N * 2));
  CK(cudaMemset(p.bias, 0, (size_t)N * 2));
  CK(cudaMalloc(&p.ws, p.ws_bytes));
  LT(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &p.bias, sizeof(p.bias)));

  cublasLtMatmulPreference_t pref;
  LT(cublasLtMatmulPreferenceCreate(&pref));
  LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &p.ws_bytes, sizeof(p.ws_bytes)));
  std::vector<cublasLtMatmulHeuristicResult_t> res(64);
  int returned = 0;
  LT(cublasLtMatmulAlgoGetHeuristic(g_h, p.op, p.a, p.b, p.c, p.c, pref, 64, res.data(), &returned));
  cublasLtMatmulPreferenceDestroy(pref);
  float h0 = -1, best8 = 1e9, best64 = 1e9;
  std::string best8s, best64s;
  for (int i = 0; i < returned; i++) {
    const float t = time_algo(p, res[i].algo);
    if (t < 0) continue;
    if (i == 0) h0 = t;
    if (i < 8 && t < best8) best8 = t, best8s = describe(res[i].algo);
    if (t < best64) best64 = t, best64s = describe(res[i].algo);
  }

  // Exhaustive sweep.
  int nids = 0;
  std::vector<int> ids(256);
  LT(cublasLtMatmulAlgoGetIds(g_h, CUBLAS_COMPUTE_32F, CUDA_R_32F, CUDA_R_16F, CUDA_R_16F, CUDA_R_16F, CUDA_R_16F, 256, ids.data(), &nids));
  float bestAll = 1e9;
  std::string bestAlls;
  int tried = 0;
  for (int a = 0; a < nids; a++) {
    cublasLtMatmulAlgo_t algo;
    if (cublasLtMatmulAlgoInit(g_h, CUBLAS_COMPUTE_32F, CUDA_R_32F, CUDA_R_16F, CUDA_R_16F, CUDA_R_16F, CUDA_R_16F, ids[a], &algo) != CUBLAS_STATUS_SUCCESS) continue;
    size_t sz = 0;
    cublasLtMatmulAlgoCapGetAttribute(&algo, CUBLASLT_ALGO_CAP_TILE_IDS, nullptr, 0, &sz);
    std::vector<int> tiles(std::max<size_t>(1, sz / sizeof(int)), CUBLASLT_MATMUL_TILE_UNDEFINED);
    if (sz) cublasLtMatmulAlgoCapGetAttribute(&algo, CUBLASLT_ALGO_CAP_TILE_IDS, tiles.data(), sz, &sz);
    cublasLtMatmulAlgoCapGetAttribute(&algo, CUBLASLT_ALGO_CAP_STAGES_IDS, nullptr, 0, &sz);
    std::vector<int> stages(std::max<size_t>(1, sz / sizeof(int)), CUBLASLT_MATMUL_STAGES_UNDEFINED);
    if (sz) cublasLtMatmulAlgoCapGetAttribute(&algo, CUBLASLT_ALGO_CAP_STAGES_IDS, stages.data(), sz, &sz);
    int splitk_ok = 0;
    cublasLtMatmulAlgoCapGetAttribute(&algo, CUBLASLT_ALGO_CAP_SPLITK_SUPPORT, &splitk_ok, sizeof(splitk_ok), &sz);
    uint32_t red_mask = 0;
    cublasLtMatmulAlgoCapGetAttribute(&algo, CUBLASLT_ALGO_CAP_REDUCTION_SCHEME_MASK, &red_mask, sizeof(red_mask), &sz);
    for (int tile : tiles)
      for (int st : stages)
        for (int sk : g_splits) {
          if (sk > 1 && !splitk_ok) continue;
          for (uint32_t red = 0; red <= 4; red = red ? red << 1 : 1) {
            if (sk == 1 && red) break;
            if (sk > 1 && !(red & red_mask)) continue;
            cublasLtMatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof(tile));
            cublasLtMatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_STAGES_ID, &st, sizeof(st));
            cublasLtMatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &sk, sizeof(sk));
            cublasLtMatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &red, sizeof(red));
            cublasLtMatmulHeuristicResult_t chk{};
            if (cublasLtMatmulAlgoCheck(g_h, p.op, p.a, p.b, p.c, p.c, &algo, &chk) != CUBLAS_STATUS_SUCCESS) continue;
            if (chk.workspaceSize > p.ws_bytes) continue;
            const float t = time_algo(p, algo);
            tried++;
            if (t > 0 && t < bestAll) bestAll = t, bestAlls = describe(algo);
          }
        }
  }
  const double bytes = (double)K * N * 2 + (double)T * (K + N) * 2;
  std::printf("GEMM T=%d K=%d N=%d: heuristic[0] %.2f us | best of 8 %.2f us (%s) | best of %d %.2f us (%s) | sweep of %d: %.2f us (%s) = %.0f GB/s\n",
              T, K, N, h0, best8, best8s.c_str(), returned, best64, best64s.c_str(), tried, bestAll, bestAlls.c_str(), bytes / bestAll / 1e3);
  std::fflush(stdout);
  for (void* w : p.w) cudaFree(w);
  cudaFree(p.x), cudaFree(p.y), cudaFree(p.bias), cudaFree(p.ws);
  cublasLtMatrixLayoutDestroy(p.a), cublasLtMatrixLayoutDestroy(p.b), cublasLtMatrixLayoutDestroy(p.c);
  cublasLtMatmulDescDestroy(p.op);
}

int main(int argc, char** argv) {
  LT(cublasLtCreate(&g_h));
  CK(cudaStreamCreate(&g_s));
  if (const char* c = std::getenv("GSM_CALLS")) g_calls = std::max(1, std::atoi(c));
  if (const char* sp = std::getenv("GSM_SPLITS")) {
    g_splits.clear();
    for (const char* q = sp; *q;) {
      g_splits.push_back(std::max(1, std::atoi(q)));
      while (*q && *q != ',') q++;
      if (*q == ',') q++;
    }
  }
  std::vector<int> ts;
  for (int i = 1; i < argc; i++) ts.push_back(std::atoi(argv[i]));
  if (ts.empty()) ts = {128};
  const int shapes[4][2] = {{768, 2304}, {768, 768}, {768, 3072}, {3072, 768}};  // (K, N): QKV, out, FFN up, FFN down
  for (int T : ts)
    for (auto& s : shapes) run_shape(T, s[0], s[1]);
  return 0;
}
