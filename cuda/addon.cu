// Node-API binding: the thin dispatch layer between the GPU worker thread (JS) and a resident model
// (BertModel for encoders, DecoderModel for decoders: config key `arch`).
// Each model slot has its own executor thread, so a forward call returns a Promise at once and
// the JS thread stays free; batches on one slot run in call order, which keeps tensor-parallel
// ranks' NCCL collectives in the same order.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "bert.h"
#include "decoder.h"
#include "gemm.h"
#include "ops.h"

namespace {

using er::BertModel;
using er::DecoderModel;
using er::ResidentModel;
using er::CudaFailure;
using er::DType;

class Executor {
 public:
  explicit Executor(int device) : thread_([this, device] {
      cudaSetDevice(device);
      loop();
    }) {}
  ~Executor() {
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void post(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> g(mu_);
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [this] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stop_ = false;
  std::thread thread_;
};

struct Outcome {
  std::string error;
  bool sticky = false;
  bool oom = false;
  bool failed = false;
};

void capture(Outcome& o, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const CudaFailure& e) {
    o = Outcome{e.what(), e.sticky, e.oom, true};
  } catch (const std::exception& e) {
    o = Outcome{e.what(), false, false, true};
  }
}

Napi::Error make_error(Napi::Env env, const Outcome& o) {
  Napi::Error err = Napi::Error::New(env, o.error);
  err.Set("name", Napi::String::New(env, "CudaError"));
  err.Set("fatal", Napi::Boolean::New(env, o.sticky));
  err.Set("retryable", Napi::Boolean::New(env, o.sticky));
  err.Set("oom", Napi::Boolean::New(env, o.oom));
  return err;
}

[[noreturn]] void throw_outcome(Napi::Env env, const Outcome& o) { throw make_error(env, o); }

DType dtype_arg(const Napi::Value& v) {
  const int d = v.As<Napi::Number>().Int32Value();
  if (d < 0 || d > 2) throw std::runtime_error("dtype code must be 0 (f32), 1 (f16) or 2 (bf16)");
  return (DType)d;
}

// An optional kernel name ('mma' | 'mma128' | 'wgmma'); undefined: EMBEDRANK_ATTENTION.
er::AttentionKernel attention_kernel_arg(const Napi::Value& v) {
  if (v.IsUndefined() || v.IsNull()) return er::attention_kernel_from_env();
  const std::string k = v.As<Napi::String>().Utf8Value();
  if (k == "mma") return er::AttentionKernel::Mma;
  if (k == "mma128") return er::AttentionKernel::Mma128;
  if (k == "wgmma") return er::AttentionKernel::Wgmma;
  throw std::runtime_error("attention kernel must be 'mma', 'mma128' or 'wgmma', got '" + k + "'");
}

const char* attention_kernel_name(er::AttentionKernel k) {
  return k == er::AttentionKernel::Wgmma ? "wgmma" : k == er::AttentionKernel::Mma128 ? "mma128" : "mma";
}

std::vector<int> int_vector(const Napi::Value& v) {
  auto a = v.As<Napi::Int32Array>();
  return std::vector<int>(a.Data(), a.Data() + a.ElementLength());
}

struct Completion {
  Napi::Promise::Deferred deferred;
  Outcome outcome;
  std::shared_ptr<Napi::Reference<Napi::Value>> keep;  // buffers native code writes into
  Napi::ObjectReference self;                           // the Model stays alive while work is pending
};

class Model : public Napi::ObjectWrap<Model> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Model",
                       {InstanceMethod("setWeight", &Model::SetWeight), InstanceMethod("connect", &Model::Connect),
                        InstanceMethod("forward", &Model::Forward), InstanceMethod("destroy", &Model::Destroy),
                        InstanceMethod("weightBytes", &Model::WeightBytes), InstanceMethod("profile", &Model::Profile),
                        InstanceMethod("allocateKvCache", &Model::AllocateKvCache), InstanceMethod("kvBytesPerBlock", &Model::KvBytesPerBlock),
                        InstanceMethod("forwardDecoder", &Model::ForwardDecoder), InstanceMethod("tuneGemms", &Model::TuneGemms),
                        InstanceMethod("graphStats", &Model::GraphStats)});
  }

  explicit Model(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Model>(info) {
    Napi::Env env = info.Env();
    auto o = info[0].As<Napi::Object>();
    auto num = [&](const char* k) { return o.Get(k).As<Napi::Number>().Int32Value(); };
    auto flt = [&](const char* k) { return o.Get(k).As<Napi::Number>().FloatValue(); };
    const int arch = o.Has("arch") ? num("arch") : 0;
    if (arch != 0 && arch != 1) throw Napi::Error::New(env, "arch must be 0 (post-LN encoder) or 1 (pre-RMSNorm decoder)");
    int device = 0, slots = 1;
    Outcome out;
    if (arch == 0) {
      er::BertConfig c;
      c.device = num("device");
      c.dt = dtype_arg(o.Get("dtype"));
      c.hidden = num("hidden");
      c.layers = num("layers");
      c.heads = num("heads");
      c.head_dim = num("headDim");
      c.inter = num("intermediate");
      c.vocab = num("vocab");
      c.max_pos = num("maxPositions");
      c.type_vocab = num("typeVocab");
      c.num_labels = num("numLabels");
      c.pos_offset = num("positionOffset");
      c.head_act = o.Has("headActivation") ? num("headActivation") : 0;
      c.eps = flt("eps");
      c.max_tokens = num("maxTokens");
      c.max_seqs = num("maxSeqs");
      c.slots = num("slots");
      c.rank = num("rank");
      c.world = num("worldSize");
      c.tf32 = o.Get("allowTf32").ToBoolean().Value();
      c.quant = o.Has("quantization") ? num("quantization") : 0;  // 0 none, 1 fp8
      device = c.device;
      slots = c.slots;
      capture(out, [&] { model_ = std::make_unique<BertModel>(c); });
    } else {
      er::DecoderConfig c;
      c.device = num("device");
      c.dt = dtype_arg(o.Get("dtype"));
      c.hidden = num("hidden");
      c.layers = num("layers");
      c.heads = num("heads");
      c.kv_heads = num("kvHeads");
      c.head_dim = num("headDim");
      c.inter = num("intermediate");
      c.vocab = num("vocab");
      c.num_labels = num("numLabels");
      c.eps = flt("eps");
      c.rope_theta = flt("ropeTheta");
      c.max_tokens = num("maxTokens");
      c.max_seqs = num("maxSeqs");
      c.block_size = num("blockSize");
      c.max_blocks_per_seq = num("maxBlocksPerSeq");
      c.slots = num("slots");
      c.rank = num("rank");
      c.world = num("worldSize");
      c.tf32 = o.Get("allowTf32").ToBoolean().Value();
      device = c.device;
      slots = c.slots;
      capture(out, [&] { model_ = std::make_unique<DecoderModel>(c); });
    }
    if (out.failed) throw_outcome(env, out);
    for (int i = 0; i < slots; i++) executors_.push_back(std::make_unique<Executor>(device));
    tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "embedrank-gpu", 0, 1);
    tsfn_.Unref(env);
  }

  ~Model() override { shutdown(); }

 private:
  void shutdown() {
    executors_.clear();  // joins: queued batches finish first
    model_.reset();
    if (!released_ && static_cast<napi_threadsafe_function>(tsfn_) != nullptr) {
      tsfn_.Release();
      released_ = true;
    }
  }

  ResidentModel& model(Napi::Env env) {
    if (!model_) throw Napi::Error::New(env, "GPU model was destroyed");
    return *model_;
  }
  template <typename M> M& model_as(Napi::Env env, const char* method) {
    M* m = dynamic_cast<M*>(&model(env));
    if (!m) throw Napi::Error::New(env, std::string(method) + " does not apply to this model's architecture");
    return *m;
  }

  Napi::Value SetWeight(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string name = info[0].As<Napi::String>();
    auto data = info[1].As<Napi::Uint8Array>();
    const DType src = dtype_arg(info[2]);
    const size_t numel = data.ByteLength() / er::dtype_size(src);
    Outcome out;
    capture(out, [&] { model(env).set_weight(name, data.Data(), numel, src); });
    if (out.failed) throw_outcome(env, out);
    return env.Undefined();
  }

  Napi::Value WeightBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), (double)model(info.Env()).weight_bytes());
  }

  // profile() → { op: { ms, count } }: GPU time per operation since the last call (EMBEDRANK_PROFILE=1).
  Napi::Value Profile(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto o = Napi::Object::New(env);
    for (const auto& [name, v] : model(env).take_profile()) {
      auto e = Napi::Object::New(env);
      e.Set("ms", v.first);
      e.Set("count", (double)v.second);
      o.Set(name, e);
    }
    return o;
  }

  // graphStats() → { captured, replayed, failed }: CUDA graphs since the model was made (resident.h).
  Napi::Value GraphStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const auto c = model(env).graph_counts();
    auto o = Napi::Object::New(env);
    o.Set("captured", (double)c.captured);
    o.Set("replayed", (double)c.replayed);
    o.Set("failed", (double)c.failed);
    return o;
  }

  // Runs `job` on a slot's executor; the returned promise settles on this (JS) thread.
  Napi::Value Submit(Napi::Env env, int slot, std::function<void()> job, std::shared_ptr<Napi::Reference<Napi::Value>> keep) {
    auto* done = new Completion{Napi::Promise::Deferred::New(env), {}, std::move(keep), Napi::Persistent(Value())};
    Napi::Promise promise = done->deferred.Promise();
    if (pending_++ == 0) tsfn_.Ref(env);
    ResidentModel* m = model_.get();
    executors_[slot]->post([this, done, job = std::move(job), m] {
      capture(done->outcome, job);
      if (done->outcome.sticky) m->mark_broken();
      tsfn_.NonBlockingCall(done, [this](Napi::Env env, Napi::Function, Completion* c) {
        if (c->outcome.failed) c->deferred.Reject(make_error(env, c->outcome).Value());
        else c->deferred.Resolve(env.Undefined());
        if (--pending_ == 0) tsfn_.Unref(env);
        delete c;
      });
    });
    return promise;
  }

  // connect(ids: Uint8Array[]) → Promise: joins the NCCL group (blocks until every rank joins).
  Napi::Value Connect(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto arr = info[0].As<Napi::Array>();
    std::vector<er::NcclUniqueId> ids(arr.Length());
    for (uint32_t i = 0; i < arr.Length(); i++) {
      auto b = arr.Get(i).As<Napi::Uint8Array>();
      if (b.ByteLength() != sizeof(er::NcclUniqueId)) throw Napi::Error::New(env, "NCCL unique id must be 128 bytes");
      std::memcpy(ids[i].internal, b.Data(), sizeof(er::NcclUniqueId));
    }
    ResidentModel* m = &model(env);
    return Submit(env, 0, [m, ids] { m->connect(ids); }, nullptr);
  }

  int slot_arg(Napi::Env env, const Napi::Value& v) {
    const int slot = v.As<Napi::Number>().Int32Value();
    if (slot < 0 || slot >= (int)executors_.size()) throw Napi::Error::New(env, "bad slot");
    return slot;
  }

  // Points the request at the caller's Float32Array (kept alive until the work settles), checks it
  // holds the output, and runs the forward pass on the request's slot.
  template <typename M, typename R>
  Napi::Value SubmitForward(Napi::Env env, M* m, std::shared_ptr<R> req, const Napi::Value& out_arg, const char* unit) {
    auto out = out_arg.As<Napi::Float32Array>();
    req->out = out.Data();
    req->out_len = out.ElementLength();
    if (req->out_len < m->output_len(*req)) throw Napi::Error::New(env, std::string("output buffer too small for this ") + unit);
    auto keep = std::make_shared<Napi::Reference<Napi::Value>>(Napi::Persistent(out_arg));
    return Submit(env, req->slot, [m, req] { m->forward(*req); }, keep);
  }

  // forward(slot, ids, types, positions, cu, skip|null, mode, poolMode, normalize, stopAfterLayers, out) → Promise
  // types is empty for a model without token types; positions are the family's position ids.
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    BertModel* m = &model_as<BertModel>(env, "forward");
    auto req = std::make_shared<er::Request>();
    req->slot = slot_arg(env, info[0]);
    req->ids = int_vector(info[1]);
    req->types = int_vector(info[2]);
    req->positions = int_vector(info[3]);
    req->cu = int_vector(info[4]);
    if (!info[5].IsNull() && !info[5].IsUndefined()) req->skip = int_vector(info[5]);
    req->mode = (er::Output)info[6].As<Napi::Number>().Int32Value();
    req->pool_mode = info[7].As<Napi::Number>().Int32Value();
    req->normalize = info[8].ToBoolean().Value();
    req->stop_after_layers = info[9].As<Napi::Number>().Int32Value();
    return SubmitForward(env, m, req, info[10], "batch");
  }

  // allocateKvCache(numBlocks): the decoder's paged K/V caches (after the weights).
  Napi::Value AllocateKvCache(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    DecoderModel& m = model_as<DecoderModel>(env, "allocateKvCache");
    const int blocks = info[0].As<Napi::Number>().Int32Value();
    Outcome out;
    capture(out, [&] { m.allocate_kv_cache(blocks); });
    if (out.failed) throw_outcome(env, out);
    return env.Undefined();
  }

  // tuneGemms() → number of token-count classes tuned (DecoderModel::tune_gemms), synchronously.
  Napi::Value TuneGemms(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    DecoderModel& m = model_as<DecoderModel>(env, "tuneGemms");
    int classes = 0;
    Outcome out;
    capture(out, [&] { classes = m.tune_gemms(); });
    if (out.failed) throw_outcome(env, out);
    return Napi::Number::New(env, classes);
  }

  Napi::Value KvBytesPerBlock(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), (double)model_as<DecoderModel>(info.Env(), "kvBytesPerBlock").kv_bytes_per_block());
  }

  // forwardDecoder(slot, ids, positions, cuQ, ctxLens, blockTables, slotMapping, mode, normalize, out) → Promise
  Napi::Value ForwardDecoder(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    DecoderModel* m = &model_as<DecoderModel>(env, "forwardDecoder");
    auto req = std::make_shared<er::DecoderRequest>();
    req->slot = slot_arg(env, info[0]);
    req->ids = int_vector(info[1]);
    req->positions = int_vector(info[2]);
    req->cu_q = int_vector(info[3]);
    req->ctx_len = int_vector(info[4]);
    req->block_tables = int_vector(info[5]);
    req->slot_mapping = int_vector(info[6]);
    const int mode = info[7].As<Napi::Number>().Int32Value();
    if (mode < 0 || mode > 2) throw Napi::Error::New(env, "mode must be 0 (embed), 1 (score) or 2 (hidden)");
    req->mode = (er::Output)mode;
    req->normalize = info[8].ToBoolean().Value();
    return SubmitForward(env, m, req, info[9], "step");
  }

  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    shutdown();
    return info.Env().Undefined();
  }

  std::unique_ptr<ResidentModel> model_;
  std::vector<std::unique_ptr<Executor>> executors_;
  Napi::ThreadSafeFunction tsfn_;
  bool released_ = false;
  int pending_ = 0;
};

