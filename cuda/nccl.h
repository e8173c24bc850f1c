// NCCL, loaded at run time with dlopen so the addon builds and runs without it; tensor
// parallelism needs it and says where it looked when it is missing. Only the handful of entry
// points embedrank uses are declared (ABI of NCCL 2.x).
#pragma once
#include <cuda_runtime.h>

#include <string>

namespace er {

struct NcclUniqueId {
  char internal[128];
};
using NcclComm = void*;

enum class NcclType : int { F16 = 6, F32 = 7, BF16 = 9 };

class Nccl {
 public:
  // Throws with the list of places tried when libnccl cannot be loaded.
  static Nccl& get();
  NcclUniqueId unique_id();
  NcclComm init_rank(int nranks, const NcclUniqueId& id, int rank);
  void all_reduce_sum(void* buf, size_t count, NcclType type, NcclComm comm, cudaStream_t s);
  void destroy(NcclComm comm);
  void abort(NcclComm comm);
  std::string library() const { return path_; }

 private:
  Nccl();
  void check(int result, const char* what);
  std::string path_;
  void* lib_ = nullptr;
  int (*get_unique_id_)(NcclUniqueId*) = nullptr;
  int (*comm_init_rank_)(NcclComm*, int, NcclUniqueId, int) = nullptr;
  int (*all_reduce_)(const void*, void*, size_t, int, int, NcclComm, cudaStream_t) = nullptr;
  int (*comm_destroy_)(NcclComm) = nullptr;
  int (*comm_abort_)(NcclComm) = nullptr;
  const char* (*error_string_)(int) = nullptr;
};

}  // namespace er
