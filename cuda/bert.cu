// BertModel (see bert.h), the encoder of every family: weight bookkeeping, buffer sizing and the
// per-batch kernel sequence
//   embed(word + position [+ type])+LN → per layer [QKV GEMM(+bias) → varlen attention → O GEMM → all-reduce → add+LN →
//   up GEMM → bias+GELU → down GEMM → all-reduce → add+LN] → pool | classifier head.
// Row-parallel biases are added after the all-reduce, so exactly once across ranks.
#include "bert.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>

#include "gemm_wgmma.h"
#include "hopper.h"
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
  if (cfg.quant != 0 && cfg.quant != 1) throw std::runtime_error("quantization code must be 0 (none) or 1 (fp8)");
  if (cfg.quant == 1) {
    if (cfg.dt == DType::F32) throw std::runtime_error("quantization fp8 needs dtype float16 or bfloat16 (its other operations run in 16 bits)");
    int major = 0, minor = 0;
    ER_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, cfg.device));
    ER_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, cfg.device));
    if (major * 10 + minor < 89) {
      throw std::runtime_error("quantization fp8 needs FP8 tensor cores (compute capability 8.9 or newer: Ada, Hopper); GPU " +
                               std::to_string(cfg.device) + " has " + std::to_string(major) + "." + std::to_string(minor));
    }
    const int Hl = cfg.heads * cfg.head_dim;
    if (cfg.hidden % 16 || Hl % 16 || cfg.inter % 16) {
      throw std::runtime_error("quantization fp8 needs hidden (" + std::to_string(cfg.hidden) + "), attention width on this rank (" +
                               std::to_string(Hl) + ") and intermediate size on this rank (" + std::to_string(cfg.inter) +
                               ") to be multiples of 16 (cuBLASLt FP8)");
    }
  }
  fp8_fuse_ln_ = env_flag("EMBEDRANK_FP8_FUSE_LN", true);
  if (const char* g = std::getenv("EMBEDRANK_GELU_EPILOGUE"); g && *g) {
    if (std::strcmp(g, "tanh") && std::strcmp(g, "none"))
      throw std::runtime_error(std::string("EMBEDRANK_GELU_EPILOGUE='") + g + "': use tanh or none");
    gelu_epilogue_ = !std::strcmp(g, "tanh");
  }
  // Asked here, not at the first batch: the usability probe launches a kernel (no stream capture yet).
  fused_up_ = cfg.dt != DType::F32 && cfg.quant == 0 && !gelu_epilogue_ && env_flag("EMBEDRANK_FUSED_GELU", false) &&
              hopper_kernels_usable(cfg.device);
  resid_f32_ = cfg.dt == DType::BF16 && env_flag("EMBEDRANK_BF16_F32_RESIDUAL", true);
  configure_graphs(cfg.world, 2.0 * (4.0 * cfg.hidden * cfg.heads * cfg.head_dim + 2.0 * cfg.hidden * cfg.inter), cfg.max_tokens);
  longest_first_ = env_flag("EMBEDRANK_ATTN_LONGEST_FIRST", false);
  attn_ = attention_kernel(cfg.dt, cfg.head_dim, attention_kernel_from_env());  // refuses an unusable kernel before any allocation
  const int bm = attention_block_m(cfg.dt, cfg.head_dim, attn_);
  tile_cap_ = (size_t)cfg.max_tokens / bm + cfg.max_seqs + 1;
  // ids, types, positions; cu (+1 spare entry when bucketed); skip; +1 for int2 alignment; tiles
  in_ints_ = 3 * (size_t)cfg.max_tokens + (cfg.max_seqs + 2) + cfg.max_seqs + 1 + 2 * tile_cap_;
  out_floats_ = (size_t)cfg.max_seqs * std::max(cfg.hidden, std::max(cfg.num_labels, 1));
  slots_.resize(cfg.slots);
  allocate_slots(
      slots_, [&](Slot& s) { allocate_slot(s); }, [&](Slot& s) { free_slot(s); }, [] {},
      [&] {
        const size_t per_tok = dtype_size(cfg.dt) * (4 * (size_t)cfg.hidden + 3 * (size_t)cfg.heads * cfg.head_dim + cfg.inter) +
                               (resid_f32_ ? 4 * (size_t)cfg.hidden : 0) + (cfg.quant ? fp8_row_bytes() : 0);
        return "out of GPU memory allocating activation buffers (" + mib(per_tok * cfg.max_tokens) + " per slot for maxNumBatchedTokens=" +
               std::to_string(cfg.max_tokens) + "): lower maxNumBatchedTokens or maxNumSeqs, or raise tensorParallelSize";
      });
}