Napi::Value DeviceCount(const Napi::CallbackInfo& info) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    n = 0;
  }
  return Napi::Number::New(info.Env(), n);
}

Napi::Value DeviceInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int d = info[0].As<Napi::Number>().Int32Value();
  cudaDeviceProp p{};
  Outcome out;
  size_t free_b = 0, total_b = 0;
  capture(out, [&] {
    ER_CHECK(cudaGetDeviceProperties(&p, d));
    ER_CHECK(cudaSetDevice(d));
    ER_CHECK(cudaMemGetInfo(&free_b, &total_b));
  });
  if (out.failed) throw_outcome(env, out);
  auto o = Napi::Object::New(env);
  o.Set("name", p.name);
  o.Set("multiprocessors", p.multiProcessorCount);
  o.Set("computeCapability", std::to_string(p.major) + "." + std::to_string(p.minor));
  o.Set("totalMemory", (double)total_b);
  o.Set("freeMemory", (double)free_b);
  o.Set("l2Bytes", p.l2CacheSize);
  return o;
}

// deviceProperties(device) → { name, computeCapability, totalMemory }: cudaGetDeviceProperties
// only, so unlike deviceInfo it sets no device and opens no context (what the runtime asks of
// every GPU on its main thread before the workers start; vLLM reads the same totalGlobalMem).
Napi::Value DeviceProperties(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int d = info[0].As<Napi::Number>().Int32Value();
  cudaDeviceProp p{};
  Outcome out;
  capture(out, [&] { ER_CHECK(cudaGetDeviceProperties(&p, d)); });
  if (out.failed) throw_outcome(env, out);
  auto o = Napi::Object::New(env);
  o.Set("name", p.name);
  o.Set("computeCapability", std::to_string(p.major) + "." + std::to_string(p.minor));
  o.Set("totalMemory", (double)p.totalGlobalMem);
  return o;
}

