// CUDA graphs of whole forward passes, for every resident model (bert.cu: encoders; decoder.cu:
// decoder steps). One graph launch replaces ~12 kernel launches per layer: at small batches the
// host enqueueing them one by one, not the GPU, sets the latency.
//
// Mode (EMBEDRANK_CUDA_GRAPHS, read when a model is made):
//   Off ("0"): every batch enqueued kernel by kernel.
//   Shape ("shape", "1"): a graph per exact batch shape, captured when the shape is seen a second
//     time; varied batches never replay.
//   Bucket ("bucket", unset): a graph per token-count bucket (token_bucket) × sequence bucket
//     (seq_bucket), captured right after the bucket's first batch; any batch that fits replays it,
//     its lengths read by the kernels from device memory. Batches above the model's bucketed-graph
//     limit (graph_max_tokens) fall back to Shape.
// Models turn graphs off under tensor parallelism and with EMBEDRANK_PROFILE=1.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <functional>
#include <map>
#include <vector>

namespace er {

enum class GraphMode { Off, Shape, Bucket };

// EMBEDRANK_CUDA_GRAPHS; std::runtime_error naming the variable for an unknown value.
GraphMode graph_mode_from_env();

// Largest batch (tokens) that bucketed graphs serve for a model doing `flops_per_token_layer` FLOPs
// per token and layer in its linears, at most max_tokens. A graph pays off while the host's
// enqueueing (≈ 30 µs of launches per layer, cuBLASLt calls included) outlasts the layer's GPU
// work; past that the GPU is the bottleneck, eager launches overlap it, and a bucket's padding (up
// to 25% of the rows above 512 tokens, ≈ 9% on average) would only cost. Break-even ≈ 30 µs ×
// 500 TFLOP/s / flops; twice that keeps the batches where launch gaps still show, clamped to
// 512..16384 (BERT-base ≈ 2.1k tokens, MiniLM-L6 ≈ 8.5k, XLM-R-large ≈ 1.2k, Qwen3-0.6B ≈ 950:
// estimates). EMBEDRANK_CUDA_GRAPH_MAX_TOKENS overrides it (std::runtime_error if not a positive
// integer).
int graph_max_tokens(double flops_per_token_layer, int max_tokens);

// Token bucket of T: the next of 2^k·{1, 1.25, 1.5, 1.75} (at least 64), rounded up to a multiple
// of 64, at most max_tokens.
int token_bucket(int T, int max_tokens);
// Sequence bucket of n: the next power of two, at most max_seqs.
int seq_bucket(int n, int max_seqs);
// The most attention tiles of block_m query rows any batch of `rows` tokens in `seqs` sequences can
// have: Σ ceil(len_i / bm) ≤ (T + n·(bm − 1)) / bm with T ≤ rows, n ≤ min(seqs, rows); at most cap.
int bucket_tiles(int rows, int seqs, int block_m, size_t cap);

// One slot's graphs, keyed by whatever fixes a captured pass's kernel arguments (the model's
// bucket sizes, output mode, ...). At most kMax entries: beyond that the least recently used entry
// without a graph goes first (exact shapes of large ragged batches, seen once and never captured,
// would otherwise push out the bucket graphs), else the least recently used graph is destroyed
// (callers synchronise each pass, so none is in flight). Not thread-safe: one per slot, used by
// that slot's executor thread.
class GraphCache {
 public:
  struct Graph {
    int seen = 0;
    bool failed = false;  // capture or instantiation failed: this key runs eagerly
    cudaGraphExec_t exec = nullptr;
    unsigned long long last_use = 0;
  };
  using Key = std::vector<int>;
  static constexpr size_t kMax = 128;

  GraphCache() = default;
  GraphCache(const GraphCache&) = delete;
  GraphCache& operator=(const GraphCache&) = delete;
  GraphCache(GraphCache&& o) noexcept;
  GraphCache& operator=(GraphCache&& o) noexcept;
  ~GraphCache() { clear(); }

  // The entry of key, made (empty) if new; counts as a use.
  Graph& get(const Key& key);
  // Records enqueue() on stream s into g.exec without running it (stream capture, thread-local
  // mode). On any failure g.failed is set and g.exec is null (that key runs eagerly from then on);
  // only an error that broke the context (the context's last error is sticky afterwards) is
  // rethrown, once the capture is closed: what enqueue threw, else a CudaFailure.
  static void capture(cudaStream_t s, Graph& g, const std::function<void()>& enqueue);
  // Destroys every graph (call with the context current and nothing in flight).
  void clear();

 private:
  std::map<Key, Graph> graphs_;
  unsigned long long uses_ = 0;
};

}  // namespace er
