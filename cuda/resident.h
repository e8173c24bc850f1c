// What every model resident on one GPU shares, whatever its architecture (bert.h: post-LN
// encoders; qwen3.h: pre-RMSNorm decoders): named weights uploaded in their stored dtype and
// converted on the GPU, the broken flag after a sticky CUDA error, and per-operation GPU timing
// (EMBEDRANK_PROFILE=1). The Node addon drives every model through this class.
#pragma once
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common.cuh"
#include "graphs.h"
#include "local_comm.h"
#include "nccl.h"

namespace er {

// What a forward pass returns: pooled embeddings, head scores, or fp32 hidden states (tests).
enum class Output : int { Embed = 0, Score = 1, Hidden = 2 };

// One rank's tensor-parallel communicator of one slot: NCCL's, or (EMBEDRANK_TP_LOCAL=1) the
// in-process one among ranks on a single GPU (local_comm.h); both null when world is 1.
struct Comm {
  NcclComm nccl = nullptr;
  std::unique_ptr<LocalComm> local;
};
std::string mib(size_t bytes);
inline size_t align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

class ResidentModel {
 public:
  virtual ~ResidentModel() = default;
  ResidentModel(const ResidentModel&) = delete;
  ResidentModel& operator=(const ResidentModel&) = delete;

  // Uploads one named tensor of `numel` values stored as `src` and converts it on the GPU to the
  // dtype the architecture keeps it in. Throws for an unknown name or a wrong size; CudaFailure
  // with oom set when it does not fit.
  void set_weight(const std::string& name, const void* data, size_t numel, DType src);
  // Joins the tensor-parallel group: one NCCL unique id per slot (EMBEDRANK_TP_LOCAL=1: the key of
  // an in-process group on this one GPU instead). Blocks until all ranks join.
  virtual void connect(const std::vector<NcclUniqueId>& ids) = 0;
  virtual int slot_count() const = 0;
  bool broken() const { return broken_; }
  // After a sticky error; also aborts this model's in-process groups so its peers stop waiting.
  void mark_broken();
  size_t weight_bytes() const { return weight_bytes_; }
  // Per-operation GPU time summed over batches since the last call (then reset): name → (ms, count).
  // Empty unless EMBEDRANK_PROFILE=1 was set when the model was made; marks cost a little time.
  std::map<std::string, std::pair<double, long>> take_profile();
  // CUDA graphs (graphs.h) since the model was made, over all slots: passes captured, launches of a
  // captured pass, and captures that failed (their keys run eagerly).
  struct GraphCounts {
    long captured = 0, replayed = 0, failed = 0;
  };
  GraphCounts graph_counts() const { return {graphs_captured_.load(), graphs_replayed_.load(), graphs_failed_.load()}; }

