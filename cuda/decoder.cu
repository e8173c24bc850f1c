// DecoderModel (see decoder.h): weight bookkeeping, KV-cache memory, input checks and the per-step
// kernel sequence. Row-parallel outputs (O, down) are all-reduced before the residual add, so the
// fp32 residual stream is identical on every tensor-parallel rank.
#include "decoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "ops.h"

namespace er {

DecoderModel::DecoderModel(const DecoderConfig& cfg) : ResidentModel(cfg.device, cfg.dt), cfg_(cfg) {
  if (cfg.hidden % 8 || cfg.inter % 8) throw std::runtime_error("hidden size and intermediate size must be multiples of 8");
  if (cfg.heads < 1 || cfg.kv_heads < 1 || cfg.heads % cfg.kv_heads) throw std::runtime_error("kv heads must divide heads on every rank");
  if (cfg.head_dim % 32 || cfg.head_dim > 256) throw std::runtime_error("head dimension " + std::to_string(cfg.head_dim) + " unsupported (a multiple of 32 up to 256)");
  if (cfg.block_size < 1 || cfg.max_blocks_per_seq < 1) throw std::runtime_error("block size and blocks per sequence must be positive");
  if (cfg.max_tokens < 1 || cfg.max_seqs < 1 || cfg.slots < 1) throw std::runtime_error("maxTokens, maxSeqs and slots must be positive");
  fused_qk_ = env_flag("EMBEDRANK_DECODER_FUSED_QK", true) && (cfg.head_dim == 64 || cfg.head_dim == 128 || cfg.head_dim == 256);
  tile_cap_ = (size_t)cfg.max_tokens / paged_attention_block_m(cfg.dt, cfg.head_dim) + cfg.max_seqs + 1;
  // ids, positions, slots, token → sequence; cu (+1 spare entry when bucketed); contexts and block
  // tables (+1 spare sequence when bucketed); +1 for int2 alignment; tiles
  in_ints_ = 4 * (size_t)cfg.max_tokens + (cfg.max_seqs + 2) + (size_t)(cfg.max_seqs + 1) * (1 + cfg.max_blocks_per_seq) + 1 + 2 * tile_cap_;
  {
    const double q = (double)cfg.heads * cfg.head_dim, kv = (double)cfg.kv_heads * cfg.head_dim;
    configure_graphs(cfg.world, 2.0 * (cfg.hidden * (2 * q + 2 * kv) + 3.0 * cfg.hidden * cfg.inter), cfg.max_tokens);
  }
  out_floats_ = (size_t)cfg.max_seqs * std::max(cfg.hidden, std::max(cfg.num_labels, 1));
  {
    const std::vector<float> f = rope_inv_freq(cfg.head_dim, cfg.rope_theta);
    ER_CHECK(cudaMalloc(&inv_freq_, f.size() * sizeof(float)));
    ER_CHECK(cudaMemcpy(inv_freq_, f.data(), f.size() * sizeof(float), cudaMemcpyHostToDevice));
  }
  slots_.resize(cfg.slots);
  allocate_slots(
      slots_, [&](Slot& s) { allocate_slot(s); }, [&](Slot& s) { free_slot(s); }, [&] { cudaFree(inv_freq_); },
      [&] {
        return "out of GPU memory allocating activation buffers for maxNumBatchedTokens=" + std::to_string(cfg.max_tokens) +
               ": lower maxNumBatchedTokens (chunked prefill splits longer inputs) or raise tensorParallelSize";
      });
}

DecoderModel::~DecoderModel() {
  cudaSetDevice(cfg_.device);
  for (auto& s : slots_) {
    release_comm(s.comm);
    free_slot(s);
  }
  if (kv_) cudaFree(kv_);
  if (inv_freq_) cudaFree(inv_freq_);
  free_weights();
  if (broken_) cudaDeviceReset();
}

void DecoderModel::allocate_slot(Slot& s) {
  const size_t e = dtype_size(cfg_.dt);
  const size_t T = cfg_.max_tokens;
  const size_t H = cfg_.hidden, qkv = (size_t)(cfg_.heads + 2 * cfg_.kv_heads) * cfg_.head_dim, I = cfg_.inter;
  ER_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
  s.gemm = std::make_unique<GemmRunner>();
  ER_CHECK(cudaMalloc(&s.d_in, in_ints_ * sizeof(int)));
  ER_CHECK(cudaMallocHost(&s.h_in, in_ints_ * sizeof(int)));
  ER_CHECK(cudaMalloc(&s.x, align_up(T * H * e, 256)));
  ER_CHECK(cudaMalloc(&s.qkv, align_up(T * qkv * e, 256)));
  ER_CHECK(cudaMalloc(&s.ctx, align_up(T * cfg_.heads * cfg_.head_dim * e, 256)));
  // Attention writes only the rows of real sequences; a bucketed graph's padding rows keep what
  // was there, which must be finite from the start (fresh memory may hold NaN patterns).
  ER_CHECK(cudaMemsetAsync(s.ctx, 0, align_up(T * cfg_.heads * cfg_.head_dim * e, 256), s.stream));
  ER_CHECK(cudaMalloc(&s.tmp, align_up(T * H * e, 256)));
  ER_CHECK(cudaMalloc(&s.gate_up, align_up(T * 2 * I * e, 256)));
  ER_CHECK(cudaMalloc(&s.act, align_up(T * I * e, 256)));
  ER_CHECK(cudaMalloc(&s.resid, align_up(T * H * sizeof(float), 256)));
  ER_CHECK(cudaMalloc(&s.rope, align_up(T * (cfg_.head_dim / 2) * sizeof(float2), 256)));
  ER_CHECK(cudaMalloc(&s.d_out, out_floats_ * sizeof(float)));
  ER_CHECK(cudaMallocHost(&s.h_out, out_floats_ * sizeof(float)));
  create_marks(s.marks, 4 + 14 * (size_t)cfg_.layers);
  s.tiles.resize(tile_cap_);
}

void DecoderModel::free_slot(Slot& s) {
  s.graphs.clear();
  s.gemm.reset();
  for (void* p : {(void*)s.d_in, s.x, s.qkv, s.ctx, s.tmp, s.gate_up, s.act, (void*)s.resid, (void*)s.rope, (void*)s.d_out, (void*)s.d_hidden}) if (p) cudaFree(p);
  destroy_marks(s.marks);
  for (void* p : {(void*)s.h_in, (void*)s.h_out, (void*)s.h_hidden}) if (p) cudaFreeHost(p);
  if (s.stream) cudaStreamDestroy(s.stream);
  s = Slot{};
}

void DecoderModel::expect(const std::string& name, size_t& numel, bool& fp32) const {
  const size_t H = cfg_.hidden, d = cfg_.head_dim, q = (size_t)cfg_.heads * d, kv = (size_t)cfg_.kv_heads * d, I = cfg_.inter;
  fp32 = false;
  if (name == "emb.word") numel = (size_t)cfg_.vocab * H;
  else if (name == "norm.g") numel = H;
  else if (name == "head.cls.w" && cfg_.num_labels > 0) numel = (size_t)cfg_.num_labels * H, fp32 = true;
  else if (name.rfind("L", 0) == 0) {
    const auto dot = name.find('.');
    const int layer = std::stoi(name.substr(1, dot - 1));
    if (layer < 0 || layer >= cfg_.layers) throw std::runtime_error("weight " + name + ": no such layer");
    const std::string k = name.substr(dot + 1);
    if (k == "ln1.g" || k == "ln2.g") numel = H;
    else if (k == "qkv.w") numel = (q + 2 * kv) * H;
    else if (k == "q_norm.g" || k == "k_norm.g") numel = d;
    else if (k == "o.w") numel = H * q;
    else if (k == "gate_up.w") numel = 2 * I * H;
    else if (k == "down.w") numel = H * I;
    else throw std::runtime_error("unknown weight " + name);
  } else {
    throw std::runtime_error("unknown weight " + name);
  }
}

size_t DecoderModel::kv_bytes_per_block() const {
  return 2 * (size_t)cfg_.layers * cfg_.block_size * cfg_.kv_heads * cfg_.head_dim * dtype_size(cfg_.dt);
}

void DecoderModel::layer_linear(Slot& s, LayerLinear which, const std::string& p, int T) {
  const DType dt = cfg_.dt;
  const int H = cfg_.hidden, I = cfg_.inter, q = cfg_.heads * cfg_.head_dim;
  const int ldq = (cfg_.heads + 2 * cfg_.kv_heads) * cfg_.head_dim;
  switch (which) {
    case LayerLinear::Qkv: return s.gemm->linear(dt, s.x, T, H, w(p + "qkv.w").ptr, ldq, nullptr, s.qkv, s.stream, cfg_.tf32);
    case LayerLinear::O: return s.gemm->linear(dt, s.ctx, T, q, w(p + "o.w").ptr, H, nullptr, s.tmp, s.stream, cfg_.tf32);
    case LayerLinear::GateUp: return s.gemm->linear(dt, s.x, T, H, w(p + "gate_up.w").ptr, 2 * I, nullptr, s.gate_up, s.stream, cfg_.tf32);
    case LayerLinear::Down: return s.gemm->linear(dt, s.act, T, I, w(p + "down.w").ptr, H, nullptr, s.tmp, s.stream, cfg_.tf32);
  }
}

int DecoderModel::tune_gemms() {
  Slot& s = slots_[0];
  if (!s.gemm->tuning()) return 0;  // EMBEDRANK_GEMM_TUNE=0: nothing to time
  ER_CHECK(cudaSetDevice(cfg_.device));
  const size_t e = dtype_size(cfg_.dt);
  const int H = cfg_.hidden, I = cfg_.inter, q = cfg_.heads * cfg_.head_dim;
  const int Tm = cfg_.max_tokens;
  // Defined inputs (zeros), so no timing runs on NaN or denormal garbage.
  ER_CHECK(cudaMemsetAsync(s.x, 0, (size_t)Tm * H * e, s.stream));
  ER_CHECK(cudaMemsetAsync(s.ctx, 0, (size_t)Tm * q * e, s.stream));
  ER_CHECK(cudaMemsetAsync(s.act, 0, (size_t)Tm * I * e, s.stream));
  int classes = 0;
  // The classes of gemm.cu's t_class: 64·2^k · {1, 1.25, 1.5, 1.75}, up to maxTokens.
  for (int base = 64; base <= Tm; base *= 2) {
    for (int k = 0; k < 4; k++) {
      const int T = base + base / 4 * k;
      if (T > Tm) break;
      for (LayerLinear which : {LayerLinear::Qkv, LayerLinear::O, LayerLinear::GateUp, LayerLinear::Down}) layer_linear(s, which, "L0.", T);
      classes++;
    }
  }
  ER_CHECK(cudaStreamSynchronize(s.stream));
  return classes;
}

void DecoderModel::allocate_kv_cache(int num_blocks) {
  if (num_blocks < 1) throw std::runtime_error("the KV cache needs at least one block");
  ER_CHECK(cudaSetDevice(cfg_.device));
  for (auto& s : slots_) s.graphs.clear();  // they hold the old cache's address
  if (kv_) {
    cudaFree(kv_);
    kv_ = nullptr;
    num_blocks_ = 0;
  }
  const size_t bytes = kv_bytes_per_block() * num_blocks;
  try {
    ER_CHECK(cudaMalloc(&kv_, bytes));
  } catch (const CudaFailure& e) {
    kv_ = nullptr;
    if (!e.oom) throw;
    throw CudaFailure("out of GPU memory allocating the KV cache (" + std::to_string(num_blocks) + " blocks, " + mib(bytes) +
                          "): lower gpuMemoryUtilization or blockSize",
                      false, true);
  }
  num_blocks_ = num_blocks;
}

void* DecoderModel::k_cache(int layer) const {
  const size_t per_layer = (size_t)num_blocks_ * cfg_.block_size * cfg_.kv_heads * cfg_.head_dim * dtype_size(cfg_.dt);
  return (char*)kv_ + per_layer * layer;
}

void* DecoderModel::v_cache(int layer) const {
  const size_t per_layer = (size_t)num_blocks_ * cfg_.block_size * cfg_.kv_heads * cfg_.head_dim * dtype_size(cfg_.dt);
  return (char*)kv_ + per_layer * (cfg_.layers + layer);
}

void DecoderModel::connect(const std::vector<NcclUniqueId>& ids) {
  if (cfg_.world == 1) return;
  if ((int)ids.size() != cfg_.slots) throw std::runtime_error("connect: need one NCCL id per slot");
  ER_CHECK(cudaSetDevice(cfg_.device));
  for (int i = 0; i < cfg_.slots; i++) slots_[i].comm = join_comm(ids[i], cfg_.world, cfg_.rank);
}

size_t DecoderModel::output_len(const DecoderRequest& r) const {
  if (r.cu_q.empty()) return 0;
  return output_floats(r.mode, (int)r.cu_q.size() - 1, r.cu_q.back(), cfg_.hidden, cfg_.num_labels);
}

// Host-side checks, before anything reaches the GPU: a bad slot or block id would write another
// sequence's K/V (or outside the cache) silently.
void DecoderModel::validate(const DecoderRequest& r) const {
  auto bad = [](const std::string& m) { throw std::runtime_error("forwardDecoder: " + m); };
  if (!kv_) bad("allocateKvCache was not called");
  if (r.slot < 0 || r.slot >= cfg_.slots) bad("bad slot");
  const int n = (int)r.cu_q.size() - 1;
  if (n < 1) bad("empty step");
  if (n > cfg_.max_seqs) bad(std::to_string(n) + " sequences, more than maxNumSeqs " + std::to_string(cfg_.max_seqs));
  const int T = r.cu_q[n];
  if (r.cu_q[0] != 0 || T > cfg_.max_tokens) bad(std::to_string(T) + " tokens (step budget " + std::to_string(cfg_.max_tokens) + ")");
  if ((int)r.ids.size() != T || (int)r.positions.size() != T || (int)r.slot_mapping.size() != T) bad("ids, positions and slotMapping need one entry per token");
  if ((int)r.ctx_len.size() != n) bad("ctxLens needs one entry per sequence");
  if (r.block_tables.size() != (size_t)n * cfg_.max_blocks_per_seq) bad("blockTables must be [n, maxBlocksPerSeq]");
  if (r.mode == Output::Score && (cfg_.num_labels < 1 || !has_weight("head.cls.w"))) bad("this model has no score head");
  if (r.out_len < output_len(r)) bad("output buffer too small");
  const int bs = cfg_.block_size;
  for (int i = 0; i < n; i++) {
    const int q = r.cu_q[i + 1] - r.cu_q[i], ctx = r.ctx_len[i];
    if (q < 1 || ctx < q) bad("sequence " + std::to_string(i) + ": " + std::to_string(q) + " new tokens of context " + std::to_string(ctx));
    const int blocks = (ctx + bs - 1) / bs;
    if (blocks > cfg_.max_blocks_per_seq) bad("sequence " + std::to_string(i) + " needs " + std::to_string(blocks) + " blocks, more than maxBlocksPerSeq");
    const int* table = r.block_tables.data() + (size_t)i * cfg_.max_blocks_per_seq;
    for (int b = 0; b < blocks; b++) if (table[b] < 0 || table[b] >= num_blocks_) bad("sequence " + std::to_string(i) + " has block id " + std::to_string(table[b]) + " outside the cache");
    for (int j = 0; j < q; j++) {
      const int t = r.cu_q[i] + j, pos = ctx - q + j;
      if ((unsigned)r.ids[t] >= (unsigned)cfg_.vocab) bad("token " + std::to_string(t) + " has id " + std::to_string(r.ids[t]) + " outside the vocabulary");
      if (r.positions[t] != pos) bad("token " + std::to_string(t) + " has position " + std::to_string(r.positions[t]) + ", expected " + std::to_string(pos));
      if (r.slot_mapping[t] != table[pos / bs] * bs + pos % bs) bad("token " + std::to_string(t) + " has slot " + std::to_string(r.slot_mapping[t]) + " outside its block table");
    }
  }
}

DecoderModel::Layout DecoderModel::layout(int rows, int seqs, int tiles, bool bucketed) const {
  Layout L;
  L.rows = rows, L.seqs = seqs, L.tiles = tiles, L.bucketed = bucketed;
  L.pos_off = rows;
  L.slots_off = 2 * (size_t)rows;
  L.tseq_off = 3 * (size_t)rows;
  L.cu_off = 4 * (size_t)rows;
  L.cu_len = (size_t)seqs + (bucketed ? 2 : 1);
  L.ctx_off = L.cu_off + L.cu_len;
  L.ctx_len = (size_t)seqs + (bucketed ? 1 : 0);
  L.tables_off = L.ctx_off + L.ctx_len;
  L.tiles_off = L.tables_off + L.ctx_len * cfg_.max_blocks_per_seq;
  L.tiles_off += L.tiles_off & 1;  // int2 alignment
  L.count = L.tiles_off + 2 * (size_t)tiles;
  return L;
}

void DecoderModel::pack(Slot& s, const DecoderRequest& r, int T, int n, int ntiles, const Layout& L) {
  int* h = s.h_in;
  const size_t pad = (size_t)(L.rows - T);
  std::memcpy(h, r.ids.data(), T * sizeof(int));
  std::fill(h + T, h + L.rows, 0);
  std::memcpy(h + L.pos_off, r.positions.data(), T * sizeof(int));
  std::fill(h + L.pos_off + T, h + L.pos_off + T + pad, 0);
  std::memcpy(h + L.slots_off, r.slot_mapping.data(), T * sizeof(int));
  std::fill(h + L.slots_off + T, h + L.slots_off + T + pad, -1);  // never cached
  int* tseq = h + L.tseq_off;
  for (int i = 0; i < n; i++) for (int t = r.cu_q[i]; t < r.cu_q[i + 1]; t++) tseq[t] = i;
  std::fill(tseq + T, tseq + L.rows, n);  // the empty sequence n
  int* cu = h + L.cu_off;
  std::memcpy(cu, r.cu_q.data(), (n + 1) * sizeof(int));
  std::fill(cu + n + 1, cu + L.cu_len, T);  // empty padding sequences
  int* ctx = h + L.ctx_off;
  std::memcpy(ctx, r.ctx_len.data(), n * sizeof(int));
  std::fill(ctx + n, ctx + L.ctx_len, 0);
  int* tables = h + L.tables_off;
  std::memcpy(tables, r.block_tables.data(), r.block_tables.size() * sizeof(int));
  std::fill(tables + r.block_tables.size(), tables + L.ctx_len * cfg_.max_blocks_per_seq, 0);
  int2* tiles = reinterpret_cast<int2*>(h + L.tiles_off);
  std::memcpy(tiles, s.tiles.data(), ntiles * sizeof(int2));
  for (int i = ntiles; i < L.tiles; i++) tiles[i] = make_int2(n, 0);  // sequence n is empty: the block exits
}

void DecoderModel::forward(DecoderRequest& r) {
  if (broken_) throw CudaFailure("this GPU worker hit an unrecoverable CUDA error earlier and must be restarted", true, false);
  validate(r);
  Slot& s = slots_[r.slot];
  const int n = (int)r.cu_q.size() - 1;
  const int T = r.cu_q[n];
  ER_CHECK(cudaSetDevice(cfg_.device));
  const int bm = paged_attention_block_m(cfg_.dt, cfg_.head_dim);
  const int ntiles = attention_tiles(r.cu_q.data(), n, bm, s.tiles.data(), (int)tile_cap_);
  // Tiles that see the most keys first: a chunk behind a long cached prefix is the longest block.
  paged_attention_order_tiles(s.tiles.data(), ntiles, r.cu_q.data(), r.ctx_len.data(), bm);
  const Layout L = layout(T, n, ntiles, false);
  const bool graphs = graphed(r.mode);
  Layout GL = L;
  if (graphs && bucketed_graph(T)) {
    const int rows = token_bucket(T, cfg_.max_tokens), seqs = seq_bucket(n, cfg_.max_seqs);
    GL = layout(rows, seqs, bucket_tiles(rows, seqs, bm, tile_cap_), true);
  }
  const size_t out_n = output_len(r);
  run_pass(
      s.stream, graphs ? &s.graphs : nullptr, {GL.bucketed, GL.rows, GL.seqs, GL.tiles, (int)r.mode, r.normalize, paged_attention_forced_warp()}, L, GL,
      [&](const Layout& l) { pack(s, r, T, n, ntiles, l); }, [&](const Layout& l) { enqueue(s, r, l); },
      [&] {
        collect_marks(s.marks);
        std::memcpy(r.out, r.mode == Output::Hidden ? s.h_hidden : s.h_out, out_n * sizeof(float));
      });
}

void DecoderModel::enqueue(Slot& s, const DecoderRequest& r, const Layout& L) {
  const int T = L.rows, n = L.seqs;  // the layout's sizes: a bucket's under a bucketed graph
  s.marks.n = 0;
  mark(s, "start");
  ER_CHECK(cudaMemcpyAsync(s.d_in, s.h_in, L.count * sizeof(int), cudaMemcpyHostToDevice, s.stream));
  mark(s, "h2d");
  const int* d_ids = s.d_in;
  const int* d_pos = s.d_in + L.pos_off;
  const int* d_slots = s.d_in + L.slots_off;
  const int* d_tseq = s.d_in + L.tseq_off;
  const int* d_cu = s.d_in + L.cu_off;
  const int* d_ctx = s.d_in + L.ctx_off;
  const int* d_tables = s.d_in + L.tables_off;
  const int2* d_tiles = reinterpret_cast<const int2*>(s.d_in + L.tiles_off);
  const int ntiles = L.tiles;

  const DType dt = cfg_.dt;
  const int H = cfg_.hidden, d = cfg_.head_dim, nh = cfg_.heads, kvh = cfg_.kv_heads, I = cfg_.inter;
  const int ldq = (nh + 2 * kvh) * d;
  const float scale = 1.f / std::sqrt((float)d);
  void* k_rows = (char*)s.qkv + (size_t)nh * d * dtype_size(dt);

  embedding_f32(dt, d_ids, T, w("emb.word").ptr, H, s.resid, s.stream);
  if (fused_qk_) rope_table(d_pos, T, d, inv_freq_, s.rope, s.stream);
  mark(s, "embed");
  // Layer l's input norm also adds the previous layer's FFN output into the residual (none for l = 0).
  const void* delta = nullptr;
  for (int l = 0; l < cfg_.layers; l++) {
    const std::string p = "L" + std::to_string(l) + ".";
    rms_norm(dt, delta, H, 1, T, H, w(p + "ln1.g").ptr, cfg_.eps, s.resid, s.x, H, s.stream);
    mark(s, "rms_norm");
    layer_linear(s, LayerLinear::Qkv, p, T);
    mark(s, "gemm_qkv");
    if (fused_qk_) {
      qk_norm_rope(dt, s.qkv, ldq, nh, kvh, d, w(p + "q_norm.g").ptr, w(p + "k_norm.g").ptr, cfg_.eps, s.rope, T, s.stream);
    } else {
      rms_norm(dt, s.qkv, ldq, nh, T * nh, d, w(p + "q_norm.g").ptr, cfg_.eps, nullptr, s.qkv, ldq, s.stream);
      rms_norm(dt, k_rows, ldq, kvh, T * kvh, d, w(p + "k_norm.g").ptr, cfg_.eps, nullptr, k_rows, ldq, s.stream);
      rotary_neox(dt, s.qkv, ldq, nh, d, d_pos, T, inv_freq_, s.stream);
      rotary_neox(dt, k_rows, ldq, kvh, d, d_pos, T, inv_freq_, s.stream);
    }
    mark(s, "qk_norm_rope");
    kv_cache_write(dt, s.qkv, ldq, nh * d, (nh + kvh) * d, kvh, d, d_slots, T, k_cache(l), v_cache(l), s.stream);
    mark(s, "kv_cache_write");
    paged_attention(dt, s.qkv, ldq, nh, kvh, d, d_cu, d_ctx, d_tseq, T, d_tiles, ntiles, k_cache(l), v_cache(l), d_tables,
                    cfg_.max_blocks_per_seq, cfg_.block_size, scale, s.ctx, nh * d, s.stream);
    mark(s, "attention");
    layer_linear(s, LayerLinear::O, p, T);
    mark(s, "gemm_o");
    all_reduce(s.comm, s.stream, s.tmp, (size_t)T * H, cfg_.world);
    rms_norm(dt, s.tmp, H, 1, T, H, w(p + "ln2.g").ptr, cfg_.eps, s.resid, s.x, H, s.stream);
    mark(s, "rms_norm");
    layer_linear(s, LayerLinear::GateUp, p, T);
    mark(s, "gemm_gate_up");
    swiglu(dt, s.gate_up, T, I, s.act, s.stream);
    mark(s, "swiglu");
    layer_linear(s, LayerLinear::Down, p, T);
    mark(s, "gemm_down");
    all_reduce(s.comm, s.stream, s.tmp, (size_t)T * H, cfg_.world);
    delta = s.tmp;
  }
  rms_norm(dt, delta, H, 1, T, H, w("norm.g").ptr, cfg_.eps, s.resid, s.x, H, s.stream);
  mark(s, "rms_norm");

  // Every sequence of the layout (a bucket's padding ones are skipped by the kernels, never read).
  const size_t out_n = output_floats(r.mode, n, T, H, cfg_.num_labels);
  if (r.mode == Output::Embed) {
    pool(dt, s.x, H, d_cu, nullptr, n, 2, r.normalize, s.d_out, s.stream);
    mark(s, "pool");
    ER_CHECK(cudaMemcpyAsync(s.h_out, s.d_out, out_n * sizeof(float), cudaMemcpyDeviceToHost, s.stream));
  } else if (r.mode == Output::Score) {
    last_token_head(dt, s.x, H, d_cu, n, (const float*)w("head.cls.w").ptr, cfg_.num_labels, s.d_out, s.stream);
    mark(s, "head");
    ER_CHECK(cudaMemcpyAsync(s.h_out, s.d_out, out_n * sizeof(float), cudaMemcpyDeviceToHost, s.stream));
  } else {
    if (!s.d_hidden) {
      ER_CHECK(cudaMalloc(&s.d_hidden, (size_t)cfg_.max_tokens * H * sizeof(float)));
      ER_CHECK(cudaMallocHost(&s.h_hidden, (size_t)cfg_.max_tokens * H * sizeof(float)));
    }
    convert(dt, DType::F32, s.x, s.d_hidden, (size_t)T * H, s.stream);
    ER_CHECK(cudaMemcpyAsync(s.h_hidden, s.d_hidden, out_n * sizeof(float), cudaMemcpyDeviceToHost, s.stream));
  }
  mark(s, "d2h");
}

}  // namespace er
