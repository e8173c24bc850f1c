// What a kernel costs in a CUDA graph before it does any work: the floor under batch 1's ~110
// kernels per BERT-base forward (bench/NOTES.md, sessions 7 and 12). Each line is µs per kernel of
// 48 back-to-back kernels on one stream captured in one graph (bench/cublaslt_bench.h's rule: the
// median of 7 replays), for
//   empty 1      one block that does nothing;
//   empty 132    one block per multiprocessor (132 on an H200) that does nothing;
//   read 1.2 MB  one block per multiprocessor summing 1.2 MB (a BERT-base 768 × 768 weight) from
//                rotating copies (> 64 MB, so from HBM) and writing one float per block;
// each as plain launches and as programmatic dependents (PDL: griddepcontrol.wait first, then
// launch_dependents at once, so the next kernel's launch overlaps this one).
// Build and run (device): nvcc -O3 -std=c++17 -arch=sm_90 bench/launch_floor.cu -lcublasLt -o /tmp/floor && /tmp/floor
#include <cuda_fp16.h>

#include "cublaslt_bench.h"

__global__ void empty_kernel(int pdl) {
  if (pdl) {
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
  }
}

__global__ void read_kernel(const float4* __restrict__ w, size_t n4, float* out, int pdl) {
  if (pdl) {
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
  }
  float s = 0.f;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n4; i += (size_t)gridDim.x * blockDim.x) {
    const float4 v = w[i];
    s += v.x + v.y + v.z + v.w;
  }
  __shared__ float part[32];
  for (int o = 16; o; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = s;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int i = 1; i < (int)blockDim.x / 32; i++) s += part[i];
    out[blockIdx.x] = s;
  }
}

template <typename... A> static cublasStatus_t launch(void (*k)(A...), int blocks, int threads, bool pdl, cudaStream_t s, A... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(blocks);
  cfg.blockDim = dim3(threads);
  cfg.stream = s;
  cudaLaunchAttribute at;
  at.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  at.val.programmaticStreamSerializationAllowed = pdl ? 1 : 0;
  cfg.attrs = &at;
  cfg.numAttrs = 1;
  return cudaLaunchKernelEx(&cfg, k, args...) == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

int main() {
  cudaStream_t s;
  CK(cudaStreamCreate(&s));
  int sms = 0;
  CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  const size_t wbytes = 768 * 768 * 2;
  std::vector<float4*> w;
  for (int i = 0; i < 64; i++) {
    float4* p;
    CK(cudaMalloc(&p, wbytes));
    CK(cudaMemset(p, 0, wbytes));
    w.push_back(p);
  }
  float* out;
  CK(cudaMalloc(&out, sms * sizeof(float)));
  for (int pdl = 0; pdl < 2; pdl++) {
    const float e1 = graph_median_us([&](int) { return launch(empty_kernel, 1, 128, pdl, s, (int)pdl); }, 48, s);
    const float en = graph_median_us([&](int) { return launch(empty_kernel, sms, 128, pdl, s, (int)pdl); }, 48, s);
    const float rd = graph_median_us(
        [&](int i) { return launch(read_kernel, sms, 512, pdl, s, (const float4*)w[i % w.size()], wbytes / 16, out, (int)pdl); }, 48, s);
    std::printf("FLOOR %s: empty 1 block %.2f us | empty %d blocks %.2f us | read 1.2 MB with %d blocks %.2f us (%.0f GB/s)\n",
                pdl ? "PDL  " : "plain", e1, sms, en, sms, rd, wbytes / rd / 1e3);
  }
  return 0;
}