 protected:
  struct Tensor {
    void* ptr = nullptr;
    size_t numel = 0;
    DType dt = DType::F32;
  };
  // Events recorded on one stream between operations; each operation's time is the span since the mark before.
  struct Marks {
    std::vector<cudaEvent_t> events;
    std::vector<const char*> names;
    int n = 0;
  };
  ResidentModel(int device, DType dt);
  // Called by set_weight once `name` is resident as t (the architecture's dtype), with the
  // uploaded original still on the device (src_dev, stored dtype src): an architecture may keep a
  // derived form (BertModel under quantization fp8: e4m3 + per-channel scales, made from the
  // original values) and return true to have t freed. bytes_delta: the change in derived bytes
  // (counted in weight_bytes()). Default: keep t.
  virtual bool derive_weight(const std::string& name, const void* src_dev, DType src, const Tensor& t, long long& bytes_delta) {
    (void)name, (void)src_dev, (void)src, (void)t;
    bytes_delta = 0;
    return false;
  }
  // The architecture's size of weight `name` and whether it is kept in fp32 (else the compute dtype).
  // Throws std::runtime_error for a name the architecture does not have.
  virtual void expect(const std::string& name, size_t& numel, bool& fp32) const = 0;
  const Tensor& w(const std::string& name) const;
  bool has_weight(const std::string& name) const { return weights_.count(name) > 0; }
  void free_weights();
  void create_marks(Marks& m, size_t count);
  void destroy_marks(Marks& m);
  void mark(Marks& m, cudaStream_t s, const char* name);
  // After the stream has synchronised.
  void collect_marks(Marks& m);
  // Reads EMBEDRANK_CUDA_GRAPHS and EMBEDRANK_CUDA_GRAPH_MAX_TOKENS (graphs.h) for a model doing
  // `flops_per_token_layer` linear FLOPs per token and layer with batches of at most max_tokens.
  // Off under tensor parallelism (captured NCCL collectives made ncclCommDestroy hang at close on
  // 2×H200, and TP=2 stayed slower than TP=1 at batch 1 with them: 2.20 vs 1.65 ms) and with
  // EMBEDRANK_PROFILE=1. Throws std::runtime_error for a bad value of either variable.
  void configure_graphs(int world, double flops_per_token_layer, int max_tokens);
  // Whether a pass in `mode` runs under graphs (Hidden never: its buffers appear on first use).
  bool graphed(Output mode) const { return graph_mode_ != GraphMode::Off && mode != Output::Hidden; }
  // Whether a graphed pass of T tokens runs in its token bucket's graph (else its exact shape's).
  bool bucketed_graph(int T) const { return graph_mode_ == GraphMode::Bucket && T <= graph_max_tokens_; }
  // Floats a pass returns: Embed seqs × hidden, Score seqs × max(labels, 1), Hidden rows × hidden.
  static size_t output_floats(Output mode, int seqs, int rows, int hidden, int labels);
  // One forward pass of a slot on stream s under the model's graph mode (graphs.h), the one policy
  // every architecture follows. `cache` null (graphs off, or an output mode never graphed): pack
  // and enqueue `exact`, eagerly. Otherwise the pass runs in layout `graph` (a bucket's under
  // bucketed graphs, else `exact`), keyed by `key` (what fixes its kernel arguments): replayed
  // when captured; a bucket's first pass runs eagerly (GEMM plans and tuning, which synchronise,
  // happen then) and is captured right after; an exact shape is captured at its second sighting
  // and replayed at once; a key whose capture failed runs eagerly over `exact` from then on.
  // pack(L) writes the inputs into the pinned buffer (the pass's one H2D copy reads it at each
  // launch), enqueue(L) puts the whole pass on s, done() runs after s has synchronised (collect
  // results). Layout needs a `bool bucketed`.
  template <typename Layout, typename Pack, typename Enqueue, typename Done>
  void run_pass(cudaStream_t s, GraphCache* cache, const GraphCache::Key& key, const Layout& exact, const Layout& graph, Pack pack,
                Enqueue enqueue, Done done) {
    GraphCache::Graph* g = cache ? &cache->get(key) : nullptr;
    if (g && g->failed) g = nullptr;
    const Layout& L = g ? graph : exact;
    bool capture_after = false;
    if (g && !g->exec) {
      ++g->seen;
      capture_after = L.bucketed;
    }
    pack(L);
    if (g && !g->exec && !L.bucketed && g->seen >= 2) capture_graph(s, *g, [&] { enqueue(L); });
    if (g && g->exec) {
      launch_graph(s, *g);
    } else {
      enqueue(L);
    }
    ER_CHECK(cudaStreamSynchronize(s));
    done();
    if (capture_after) capture_graph(s, *g, [&] { enqueue(L); });
  }
  // GraphCache::capture, counted in graph_counts().
  void capture_graph(cudaStream_t s, GraphCache::Graph& g, const std::function<void()>& enqueue);
  // Launches a captured pass on s, counted in graph_counts().
  void launch_graph(cudaStream_t s, const GraphCache::Graph& g);
  // Rank `rank` of `world` joins group `id` on this model's device: an NCCL communicator, or under
  // EMBEDRANK_TP_LOCAL=1 an in-process one (LocalComm::join). Blocks until every rank joined.
  Comm join_comm(const NcclUniqueId& id, int world, int rank);
  // buf [count] in the compute dtype ← the sum over the group's ranks, enqueued on s; no-op for world 1.
  void all_reduce(Comm& comm, cudaStream_t s, void* buf, size_t count, int world);
  // Ends a communicator at close (aborts it after a sticky error: a destroy would wait on the
  // broken peers); never throws; leaves it empty.
  void release_comm(Comm& comm);
  // Allocates the activation buffers of every slot with allocate(slot). On a failure every slot is
  // freed with release(slot) (which must accept a slot allocated in part or not at all), then
  // cleanup() runs, and the error is rethrown — an out-of-memory CudaFailure as a new one (oom
  // set, not sticky) with oom_message(): what to lower, in the user's option names.
  template <typename Slot, typename Allocate, typename Release, typename Cleanup, typename OomMessage>
  static void allocate_slots(std::vector<Slot>& slots, Allocate allocate, Release release, Cleanup cleanup, OomMessage oom_message) {
    for (auto& s : slots) {
      try {
        allocate(s);
      } catch (const CudaFailure& e) {
        for (auto& t : slots) release(t);
        cleanup();
        if (!e.oom) throw;
        throw CudaFailure(oom_message(), false, true);
      }
    }
  }

  int device_;
  DType dt_;
  bool broken_ = false;
  bool profile_ = false;

 private:
  std::unordered_map<std::string, Tensor> weights_;
  size_t weight_bytes_ = 0;
  std::mutex prof_mu_;
  std::mutex local_mu_;
  std::vector<LocalComm*> local_comms_;  // joined in-process groups, aborted by mark_broken
  std::map<std::string, std::pair<double, long>> prof_;
  std::atomic<long> graphs_captured_{0}, graphs_replayed_{0}, graphs_failed_{0};
  GraphMode graph_mode_ = GraphMode::Off;
  int graph_max_tokens_ = 0;  // Bucket: the largest pass (tokens) served by bucketed graphs
};

}  // namespace er