Napi::Value NcclUniqueId(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  er::NcclUniqueId id;
  try {
    id = er::Nccl::get().unique_id();
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  auto buf = Napi::Uint8Array::New(env, sizeof(id));
  std::memcpy(buf.Data(), id.internal, sizeof(id));
  return buf;
}

// attentionTest(dtype, qkv: Float32Array [T, 3·heads·headDim], cu: Int32Array, heads, headDim, device,
// kernel?: 'mma' | 'mma128' | 'wgmma') → Float32Array [T, heads·headDim]: the attention kernel alone,
// for tests at any length. kernel undefined: EMBEDRANK_ATTENTION; fp32 always runs the FMA kernel,
// and wgmma at head_dim 32 the mma one.
// Throws if 'wgmma' cannot run on the device (attention_kernel()).
Napi::Value AttentionTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DType dt = dtype_arg(info[0]);
  auto qkv = info[1].As<Napi::Float32Array>();
  std::vector<int> cu = int_vector(info[2]);
  const int heads = info[3].As<Napi::Number>().Int32Value();
  const int hd = info[4].As<Napi::Number>().Int32Value();
  const int device = info[5].As<Napi::Number>().Int32Value();
  const int n = (int)cu.size() - 1;
  const int T = cu[n];
  const int Hl = heads * hd;
  if ((size_t)T * 3 * Hl != qkv.ElementLength()) throw Napi::Error::New(env, "qkv has the wrong size for cu_seqlens");
  auto result = Napi::Float32Array::New(env, (size_t)T * Hl);
  Outcome out;
  capture(out, [&] {
    const er::AttentionKernel wanted = attention_kernel_arg(info[6]);
    ER_CHECK(cudaSetDevice(device));
    const er::AttentionKernel kern = er::attention_kernel(dt, hd, wanted);
    const int bm = er::attention_block_m(dt, hd, kern);
    std::vector<int2> tiles((size_t)T / bm + n + 1);
    // Longest first for the Hopper kernel, as BertModel lists them (its persistent blocks deal them in order).
    const bool lpt = er::attention_kernel_for_batch(kern, T, n) == er::AttentionKernel::Wgmma;
    const int nt = er::attention_tiles(cu.data(), n, bm, tiles.data(), (int)tiles.size(), lpt);
    const size_t e = er::dtype_size(dt);
    void *d32 = nullptr, *dq = nullptr, *dctx = nullptr, *dctx32 = nullptr, *dcu = nullptr, *dtiles = nullptr;
    auto cleanup = [&] { for (void* p : {d32, dq, dctx, dctx32, dcu, dtiles}) if (p) cudaFree(p); };
    try {
      ER_CHECK(cudaMalloc(&d32, qkv.ByteLength()));
      ER_CHECK(cudaMalloc(&dq, (size_t)T * 3 * Hl * e));
      ER_CHECK(cudaMalloc(&dctx, (size_t)T * Hl * e));
      ER_CHECK(cudaMalloc(&dctx32, (size_t)T * Hl * 4));
      ER_CHECK(cudaMalloc(&dcu, cu.size() * 4));
      ER_CHECK(cudaMalloc(&dtiles, tiles.size() * sizeof(int2)));
      ER_CHECK(cudaMemcpy(d32, qkv.Data(), qkv.ByteLength(), cudaMemcpyHostToDevice));
      ER_CHECK(cudaMemcpy(dcu, cu.data(), cu.size() * 4, cudaMemcpyHostToDevice));
      ER_CHECK(cudaMemcpy(dtiles, tiles.data(), nt * sizeof(int2), cudaMemcpyHostToDevice));
      // Poison the output so unwritten rows show up as NaN.
      ER_CHECK(cudaMemset(dctx, 0xff, (size_t)T * Hl * e));
      er::convert(DType::F32, dt, d32, dq, (size_t)T * 3 * Hl, nullptr);
      er::attention(kern, dt, dq, 3 * Hl, T, heads, hd, (const int*)dcu, (const int2*)dtiles, nt, 1.f / std::sqrt((float)hd), dctx, Hl, nullptr);
      er::convert(dt, DType::F32, dctx, dctx32, (size_t)T * Hl, nullptr);
      ER_CHECK(cudaMemcpy(result.Data(), dctx32, (size_t)T * Hl * 4, cudaMemcpyDeviceToHost));
      ER_CHECK(cudaDeviceSynchronize());
    } catch (...) {
      cleanup();
      throw;
    }
    cleanup();
  });
  if (out.failed) throw_outcome(env, out);
  return result;
}

