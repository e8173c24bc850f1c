// Test entry points of the decoder (Qwen3) kernels, one op at a time on fresh inputs, for
// test/gpu/qwen3.gpu.ts: inputs and outputs are float32 on the host, converted to the dtype on
// the device; outputs are poisoned (NaN) first so an unwritten value fails.
#include <napi.h>

#include <cmath>
#include <string>
#include <vector>

#include "op_test.h"
#include "ops.h"

namespace {

using er::DType;
using er::op_test::DeviceBuffers;
using er::op_test::num;
using er::op_test::upload;

DType dtype_of(const Napi::Value& v) {
  const int c = v.As<Napi::Number>().Int32Value();
  if (c < 0 || c > 2) throw std::invalid_argument("dtype code must be 0 (float32), 1 (float16) or 2 (bfloat16)");
  return (DType)c;
}

Napi::Float32Array download(Napi::Env env, DeviceBuffers& b, DType dt, const void* d, size_t n) {
  void* f32 = b.alloc(n * 4);
  er::convert(dt, DType::F32, d, f32, n, nullptr);
  auto out = Napi::Float32Array::New(env, n);
  ER_CHECK(cudaMemcpy(out.Data(), f32, n * 4, cudaMemcpyDeviceToHost));
  ER_CHECK(cudaDeviceSynchronize());
  return out;
}

}  // namespace

