// The FFN-up linear with its bias and exact GELU fused, for Hopper (gemm_wgmma.cu).
#pragma once
#include "common.cuh"

namespace er {

// True when linear_bias_gelu_wgmma can take these operands on `device`: fp16/bf16, K and N
// positive multiples of 8, X, W and Y 16-byte aligned and bias 4-byte aligned, compute capability 9.0 with
// the sm_90a image built (hopper_kernels_usable: a probe runs once per device, so ask before any
// stream capture).
bool linear_bias_gelu_wgmma_fits(DType dt, int K, int N, const void* X, const void* W, const void* bias, const void* Y, int device);

// Y[T, N] = GELU(X[T, K] · W[N, K]ᵀ + bias[N]) with GELU the exact erf form (transformers' "gelu"),
// computed from the fp32 accumulator and rounded once to dt. Row-major 16-bit activations,
// PyTorch-layout weights (as GemmRunner::linear), dense rows (ld = K for X and W, N for Y). T may
// be 0. Throws std::runtime_error, before any launch, on operands linear_bias_gelu_wgmma_fits
// refuses on the current device.
void linear_bias_gelu_wgmma(DType dt, const void* X, int T, int K, const void* W, int N, const void* bias, void* Y, cudaStream_t s);

}  // namespace er
