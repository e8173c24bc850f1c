// Built for sm_90a like the kernels it serves (scripts/build-cuda.sh archs_for), so the probe
// answers for their images.
#include "hopper.h"

#include <mutex>
#include <set>
#include <utility>
#include <string>
#include <vector>

namespace er {
namespace {

// 1 in the sm_90a image, 0 in any other: tells the host which image this device runs.
__global__ void hopper_probe_kernel(int* out) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  *out = 1;
#else
  *out = 0;
#endif
}

using EncodeTiled = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*, const cuuint64_t*,
                                 const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle,
                                 CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

EncodeTiled encoder() {
  static EncodeTiled fn = [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult q = cudaDriverEntryPointSymbolNotFound;
    ER_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q));
    if (q != cudaDriverEntryPointSuccess || !p) throw std::runtime_error("the CUDA driver has no cuTensorMapEncodeTiled (TMA)");
    return reinterpret_cast<EncodeTiled>(p);
  }();
  return fn;
}

}  // namespace

bool hopper_kernels_usable(int device) {
  static std::mutex mu;
  static std::vector<int> verdict;  // per device: 0 unknown, 1 usable, 2 not
  std::lock_guard<std::mutex> lock(mu);
  if ((int)verdict.size() <= device) verdict.resize(device + 1, 0);
  if (verdict[device] == 0) {
    cudaDeviceProp prop;
    ER_CHECK(cudaGetDeviceProperties(&prop, device));
    bool ok = prop.major == 9 && prop.minor == 0;
    if (ok) {
      int prev = 0;
      ER_CHECK(cudaGetDevice(&prev));
      ER_CHECK(cudaSetDevice(device));
      int* d = nullptr;
      int h = 0;
      ER_CHECK(cudaMalloc(&d, sizeof(int)));
      hopper_probe_kernel<<<1, 1>>>(d);
      cudaError_t e = cudaGetLastError();  // a launch that failed (no image for this device) reports here
      if (e == cudaSuccess) e = cudaMemcpy(&h, d, sizeof(int), cudaMemcpyDeviceToHost);
      cudaFree(d);
      cudaSetDevice(prev);  // the caller's device, also when the probe failed
      ER_CHECK(e);
      ok = h == 1;
    }
    verdict[device] = ok ? 1 : 2;
  }
  return verdict[device] == 1;
}

void allow_dynamic_smem(const void* kernel, size_t bytes) {
  static thread_local std::set<std::pair<const void*, int>> done;  // (kernel, device)
  int device = 0;
  ER_CHECK(cudaGetDevice(&device));
  if (done.count({kernel, device})) return;
  ER_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
  done.insert({kernel, device});
}

CUtensorMap tensor_map_2d(DType dt, const void* base, int cols, int rows, int ld, int box_cols, int box_rows, const char* who) {
  if (reinterpret_cast<uintptr_t>(base) % 16 != 0 || ((size_t)ld * 2) % 16 != 0)
    throw std::runtime_error(std::string(who) + ": TMA needs a 16-byte aligned matrix whose row stride is a multiple of 16 bytes");
  CUtensorMap m;
  const cuuint64_t dims[2] = {(cuuint64_t)cols, (cuuint64_t)rows};
  const cuuint64_t strides[1] = {(cuuint64_t)ld * 2};
  const cuuint32_t box[2] = {(cuuint32_t)box_cols, (cuuint32_t)box_rows};
  const cuuint32_t estr[2] = {1, 1};
  const CUresult r = encoder()(&m, dt == DType::BF16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 2,
                               const_cast<void*>(base), dims, strides, box, estr, CU_TENSOR_MAP_INTERLEAVE_NONE,
                               CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) throw std::runtime_error(std::string(who) + ": cuTensorMapEncodeTiled failed with CUresult " + std::to_string((int)r));
  return m;
}

}  // namespace er