__global__ void fill_kernel(__half* p, size_t n, uint32_t seed) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    uint32_t x = (uint32_t)i * 2654435761u ^ seed;
    x ^= x >> 13;
    x *= 0x5bd1e995u;
    x ^= x >> 15;
    p[i] = __float2half(((x & 0xffff) / 65536.f - 0.5f) * 0.1f);
  }
}

// gemmBench(M, N, K, iters, device) → { ms, tflops }: the fp16 GEMM ceiling this card reaches
// through cuBLASLt on random data, measured with CUDA events (median of iters).
Napi::Value GemmBench(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int M = info[0].As<Napi::Number>().Int32Value();
  const int N = info[1].As<Napi::Number>().Int32Value();
  const int K = info[2].As<Napi::Number>().Int32Value();
  const int iters = info[3].As<Napi::Number>().Int32Value();
  const int device = info[4].As<Napi::Number>().Int32Value();
  double ms = 0;
  Outcome out;
  capture(out, [&] {
    ER_CHECK(cudaSetDevice(device));
    void *a = nullptr, *b = nullptr, *c = nullptr;
    ER_CHECK(cudaMalloc(&a, (size_t)M * K * 2));
    ER_CHECK(cudaMalloc(&b, (size_t)N * K * 2));
    ER_CHECK(cudaMalloc(&c, (size_t)M * N * 2));
    fill_kernel<<<1024, 256>>>((__half*)a, (size_t)M * K, 1u);
    fill_kernel<<<1024, 256>>>((__half*)b, (size_t)N * K, 2u);
    {
      er::GemmRunner g;
      cudaEvent_t e0, e1;
      ER_CHECK(cudaEventCreate(&e0));
      ER_CHECK(cudaEventCreate(&e1));
      for (int i = 0; i < 3; i++) g.linear(DType::F16, a, M, K, b, N, nullptr, c, nullptr, false);
      std::vector<float> times;
      for (int i = 0; i < iters; i++) {
        ER_CHECK(cudaEventRecord(e0));
        g.linear(DType::F16, a, M, K, b, N, nullptr, c, nullptr, false);
        ER_CHECK(cudaEventRecord(e1));
        ER_CHECK(cudaEventSynchronize(e1));
        float t = 0;
        ER_CHECK(cudaEventElapsedTime(&t, e0, e1));
        times.push_back(t);
      }
      std::sort(times.begin(), times.end());
      ms = times[times.size() / 2];
      cudaEventDestroy(e0);
      cudaEventDestroy(e1);
    }
    cudaFree(a);
    cudaFree(b);
    cudaFree(c);
  });
  if (out.failed) throw_outcome(env, out);
  auto o = Napi::Object::New(env);
  o.Set("ms", ms);
  o.Set("tflops", 2.0 * M * N * K / (ms * 1e-3) / 1e12);
  return o;
}

