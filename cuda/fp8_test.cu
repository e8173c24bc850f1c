// Test entry points of the FP8 path (quantize_fp8.cu, gemm_fp8.cu) one op at a time, for
// test/gpu/fp8.gpu.ts: float32 inputs are converted to the dtype on the device first; e4m3 codes
// come back as raw bytes, scales as fp32; outputs are poisoned (0xff: NaN in every dtype, 0xff is
// e4m3's NaN too) so an unwritten value fails.
#include <napi.h>

#include <string>
#include <vector>

#include "gemm_fp8.h"
#include "op_test.h"
#include "ops.h"

namespace {

using er::DType;
using Buffers = er::op_test::DeviceBuffers;
using er::op_test::num;
using er::op_test::upload;

Napi::Object quantized(Napi::Env env, const void* q, const float* scale, size_t rows, size_t K) {
  ER_CHECK(cudaDeviceSynchronize());
  auto qa = Napi::Uint8Array::New(env, rows * K);
  auto sa = Napi::Float32Array::New(env, rows);
  ER_CHECK(cudaMemcpy(qa.Data(), q, rows * K, cudaMemcpyDeviceToHost));
  ER_CHECK(cudaMemcpy(sa.Data(), scale, rows * sizeof(float), cudaMemcpyDeviceToHost));
  auto o = Napi::Object::New(env);
  o.Set("q", qa);
  o.Set("scales", sa);
  return o;
}

}  // namespace

