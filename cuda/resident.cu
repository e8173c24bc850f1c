// ResidentModel (see resident.h): weight upload, profiling marks, the tensor-parallel all-reduce.
#include "resident.h"

#include <algorithm>

#include "ops.h"

namespace er {

std::string mib(size_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

// How host threads wait for the current device (each slot's executor thread waits once per batch):
// EMBEDRANK_CUDA_SYNC = yield (default) | spin | blocking | auto (CUDA's own default: spin while the
// process has fewer active contexts than cores). A spinning executor holds a core for its batch's
// whole GPU time, a core the tokenizer threads of an end-to-end run want. Measured on an H200 host
// (16 cores; bench/RESULTS.md, session 11, two rounds in one call): MiniLM-L6 over every STS
// sentence with 16 tokenizer threads 0.398 / 0.415 s under auto, 0.364 / 0.354 yield, 0.354 / 0.359
// blocking; BERT-base batch 1 × 128 tokens 0.53 / 0.54 ms auto, 0.50 / 0.53 yield, 0.61 / 0.60
// blocking (its wake-up latency). cudaSetDeviceFlags overwrites the flags of an initialised device.
// Throws std::runtime_error for an unknown value.
static void apply_sync_schedule() {
  const char* v = std::getenv("EMBEDRANK_CUDA_SYNC");
  const std::string m = v && *v ? v : "yield";
  const unsigned flags = m == "spin"       ? cudaDeviceScheduleSpin
                         : m == "yield"    ? cudaDeviceScheduleYield
                         : m == "blocking" ? cudaDeviceScheduleBlockingSync
                         : m == "auto"     ? cudaDeviceScheduleAuto
                                           : ~0u;
  if (flags == ~0u) throw std::runtime_error("EMBEDRANK_CUDA_SYNC=" + m + " is not one of yield, spin, blocking, auto");
  ER_CHECK(cudaSetDeviceFlags(flags));
}

ResidentModel::ResidentModel(int device, DType dt) : device_(device), dt_(dt) {
  ER_CHECK(cudaSetDevice(device));
  apply_sync_schedule();
  profile_ = env_flag("EMBEDRANK_PROFILE", false);
}

void ResidentModel::set_weight(const std::string& name, const void* data, size_t numel, DType src) {
  size_t want = 0;
  bool fp32 = false;
  expect(name, want, fp32);
  if (numel != want) throw std::runtime_error("weight " + name + " has " + std::to_string(numel) + " values, expected " + std::to_string(want));
  ER_CHECK(cudaSetDevice(device_));
  const DType dst = fp32 ? DType::F32 : dt_;
  Tensor& t = weights_[name];
  if (t.ptr) {
    cudaFree(t.ptr);
    weight_bytes_ -= t.numel * dtype_size(t.dt);
  }
  t = Tensor{nullptr, numel, dst};
  void* staging = nullptr;
  try {
    ER_CHECK(cudaMalloc(&t.ptr, align_up(numel * dtype_size(dst), 256)));
    ER_CHECK(cudaMalloc(&staging, numel * dtype_size(src)));
    ER_CHECK(cudaMemcpy(staging, data, numel * dtype_size(src), cudaMemcpyHostToDevice));
    convert(src, dst, staging, t.ptr, numel, nullptr);
    ER_CHECK(cudaStreamSynchronize(nullptr));
    long long derived = 0;
    const bool replaced = derive_weight(name, staging, src, t, derived);
    weight_bytes_ += derived;
    void* st = staging;
    staging = nullptr;
    ER_CHECK(cudaFree(st));
    if (replaced) {
      cudaFree(t.ptr);
      weights_.erase(name);
      return;
    }
  } catch (const CudaFailure& e) {
    if (staging) cudaFree(staging);
    if (t.ptr) cudaFree(t.ptr);
    weights_.erase(name);
    if (e.oom) {
      throw CudaFailure("out of GPU memory loading weight " + name + " (" + mib(weight_bytes_) +
                            " of weights already loaded): raise tensorParallelSize, use a 16-bit dtype, or lower maxNumBatchedTokens",
                        false, true);
    }
    throw;
  }
  weight_bytes_ += numel * dtype_size(dst);
}

const ResidentModel::Tensor& ResidentModel::w(const std::string& name) const {
  auto it = weights_.find(name);
  if (it == weights_.end() || !it->second.ptr) throw std::runtime_error("weight " + name + " was never uploaded");
  return it->second;
}

void ResidentModel::free_weights() {
  for (auto& [_, t] : weights_) cudaFree(t.ptr);
  weights_.clear();
  weight_bytes_ = 0;
}

void ResidentModel::create_marks(Marks& m, size_t count) {
  if (!profile_) return;
  m.events.resize(count);
  m.names.resize(count);
  for (auto& e : m.events) ER_CHECK(cudaEventCreate(&e));
}

void ResidentModel::destroy_marks(Marks& m) {
  for (auto e : m.events) cudaEventDestroy(e);
  m = Marks{};
}

void ResidentModel::mark(Marks& m, cudaStream_t s, const char* name) {
  if (!profile_ || m.n >= (int)m.events.size()) return;
  m.names[m.n] = name;
  ER_CHECK(cudaEventRecord(m.events[m.n++], s));
}

void ResidentModel::configure_graphs(int world, double flops_per_token_layer, int max_tokens) {
  graph_mode_ = graph_mode_from_env();
  if (profile_ || world > 1) graph_mode_ = GraphMode::Off;
  graph_max_tokens_ = graph_max_tokens(flops_per_token_layer, max_tokens);
}

size_t ResidentModel::output_floats(Output mode, int seqs, int rows, int hidden, int labels) {
  switch (mode) {
    case Output::Embed: return (size_t)seqs * hidden;
    case Output::Score: return (size_t)seqs * std::max(labels, 1);
    case Output::Hidden: return (size_t)rows * hidden;
  }
  return 0;
}

void ResidentModel::capture_graph(cudaStream_t s, GraphCache::Graph& g, const std::function<void()>& enqueue) {
  try {
    GraphCache::capture(s, g, enqueue);
  } catch (...) {
    graphs_failed_++;
    throw;
  }
  (g.exec ? graphs_captured_ : graphs_failed_)++;
}

void ResidentModel::launch_graph(cudaStream_t s, const GraphCache::Graph& g) {
  ER_CHECK(cudaGraphLaunch(g.exec, s));
  graphs_replayed_++;
}

void ResidentModel::collect_marks(Marks& m) {
  if (!profile_ || m.n < 2) {
    m.n = 0;
    return;
  }
  std::lock_guard<std::mutex> g(prof_mu_);
  float total = 0.f;
  for (int i = 1; i < m.n; i++) {
    float ms = 0.f;
    ER_CHECK(cudaEventElapsedTime(&ms, m.events[i - 1], m.events[i]));
    auto& a = prof_[m.names[i]];
    a.first += ms;
    a.second += 1;
    total += ms;
  }
  auto& t = prof_["total"];
  t.first += total;
  t.second += 1;
  m.n = 0;
}

std::map<std::string, std::pair<double, long>> ResidentModel::take_profile() {
  std::lock_guard<std::mutex> g(prof_mu_);
  auto out = std::move(prof_);
  prof_.clear();
  return out;
}

void ResidentModel::mark_broken() {
  broken_ = true;
  std::lock_guard<std::mutex> g(local_mu_);
  for (LocalComm* c : local_comms_) c->abort("a sticky CUDA error on GPU " + std::to_string(device_) + " (rank " + std::to_string(c->rank()) + ")");
}

Comm ResidentModel::join_comm(const NcclUniqueId& id, int world, int rank) {
  Comm c;
  if (tp_local_enabled()) {
    c.local = LocalComm::join(id, world, rank, device_);
    std::lock_guard<std::mutex> g(local_mu_);
    local_comms_.push_back(c.local.get());
  } else {
    c.nccl = Nccl::get().init_rank(world, id, rank);
  }
  return c;
}

void ResidentModel::all_reduce(Comm& comm, cudaStream_t s, void* buf, size_t count, int world) {
  if (world == 1) return;
  if (comm.local) {
    comm.local->all_reduce_sum(buf, count, dt_, s);
    return;
  }
  const NcclType t = dt_ == DType::F32 ? NcclType::F32 : dt_ == DType::F16 ? NcclType::F16 : NcclType::BF16;
  Nccl::get().all_reduce_sum(buf, count, t, comm.nccl, s);
}

void ResidentModel::release_comm(Comm& comm) {
  if (comm.local) {
    {
      std::lock_guard<std::mutex> g(local_mu_);
      local_comms_.erase(std::remove(local_comms_.begin(), local_comms_.end(), comm.local.get()), local_comms_.end());
    }
    comm.local.reset();  // leaves the group; the last rank out frees it
  }
  if (!comm.nccl) return;
  try {
    if (broken_) Nccl::get().abort(comm.nccl);
    else Nccl::get().destroy(comm.nccl);
  } catch (...) {
  }
  comm.nccl = nullptr;
}

}  // namespace er