// attentionBench(dtype, cu: Int32Array, heads, headDim, kernel: 'mma' | 'mma128' | 'wgmma', iters, device)
// → { ms, tflops, kernel }: the attention kernel alone on random fp16/bf16 q/k/v (fill_kernel's
// uniform ±0.05, with the softmax scale raised to 64/√d so that logits spread over a few units),
// median of iters CUDA-event timings after 3 warm-ups. tflops counts the non-causal work, 4·Σ len²·heads·headDim; kernel names the one that ran.
Napi::Value AttentionBench(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const DType dt = dtype_arg(info[0]);
  std::vector<int> cu = int_vector(info[1]);
  const int heads = info[2].As<Napi::Number>().Int32Value();
  const int hd = info[3].As<Napi::Number>().Int32Value();
  const int iters = std::max(1, info[5].As<Napi::Number>().Int32Value());
  const int device = info[6].As<Napi::Number>().Int32Value();
  const int n = (int)cu.size() - 1;
  if (n < 1) throw Napi::Error::New(env, "attentionBench: cu needs at least one sequence");
  if (dt == DType::F32) throw Napi::Error::New(env, "attentionBench: fp16 or bf16");
  const int T = cu[n];
  const int Hl = heads * hd;
  double ms = 0, flops = 0;
  er::AttentionKernel kern = er::AttentionKernel::Mma;
  for (int i = 0; i < n; i++) flops += 4.0 * (double)(cu[i + 1] - cu[i]) * (cu[i + 1] - cu[i]) * heads * hd;
  Outcome out;
  capture(out, [&] {
    const er::AttentionKernel wanted = attention_kernel_arg(info[4]);
    ER_CHECK(cudaSetDevice(device));
    kern = er::attention_kernel(dt, hd, wanted);
    const int bm = er::attention_block_m(dt, hd, kern);
    std::vector<int2> tiles((size_t)T / bm + n + 1);
    // Longest first for the Hopper kernel, as BertModel lists them (its persistent blocks deal them in order).
    const bool lpt = er::attention_kernel_for_batch(kern, T, n) == er::AttentionKernel::Wgmma;
    const int nt = er::attention_tiles(cu.data(), n, bm, tiles.data(), (int)tiles.size(), lpt);
    void *dh = nullptr, *dq = nullptr, *dctx = nullptr, *dcu = nullptr, *dtiles = nullptr;
    cudaEvent_t e0 = nullptr, e1 = nullptr;
    auto cleanup = [&] {
      for (void* p : {dh, dq, dctx, dcu, dtiles}) if (p) cudaFree(p);
      if (e0) cudaEventDestroy(e0);
      if (e1) cudaEventDestroy(e1);
    };
    try {
      const size_t nq = (size_t)T * 3 * Hl;
      ER_CHECK(cudaMalloc(&dh, nq * 2));
      ER_CHECK(cudaMalloc(&dq, nq * 2));
      ER_CHECK(cudaMalloc(&dctx, (size_t)T * Hl * 2));
      ER_CHECK(cudaMalloc(&dcu, cu.size() * 4));
      ER_CHECK(cudaMalloc(&dtiles, tiles.size() * sizeof(int2)));
      ER_CHECK(cudaMemcpy(dcu, cu.data(), cu.size() * 4, cudaMemcpyHostToDevice));
      ER_CHECK(cudaMemcpy(dtiles, tiles.data(), nt * sizeof(int2), cudaMemcpyHostToDevice));
      fill_kernel<<<1024, 256>>>((__half*)dh, nq, 7u);
      ER_LAUNCH("fill");
      if (dt == DType::F16) ER_CHECK(cudaMemcpy(dq, dh, nq * 2, cudaMemcpyDeviceToDevice));
      else er::convert(DType::F16, dt, dh, dq, nq, nullptr);
      ER_CHECK(cudaEventCreate(&e0));
      ER_CHECK(cudaEventCreate(&e1));
      const float scale = 64.f / std::sqrt((float)hd);  // fill_kernel's ±0.05 values: larger logits
      auto run = [&] { er::attention(kern, dt, dq, 3 * Hl, T, heads, hd, (const int*)dcu, (const int2*)dtiles, nt, scale, dctx, Hl, nullptr); };
      for (int i = 0; i < 3; i++) run();
      std::vector<float> times;
      for (int i = 0; i < iters; i++) {
        ER_CHECK(cudaEventRecord(e0));
        run();
        ER_CHECK(cudaEventRecord(e1));
        ER_CHECK(cudaEventSynchronize(e1));
        float t = 0;
        ER_CHECK(cudaEventElapsedTime(&t, e0, e1));
        times.push_back(t);
      }
      std::sort(times.begin(), times.end());
      ms = times[times.size() / 2];
    } catch (...) {
      cleanup();
      throw;
    }
    cleanup();
  });
  if (out.failed) throw_outcome(env, out);
  auto o = Napi::Object::New(env);
  o.Set("ms", ms);
  o.Set("tflops", flops / (ms * 1e-3) / 1e12);
  o.Set("kernel", attention_kernel_name(kern));
  return o;
}

