// cuBLASLt linear layers (see gemm.h). In column-major terms the product is
// C[N×T] = op_T(W as K×N) · X as K×T, so no transposes are materialised.
#include <cublasLt.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <type_traits>
#include <string>
#include <vector>

#include "gemm.h"

namespace er {

static void lt_check(cublasStatus_t st, const char* what) {
  if (st == CUBLAS_STATUS_SUCCESS) return;
  std::string msg = std::string("cuBLASLt error ") + std::to_string((int)st) + " in " + what;
  if (st == CUBLAS_STATUS_ALLOC_FAILED) throw CudaFailure(msg + " (out of GPU memory)", false, true);
  throw CudaFailure(msg, st == CUBLAS_STATUS_EXECUTION_FAILED, false);
}
#define LT(x) lt_check((x), #x)

struct GemmRunner::Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  ~Plan() {
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

// Tuned algorithms, shared by every runner (slot) of a device: (device, dtype, T class, K, N,
// bias, tf32, gelu) → algorithm.
using TunedKey = std::tuple<int, int, int, int, int, bool, bool, bool>;
static std::mutex g_tuned_mu;
static std::map<TunedKey, cublasLtMatmulAlgo_t>& tuned_algos() {
  static std::map<TunedKey, cublasLtMatmulAlgo_t> m;
  return m;
}

// Shape class of a token count: the next of 2^k·{1, 1.25, 1.5, 1.75} at or above it (min 64).
static int t_class(int T) {
  int p = 64;
  while (p * 2 <= T) p *= 2;
  for (int q = 0; q <= 4; q++) {
    const int c = p + p / 4 * q;
    if (c >= T) return c;
  }
  return p * 2;
}

GemmRunner::GemmRunner(size_t workspace_bytes) : workspace_bytes_(workspace_bytes) {
  const char* t = std::getenv("EMBEDRANK_GEMM_TUNE");
  tune_ = !(t && t[0] == '0');
  class_candidates_ = env_flag("EMBEDRANK_GEMM_CLASS_CANDIDATES", true);
  ER_CHECK(cudaGetDevice(&device_));
  cublasLtHandle_t h;
  LT(cublasLtCreate(&h));
  handle_ = h;
  ER_CHECK(cudaMalloc(&workspace_, workspace_bytes_));
}

GemmRunner::~GemmRunner() {
  plans_.clear();
  if (workspace_) cudaFree(workspace_);
  if (handle_) cublasLtDestroy((cublasLtHandle_t)handle_);
}

static cudaDataType_t cuda_type(DType dt) {
  return dt == DType::F32 ? CUDA_R_32F : dt == DType::F16 ? CUDA_R_16F : CUDA_R_16BF;
}

GemmRunner::Plan& GemmRunner::plan(DType dt, int T, int K, int N, const void* bias_ptr, bool tf32, bool gelu, const void* X,
                                   const void* W, void* Y, cudaStream_t s) {
  const bool bias = bias_ptr != nullptr;
  Key key{(int)dt, T, K, N, bias, tf32, gelu};
  auto it = plans_.find(key);
  if (it != plans_.end()) return *it->second;
  if (plans_.size() > 4096) plans_.clear();  // batches of every length: keep the cache bounded
  auto p = std::make_unique<Plan>();
  const cudaDataType_t ty = cuda_type(dt);
  // fp16/bf16 accumulate in fp32 like PyTorch; float32 is exact fp32 unless TF32 is asked for.
  const cublasComputeType_t compute = dt == DType::F32 && tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  LT(cublasLtMatmulDescCreate(&p->op, compute, CUDA_R_32F));
  const cublasOperation_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
  LT(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof(opT)));
  LT(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof(opN)));
  const cublasLtEpilogue_t epi = gelu ? CUBLASLT_EPILOGUE_GELU_BIAS : bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
  LT(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
  LT(cublasLtMatrixLayoutCreate(&p->a, ty, K, N, K));
  LT(cublasLtMatrixLayoutCreate(&p->b, ty, K, T, K));
  LT(cublasLtMatrixLayoutCreate(&p->c, ty, N, T, N));
  cublasLtMatmulPreference_t pref;
  LT(cublasLtMatmulPreferenceCreate(&pref));
  // Destroyed on every way out: the tuner below asks the heuristic again with it.
  const std::unique_ptr<std::remove_pointer_t<cublasLtMatmulPreference_t>, cublasStatus_t (*)(cublasLtMatmulPreference_t)> pref_owner(
      pref, cublasLtMatmulPreferenceDestroy);
  LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes_, sizeof(workspace_bytes_)));
  if (dt == DType::F32) {
    // fp32 is the exactness mode: no split-K, so each output sums K in one order whatever the row
    // count (batch composition) is; split-K's reordered partial sums moved a 28-layer model's
    // logits by ~1e-4 between schedules. (EMBEDRANK_FP32_SPLITK=1 allows it again.)
    const char* sk = std::getenv("EMBEDRANK_FP32_SPLITK");
    if (!(sk && sk[0] == '1')) {
      const uint32_t none = CUBLASLT_REDUCTION_SCHEME_NONE;
      LT(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &none, sizeof(none)));
    }
  }
  if (bias) {
    // The heuristic must see a bias pointer's alignment class; real pointers are 256-byte aligned.
    const void* fake = reinterpret_cast<const void*>(256);
    LT(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &fake, sizeof(fake)));
  }
  const int want = tune_ ? 8 : 1;
  std::vector<cublasLtMatmulHeuristicResult_t> res(want);
  int returned = 0;
  const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic((cublasLtHandle_t)handle_, p->op, p->a, p->b, p->c, p->c, pref,
                                                           want, res.data(), &returned);
  LT(st);
  if (returned == 0) throw CudaFailure("cuBLASLt found no algorithm for " + std::to_string(T) + "x" + std::to_string(N) + "x" + std::to_string(K), false, false);
  p->algo = res[0].algo;
  if (tune_) {
    const TunedKey ckey{device_, (int)dt, t_class(T), K, N, bias, tf32, gelu};
    // The lock guards the map only. Timing waits on the stream, which may hold a collective of
    // other tensor-parallel ranks (threads of this process): a lock held across that wait would
    // deadlock with a rank that blocks on it before enqueuing its part. Two slots of one GPU may
    // thus time the same class at once (noisier picks on its first batch, never wrong results);
    // the first entry stays.
    // Whether an algorithm (the class's, or one the heuristic gave for another T) runs at this
    // T's layouts within the workspace.
    auto usable_here = [&](const cublasLtMatmulAlgo_t& algo) {
      cublasLtMatmulHeuristicResult_t chk{};
      return cublasLtMatmulAlgoCheck((cublasLtHandle_t)handle_, p->op, p->a, p->b, p->c, p->c, &algo, &chk) == CUBLAS_STATUS_SUCCESS &&
             chk.workspaceSize <= workspace_bytes_;
    };
    bool known = false;
    cublasLtMatmulAlgo_t known_algo{};
    {
      std::lock_guard<std::mutex> lock(g_tuned_mu);
      auto tt = tuned_algos().find(ckey);
      if (tt != tuned_algos().end()) known = true, known_algo = tt->second;
    }
    if (known) {
      if (usable_here(known_algo)) p->algo = known_algo;
    } else {
      // Candidates: the heuristic's for this T, and (unless EMBEDRANK_GEMM_CLASS_CANDIDATES=0)
      // its for the class's own size. It offers other lists for token counts such as a ragged
      // batch has, and those can lack what is fastest there too: BERT-base FFN-up at T = 16,102 on
      // an H200, best of its own 8 candidates 113.1 µs, the best of T = 16,384's 96.4
      // (bench/gemm_ragged.cu, session 9). Every candidate is checked against this T's layouts;
      // the class's list is optional (skipped if its layouts or heuristic fail).
      std::vector<cublasLtMatmulAlgo_t> cands;
      for (int i = 0; i < returned; i++) cands.push_back(res[i].algo);
      const int Tc = t_class(T);
      if (class_candidates_ && Tc != T) {
        using Layout = std::unique_ptr<std::remove_pointer_t<cublasLtMatrixLayout_t>, cublasStatus_t (*)(cublasLtMatrixLayout_t)>;
        cublasLtMatrixLayout_t raw_b = nullptr, raw_c = nullptr;
        const bool made_b = cublasLtMatrixLayoutCreate(&raw_b, ty, K, Tc, K) == CUBLAS_STATUS_SUCCESS;
        const Layout bc(made_b ? raw_b : nullptr, cublasLtMatrixLayoutDestroy);
        const bool made_c = cublasLtMatrixLayoutCreate(&raw_c, ty, N, Tc, N) == CUBLAS_STATUS_SUCCESS;
        const Layout cc(made_c ? raw_c : nullptr, cublasLtMatrixLayoutDestroy);
        std::vector<cublasLtMatmulHeuristicResult_t> rc(want);
        int rn = 0;
        if (!made_b || !made_c ||
            cublasLtMatmulAlgoGetHeuristic((cublasLtHandle_t)handle_, p->op, p->a, bc.get(), cc.get(), cc.get(), pref, want, rc.data(),
                                           &rn) != CUBLAS_STATUS_SUCCESS)
          rn = 0;
        for (int i = 0; i < rn; i++) {
          bool seen = false;
          for (const auto& a : cands) seen = seen || std::memcmp(&a, &rc[i].algo, sizeof(a)) == 0;
          if (!seen && usable_here(rc[i].algo)) cands.push_back(rc[i].algo);
        }
      }
      // Time each candidate on the real operands (Y is overwritten by the real call after). The
      // class is recorded only when something was timed, so a shape with one candidate is asked
      // again at its next token count, as before.
      if (cands.size() > 1) {
        if (bias) LT(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias_ptr, sizeof(bias_ptr)));
        cudaEvent_t e0, e1;
        ER_CHECK(cudaEventCreate(&e0));
        ER_CHECK(cudaEventCreate(&e1));
        const float alpha = 1.f, beta = 0.f;
        // Two passes over the candidates, each timed by its faster pass: the card's clock drifts
        // under the timing's own load, by about the 1-2% that separates the leading candidates
        // (session 9's ragged QKV and FFN-down; the two passes gave no measurable end-to-end change
        // on an H200, session 10 call b, and cost one more pass at a class's first batch).
        std::vector<float> ms_best(cands.size(), 1e30f);
        for (int pass = 0; pass < 2; pass++) {
          for (size_t i = 0; i < cands.size(); i++) {
            auto run = [&] {
              return cublasLtMatmul((cublasLtHandle_t)handle_, p->op, &alpha, W, p->a, X, p->b, &beta, Y, p->c, Y, p->c, &cands[i],
                                    workspace_, workspace_bytes_, s);
            };
            if (run() != CUBLAS_STATUS_SUCCESS) continue;
            ER_CHECK(cudaEventRecord(e0, s));
            for (int r = 0; r < 3; r++) run();
            ER_CHECK(cudaEventRecord(e1, s));
            ER_CHECK(cudaEventSynchronize(e1));
            float ms = 0.f;
            ER_CHECK(cudaEventElapsedTime(&ms, e0, e1));
            ms_best[i] = std::min(ms_best[i], ms);
          }
        }
        float best = 1e30f;
        for (size_t i = 0; i < cands.size(); i++)
          if (ms_best[i] < best) best = ms_best[i], p->algo = cands[i];
        cudaEventDestroy(e0);
        cudaEventDestroy(e1);
        std::lock_guard<std::mutex> lock(g_tuned_mu);
        tuned_algos().emplace(ckey, p->algo);
      }
    }
  }
  auto& ref = *p;
  plans_.emplace(key, std::move(p));
  return ref;
}

void GemmRunner::linear(DType dt, const void* X, int T, int K, const void* W, int N, const void* bias, void* Y,
                        cudaStream_t s, bool allow_tf32, bool gelu_tanh) {
  if (T == 0) return;
  if (gelu_tanh && (!bias || dt == DType::F32)) throw std::runtime_error("linear: the GELU epilogue needs a bias and a 16-bit dtype");
  Plan& p = plan(dt, T, K, N, bias, allow_tf32, gelu_tanh, X, W, Y, s);
  if (bias) LT(cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
  const float alpha = 1.f, beta = 0.f;
  LT(cublasLtMatmul((cublasLtHandle_t)handle_, p.op, &alpha, W, p.a, X, p.b, &beta, Y, p.c, Y, p.c, &p.algo, workspace_,
                    workspace_bytes_, s));
}

}  // namespace er