// decoderOpTest(dtype, op, args, device) → Float32Array. op and args:
//   'rms_norm'  { x [rows/per · ld], w [dim], ld, per, rows, dim, eps }        → normed rows (same layout)
//   'rotary'    { x [T · ld], positions Int32Array [T], ld, heads, headDim, theta } → x rotated
//   'swiglu'    { gateUp [T · 2I], T, I }                                       → [T · I]
//   'attention' { qkv [T · (heads + 2 kvHeads) · d] (this step's tokens), kCache, vCache
//                 [blocks · blockSize · kvHeads · d] (earlier tokens already there), slots Int32Array [T],
//                 blockTables Int32Array [nseq · maxBlocks], cuQ Int32Array [nseq + 1], ctxLen Int32Array [nseq],
//                 heads, kvHeads, headDim, blockSize, maxBlocks,
//                 kernel? 'auto' (default: paged_attention, tensor cores where they serve) | 'warp'
//                 (paged_attention_warp), orderTiles? (default true: paged_attention_order_tiles),
//                 timeIters? (> 0: time that many calls after the first, bench/paged-attention.ts) }
//                 → [T · heads · d], or with timeIters [mean ms per call] (CUDA events, kernel only)
//     (kv_cache_write of the step's K/V, then the attention; tiles from attention_tiles as a model builds them)
Napi::Value DecoderOpTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DType dt = dtype_of(info[0]);
  const std::string op = info[1].As<Napi::String>().Utf8Value();
  const Napi::Object a = info[2].As<Napi::Object>();
  const int device = info[3].As<Napi::Number>().Int32Value();
  try {
    ER_CHECK(cudaSetDevice(device));
    DeviceBuffers b;
    if (op == "rms_norm") {
      auto x = a.Get("x").As<Napi::Float32Array>();
      const int ld = num(a, "ld"), per = num(a, "per"), rows = num(a, "rows"), dim = num(a, "dim");
      void* dx = upload(b, dt, x);
      void* dw = upload(b, dt, a.Get("w").As<Napi::Float32Array>());
      void* out = b.poisoned(x.ElementLength() * er::dtype_size(dt));
      er::rms_norm(dt, dx, ld, per, rows, dim, dw, a.Get("eps").As<Napi::Number>().FloatValue(), nullptr, out, ld, nullptr);
      return download(env, b, dt, out, x.ElementLength());
    }
    if (op == "rotary") {
      auto x = a.Get("x").As<Napi::Float32Array>();
      void* dx = upload(b, dt, x);
      int* pos = (int*)b.copy_in(a.Get("positions").As<Napi::Int32Array>());
      const int T = (int)a.Get("positions").As<Napi::Int32Array>().ElementLength();
      const std::vector<float> f = er::rope_inv_freq(num(a, "headDim"), a.Get("theta").As<Napi::Number>().FloatValue());
      float* inv = (float*)b.alloc(f.size() * sizeof(float));
      ER_CHECK(cudaMemcpy(inv, f.data(), f.size() * sizeof(float), cudaMemcpyHostToDevice));
      er::rotary_neox(dt, dx, num(a, "ld"), num(a, "heads"), num(a, "headDim"), pos, T, inv, nullptr);
      return download(env, b, dt, dx, x.ElementLength());
    }
    if (op == "swiglu") {
      const int T = num(a, "T"), I = num(a, "I");
      void* g = upload(b, dt, a.Get("gateUp").As<Napi::Float32Array>());
      void* out = b.poisoned((size_t)T * I * er::dtype_size(dt));
      er::swiglu(dt, g, T, I, out, nullptr);
      return download(env, b, dt, out, (size_t)T * I);
    }
    if (op == "attention") {
      const int heads = num(a, "heads"), kvh = num(a, "kvHeads"), d = num(a, "headDim"), bs = num(a, "blockSize"), mb = num(a, "maxBlocks");
      auto qkv = a.Get("qkv").As<Napi::Float32Array>();
      const int ld = (heads + 2 * kvh) * d;
      const int T = (int)(qkv.ElementLength() / ld);
      auto cuQ = a.Get("cuQ").As<Napi::Int32Array>();
      const int nseq = (int)cuQ.ElementLength() - 1;
      std::vector<int> token_seq(T);
      for (int s = 0; s < nseq; s++)
        for (int t = cuQ[s]; t < cuQ[s + 1]; t++) token_seq[t] = s;
      void* dqkv = upload(b, dt, qkv);
      void* kc = upload(b, dt, a.Get("kCache").As<Napi::Float32Array>());
      void* vc = upload(b, dt, a.Get("vCache").As<Napi::Float32Array>());
      int* slots = (int*)b.copy_in(a.Get("slots").As<Napi::Int32Array>());
      int* tables = (int*)b.copy_in(a.Get("blockTables").As<Napi::Int32Array>());
      int* dcu = (int*)b.copy_in(cuQ);
      auto ctxLen = a.Get("ctxLen").As<Napi::Int32Array>();
      if ((int)ctxLen.ElementLength() != nseq) throw std::invalid_argument("attention: ctxLen needs one entry per sequence");
      int* ctx = (int*)b.copy_in(ctxLen);
      int* tseq = (int*)b.alloc((size_t)T * 4);
      ER_CHECK(cudaMemcpy(tseq, token_seq.data(), (size_t)T * 4, cudaMemcpyHostToDevice));
      const std::string kernel = a.Has("kernel") ? a.Get("kernel").As<Napi::String>().Utf8Value() : "auto";
      if (kernel != "auto" && kernel != "warp") throw std::invalid_argument("attention: kernel must be 'auto' or 'warp'");
      const bool order = a.Has("orderTiles") ? a.Get("orderTiles").As<Napi::Boolean>().Value() : true;
      const int bm = er::paged_attention_block_m(dt, d);
      std::vector<int2> tiles((size_t)T + nseq);
      const int nt = er::attention_tiles(cuQ.Data(), nseq, bm, tiles.data(), (int)tiles.size());
      if (order) er::paged_attention_order_tiles(tiles.data(), nt, cuQ.Data(), ctxLen.Data(), bm);
      int2* dtiles = (int2*)b.alloc((size_t)nt * sizeof(int2));
      ER_CHECK(cudaMemcpy(dtiles, tiles.data(), (size_t)nt * sizeof(int2), cudaMemcpyHostToDevice));
      void* out = b.poisoned((size_t)T * heads * d * er::dtype_size(dt));
      er::kv_cache_write(dt, dqkv, ld, heads * d, (heads + kvh) * d, kvh, d, slots, T, kc, vc, nullptr);
      const float scale = 1.f / std::sqrt((float)d);
      auto run = [&] {
        if (kernel == "warp")
          er::paged_attention_warp(dt, dqkv, ld, heads, kvh, d, dcu, ctx, tseq, T, kc, vc, tables, mb, bs, scale, out, heads * d, nullptr);
        else
          er::paged_attention(dt, dqkv, ld, heads, kvh, d, dcu, ctx, tseq, T, dtiles, nt, kc, vc, tables, mb, bs, scale, out, heads * d, nullptr);
      };
      run();
      const int iters = a.Has("timeIters") ? num(a, "timeIters") : 0;
      if (iters > 0) {
        cudaEvent_t e0, e1;
        ER_CHECK(cudaEventCreate(&e0));
        ER_CHECK(cudaEventCreate(&e1));
        ER_CHECK(cudaEventRecord(e0, nullptr));
        for (int i = 0; i < iters; i++) run();
        ER_CHECK(cudaEventRecord(e1, nullptr));
        ER_CHECK(cudaEventSynchronize(e1));
        float ms = 0.f;
        ER_CHECK(cudaEventElapsedTime(&ms, e0, e1));
        cudaEventDestroy(e0);
        cudaEventDestroy(e1);
        auto r = Napi::Float32Array::New(env, 1);
        r[0] = ms / iters;
        return r;
      }
      return download(env, b, dt, out, (size_t)T * heads * d);
    }
    throw std::invalid_argument("unknown op " + op + " (rms_norm, rotary, swiglu, attention)");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("decoderOpTest: ") + e.what());
  }
}