// similarityTopK(queries: Float32Array [nq·dim], nq, docs: Float32Array [nd·dim], nd, dim, cosine,
// k, device, tileDocs, queryBlock) → Promise<{ indices: Int32Array, scores: Float32Array }>, each
// [nq, min(k, nd)]: full-corpus retrieval scoring (similarity_topk.cu) on a libuv thread, so the
// JS thread stays free. The inputs stay referenced until it settles.
class SimilarityTopKWorker : public Napi::AsyncWorker {
 public:
  SimilarityTopKWorker(const Napi::CallbackInfo& info)
      : Napi::AsyncWorker(info.Env(), "embedrank-similarity-topk"), deferred_(Napi::Promise::Deferred::New(info.Env())) {
    Napi::Env env = info.Env();
    auto q = info[0].As<Napi::Float32Array>();
    auto d = info[2].As<Napi::Float32Array>();
    nq_ = info[1].As<Napi::Number>().Int32Value();
    nd_ = info[3].As<Napi::Number>().Int32Value();
    dim_ = info[4].As<Napi::Number>().Int32Value();
    cosine_ = info[5].As<Napi::Boolean>().Value();
    k_ = info[6].As<Napi::Number>().Int32Value();
    device_ = info[7].As<Napi::Number>().Int32Value();
    tile_ = info[8].As<Napi::Number>().Int32Value();
    block_ = info[9].As<Napi::Number>().Int32Value();
    if (nq_ < 1 || nd_ < 1 || dim_ < 1 || k_ < 1) throw Napi::Error::New(env, "similarityTopK: nq, nd, dim and k must be positive");
    if (q.ElementLength() != (size_t)nq_ * dim_) throw Napi::Error::New(env, "similarityTopK: queries must hold nq·dim values");
    if (d.ElementLength() != (size_t)nd_ * dim_) throw Napi::Error::New(env, "similarityTopK: docs must hold nd·dim values");
    Q_ = q.Data();
    D_ = d.Data();
    keepQ_ = Napi::Persistent(info[0]);
    keepD_ = Napi::Persistent(info[2]);
    const size_t n = (size_t)nq_ * std::min(k_, nd_);
    idx_.resize(n);
    scores_.resize(n);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    capture(outcome_, [&] { er::similarity_topk(device_, Q_, nq_, D_, nd_, dim_, cosine_, k_, tile_, block_, idx_.data(), scores_.data()); });
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (outcome_.failed) {
      deferred_.Reject(make_error(env, outcome_).Value());
      return;
    }
    auto idx = Napi::Int32Array::New(env, idx_.size());
    auto sc = Napi::Float32Array::New(env, scores_.size());
    std::memcpy(idx.Data(), idx_.data(), idx_.size() * sizeof(int));
    std::memcpy(sc.Data(), scores_.data(), scores_.size() * sizeof(float));
    auto o = Napi::Object::New(env);
    o.Set("indices", idx);
    o.Set("scores", sc);
    deferred_.Resolve(o);
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::Reference<Napi::Value> keepQ_, keepD_;
  const float* Q_ = nullptr;
  const float* D_ = nullptr;
  int nq_ = 0, nd_ = 0, dim_ = 0, k_ = 0, device_ = 0, tile_ = 0, block_ = 0;
  bool cosine_ = false;
  std::vector<int> idx_;
  std::vector<float> scores_;
  Outcome outcome_;
};

Napi::Value SimilarityTopK(const Napi::CallbackInfo& info) {
  auto* w = new SimilarityTopKWorker(info);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}
}  // namespace

Napi::Value DecoderOpTest(const Napi::CallbackInfo& info);  // decoder_test.cu
Napi::Value Fp8OpTest(const Napi::CallbackInfo& info);      // fp8_test.cu

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Model", Model::Init(env));
  exports.Set("deviceCount", Napi::Function::New(env, DeviceCount));
  exports.Set("deviceInfo", Napi::Function::New(env, DeviceInfo));
  exports.Set("deviceProperties", Napi::Function::New(env, DeviceProperties));
  exports.Set("ncclUniqueId", Napi::Function::New(env, NcclUniqueId));
  exports.Set("attentionTest", Napi::Function::New(env, AttentionTest));
  exports.Set("gemmBench", Napi::Function::New(env, GemmBench));
  exports.Set("attentionBench", Napi::Function::New(env, AttentionBench));
  exports.Set("similarityTopK", Napi::Function::New(env, SimilarityTopK));
  exports.Set("decoderOpTest", Napi::Function::New(env, DecoderOpTest));
  exports.Set("fp8OpTest", Napi::Function::New(env, Fp8OpTest));
  return exports;
}

}  // namespace

NODE_API_MODULE(embedrank_cuda, Init)
