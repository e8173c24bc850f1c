// LocalComm (see local_comm.h). One call of all_reduce_sum on rank `me`, all ranks in the same order:
//   a. my stream waits on every other rank's `done` event of the previous call: they may still be
//      reading my scratch buffer, which step b overwrites (an event never recorded counts as done);
//   b. buf → scratch[me] on my stream; record ready[me];
//   c. host barrier A: every rank has recorded its ready event and published its scratch pointer;
//   d. my stream waits on every other rank's ready event; buf = Σ_r scratch[r] (sum_partials, rank
//      order); record done[me];
//   e. host barrier B: every rank has recorded done before anyone starts the next call's step a,
//      and nobody re-records ready (next call's b) before every rank has waited on it (this d).
// Barriers are generation-counted under the group's mutex, bounded by a timeout, and return at
// once with an error when the group was aborted (a rank failed or left).
#include "local_comm.h"

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "ops.h"

namespace er {

namespace {

constexpr int kMaxRanks = kMaxSumParts;

std::chrono::seconds timeout() {
  const char* v = std::getenv("EMBEDRANK_TP_LOCAL_TIMEOUT_S");
  const long s = v && *v ? std::strtol(v, nullptr, 10) : 0;
  return std::chrono::seconds(s > 0 ? s : 600);
}

const char* dtype_name(DType d) { return d == DType::F32 ? "float32" : d == DType::F16 ? "float16" : "bfloat16"; }

}  // namespace

bool tp_local_enabled() {
  const char* v = std::getenv("EMBEDRANK_TP_LOCAL");
  return v && std::strcmp(v, "1") == 0;
}

struct LocalGroup {
  struct Rank {
    bool joined = false;
    void* scratch = nullptr;
    size_t scratch_bytes = 0;
    cudaEvent_t ready = nullptr;
    cudaEvent_t done = nullptr;
    size_t count = 0;  // this call's count and dtype, checked equal on every rank after barrier A
    DType dt = DType::F32;
  };
  int world = 0;
  int device = 0;
  std::mutex mu;
  std::condition_variable cv;
  int joined = 0;
  int arrived = 0;
  unsigned long long generation = 0;
  bool broken = false;
  std::string why;
  std::array<Rank, kMaxRanks> ranks;

  // Under mu: marks the group broken (first reason wins) and wakes every waiting rank.
  void break_locked(const std::string& reason) {
    if (!broken) {
      broken = true;
      why = reason;
    }
    cv.notify_all();
  }

