// BertModel (see bert.h), the encoder of every family: weight bookkeeping, buffer sizing and the
// per-batch kernel sequence
//   embed(word + position [+ type])+LN → per layer [QKV GEMM(+bias) → varlen attention → O GEMM → all-reduce → add+LN →
//   up GEMM → bias+GELU → down GEMM → all-reduce → add+LN] → pool | classifier head.
// Row-parallel biases are added after the all-reduce, so exactly once across ranks.
#include "bert.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>

#include "ops.h"

namespace er {

BertModel::BertModel(const BertConfig& cfg) : ResidentModel(cfg.device, cfg.dt), cfg_(cfg) {
  if (cfg.hidden % 8 || cfg.inter % 8 || cfg.hidden / 4 > 1024) {
    throw std::runtime_error("hidden size " + std::to_string(cfg.hidden) + " / intermediate " + std::to_string(cfg.inter) +
                             " unsupported: both must be multiples of 8 and hidden ≤ 4096");
  }
  if (cfg.head_dim != 32 && cfg.head_dim != 64 && cfg.head_dim != 128) {
    throw std::runtime_error("head dimension " + std::to_string(cfg.head_dim) + " unsupported (32, 64, 128)");
  }
  resid_f32_ = cfg.dt == DType::BF16 && env_flag("EMBEDRANK_BF16_F32_RESIDUAL", true);
  // Not under tensor parallelism: captured NCCL collectives made ncclCommDestroy hang at close on
  // 2×H200, and TP=2 stayed slower than TP=1 at batch 1 with them (2.20 vs 1.65 ms).
  graphs_ = env_flag("EMBEDRANK_CUDA_GRAPHS", true) && !profile_ && cfg.world == 1;
  ER_CHECK(cudaSetDevice(cfg.device));
  attn_ = attention_kernel(cfg.dt, cfg.head_dim, attention_kernel_from_env());  // refuses an unusable kernel before any allocation
  const int bm = attention_block_m(cfg.dt, cfg.head_dim, attn_);
  tile_cap_ = (size_t)cfg.max_tokens / bm + cfg.max_seqs + 1;
  in_ints_ = 3 * (size_t)cfg.max_tokens + 2 * (size_t)cfg.max_seqs + 2 + 2 * tile_cap_;  // +1 for int2 alignment
  out_floats_ = (size_t)cfg.max_seqs * std::max(cfg.hidden, std::max(cfg.num_labels, 1));
  slots_.resize(cfg.slots);
  for (auto& s : slots_) {
    try {
      allocate_slot(s);
    } catch (const CudaFailure& e) {
      for (auto& t : slots_) free_slot(t);
      if (!e.oom) throw;
      const size_t per_tok = dtype_size(cfg.dt) * (4 * (size_t)cfg.hidden + 3 * (size_t)cfg.heads * cfg.head_dim + cfg.inter) +
                             (resid_f32_ ? 4 * (size_t)cfg.hidden : 0);
      throw CudaFailure("out of GPU memory allocating activation buffers (" + mib(per_tok * cfg.max_tokens) + " per slot for maxNumBatchedTokens=" +
                            std::to_string(cfg.max_tokens) + "): lower maxNumBatchedTokens or maxNumSeqs, or raise tensorParallelSize",
                        false, true);
    }
  }
}

BertModel::~BertModel() {
  cudaSetDevice(cfg_.device);
  for (auto& s : slots_) drop_graphs(s);
  for (auto& s : slots_) {
    if (s.comm) {
      try {
        if (broken_) Nccl::get().abort(s.comm); else Nccl::get().destroy(s.comm);
      } catch (...) {
      }
    }
    free_slot(s);
  }
  free_weights();
  // A sticky error poisons the device's context; reset it so a fresh worker can reload.
  if (broken_) cudaDeviceReset();
}

void BertModel::allocate_slot(Slot& s) {
  const size_t e = dtype_size(cfg_.dt);
  const size_t T = cfg_.max_tokens;
  ER_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
  s.gemm = std::make_unique<GemmRunner>();
  ER_CHECK(cudaMalloc(&s.d_in, in_ints_ * sizeof(int)));
  ER_CHECK(cudaMallocHost(&s.h_in, in_ints_ * sizeof(int)));
  ER_CHECK(cudaMalloc(&s.x, align_up(T * cfg_.hidden * e, 256)));
  ER_CHECK(cudaMalloc(&s.qkv, align_up(T * 3 * cfg_.heads * cfg_.head_dim * e, 256)));
  ER_CHECK(cudaMalloc(&s.ctx, align_up(T * cfg_.heads * cfg_.head_dim * e, 256)));
  ER_CHECK(cudaMalloc(&s.tmp, align_up(T * cfg_.hidden * e, 256)));
  ER_CHECK(cudaMalloc(&s.up, align_up(T * cfg_.inter * e, 256)));
  if (resid_f32_) ER_CHECK(cudaMalloc(&s.xf, align_up(T * cfg_.hidden * sizeof(float), 256)));
  create_marks(s.marks, 4 + 12 * (size_t)cfg_.layers);
  ER_CHECK(cudaMalloc(&s.d_out, out_floats_ * sizeof(float)));
  ER_CHECK(cudaMallocHost(&s.h_out, out_floats_ * sizeof(float)));
}

void BertModel::drop_graphs(Slot& s) {
  for (auto& [_, g] : s.graphs) if (g.exec) cudaGraphExecDestroy(g.exec);
  s.graphs.clear();
}

void BertModel::free_slot(Slot& s) {
  drop_graphs(s);
  s.gemm.reset();
  for (void* p : {(void*)s.d_in, s.x, s.qkv, s.ctx, s.tmp, s.up, (void*)s.d_out, (void*)s.d_hidden, (void*)s.xf}) if (p) cudaFree(p);
  destroy_marks(s.marks);
  for (void* p : {(void*)s.h_in, (void*)s.h_out, (void*)s.h_hidden}) if (p) cudaFreeHost(p);
  if (s.stream) cudaStreamDestroy(s.stream);
  s = Slot{};
}

void BertModel::expect(const std::string& name, size_t& numel, bool& fp32) const {
  const size_t H = cfg_.hidden, Hl = (size_t)cfg_.heads * cfg_.head_dim, I = cfg_.inter, L = std::max(cfg_.num_labels, 1);
  fp32 = false;
  if (name == "emb.word") numel = cfg_.vocab * H;
  else if (name == "emb.pos") numel = cfg_.max_pos * H;
  else if (name == "emb.type" && cfg_.type_vocab > 0) numel = cfg_.type_vocab * H;
  else if (name == "emb.ln.g" || name == "emb.ln.b") numel = H, fp32 = true;
  else if (name == "head.pool.w") numel = H * H, fp32 = true;
  else if (name == "head.pool.b") numel = H, fp32 = true;
  else if (name == "head.cls.w") numel = L * H, fp32 = true;
  else if (name == "head.cls.b") numel = L, fp32 = true;
  else if (name.rfind("L", 0) == 0) {
    const auto dot = name.find('.');
    const int layer = std::stoi(name.substr(1, dot - 1));
    if (layer < 0 || layer >= cfg_.layers) throw std::runtime_error("weight " + name + ": no such layer");
    const std::string k = name.substr(dot + 1);
    if (k == "qkv.w") numel = 3 * Hl * H;
    else if (k == "qkv.b") numel = 3 * Hl;
    else if (k == "o.w") numel = H * Hl;
    else if (k == "o.b" || k == "down.b") numel = H;
    else if (k == "up.w") numel = I * H;
    else if (k == "up.b") numel = I;
    else if (k == "down.w") numel = H * I;
    else if (k == "ln1.g" || k == "ln1.b" || k == "ln2.g" || k == "ln2.b") numel = H, fp32 = true;
    else throw std::runtime_error("unknown weight " + name);
  } else {
    throw std::runtime_error("unknown weight " + name);
  }
}

void BertModel::connect(const std::vector<NcclUniqueId>& ids) {
  if (cfg_.world == 1) return;
  if ((int)ids.size() != cfg_.slots) throw std::runtime_error("connect: need one NCCL id per slot");
  ER_CHECK(cudaSetDevice(cfg_.device));
  for (int i = 0; i < cfg_.slots; i++) slots_[i].comm = Nccl::get().init_rank(cfg_.world, ids[i], cfg_.rank);
}

size_t BertModel::output_len(const Request& r) const {
  const size_t n = r.cu.empty() ? 0 : r.cu.size() - 1;
  switch (r.mode) {
    case Output::Embed: return n * cfg_.hidden;
    case Output::Score: return n * std::max(cfg_.num_labels, 1);
    case Output::Hidden: return r.cu.empty() ? 0 : (size_t)r.cu.back() * cfg_.hidden;
  }
  return 0;
}

void BertModel::forward(Request& r) {
  if (broken_) throw CudaFailure("this GPU worker hit an unrecoverable CUDA error earlier and must be restarted", true, false);
  if (r.slot < 0 || r.slot >= cfg_.slots) throw std::runtime_error("bad slot");
  Slot& s = slots_[r.slot];
  const int n = (int)r.cu.size() - 1;
  if (n < 1) throw std::runtime_error("empty batch");
  if (n > cfg_.max_seqs) throw std::runtime_error("batch has " + std::to_string(n) + " sequences, more than maxNumSeqs " + std::to_string(cfg_.max_seqs));
  const int T = r.cu[n];
  if (r.cu[0] != 0 || T > cfg_.max_tokens || (int)r.ids.size() != T || (int)r.types.size() != (cfg_.type_vocab > 0 ? T : 0) ||
      (int)r.positions.size() != T) {
    throw std::runtime_error("inconsistent batch: " + std::to_string(T) + " tokens (maxNumBatchedTokens " + std::to_string(cfg_.max_tokens) + ")");
  }
  for (int i = 0; i < n; i++) {
    const int len = r.cu[i + 1] - r.cu[i];
    if (len < 1 || len + cfg_.pos_offset > cfg_.max_pos) throw std::runtime_error("sequence " + std::to_string(i) + " has invalid length " + std::to_string(len));
  }
  for (int t = 0; t < T; t++) {
    if ((unsigned)r.ids[t] >= (unsigned)cfg_.vocab || (cfg_.type_vocab > 0 && (unsigned)r.types[t] >= (unsigned)cfg_.type_vocab)) {
      throw std::runtime_error("token " + std::to_string(t) + " has id " + std::to_string(r.ids[t]) + " / type " +
                               std::to_string(cfg_.type_vocab > 0 ? r.types[t] : 0) + " outside the vocabulary");
    }
    if ((unsigned)r.positions[t] >= (unsigned)cfg_.max_pos) {
      throw std::runtime_error("token " + std::to_string(t) + " has position " + std::to_string(r.positions[t]) + " outside the " +
                               std::to_string(cfg_.max_pos) + " position embeddings");
    }
  }
  if (r.out_len < output_len(r)) throw std::runtime_error("output buffer too small");
  if (r.mode == Output::Score && !has_weight("head.cls.w")) throw std::runtime_error("this model has no classifier head");

  ER_CHECK(cudaSetDevice(cfg_.device));
  // Pack every host input into the pinned buffer: one H2D copy.
  int* h = s.h_in;
  std::memcpy(h, r.ids.data(), T * sizeof(int));
  if (cfg_.type_vocab > 0) std::memcpy(h + T, r.types.data(), T * sizeof(int));
  else std::memset(h + T, 0, T * sizeof(int));
  std::memcpy(h + 2 * T, r.positions.data(), T * sizeof(int));
  std::memcpy(h + 3 * T, r.cu.data(), (n + 1) * sizeof(int));
  int* h_skip = h + 3 * T + n + 1;
  for (int i = 0; i < n; i++) h_skip[i] = r.skip.empty() ? 0 : r.skip[i];
  size_t tiles_off = 3 * (size_t)T + 2 * n + 1;
  tiles_off += tiles_off & 1;  // int2 alignment
  const int ntiles = attention_tiles(r.cu.data(), n, attention_block_m(cfg_.dt, cfg_.head_dim, attn_), reinterpret_cast<int2*>(h + tiles_off), (int)tile_cap_);
  const size_t in_count = tiles_off + 2 * (size_t)ntiles;
  const auto key = std::make_tuple(T, n, ntiles, (int)r.mode, r.pool_mode, r.normalize);
  Slot::Graph* g = nullptr;
  if (graphs_ && r.mode != Output::Hidden) {
    if (s.graphs.size() > 64 && !s.graphs.count(key)) drop_graphs(s);  // bounded: varied shapes never repeat
    g = &s.graphs[key];
    if (!g->exec && !g->failed && ++g->seen >= 2) {
      // Capture on first repeat; plans and tuned GEMMs exist by now, so nothing synchronises.
      cudaGraph_t graph = nullptr;
      ER_CHECK(cudaStreamBeginCapture(s.stream, cudaStreamCaptureModeThreadLocal));
      bool ok = true;
      std::exception_ptr fatal;  // rethrown once the capture is closed
      try {
        enqueue(s, r, T, n, ntiles, tiles_off, in_count);
      } catch (const CudaFailure& e) {
        ok = false;
        if (e.sticky) fatal = std::current_exception();
      } catch (...) {
        ok = false;
        fatal = std::current_exception();
      }
      const cudaError_t ec = cudaStreamEndCapture(s.stream, &graph);
      if (fatal) {
        if (graph) cudaGraphDestroy(graph);
        cudaGetLastError();
        g->failed = true;
        std::rethrow_exception(fatal);
      }
      ok = ok && ec == cudaSuccess && graph && cudaGraphInstantiate(&g->exec, graph, 0) == cudaSuccess;
      if (graph) cudaGraphDestroy(graph);
      if (!ok) {
        cudaGetLastError();  // a failed capture is not sticky; run this shape eagerly from now on
        g->exec = nullptr;
        g->failed = true;
      }
    }
  }
  if (g && g->exec) {
    ER_CHECK(cudaGraphLaunch(g->exec, s.stream));
  } else {
    enqueue(s, r, T, n, ntiles, tiles_off, in_count);
  }
  const size_t out_n = output_len(r);
  const float* host_src = r.mode == Output::Hidden ? s.h_hidden : s.h_out;
  ER_CHECK(cudaStreamSynchronize(s.stream));
  collect_marks(s.marks);
  std::memcpy(r.out, host_src, out_n * sizeof(float));
}

// Row-parallel linear `lin` (attention-out or FFN-down) over this rank's K inputs, the all-reduce
// of the partial sums, then x = LayerNorm(sum + lin.b + x): the bias is added once, after the
// reduction.
void BertModel::row_parallel_add_ln(Slot& s, const void* in, int K, const std::string& lin, const std::string& ln, int T,
                                    const char* gemm_mark) {
  const int H = cfg_.hidden;
  s.gemm->linear(cfg_.dt, in, T, K, w(lin + ".w").ptr, H, nullptr, s.tmp, s.stream, cfg_.tf32);
  mark(s, gemm_mark);
  all_reduce(s.comm, s.stream, s.tmp, (size_t)T * H, cfg_.world);
  if (cfg_.world > 1) mark(s, "allreduce");
  add_bias_layernorm(cfg_.dt, s.tmp, w(lin + ".b").ptr, s.x, (const float*)w(ln + ".g").ptr, (const float*)w(ln + ".b").ptr,
                     cfg_.eps, T, H, s.x, s.xf, s.stream);
  mark(s, "add_ln");
}

void BertModel::enqueue(Slot& s, const Request& r, int T, int n, int ntiles, size_t tiles_off, size_t in_count) {
  int* h = s.h_in;
  s.marks.n = 0;
  mark(s, "start");
  ER_CHECK(cudaMemcpyAsync(s.d_in, h, in_count * sizeof(int), cudaMemcpyHostToDevice, s.stream));
  mark(s, "h2d");
  const int* d_ids = s.d_in;
  const int* d_types = cfg_.type_vocab > 0 ? s.d_in + T : nullptr;
  const int* d_pos = s.d_in + 2 * T;
  const int* d_cu = s.d_in + 3 * T;
  const int* d_skip = s.d_in + 3 * T + n + 1;
  const int2* d_tiles = reinterpret_cast<const int2*>(s.d_in + tiles_off);

  const int H = cfg_.hidden, Hl = cfg_.heads * cfg_.head_dim, I = cfg_.inter;
  const DType dt = cfg_.dt;
  const float scale = 1.f / std::sqrt((float)cfg_.head_dim);
  embed_layernorm(dt, d_ids, d_types, d_pos, T, w("emb.word").ptr, w("emb.pos").ptr, cfg_.type_vocab > 0 ? w("emb.type").ptr : nullptr,
                  (const float*)w("emb.ln.g").ptr, (const float*)w("emb.ln.b").ptr, cfg_.eps, H, s.x, s.xf, s.stream);
  mark(s, "embed_ln");
  const int layers = r.mode == Output::Hidden && r.stop_after_layers >= 0 ? std::min(r.stop_after_layers, cfg_.layers) : cfg_.layers;
  for (int l = 0; l < layers; l++) {
    const std::string p = "L" + std::to_string(l) + ".";
    s.gemm->linear(dt, s.x, T, H, w(p + "qkv.w").ptr, 3 * Hl, w(p + "qkv.b").ptr, s.qkv, s.stream, cfg_.tf32);
    mark(s, "gemm_qkv");
    attention(attn_, dt, s.qkv, 3 * Hl, T, cfg_.heads, cfg_.head_dim, d_cu, d_tiles, ntiles, scale, s.ctx, Hl, s.stream);
    mark(s, "attention");
    row_parallel_add_ln(s, s.ctx, Hl, p + "o", p + "ln1", T, "gemm_o");
    s.gemm->linear(dt, s.x, T, H, w(p + "up.w").ptr, I, nullptr, s.up, s.stream, cfg_.tf32);
    mark(s, "gemm_up");
    bias_gelu(dt, s.up, w(p + "up.b").ptr, T, I, s.stream);
    mark(s, "bias_gelu");
    row_parallel_add_ln(s, s.up, I, p + "down", p + "ln2", T, "gemm_down");
  }

  // The fp32 residual copy, where kept, is the more exact final hidden state.
  const DType hdt = s.xf ? DType::F32 : dt;
  const void* hid = s.xf ? (const void*)s.xf : s.x;
  const size_t out_n = output_len(r);
  if (r.mode == Output::Embed) {
    pool(hdt, hid, H, d_cu, d_skip, n, r.pool_mode, r.normalize, s.d_out, s.stream);
    mark(s, "pool");
    ER_CHECK(cudaMemcpyAsync(s.h_out, s.d_out, out_n * sizeof(float), cudaMemcpyDeviceToHost, s.stream));
  } else if (r.mode == Output::Score) {
    classifier_head(hdt, hid, H, d_cu, n, (const float*)w("head.pool.w").ptr, (const float*)w("head.pool.b").ptr,
                    (const float*)w("head.cls.w").ptr, (const float*)w("head.cls.b").ptr, std::max(cfg_.num_labels, 1), cfg_.head_act,
                    s.d_out, s.stream);
    mark(s, "head");
    ER_CHECK(cudaMemcpyAsync(s.h_out, s.d_out, out_n * sizeof(float), cudaMemcpyDeviceToHost, s.stream));
  } else {
    if (!s.d_hidden) {
      ER_CHECK(cudaMalloc(&s.d_hidden, (size_t)cfg_.max_tokens * H * sizeof(float)));
      ER_CHECK(cudaMallocHost(&s.h_hidden, (size_t)cfg_.max_tokens * H * sizeof(float)));
    }
    convert(hdt, DType::F32, hid, s.d_hidden, (size_t)T * H, s.stream);
    ER_CHECK(cudaMemcpyAsync(s.h_hidden, s.d_hidden, out_n * sizeof(float), cudaMemcpyDeviceToHost, s.stream));
  }
  mark(s, "d2h");
}

}  // namespace er
