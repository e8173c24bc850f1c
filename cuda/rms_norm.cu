// RMSNorm (Qwen3RMSNorm): out = w ⊙ x / √(mean(x²) + eps), statistics in fp32. One kernel serves
// the layer norms (rows = tokens, optionally fused with the residual add as vLLM's
// fused_add_rms_norm) and the per-head q_norm / k_norm (rows = token × head inside the QKV rows).
#include "common.cuh"
#include "ops.h"

namespace er {

// Row r lives at x + (r / per) * ld + (r % per) * dim: per = 1 for hidden rows, per = heads for
// the heads of a QKV row. With resid non-null: resid[r] += x[r] (fp32 residual stream, ld = dim),
// then the norm of resid[r] goes to out.
template <typename T>
__global__ void rms_norm_kernel(const T* __restrict__ x, int ld, int per, int dim, const T* __restrict__ w, float eps,
                                float* __restrict__ resid, T* __restrict__ out, int ld_out) {
  const int r = blockIdx.x;
  const size_t off = (size_t)(r / per) * ld + (size_t)(r % per) * dim;
  const size_t off_out = (size_t)(r / per) * ld_out + (size_t)(r % per) * dim;
  __shared__ float scratch[33];
  float ss = 0.f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    float v = x ? to_f<T>(x[off + i]) : 0.f;
    if (resid) {
      v += resid[(size_t)r * dim + i];
      resid[(size_t)r * dim + i] = v;
    }
    ss += v * v;
  }
  const float inv = rsqrtf(block_sum(ss, scratch) / dim + eps);
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    const float v = resid ? resid[(size_t)r * dim + i] : to_f<T>(x[off + i]);
    out[off_out + i] = from_f<T>(v * inv * to_f<T>(w[i]));
  }
}

// Hidden rows (per = 1) of dim = 8 · blockDim values: each thread owns one 16-byte chunk and keeps
// it in registers between the statistics and the output (one read of x and resid, one write each).
template <typename T>
__global__ void rms_norm8_kernel(const T* __restrict__ x, int ld, const T* __restrict__ w, float eps, float* __restrict__ resid,
                                 T* __restrict__ out, int ld_out, int dim) {
  const int r = blockIdx.x;
  const int c = threadIdx.x * 8;
  __shared__ float scratch[33];
  float v[8];
  if (x) load8<T>(x + (size_t)r * ld + c, v);
  else
#pragma unroll
    for (int i = 0; i < 8; i++) v[i] = 0.f;
  if (resid) {
    float4* rp = reinterpret_cast<float4*>(resid + (size_t)r * dim + c);
    const float4 a = rp[0], b = rp[1];
    v[0] += a.x, v[1] += a.y, v[2] += a.z, v[3] += a.w, v[4] += b.x, v[5] += b.y, v[6] += b.z, v[7] += b.w;
    rp[0] = make_float4(v[0], v[1], v[2], v[3]);
    rp[1] = make_float4(v[4], v[5], v[6], v[7]);
  }
  float ss = 0.f;
#pragma unroll
  for (int i = 0; i < 8; i++) ss += v[i] * v[i];
  const float inv = rsqrtf(block_sum(ss, scratch) / dim + eps);
  float g[8];
  load8<T>(w + c, g);
#pragma unroll
  for (int i = 0; i < 8; i++) v[i] = v[i] * inv * g[i];
  store8<T>(out + (size_t)r * ld_out + c, v);
}

void rms_norm(DType dt, const void* x, int ld, int per, int rows, int dim, const void* w, float eps, float* resid,
              void* out, int ld_out, cudaStream_t s) {
  if (rows == 0) return;
  if (dt != DType::F32 && per == 1 && dim % 256 == 0 && dim / 8 <= 1024 && ld % 8 == 0 && ld_out % 8 == 0 &&
      ((reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(out) | reinterpret_cast<uintptr_t>(w) | reinterpret_cast<uintptr_t>(resid)) % 16) == 0) {
    if (dt == DType::F16)
      rms_norm8_kernel<__half><<<rows, dim / 8, 0, s>>>((const __half*)x, ld, (const __half*)w, eps, resid, (__half*)out, ld_out, dim);
    else
      rms_norm8_kernel<__nv_bfloat16><<<rows, dim / 8, 0, s>>>((const __nv_bfloat16*)x, ld, (const __nv_bfloat16*)w, eps, resid,
                                                               (__nv_bfloat16*)out, ld_out, dim);
    ER_LAUNCH("rms_norm");
    return;
  }
  const int threads = dim >= 1024 ? 256 : 128;
  switch (dt) {
    case DType::F32:
      rms_norm_kernel<float><<<rows, threads, 0, s>>>((const float*)x, ld, per, dim, (const float*)w, eps, resid, (float*)out, ld_out);
      break;
    case DType::F16:
      rms_norm_kernel<__half><<<rows, threads, 0, s>>>((const __half*)x, ld, per, dim, (const __half*)w, eps, resid, (__half*)out, ld_out);
      break;
    case DType::BF16:
      rms_norm_kernel<__nv_bfloat16><<<rows, threads, 0, s>>>((const __nv_bfloat16*)x, ld, per, dim, (const __nv_bfloat16*)w, eps, resid,
                                                              (__nv_bfloat16*)out, ld_out);
      break;
  }
  ER_LAUNCH("rms_norm");
}

}  // namespace er
