// dlopen-based NCCL loader (see nccl.h). Search order: $NCCL_LIBRARY, the default loader path
// (LD_LIBRARY_PATH, ldconfig), then common install places including pip's nvidia-nccl wheels.
#include "nccl.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace er {

Nccl& Nccl::get() {
  static std::once_flag once;
  static Nccl* inst = nullptr;
  static std::string error;
  std::call_once(once, [] {
    try {
      inst = new Nccl();
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  if (!inst) throw std::runtime_error(error);
  return *inst;
}

Nccl::Nccl() {
  std::vector<std::string> tries;
  if (const char* p = std::getenv("NCCL_LIBRARY")) tries.push_back(p);
  tries.push_back("libnccl.so.2");
  tries.push_back("libnccl.so");
  for (const char* py : {"python3.13", "python3.12", "python3.11", "python3.10"}) {
    for (const char* root : {"/opt/torch/.venv/lib/", "/usr/local/lib/", "/usr/lib/"}) {
      tries.push_back(std::string(root) + py + "/site-packages/nvidia/nccl/lib/libnccl.so.2");
      tries.push_back(std::string(root) + py + "/dist-packages/nvidia/nccl/lib/libnccl.so.2");
    }
  }
  tries.push_back("/usr/local/cuda/lib64/libnccl.so.2");
  tries.push_back("/usr/lib/x86_64-linux-gnu/libnccl.so.2");
  std::string tried;
  for (const auto& t : tries) {
    lib_ = dlopen(t.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib_) {
      path_ = t;
      break;
    }
    tried += "\n  " + t;
  }
  if (!lib_) {
    throw std::runtime_error("NCCL not found (tensor parallelism needs libnccl.so.2; set NCCL_LIBRARY or LD_LIBRARY_PATH). Tried:" + tried);
  }
  auto sym = [&](const char* name) {
    void* f = dlsym(lib_, name);
    if (!f) throw std::runtime_error(std::string("NCCL library ") + path_ + " lacks " + name);
    return f;
  };
  get_unique_id_ = reinterpret_cast<decltype(get_unique_id_)>(sym("ncclGetUniqueId"));
  comm_init_rank_ = reinterpret_cast<decltype(comm_init_rank_)>(sym("ncclCommInitRank"));
  all_reduce_ = reinterpret_cast<decltype(all_reduce_)>(sym("ncclAllReduce"));
  comm_destroy_ = reinterpret_cast<decltype(comm_destroy_)>(sym("ncclCommDestroy"));
  comm_abort_ = reinterpret_cast<decltype(comm_abort_)>(sym("ncclCommAbort"));
  error_string_ = reinterpret_cast<decltype(error_string_)>(sym("ncclGetErrorString"));
}

void Nccl::check(int result, const char* what) {
  if (result == 0) return;
  throw std::runtime_error(std::string("NCCL error in ") + what + ": " + error_string_(result));
}

NcclUniqueId Nccl::unique_id() {
  NcclUniqueId id;
  check(get_unique_id_(&id), "ncclGetUniqueId");
  return id;
}

NcclComm Nccl::init_rank(int nranks, const NcclUniqueId& id, int rank) {
  NcclComm c = nullptr;
  check(comm_init_rank_(&c, nranks, id, rank), "ncclCommInitRank");
  return c;
}

void Nccl::all_reduce_sum(void* buf, size_t count, NcclType type, NcclComm comm, cudaStream_t s) {
  check(all_reduce_(buf, buf, count, (int)type, 0 /* ncclSum */, comm, s), "ncclAllReduce");
}

void Nccl::destroy(NcclComm comm) {
  if (comm) comm_destroy_(comm);
}

void Nccl::abort(NcclComm comm) {
  if (comm) comm_abort_(comm);
}

}  // namespace er
