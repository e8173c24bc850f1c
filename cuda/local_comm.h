// An in-process communicator for the tensor-parallel ranks of ONE process that all sit on ONE
// device: a testing mode (EMBEDRANK_TP_LOCAL=1) that runs TP=k on a single GPU, where NCCL refuses
// two ranks on one device. It sums partial outputs as ncclAllReduce(ncclSum) does, with host
// barriers between the ranks' executor threads (slow: two barriers per call) and one reduction
// kernel per rank (ops.h sum_partials, ranks added in order 0 … world−1, so every rank gets the
// same bits). Groups are found through a process-wide registry keyed by the 128-byte id that
// connect() receives (the NCCL unique-id plumbing is reused); a native addon's statics are shared
// by all worker threads of the process, so ranks in different Node workers meet there.
#pragma once
#include <memory>
#include <string>

#include "common.cuh"
#include "nccl.h"

namespace er {

struct LocalGroup;

// EMBEDRANK_TP_LOCAL=1: connect() builds LocalComm instead of NCCL communicators.
bool tp_local_enabled();

class LocalComm {
 public:
  // Joins the group `id` as `rank` of `world` on `device` (the caller's current device); blocks
  // until all `world` ranks have joined. Throws std::runtime_error for a world outside 2 … 8, a
  // rank outside 0 … world−1 or taken twice, a world or device that differs from the group's
  // (every rank must be on one GPU); CudaFailure when the others do not join within the timeout
  // (EMBEDRANK_TP_LOCAL_TIMEOUT_S, default 600 s) or the group was aborted meanwhile.
  static std::unique_ptr<LocalComm> join(const NcclUniqueId& id, int world, int rank, int device);
  // Leaves: a group still waiting on this rank is aborted ("rank r left"), so nobody hangs; the
  // last rank to leave frees the group's scratch buffers and events.
  ~LocalComm();
  LocalComm(const LocalComm&) = delete;
  LocalComm& operator=(const LocalComm&) = delete;

  // buf [count] of dt on this rank's device ← Σ over ranks of their buf, in place; enqueued on
  // `s`, returns before the GPU finishes (like ncclAllReduce). Every rank must call it in the same
  // order with the same count and dtype (else CudaFailure naming both). Throws CudaFailure when a
  // rank does not arrive within the timeout or the group is aborted; a failure here aborts the
  // group, so the other ranks throw too instead of waiting.
  void all_reduce_sum(void* buf, size_t count, DType dt, cudaStream_t s);
  // Marks the group broken with `why`: every rank waiting or arriving later throws at once.
  void abort(const std::string& why);
  int rank() const { return rank_; }

 private:
  LocalComm(std::shared_ptr<LocalGroup> g, int rank) : g_(std::move(g)), rank_(rank) {}
  void barrier(const char* which);
  std::shared_ptr<LocalGroup> g_;
  int rank_;
};

}  // namespace er
