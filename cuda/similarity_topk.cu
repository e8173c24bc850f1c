// Full-corpus retrieval scoring, as mteb's SearchEncoderWrapper does it for a bi-encoder: the
// query × document similarity matrix (cos_sim or dot_score) and each query's top k.
//
// The product S = Q · Dᵀ runs on the GPU in exact fp32 (cuBLASLt through GemmRunner, TF32 off:
// mteb computes fp32 torch.mm with allow_tf32 False). Cosine is the dot of rows normalised as
// torch.nn.functional.normalize(x, p=2, dim=1) does it: x / max(‖x‖₂, 1e-12), fp32. The corpus is
// processed in tiles of kTileDocs documents (fewer above dim 1024: 256 MiB a tile) and the
// queries in blocks, so the device holds a bounded amount (under 1 GiB for up to 1000 queries at
// dim 384) whatever the corpus size (1M × 384 included).
// Each tile's score rows are copied back and reduced on the host with the order the CPU path uses
// (src/eval/retrieval.ts topKIndices): score descending, ties by the lower document index. That
// is a total order, so the top k of the union of the tiles' top k is the corpus' top k, and the
// result does not depend on the tiling.
#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "gemm.h"
#include "ops.h"

namespace er {

namespace {

constexpr int kTileDocs = 65536;
constexpr size_t kTileBytes = size_t(256) << 20;  // one corpus tile: 65,536 documents up to dim 1024
constexpr size_t kScoreFloats = size_t(1) << 26;  // one query block × tile of scores: 256 MiB
constexpr size_t kAlignFloats = 64;               // 256-byte starts: what cuBLASLt's heuristic assumes

size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

// One warp per row: x[r] /= max(‖x[r]‖₂, eps), the fp32 sum of squares as torch reduces it.
__global__ void l2_normalize_rows(float* x, int rows, int dim, size_t pitch) {
  const int warp = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (warp >= rows) return;
  float* r = x + (size_t)warp * pitch;
  float ss = 0.f;
  for (int i = lane; i < dim; i += 32) ss = fmaf(r[i], r[i], ss);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
  const float denom = fmaxf(sqrtf(ss), 1e-12f);
  for (int i = lane; i < dim; i += 32) r[i] = r[i] / denom;
}

void normalize_rows(float* x, int rows, int dim, size_t pitch, cudaStream_t s) {
  if (rows == 0) return;
  const int threads = 256;
  const int blocks = (int)(((size_t)rows * 32 + threads - 1) / threads);
  l2_normalize_rows<<<blocks, threads, 0, s>>>(x, rows, dim, pitch);
  ER_LAUNCH("l2_normalize_rows");
}

// (score, document index); "better" is the CPU path's order.
using Hit = std::pair<float, int>;
inline bool better(const Hit& a, const Hit& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); }

// Per-device state kept between calls: the cuBLASLt runner (handle, workspace, plans) and the
// buffers, grown as needed. Calls on one device run one at a time.
struct DeviceScorer {
  std::mutex mu;
  std::unique_ptr<GemmRunner> gemm;
  cudaStream_t stream = nullptr;
  float *dQ = nullptr, *dD = nullptr, *dS = nullptr, *hS = nullptr;
  size_t capQ = 0, capD = 0, capS = 0, capHS = 0;

  static void grow_device(float*& p, size_t& cap, size_t n) {
    if (n <= cap) return;
    if (p) cudaFree(p);
    p = nullptr;
    cap = 0;
    ER_CHECK(cudaMalloc(&p, n * sizeof(float)));
    cap = n;
  }
  void grow_host(size_t n) {
    if (n <= capHS) return;
    if (hS) cudaFreeHost(hS);
    hS = nullptr;
    capHS = 0;
    ER_CHECK(cudaMallocHost(&hS, n * sizeof(float)));
    capHS = n;
  }
};

std::mutex g_scorers_mu;
// Never destroyed: freeing CUDA / cuBLASLt objects from static destructors at process exit races
// the runtime's own teardown.
std::map<int, std::unique_ptr<DeviceScorer>>& scorers() {
  static auto* m = new std::map<int, std::unique_ptr<DeviceScorer>>();
  return *m;
}

DeviceScorer& scorer(int device) {
  std::lock_guard<std::mutex> g(g_scorers_mu);
  auto& p = scorers()[device];
  if (!p) p = std::make_unique<DeviceScorer>();
  return *p;
}

// Folds one tile's score rows into the running top k of queries [q0, q0 + qb). best[q] holds at
// most k hits; once it holds k, only hits better than its worst can enter.
void reduce_tile(const float* S, int qb, int n, int doc0, int q0, int k, std::vector<std::vector<Hit>>& best,
                 std::vector<Hit>& worst, std::atomic<bool>& nan) {
  const int threads = std::max(1, std::min<int>({16, (int)std::thread::hardware_concurrency(), qb}));
  auto work = [&](int t) {
    std::vector<Hit> cand;
    for (int i = t; i < qb && !nan.load(std::memory_order_relaxed); i += threads) {
      const float* row = S + (size_t)i * n;
      std::vector<Hit>& b = best[q0 + i];
      const bool full = (int)b.size() == k;
      const Hit w = worst[q0 + i];
      cand.assign(b.begin(), b.end());
      for (int j = 0; j < n; j++) {
        const float s = row[j];
        if (s != s) {
          nan = true;
          return;
        }
        const Hit h{s, doc0 + j};
        if (!full || better(h, w)) cand.push_back(h);
      }
      if ((int)cand.size() > k) {
        std::nth_element(cand.begin(), cand.begin() + (k - 1), cand.end(), better);
        cand.resize(k);
      }
      if ((int)cand.size() == k) worst[q0 + i] = *std::max_element(cand.begin(), cand.end(), better);
      b.swap(cand);
    }
  };
  if (threads == 1) {
    work(0);
    return;
  }
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; t++) pool.emplace_back(work, t);
  for (auto& th : pool) th.join();
}

}  // namespace

