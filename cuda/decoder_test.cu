// Test entry points of the decoder (Qwen3) kernels, one op at a time on fresh inputs, for
// test/gpu/qwen3.gpu.ts: inputs and outputs are float32 on the host, converted to the dtype on
// the device; outputs are poisoned (NaN) first so an unwritten value fails.
#include <napi.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "local_comm.h"
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
//   'local_all_reduce' { parts [world · count] (rank r's input at r · count), world, count, calls,
//                 leaveAfter? (rank world − 1 leaves after that many calls; default never) }
//                 → [calls · world · count]: `world` threads on this device, one stream each, join one
//                 LocalComm group (EMBEDRANK_TP_LOCAL's in-process all-reduce) and each reduces its
//                 own copy of its part in place, call c over the first ⌈count/2⌉ values when c = 0
//                 (the scratch then grows) and all count after; row (c, r) is rank r's buffer after
//                 call c. A failed rank (or one whose peer left) rejects with every rank's error.
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
    if (op == "local_all_reduce") {
      auto parts = a.Get("parts").As<Napi::Float32Array>();
      const int world = num(a, "world"), count = num(a, "count"), calls = num(a, "calls");
      const int leave_after = a.Has("leaveAfter") ? num(a, "leaveAfter") : -1;
      if (world < 1 || count < 1 || calls < 1 || (size_t)world * count != parts.ElementLength())
        throw std::invalid_argument("local_all_reduce: parts must hold world · count values (world, count, calls ≥ 1)");
      const size_t es = er::dtype_size(dt);
      void* in = upload(b, dt, parts);  // rank r's part at r · count, in dt
      float* out = (float*)b.poisoned((size_t)calls * world * count * 4);
      ER_CHECK(cudaDeviceSynchronize());
      er::NcclUniqueId id;
      std::mt19937_64 rng(std::random_device{}());
      for (size_t i = 0; i < sizeof(id.internal); i += 8) {
        const uint64_t v = rng();
        std::memcpy(id.internal + i, &v, 8);
      }
      std::mutex mu;
      std::vector<std::string> errors(world);
      std::vector<std::thread> threads;
      for (int r = 0; r < world; r++) {
        threads.emplace_back([&, r] {
          cudaStream_t s = nullptr;
          void* buf = nullptr;
          try {
            ER_CHECK(cudaSetDevice(device));
            ER_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
            ER_CHECK(cudaMalloc(&buf, (size_t)count * es));
            auto comm = er::LocalComm::join(id, world, r, device);
            for (int c = 0; c < calls; c++) {
              const size_t n = c == 0 ? (size_t)(count + 1) / 2 : (size_t)count;
              ER_CHECK(cudaMemcpyAsync(buf, (const char*)in + (size_t)r * count * es, (size_t)count * es, cudaMemcpyDeviceToDevice, s));
              comm->all_reduce_sum(buf, n, dt, s);
              er::convert(dt, DType::F32, buf, out + ((size_t)c * world + r) * count, count, s);
              if (r == world - 1 && c + 1 == leave_after) break;
            }
            ER_CHECK(cudaStreamSynchronize(s));
          } catch (const std::exception& e) {
            std::lock_guard<std::mutex> g(mu);
            errors[r] = "rank " + std::to_string(r) + ": " + e.what();
          }
          if (s) {
            cudaStreamSynchronize(s);
            cudaStreamDestroy(s);
          }
          if (buf) cudaFree(buf);
        });
      }
      for (auto& t : threads) t.join();
      std::string failed;
      for (const auto& e : errors)
        if (!e.empty()) failed += (failed.empty() ? "" : "; ") + e;
      if (!failed.empty()) throw std::runtime_error(failed);
      auto res = Napi::Float32Array::New(env, (size_t)calls * world * count);
      ER_CHECK(cudaMemcpy(res.Data(), out, (size_t)calls * world * count * 4, cudaMemcpyDeviceToHost));
      return res;
    }
    throw std::invalid_argument("unknown op " + op + " (rms_norm, rotary, swiglu, attention, local_all_reduce)");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("decoderOpTest: ") + e.what());
  }
}