BertModel::~BertModel() {
  cudaSetDevice(cfg_.device);
  for (auto& s : slots_) {
    release_comm(s.comm);
    free_slot(s);
  }
  for (auto& [_, f] : fp8_) {
    cudaFree(f.q);
    cudaFree(f.scale);
  }
  fp8_.clear();
  free_weights();
  // A sticky error poisons the device's context; reset it so a fresh worker can reload.
  if (broken_) cudaDeviceReset();
}

void BertModel::allocate_slot(Slot& s) {
  const size_t e = dtype_size(cfg_.dt);
  const size_t T = cfg_.max_tokens;
  ER_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
  if (cfg_.quant == 1) {
    // The Kernel epilogue's fp32 product sized once for the widest linear at maxNumBatchedTokens
    // (allocated only if that epilogue runs): graphs capture its address (gemm_fp8.cu).
    const size_t widest_n = std::max<size_t>({3 * (size_t)cfg_.heads * cfg_.head_dim, (size_t)cfg_.hidden, (size_t)cfg_.inter});
    s.gemm8 = std::make_unique<Fp8GemmRunner>(Fp8Epilogue::Auto, 32u << 20, T * widest_n);
    ER_CHECK(cudaMalloc(&s.xq, align_up(T * fp8_row_bytes(), 256)));
    // Per-token scales padded to whole 256-token tiles and zeroed: a GEMM tile that reads its
    // scale vector past the last token (PyTorch's CUTLASS row-wise kernel did, pytorch#133334)
    // stays inside the allocation and reads finite values even at T = maxNumBatchedTokens.
    ER_CHECK(cudaMalloc(&s.xs, fp8_scale_bytes(T)));
    ER_CHECK(cudaMemsetAsync(s.xs, 0, fp8_scale_bytes(T), s.stream));  // s.stream does not wait for the legacy stream
  } else {
    s.gemm = std::make_unique<GemmRunner>();
  }
  ER_CHECK(cudaMalloc(&s.d_in, in_ints_ * sizeof(int)));
  ER_CHECK(cudaMallocHost(&s.h_in, in_ints_ * sizeof(int)));
  ER_CHECK(cudaMalloc(&s.x, align_up(T * cfg_.hidden * e, 256)));
  ER_CHECK(cudaMalloc(&s.qkv, align_up(T * 3 * cfg_.heads * cfg_.head_dim * e, 256)));
  ER_CHECK(cudaMalloc(&s.ctx, align_up(T * cfg_.heads * cfg_.head_dim * e, 256)));
  // Attention writes only the rows of real sequences; a bucketed graph's padding rows keep what
  // was there, which must be finite from the start (fresh memory may hold NaN patterns).
  ER_CHECK(cudaMemsetAsync(s.ctx, 0, align_up(T * cfg_.heads * cfg_.head_dim * e, 256), s.stream));
  ER_CHECK(cudaMalloc(&s.tmp, align_up(T * cfg_.hidden * e, 256)));
  ER_CHECK(cudaMalloc(&s.up, align_up(T * cfg_.inter * e, 256)));
  if (resid_f32_) ER_CHECK(cudaMalloc(&s.xf, align_up(T * cfg_.hidden * sizeof(float), 256)));
  create_marks(s.marks, 4 + 16 * (size_t)cfg_.layers);
  ER_CHECK(cudaMalloc(&s.d_out, out_floats_ * sizeof(float)));
  ER_CHECK(cudaMallocHost(&s.h_out, out_floats_ * sizeof(float)));
  s.tiles.resize(tile_cap_);
}