  ~LocalGroup() {
    // The last rank has left: wait for each rank's last reduction (it reads every scratch), then
    // free. Errors are ignored: after a sticky error the context is gone anyway.
    cudaSetDevice(device);
    for (auto& r : ranks) {
      if (r.done) cudaEventSynchronize(r.done);
    }
    for (auto& r : ranks) {
      if (r.scratch) cudaFree(r.scratch);
      if (r.ready) cudaEventDestroy(r.ready);
      if (r.done) cudaEventDestroy(r.done);
    }
  }
};

namespace {

// Groups still forming, by id: a group leaves the registry once every rank has joined (or it
// failed to form), so a later connect with the same bytes starts a new group.
std::mutex registry_mu;
std::map<std::string, std::shared_ptr<LocalGroup>>& registry() {
  static auto* m = new std::map<std::string, std::shared_ptr<LocalGroup>>();  // never destroyed: worker threads may outlive static destructors
  return *m;
}

}  // namespace

std::unique_ptr<LocalComm> LocalComm::join(const NcclUniqueId& id, int world, int rank, int device) {
  if (world < 2 || world > kMaxRanks) {
    throw std::runtime_error("local tensor-parallel group (EMBEDRANK_TP_LOCAL=1): world size " + std::to_string(world) + " must be 2 … " +
                             std::to_string(kMaxRanks));
  }
  if (rank < 0 || rank >= world) throw std::runtime_error("local tensor-parallel group: rank " + std::to_string(rank) + " of world " + std::to_string(world));
  const std::string key(id.internal, sizeof(id.internal));
  std::shared_ptr<LocalGroup> g;
  {
    std::lock_guard<std::mutex> lg(registry_mu);
    auto& slot = registry()[key];
    if (!slot) {
      slot = std::make_shared<LocalGroup>();
      slot->world = world;
      slot->device = device;
    }
    g = slot;
  }
  cudaEvent_t ready = nullptr, done = nullptr;
  ER_CHECK(cudaSetDevice(device));
  ER_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
  const cudaError_t made = cudaEventCreateWithFlags(&done, cudaEventDisableTiming);
  if (made != cudaSuccess) {
    cudaEventDestroy(ready);
    ER_CHECK(made);
  }
  std::unique_lock<std::mutex> l(g->mu);
  std::string refuse;
  if (g->world != world) refuse = "rank " + std::to_string(rank) + " has world size " + std::to_string(world) + ", the group " + std::to_string(g->world);
  else if (g->device != device) {
    refuse = "rank " + std::to_string(rank) + " is on GPU " + std::to_string(device) + ", the group on GPU " + std::to_string(g->device) +
             ": EMBEDRANK_TP_LOCAL=1 puts every rank of a group on one GPU (use NCCL across GPUs)";
  } else if (g->ranks[rank].joined) refuse = "rank " + std::to_string(rank) + " joined twice";
  else if (g->broken) refuse = "the group was aborted: " + g->why;
  if (!refuse.empty()) {
    cudaEventDestroy(ready);
    cudaEventDestroy(done);
    g->break_locked(refuse);  // this group cannot form: the ranks that joined stop waiting
    l.unlock();
    {
      std::lock_guard<std::mutex> lg(registry_mu);
      auto it = registry().find(key);
      if (it != registry().end() && it->second == g) registry().erase(it);
    }
    throw std::runtime_error("local tensor-parallel group (EMBEDRANK_TP_LOCAL=1): " + refuse);
  }
  auto& me = g->ranks[rank];
  me.joined = true;
  me.ready = ready;
  me.done = done;
  std::unique_ptr<LocalComm> comm(new LocalComm(g, rank));  // from here on, leaving (the destructor) cleans up
  if (++g->joined == world) g->cv.notify_all();
  const bool formed = g->cv.wait_for(l, timeout(), [&] { return g->joined == world || g->broken; });
  const bool ok = formed && !g->broken;
  if (!ok) {
    g->break_locked(formed ? g->why
                           : "only " + std::to_string(g->joined) + " of " + std::to_string(world) + " ranks joined within " +
                                 std::to_string(timeout().count()) + " s (rank " + std::to_string(rank) + " waited)");
  }
  const std::string why = g->why;
  l.unlock();
  {
    std::lock_guard<std::mutex> lg(registry_mu);
    auto it = registry().find(key);
    if (it != registry().end() && it->second == g) registry().erase(it);
  }
  if (!ok) throw CudaFailure("local tensor-parallel group (EMBEDRANK_TP_LOCAL=1) did not form: " + why, false, false);
  return comm;
}

LocalComm::~LocalComm() {
  std::lock_guard<std::mutex> l(g_->mu);
  // Nobody can finish a collective without this rank any more.
  g_->break_locked("rank " + std::to_string(rank_) + " left the group");
}

void LocalComm::abort(const std::string& why) {
  std::lock_guard<std::mutex> l(g_->mu);
  g_->break_locked(why);
}

void LocalComm::barrier(const char* which) {
  LocalGroup& g = *g_;
  std::unique_lock<std::mutex> l(g.mu);
  if (g.broken) throw CudaFailure("local tensor-parallel all-reduce: rank " + std::to_string(rank_) + ": group aborted: " + g.why, false, false);
  const unsigned long long gen = g.generation;
  if (++g.arrived == g.world) {
    g.arrived = 0;
    g.generation++;
    g.cv.notify_all();
    return;
  }
  const auto limit = timeout();
  if (!g.cv.wait_for(l, limit, [&] { return g.generation != gen || g.broken; })) {
    const std::string why = "rank " + std::to_string(rank_) + " waited " + std::to_string(limit.count()) + " s at barrier " + which + " for " +
                            std::to_string(g.world - g.arrived) + " other rank(s)";
    g.break_locked(why);
    throw CudaFailure("local tensor-parallel all-reduce timed out: " + why, false, false);
  }
  if (g.generation == gen) throw CudaFailure("local tensor-parallel all-reduce: rank " + std::to_string(rank_) + ": group aborted: " + g.why, false, false);
}

void LocalComm::all_reduce_sum(void* buf, size_t count, DType dt, cudaStream_t s) {
  LocalGroup& g = *g_;
  auto& me = g.ranks[rank_];
  const size_t bytes = count * dtype_size(dt);
  try {
    // a. The others' previous reductions read my scratch: they must finish before I overwrite it.
    {
      std::lock_guard<std::mutex> l(g.mu);
      for (int r = 0; r < g.world; r++) {
        if (r != rank_) ER_CHECK(cudaStreamWaitEvent(s, g.ranks[r].done, 0));
      }
    }
    // b. Grow my scratch (after those waits have drained: nobody still reads the old one).
    if (bytes > me.scratch_bytes) {
      ER_CHECK(cudaStreamSynchronize(s));
      void* fresh = nullptr;
      const size_t want = (bytes + (1u << 20) - 1) & ~(size_t)((1u << 20) - 1);  // whole MiB: fewer regrowths
      ER_CHECK(cudaMalloc(&fresh, want));
      std::lock_guard<std::mutex> l(g.mu);
      if (me.scratch) cudaFree(me.scratch);
      me.scratch = fresh;
      me.scratch_bytes = want;
    }
    if (bytes) ER_CHECK(cudaMemcpyAsync(me.scratch, buf, bytes, cudaMemcpyDeviceToDevice, s));
    ER_CHECK(cudaEventRecord(me.ready, s));
    {
      std::lock_guard<std::mutex> l(g.mu);
      me.count = count;
      me.dt = dt;
    }
    barrier("A");  // c
    // d. Everyone's copy recorded and scratch pointer published.
    const void* parts[kMaxRanks] = {};
    {
      std::lock_guard<std::mutex> l(g.mu);
      for (int r = 0; r < g.world; r++) {
        const auto& o = g.ranks[r];
        if (o.count != count || o.dt != dt) {
          throw CudaFailure("local tensor-parallel all-reduce out of step: rank " + std::to_string(rank_) + " reduces " + std::to_string(count) + " " +
                                dtype_name(dt) + " values, rank " + std::to_string(r) + " " + std::to_string(o.count) + " " + dtype_name(o.dt),
                            false, false);
        }
        parts[r] = o.scratch;
        if (r != rank_) ER_CHECK(cudaStreamWaitEvent(s, o.ready, 0));
      }
    }
    if (count) sum_partials(dt, parts, g.world, count, buf, s);
    ER_CHECK(cudaEventRecord(me.done, s));
    barrier("B");  // e
  } catch (const std::exception& e) {
    abort("rank " + std::to_string(rank_) + " failed: " + e.what());
    throw;
  }
}

}  // namespace er
