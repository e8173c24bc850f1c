// Graph modes, buckets and the per-slot graph cache (see graphs.h).
#include "graphs.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>

#include "common.cuh"

namespace er {

GraphMode graph_mode_from_env() {
  const char* v = std::getenv("EMBEDRANK_CUDA_GRAPHS");
  if (!v || !*v) return GraphMode::Bucket;  // measured on an H200: fresh-length batch-1 BERT-base 1.77 → 0.56 ms (bench/NOTES.md)
  std::string m(v);
  for (auto& c : m) c = (char)std::tolower((unsigned char)c);
  if (m == "bucket") return GraphMode::Bucket;
  if (m == "shape" || m == "1" || m == "true" || m == "yes" || m == "on") return GraphMode::Shape;
  if (m == "0" || m == "false" || m == "no" || m == "off") return GraphMode::Off;
  throw std::runtime_error(std::string("EMBEDRANK_CUDA_GRAPHS=") + v + " is not one of bucket, shape, 0");
}

int graph_max_tokens(double flops_per_token_layer, int max_tokens) {
  if (const char* v = std::getenv("EMBEDRANK_CUDA_GRAPH_MAX_TOKENS"); v && *v) {
    char* end = nullptr;
    const long t = std::strtol(v, &end, 10);
    if (*end || t < 1) throw std::runtime_error(std::string("EMBEDRANK_CUDA_GRAPH_MAX_TOKENS=") + v + " is not a positive integer");
    return (int)std::min<long>(t, max_tokens);
  }
  const double t = 2.0 * 30e-6 * 500e12 / flops_per_token_layer;
  return (int)std::min<double>(max_tokens, std::max(512.0, std::min(16384.0, t)));
}

int token_bucket(int T, int max_tokens) {
  int p = 64;
  while (p * 2 <= T) p *= 2;
  int b = 2 * p;
  for (int q = 0; q < 4; q++) {
    if (p + p / 4 * q >= T) {
      b = p + p / 4 * q;
      break;
    }
  }
  return std::min((b + 63) / 64 * 64, max_tokens);
}

int seq_bucket(int n, int max_seqs) {
  int b = 1;
  while (b < n) b *= 2;
  return std::min(b, max_seqs);
}

int bucket_tiles(int rows, int seqs, int block_m, size_t cap) {
  const long bm = block_m;
  const long most = (rows + std::min(seqs, rows) * (bm - 1)) / bm;
  return (int)std::min<long>(most, (long)cap);
}

GraphCache::GraphCache(GraphCache&& o) noexcept : graphs_(std::move(o.graphs_)), uses_(o.uses_) { o.graphs_.clear(); }

GraphCache& GraphCache::operator=(GraphCache&& o) noexcept {
  if (this != &o) {
    clear();
    graphs_ = std::move(o.graphs_);
    uses_ = o.uses_;
    o.graphs_.clear();
  }
  return *this;
}

GraphCache::Graph& GraphCache::get(const Key& key) {
  auto it = graphs_.find(key);
  if (it == graphs_.end()) {
    if (graphs_.size() >= kMax) {
      auto lru = graphs_.end();
      for (bool captured : {false, true}) {
        for (auto j = graphs_.begin(); j != graphs_.end(); ++j)
          if ((j->second.exec != nullptr) == captured && (lru == graphs_.end() || j->second.last_use < lru->second.last_use)) lru = j;
        if (lru != graphs_.end()) break;
      }
      if (lru->second.exec) cudaGraphExecDestroy(lru->second.exec);
      graphs_.erase(lru);
    }
    it = graphs_.emplace(key, Graph{}).first;
  }
  it->second.last_use = ++uses_;
  return it->second;
}

void GraphCache::capture(cudaStream_t s, Graph& g, const std::function<void()>& enqueue) {
  g.exec = nullptr;
  g.failed = true;  // until the graph is instantiated
  const cudaError_t begun = cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
  if (begun != cudaSuccess) {
    if (is_sticky(begun)) check(begun, "cudaStreamBeginCapture", __FILE__, __LINE__);
    cudaGetLastError();
    return;
  }
  std::exception_ptr failure;  // whatever enqueue threw; the capture is closed first
  try {
    enqueue();
  } catch (...) {
    failure = std::current_exception();
  }
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(s, &graph);
  cudaGraphExec_t exec = nullptr;
  const bool ok = !failure && ended == cudaSuccess && graph && cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess;
  if (graph) cudaGraphDestroy(graph);
  if (ok) {
    g.exec = exec;
    g.failed = false;
    return;
  }
  // Only an error that broke the context is passed on: the context itself says so (a sticky error
  // stays the last error). Anything else (an invalidated capture, an error a launcher reported
  // inside it, a refused instantiation) leaves this key to run eagerly, where a real fault shows.
  const cudaError_t now = cudaPeekAtLastError();
  if (is_sticky(now)) {
    if (failure) std::rethrow_exception(failure);
    check(now, "CUDA graph capture", __FILE__, __LINE__);
  }
  cudaGetLastError();
}

void GraphCache::clear() {
  for (auto& [_, g] : graphs_) if (g.exec) cudaGraphExecDestroy(g.exec);
  graphs_.clear();
}

}  // namespace er