void similarity_topk(int device, const float* Q, int nq, const float* D, int nd, int dim, bool cosine, int k,
                     int tile_docs, int query_block, int* out_idx, float* out_scores) {
  if (nq < 1 || nd < 1 || dim < 1 || k < 1) throw std::runtime_error("similarity_topk: nq, nd, dim and k must be positive");
  const int kk = std::min(k, nd);
  // Every GEMM of a call, and of every call with the same queries, has the same shape [qb, tile]:
  // the last tile is padded with zero rows. One shape means one cuBLASLt algorithm, hence the same
  // arithmetic for every document, so duplicated documents score bit-identically wherever they
  // sit (in any tile or corpus chunk) and tie exactly as on the CPU path.
  const int tile = tile_docs > 0 ? tile_docs : (int)std::min<size_t>(kTileDocs, std::max<size_t>(1, kTileBytes / ((size_t)dim * sizeof(float))));
  const int qb_max = std::min(nq, query_block > 0 ? query_block : (int)std::max<size_t>(1, kScoreFloats / tile));
  const int nblocks = (nq + qb_max - 1) / qb_max;
  const size_t qpitch = round_up((size_t)qb_max * dim, kAlignFloats);  // each query block starts aligned

  DeviceScorer& sc = scorer(device);
  std::lock_guard<std::mutex> lock(sc.mu);
  ER_CHECK(cudaSetDevice(device));
  if (!sc.gemm) {
    ER_CHECK(cudaStreamCreateWithFlags(&sc.stream, cudaStreamNonBlocking));
    sc.gemm = std::make_unique<GemmRunner>();
  }
  cudaStream_t s = sc.stream;
  DeviceScorer::grow_device(sc.dQ, sc.capQ, qpitch * nblocks);
  DeviceScorer::grow_device(sc.dD, sc.capD, (size_t)tile * dim);
  DeviceScorer::grow_device(sc.dS, sc.capS, (size_t)qb_max * tile);
  sc.grow_host((size_t)qb_max * tile);

  // Queries: uploaded (and normalised) once, block by block at aligned offsets.
  for (int b = 0; b < nblocks; b++) {
    const int q0 = b * qb_max, qb = std::min(qb_max, nq - q0);
    float* dst = sc.dQ + qpitch * b;
    ER_CHECK(cudaMemcpyAsync(dst, Q + (size_t)q0 * dim, (size_t)qb * dim * sizeof(float), cudaMemcpyHostToDevice, s));
    if (cosine) normalize_rows(dst, qb, dim, dim, s);
  }

  std::vector<std::vector<Hit>> best(nq);
  std::vector<Hit> worst(nq);
  for (auto& b : best) b.reserve(kk);
  std::atomic<bool> nan{false};
  for (int d0 = 0; d0 < nd && !nan; d0 += tile) {
    const int n = std::min(tile, nd - d0);
    ER_CHECK(cudaMemcpyAsync(sc.dD, D + (size_t)d0 * dim, (size_t)n * dim * sizeof(float), cudaMemcpyHostToDevice, s));
    if (n < tile) ER_CHECK(cudaMemsetAsync(sc.dD + (size_t)n * dim, 0, (size_t)(tile - n) * dim * sizeof(float), s));
    if (cosine) normalize_rows(sc.dD, n, dim, dim, s);
    for (int b = 0; b < nblocks && !nan; b++) {
      const int q0 = b * qb_max, qb = std::min(qb_max, nq - q0);
      sc.gemm->linear(DType::F32, sc.dQ + qpitch * b, qb, dim, sc.dD, tile, nullptr, sc.dS, s, /*allow_tf32=*/false);
      // the n real columns of each row, packed: [qb, n]
      ER_CHECK(cudaMemcpy2DAsync(sc.hS, (size_t)n * sizeof(float), sc.dS, (size_t)tile * sizeof(float), (size_t)n * sizeof(float),
                                 qb, cudaMemcpyDeviceToHost, s));
      ER_CHECK(cudaStreamSynchronize(s));
      reduce_tile(sc.hS, qb, n, d0, q0, kk, best, worst, nan);
    }
  }
  if (nan) throw std::runtime_error("NaN values detected in the similarity scores");
  for (int q = 0; q < nq; q++) {
    std::vector<Hit>& b = best[q];
    std::sort(b.begin(), b.end(), better);
    for (int r = 0; r < kk; r++) {
      out_idx[(size_t)q * kk + r] = b[r].second;
      out_scores[(size_t)q * kk + r] = b[r].first;
    }
  }
}

}  // namespace er