void BertModel::free_slot(Slot& s) {
  s.graphs.clear();
  s.gemm.reset();
  s.gemm8.reset();
  for (void* p : {(void*)s.d_in, s.x, s.qkv, s.ctx, s.tmp, s.up, (void*)s.d_out, (void*)s.d_hidden, (void*)s.xf, (void*)s.xq, (void*)s.xs}) if (p) cudaFree(p);
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

bool BertModel::fp8_linear_shape(const std::string& name, int& N, int& K) const {
  if (name.rfind("L", 0) != 0) return false;
  const std::string k = name.substr(name.find('.') + 1);
  const int H = cfg_.hidden, Hl = cfg_.heads * cfg_.head_dim, I = cfg_.inter;
  if (k == "qkv.w") N = 3 * Hl, K = H;
  else if (k == "o.w") N = H, K = Hl;
  else if (k == "up.w") N = I, K = H;
  else if (k == "down.w") N = H, K = I;
  else return false;
  return true;
}

// Under quantization fp8 the four linears of each layer keep only their e4m3 form, quantised per
// output channel from the uploaded (checkpoint-dtype) values, not from the 16-bit copy.
bool BertModel::derive_weight(const std::string& name, const void* src_dev, DType src, const Tensor&, long long& bytes_delta) {
  bytes_delta = 0;
  int N = 0, K = 0;
  if (cfg_.quant != 1 || !fp8_linear_shape(name, N, K)) return false;
  Fp8Weight f;
  f.bytes = (size_t)N * K + (size_t)N * sizeof(float);
  try {
    ER_CHECK(cudaMalloc(&f.q, align_up((size_t)N * K, 256)));
    ER_CHECK(cudaMalloc(&f.scale, fp8_scale_bytes(N)));  // padded as the per-token scales (allocate_slot)
    ER_CHECK(cudaMemset(f.scale, 0, fp8_scale_bytes(N)));
    quantize_fp8_rows(src, src_dev, N, K, f.q, f.scale, nullptr);
    ER_CHECK(cudaStreamSynchronize(nullptr));
  } catch (...) {
    if (f.q) cudaFree(f.q);
    if (f.scale) cudaFree(f.scale);
    throw;
  }
  auto it = fp8_.find(name);
  if (it != fp8_.end()) {
    cudaFree(it->second.q);
    cudaFree(it->second.scale);
    bytes_delta -= (long long)it->second.bytes;
  }
  fp8_[name] = f;
  bytes_delta += (long long)f.bytes;
  return true;
}

void BertModel::connect(const std::vector<NcclUniqueId>& ids) {
  if (cfg_.world == 1) return;
  if ((int)ids.size() != cfg_.slots) throw std::runtime_error("connect: need one NCCL id per slot");
  ER_CHECK(cudaSetDevice(cfg_.device));
  for (int i = 0; i < cfg_.slots; i++) slots_[i].comm = join_comm(ids[i], cfg_.world, cfg_.rank);
}

size_t BertModel::output_len(const Request& r) const {
  if (r.cu.empty()) return 0;
  return output_floats(r.mode, (int)r.cu.size() - 1, r.cu.back(), cfg_.hidden, cfg_.num_labels);
}

BertModel::Layout BertModel::layout(int rows, int seqs, int tiles, bool bucketed, AttentionKernel attn) const {
  Layout L;
  L.rows = rows, L.seqs = seqs, L.tiles = tiles, L.bucketed = bucketed, L.attn = attn;
  L.cu_off = 3 * (size_t)rows;
  L.cu_len = (size_t)seqs + (bucketed ? 2 : 1);
  L.skip_off = L.cu_off + L.cu_len;
  L.tiles_off = L.skip_off + seqs;
  L.tiles_off += L.tiles_off & 1;  // int2 alignment
  L.count = L.tiles_off + 2 * (size_t)tiles;
  return L;
}

void BertModel::pack(Slot& s, const Request& r, int T, int n, int ntiles, const Layout& L) {
  int* h = s.h_in;
  const size_t pad = (size_t)(L.rows - T) * sizeof(int);
  // Padding rows are token 0, type 0, position 0: valid table rows, so every row stays finite.
  std::memcpy(h, r.ids.data(), T * sizeof(int));
  std::memset(h + T, 0, pad);
  if (cfg_.type_vocab > 0) std::memcpy(h + L.rows, r.types.data(), T * sizeof(int));
  else std::memset(h + L.rows, 0, T * sizeof(int));
  std::memset(h + L.rows + T, 0, pad);
  std::memcpy(h + 2 * L.rows, r.positions.data(), T * sizeof(int));
  std::memset(h + 2 * L.rows + T, 0, pad);
  int* cu = h + L.cu_off;
  std::memcpy(cu, r.cu.data(), (n + 1) * sizeof(int));
  for (size_t i = n + 1; i < L.cu_len; i++) cu[i] = T;  // empty padding sequences
  int* skip = h + L.skip_off;
  for (int i = 0; i < L.seqs; i++) skip[i] = i < n && !r.skip.empty() ? r.skip[i] : 0;
  int2* tiles = reinterpret_cast<int2*>(h + L.tiles_off);
  std::memcpy(tiles, s.tiles.data(), ntiles * sizeof(int2));
  for (int i = ntiles; i < L.tiles; i++) tiles[i] = make_int2(n, 0);  // sequence n is empty: the block exits
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
  const AttentionKernel attn = attention_kernel_for_batch(attn_, T, n);
  // The Hopper kernel's persistent blocks deal the tiles in list order: longest first balances them.
  const int ntiles = attention_tiles(r.cu.data(), n, attention_block_m(cfg_.dt, cfg_.head_dim, attn), s.tiles.data(), (int)tile_cap_,
                                     longest_first_ || attn == AttentionKernel::Wgmma);
  const Layout L = layout(T, n, ntiles, false, attn);
  const bool graphs = graphed(r.mode);
  Layout GL = L;
  if (graphs && bucketed_graph(T)) {
    const int rows = token_bucket(T, cfg_.max_tokens), seqs = seq_bucket(n, cfg_.max_seqs);
    GL = layout(rows, seqs, bucket_tiles(rows, seqs, attention_block_m(cfg_.dt, cfg_.head_dim, attn), tile_cap_), true, attn);
  }
  const size_t out_n = output_len(r);
  run_pass(
      s.stream, graphs ? &s.graphs : nullptr, {GL.bucketed, GL.rows, GL.seqs, GL.tiles, (int)r.mode, r.pool_mode, r.normalize, (int)attn}, L,
      GL, [&](const Layout& l) { pack(s, r, T, n, ntiles, l); }, [&](const Layout& l) { enqueue(s, r, l); },
      [&] {
        collect_marks(s.marks);
        // h_hidden exists only once enqueue has run a Hidden pass.
        std::memcpy(r.out, r.mode == Output::Hidden ? s.h_hidden : s.h_out, out_n * sizeof(float));
      });
}

// Row-parallel linear `lin` (attention-out or FFN-down) over this rank's K inputs, the all-reduce
// of the partial sums, then x = LayerNorm(sum + lin.b + x): the bias is added once, after the
// reduction.
void BertModel::row_parallel_add_ln(Slot& s, const void* in, int K, const std::string& lin, const std::string& ln, int T,
                                    const char* gemm_mark, bool in_fp8, bool quantize_out) {
  const int H = cfg_.hidden;
  linear(s, in, T, K, lin, H, nullptr, s.tmp, gemm_mark, in_fp8);
  all_reduce(s.comm, s.stream, s.tmp, (size_t)T * H, cfg_.world);
  if (cfg_.world > 1) mark(s, "allreduce");
  add_bias_layernorm(cfg_.dt, s.tmp, w(lin + ".b").ptr, s.x, (const float*)w(ln + ".g").ptr, (const float*)w(ln + ".b").ptr,
                     cfg_.eps, T, H, s.x, s.xf, s.stream, quantize_out ? s.xq : nullptr, quantize_out ? s.xs : nullptr);
  mark(s, "add_ln");
}

void BertModel::linear(Slot& s, const void* X, int T, int K, const std::string& lin, int N, const void* bias, void* Y,
                       const char* gemm_mark, bool x_fp8) {
  if (cfg_.quant == 0) {
    s.gemm->linear(cfg_.dt, X, T, K, w(lin + ".w").ptr, N, bias, Y, s.stream, cfg_.tf32);
  } else {
    if (!x_fp8) {
      quantize_fp8_rows(cfg_.dt, X, T, K, s.xq, s.xs, s.stream);
      mark(s, "quant_fp8");
    }
    auto it = fp8_.find(lin + ".w");
    if (it == fp8_.end()) throw std::runtime_error("weight " + lin + ".w was never uploaded");
    s.gemm8->linear(cfg_.dt, s.xq, s.xs, T, K, it->second.q, it->second.scale, N, bias, Y, s.stream);
  }
  mark(s, gemm_mark);
}

void BertModel::enqueue(Slot& s, const Request& r, const Layout& L) {
  // T rows and n sequences as the kernels see them: the batch's, or its bucket's (padding included).
  const int T = L.rows, n = L.seqs, ntiles = L.tiles;
  s.marks.n = 0;
  mark(s, "start");
  ER_CHECK(cudaMemcpyAsync(s.d_in, s.h_in, L.count * sizeof(int), cudaMemcpyHostToDevice, s.stream));
  mark(s, "h2d");
  const int* d_ids = s.d_in;
  const int* d_types = cfg_.type_vocab > 0 ? s.d_in + T : nullptr;
  const int* d_pos = s.d_in + 2 * T;
  const int* d_cu = s.d_in + L.cu_off;
  const int* d_skip = s.d_in + L.skip_off;
  const int2* d_tiles = reinterpret_cast<const int2*>(s.d_in + L.tiles_off);

  const int H = cfg_.hidden, Hl = cfg_.heads * cfg_.head_dim, I = cfg_.inter;
  const DType dt = cfg_.dt;
  const float scale = 1.f / std::sqrt((float)cfg_.head_dim);
  embed_layernorm(dt, d_ids, d_types, d_pos, T, w("emb.word").ptr, w("emb.pos").ptr, cfg_.type_vocab > 0 ? w("emb.type").ptr : nullptr,
                  (const float*)w("emb.ln.g").ptr, (const float*)w("emb.ln.b").ptr, cfg_.eps, H, s.x, s.xf, s.stream);
  mark(s, "embed_ln");
  const int layers = r.mode == Output::Hidden && r.stop_after_layers >= 0 ? std::min(r.stop_after_layers, cfg_.layers) : cfg_.layers;
  for (int l = 0; l < layers; l++) {
    const std::string p = "L" + std::to_string(l) + ".";
    // fp8 with fused LayerNorms: every layer's QKV input but the first was quantised by the last add+LN
    const bool fused = cfg_.quant == 1 && fp8_fuse_ln_;
    linear(s, s.x, T, H, p + "qkv", 3 * Hl, w(p + "qkv.b").ptr, s.qkv, "gemm_qkv", fused && l > 0);
    attention(L.attn, dt, s.qkv, 3 * Hl, T, cfg_.heads, cfg_.head_dim, d_cu, d_tiles, ntiles, scale, s.ctx, Hl, s.stream);
    mark(s, "attention");
    row_parallel_add_ln(s, s.ctx, Hl, p + "o", p + "ln1", T, "gemm_o", false, fused);
    // fp8: the FFN-down input is quantised as GELU produces it (no 16-bit copy written)
    const bool down_fp8 = cfg_.quant == 1 && bias_gelu_quantize_fp8_fits(I);
    if (gelu_epilogue_ && cfg_.quant == 0 && dt != DType::F32) {
      s.gemm->linear(dt, s.x, T, H, w(p + "up.w").ptr, I, w(p + "up.b").ptr, s.up, s.stream, cfg_.tf32, true);
      mark(s, "gemm_up");
    } else if (fused_up_ && linear_bias_gelu_wgmma_fits(dt, H, I, s.x, w(p + "up.w").ptr, w(p + "up.b").ptr, s.up, cfg_.device)) {
      linear_bias_gelu_wgmma(dt, s.x, T, H, w(p + "up.w").ptr, I, w(p + "up.b").ptr, s.up, s.stream);
      mark(s, "gemm_up_gelu");
    } else {
      linear(s, s.x, T, H, p + "up", I, nullptr, s.up, "gemm_up", fused);
      if (down_fp8) bias_gelu_quantize_fp8(dt, s.up, w(p + "up.b").ptr, T, I, s.xq, s.xs, s.stream);
      else bias_gelu(dt, s.up, w(p + "up.b").ptr, T, I, s.stream);
      mark(s, "bias_gelu");
    }
    row_parallel_add_ln(s, s.up, I, p + "down", p + "ln2", T, "gemm_down", down_fp8, fused && l + 1 < layers);
  }

  // The fp32 residual copy, where kept, is the more exact final hidden state.
  const DType hdt = s.xf ? DType::F32 : dt;
  const void* hid = s.xf ? (const void*)s.xf : s.x;
  const size_t out_n = output_floats(r.mode, n, T, cfg_.hidden, cfg_.num_labels);
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