// fp8OpTest(dtype, op, args, device) → object. op and args:
//   'quantize'           { x [rows · K], rows, K }            → { q: Uint8Array [rows · K], scales: Float32Array [rows] }
//   'bias_gelu_quantize' { x [T · N], bias [N], T, N }        → { q, scales } of gelu_erf(x + bias)
//   'add_ln_quantize'    { x [T · H], residual [T · H], gamma [H], beta [H], T, H, eps }
//                        → { q, scales, out: Float32Array [T · H] } (add_bias_layernorm with its fp8 output, no bias)
//   'gemm'               { xq Uint8Array [T · K], xs [T], wq Uint8Array [N · K], ws [N], bias? [N], T, K, N,
//                          epilogue: 'auto' | 'outer' | 'kernel' } → { y: Float32Array [T · N], epilogue: 'outer' | 'kernel' }
//     y = (xq · xs) (wq · ws)^T + bias in dtype (16-bit), read back as float32
//   'gemm_graph'         as 'gemm' plus graphT (< T)         → { y [T · N], yGraph [graphT · N], epilogue }
//     the runner as BertModel drives it (max_acc_elems = T · N, one non-blocking stream): the first
//     graphT rows run eagerly, are captured into a CUDA graph, then all T rows run eagerly (a larger
//     product than the graph's) and the graph is replayed into its poisoned output: yGraph
Napi::Value Fp8OpTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int code = info[0].As<Napi::Number>().Int32Value();
  if (code < 0 || code > 2) throw Napi::Error::New(env, "fp8OpTest: dtype code must be 0, 1 or 2");
  const DType dt = (DType)code;
  const std::string op = info[1].As<Napi::String>().Utf8Value();
  const Napi::Object a = info[2].As<Napi::Object>();
  const int device = info[3].As<Napi::Number>().Int32Value();
  try {
    ER_CHECK(cudaSetDevice(device));
    Buffers b;
    // A dt matrix of n values on the device, read back as a Float32Array.
    auto back = [&](const void* src, size_t n) {
      void* f32 = b.alloc(n * 4);
      er::convert(dt, DType::F32, src, f32, n, nullptr);
      auto arr = Napi::Float32Array::New(env, n);
      ER_CHECK(cudaMemcpy(arr.Data(), f32, n * 4, cudaMemcpyDeviceToHost));
      return arr;
    };
    // The operands 'gemm' and 'gemm_graph' share, on the device.
    struct GemmIn {
      int T, K, N;
      er::Fp8Epilogue mode;
      const uint8_t *xq, *wq;
      const float *xs, *ws;
      const void* bias;
    };
    auto gemm_in = [&]() {
      const std::string e = a.Get("epilogue").As<Napi::String>().Utf8Value();
      GemmIn g;
      g.T = num(a, "T"), g.K = num(a, "K"), g.N = num(a, "N");
      g.mode = e == "outer" ? er::Fp8Epilogue::OuterVec : e == "kernel" ? er::Fp8Epilogue::Kernel : er::Fp8Epilogue::Auto;
      g.xq = (const uint8_t*)b.copy_in(a.Get("xq").As<Napi::Uint8Array>());
      g.wq = (const uint8_t*)b.copy_in(a.Get("wq").As<Napi::Uint8Array>());
      g.xs = (const float*)b.copy_in(a.Get("xs").As<Napi::Float32Array>());
      g.ws = (const float*)b.copy_in(a.Get("ws").As<Napi::Float32Array>());
      g.bias = a.Has("bias") && a.Get("bias").IsTypedArray() ? upload(b, dt, a.Get("bias").As<Napi::Float32Array>()) : nullptr;
      return g;
    };
    if (op == "quantize") {
      const int rows = num(a, "rows"), K = num(a, "K");
      void* x = upload(b, dt, a.Get("x").As<Napi::Float32Array>());
      auto* q = (uint8_t*)b.poisoned((size_t)rows * K);
      auto* s = (float*)b.poisoned((size_t)rows * sizeof(float));
      er::quantize_fp8_rows(dt, x, rows, K, q, s, nullptr);
      return quantized(env, q, s, rows, K);
    }
    if (op == "bias_gelu_quantize") {
      const int T = num(a, "T"), N = num(a, "N");
      void* x = upload(b, dt, a.Get("x").As<Napi::Float32Array>());
      void* bias = upload(b, dt, a.Get("bias").As<Napi::Float32Array>());
      auto* q = (uint8_t*)b.poisoned((size_t)T * N);
      auto* s = (float*)b.poisoned((size_t)T * sizeof(float));
      er::bias_gelu_quantize_fp8(dt, x, bias, T, N, q, s, nullptr);
      return quantized(env, q, s, T, N);
    }
    if (op == "add_ln_quantize") {
      const int T = num(a, "T"), H = num(a, "H");
      void* x = upload(b, dt, a.Get("x").As<Napi::Float32Array>());
      void* res = upload(b, dt, a.Get("residual").As<Napi::Float32Array>());
      auto* g = (const float*)b.copy_in(a.Get("gamma").As<Napi::Float32Array>());
      auto* be = (const float*)b.copy_in(a.Get("beta").As<Napi::Float32Array>());
      void* out = b.poisoned((size_t)T * H * er::dtype_size(dt));
      auto* q = (uint8_t*)b.poisoned((size_t)T * H);
      auto* sc = (float*)b.poisoned((size_t)T * sizeof(float));
      er::add_bias_layernorm(dt, x, nullptr, res, g, be, a.Get("eps").As<Napi::Number>().FloatValue(), T, H, out, nullptr, nullptr, q, sc);
      Napi::Object o = quantized(env, q, sc, T, H);
      o.Set("out", back(out, (size_t)T * H));
      return o;
    }
    if (op == "gemm") {
      const GemmIn g = gemm_in();
      void* y = b.poisoned((size_t)g.T * g.N * er::dtype_size(dt));
      er::Fp8Epilogue ran;
      {
        er::Fp8GemmRunner runner(g.mode);
        ran = runner.linear(dt, g.xq, g.xs, g.T, g.K, g.wq, g.ws, g.N, g.bias, y, nullptr);
        ER_CHECK(cudaDeviceSynchronize());
      }
      auto o = Napi::Object::New(env);
      o.Set("y", back(y, (size_t)g.T * g.N));
      o.Set("epilogue", ran == er::Fp8Epilogue::OuterVec ? "outer" : "kernel");
      return o;
    }
    if (op == "gemm_graph") {
      const GemmIn g = gemm_in();
      const int T = g.T, Tg = num(a, "graphT"), K = g.K, N = g.N;
      if (Tg < 1 || Tg >= T) throw std::invalid_argument("graphT must be in [1, T)");
      const uint8_t *xq = g.xq, *wq = g.wq;
      const float *xs = g.xs, *ws = g.ws;
      const void* bias = g.bias;
      const size_t yg_bytes = (size_t)Tg * N * er::dtype_size(dt);
      void* y = b.poisoned((size_t)T * N * er::dtype_size(dt));
      void* yg = b.poisoned(yg_bytes);
      struct Graph {  // released on every path out
        cudaStream_t s = nullptr;
        cudaGraph_t g = nullptr;
        cudaGraphExec_t exec = nullptr;
        ~Graph() {
          if (exec) cudaGraphExecDestroy(exec);
          if (g) cudaGraphDestroy(g);
          if (s) cudaStreamDestroy(s);
        }
      } gr;
      ER_CHECK(cudaStreamCreateWithFlags(&gr.s, cudaStreamNonBlocking));
      er::Fp8Epilogue ran;
      {
        er::Fp8GemmRunner runner(g.mode, 32u << 20, (size_t)T * N);
        runner.linear(dt, xq, xs, Tg, K, wq, ws, N, bias, yg, gr.s);  // eager first, as BertModel does: plans, buffers
        ER_CHECK(cudaStreamSynchronize(gr.s));
        ER_CHECK(cudaStreamBeginCapture(gr.s, cudaStreamCaptureModeThreadLocal));
        try {
          runner.linear(dt, xq, xs, Tg, K, wq, ws, N, bias, yg, gr.s);
        } catch (...) {
          cudaStreamEndCapture(gr.s, &gr.g);
          throw;
        }
        ER_CHECK(cudaStreamEndCapture(gr.s, &gr.g));
        ER_CHECK(cudaGraphInstantiate(&gr.exec, gr.g, 0));
        ER_CHECK(cudaMemsetAsync(yg, 0xff, yg_bytes, gr.s));  // the replay must write it again
        ran = runner.linear(dt, xq, xs, T, K, wq, ws, N, bias, y, gr.s);
        ER_CHECK(cudaGraphLaunch(gr.exec, gr.s));
        ER_CHECK(cudaStreamSynchronize(gr.s));
      }
      auto o = Napi::Object::New(env);
      o.Set("y", back(y, (size_t)T * N));
      o.Set("yGraph", back(yg, (size_t)Tg * N));
      o.Set("epilogue", ran == er::Fp8Epilogue::OuterVec ? "outer" : "kernel");
      return o;
    }
    throw std::invalid_argument("unknown op " + op + " (quantize, bias_gelu_quantize, add_ln_quantize, gemm, gemm_graph)");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("fp8OpTest: ") + e.what());
  }
}
