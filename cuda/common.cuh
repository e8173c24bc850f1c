// Shared by every kernel file: dtype tags, conversions, error checks, small device helpers.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace er {

enum class DType : int { F32 = 0, F16 = 1, BF16 = 2 };

inline size_t dtype_size(DType d) { return d == DType::F32 ? 4 : 2; }

// A failed CUDA call. `sticky` marks errors after which the context is unusable
// (illegal address, launch failure ...): the owner must reset the device and reload.
struct CudaFailure : std::runtime_error {
  bool sticky;
  bool oom;
  CudaFailure(const std::string& m, bool s, bool o) : std::runtime_error(m), sticky(s), oom(o) {}
};

inline bool is_sticky(cudaError_t e) {
  switch (e) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorMisalignedAddress:
    case cudaErrorIllegalInstruction:
    case cudaErrorInvalidPc:
    case cudaErrorHardwareStackError:
    case cudaErrorAssert:
    case cudaErrorECCUncorrectable:
    case cudaErrorLaunchTimeout:
    case cudaErrorContextIsDestroyed:
      return true;
    default:
      return false;
  }
}

inline void check(cudaError_t e, const char* what, const char* file, int line) {
  if (e == cudaSuccess) return;
  // A failed runtime call also leaves its error as the thread's last error, which the next
  // launch check (cudaGetLastError) would report again: a model creation that ran out of memory
  // made the next one on that thread fail on its first weight (GPU suite, session 9). Cleared here;
  // a sticky error stays whatever is done.
  if (!is_sticky(e)) cudaGetLastError();
  std::string msg = std::string("CUDA error ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ") in " + what + " at " + file + ":" + std::to_string(line);
  throw CudaFailure(msg, is_sticky(e), e == cudaErrorMemoryAllocation);
}

#define ER_CHECK(x) ::er::check((x), #x, __FILE__, __LINE__)
#define ER_LAUNCH(name) ::er::check(cudaGetLastError(), name, __FILE__, __LINE__)

// An on/off environment switch: unset or empty gives dflt; a value starting with 0, n or f is off.
inline bool env_flag(const char* name, bool dflt) {
  const char* v = std::getenv(name);
  if (!v || !*v) return dflt;
  return !(v[0] == '0' || v[0] == 'n' || v[0] == 'N' || v[0] == 'f' || v[0] == 'F');
}

// Streaming multiprocessors of the current device, asked once per device (launchers size their
// grids by it on every launch).
inline int multiprocessors() {
  static std::atomic<int> known[64];
  int device = 0;
  ER_CHECK(cudaGetDevice(&device));
  int n = device < 64 ? known[device].load(std::memory_order_relaxed) : 0;
  if (n == 0) {
    ER_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
    if (device < 64) known[device].store(n, std::memory_order_relaxed);
  }
  return n;
}

template <typename T> __device__ __forceinline__ float to_f(T v);
template <> __device__ __forceinline__ float to_f<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_f<__half>(__half v) { return __half2float(v); }
template <> __device__ __forceinline__ float to_f<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_f<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// Four consecutive elements as one load/store: 16 bytes for float, 8 for 16-bit types.
template <typename T> struct Vec4 { T v[4]; };

template <typename T> __device__ __forceinline__ void load4(const T* p, float (&out)[4]) {
  Vec4<T> x = *reinterpret_cast<const Vec4<T>*>(p);
#pragma unroll
  for (int i = 0; i < 4; i++) out[i] = to_f<T>(x.v[i]);
}

template <typename T> __device__ __forceinline__ void store4(T* p, const float (&in)[4]) {
  Vec4<T> x;
#pragma unroll
  for (int i = 0; i < 4; i++) x.v[i] = from_f<T>(in[i]);
  *reinterpret_cast<Vec4<T>*>(p) = x;
}

// Eight consecutive elements (16 bytes for 16-bit types): the widest single load, which the
// memory-bound element-wise kernels need to come near the copy bandwidth.
template <typename T> struct alignas(8 * sizeof(T) >= 16 ? 16 : 8 * sizeof(T)) Vec8 { T v[8]; };

template <typename T> __device__ __forceinline__ void load8(const T* p, float (&out)[8]) {
  Vec8<T> x = *reinterpret_cast<const Vec8<T>*>(p);
#pragma unroll
  for (int i = 0; i < 8; i++) out[i] = to_f<T>(x.v[i]);
}

template <typename T> __device__ __forceinline__ void store8(T* p, const float (&in)[8]) {
  Vec8<T> x;
#pragma unroll
  for (int i = 0; i < 8; i++) x.v[i] = from_f<T>(in[i]);
  *reinterpret_cast<Vec8<T>*>(p) = x;
}

// Exact (erf) GELU, as BERT checkpoints were trained with (not cuBLASLt's tanh approximation).
__device__ __forceinline__ float gelu_erf(float u) { return 0.5f * u * (1.f + erff(u * 0.70710678118654752f)); }

struct SumOp {
  __device__ __forceinline__ float operator()(float a, float b) const { return a + b; }
};
struct MaxOp {
  __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

// Butterfly reduction over the 32 lanes of a warp; every lane gets the result.
template <typename Op>
__device__ __forceinline__ float warp_reduce(float v, Op op) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Reduction over a block whose size is a multiple of 32 (at most 1024): per warp, then over the
// warps' results (lanes past the last warp contribute `identity`); every thread gets the result.
// Starts with a barrier, so calls may follow each other on the same scratch.
template <typename Op>
__device__ __forceinline__ float block_reduce(float v, float* scratch /* >= 32 floats */, float identity, Op op) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_reduce(v, op);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  return warp_reduce(lane < nw ? scratch[lane] : identity, op);
}

__device__ __forceinline__ float warp_sum(float v) { return warp_reduce(v, SumOp{}); }
__device__ __forceinline__ float warp_max(float v) { return warp_reduce(v, MaxOp{}); }
__device__ __forceinline__ float block_sum(float v, float* scratch /* >= 32 floats */) { return block_reduce(v, scratch, 0.f, SumOp{}); }
__device__ __forceinline__ float block_max(float v, float* scratch /* >= 32 floats */) { return block_reduce(v, scratch, -INFINITY, MaxOp{}); }

// Index of the sequence holding token t: the last i with cu[i] <= t (cu has n+1 entries).
__device__ __forceinline__ int seq_of(const int* __restrict__ cu, int n, int t) {
  int lo = 0, hi = n - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) >> 1;
    if (__ldg(cu + mid) <= t) lo = mid; else hi = mid - 1;
  }
  return lo;
}

}  // namespace er
