// A pre-RMSNorm grouped-query decoder (Qwen3; or one tensor-parallel shard of it) resident on one
// GPU, run as an embedder / scorer over a paged KV cache (vLLM's design): every forward is one
// prefill step of new tokens that attend causally to their sequence's cached K/V — a shared prompt
// prefix computed once, or the earlier chunks of a sequence longer than the step budget. The host
// (src/backends/cuda/decoder-engine.ts) owns the blocks: it passes block tables, the slot of every
// new token, and positions; this class owns the cache memory and the kernel sequence
//   embed → per layer [RMSNorm → QKV GEMM → q_norm/k_norm → RoPE → K/V into the cache → paged
//   causal GQA attention → O GEMM → all-reduce → residual + RMSNorm → gate|up GEMM → SwiGLU →
//   down GEMM → all-reduce → residual] → final RMSNorm → last-token pooling | last-token head.
// The residual stream is fp32 in every dtype.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "gemm.h"
#include "graphs.h"
#include "resident.h"

namespace er {

struct DecoderConfig {
  int device = 0;
  DType dt = DType::BF16;
  int hidden = 0, layers = 0, heads = 0 /* on this rank */, kv_heads = 0 /* on this rank */, head_dim = 0, inter = 0 /* on this rank */;
  int vocab = 0, num_labels = 0 /* rows of head.cls.w; 0: embedder */;
  float eps = 1e-6f, rope_theta = 10000.f;
  int max_tokens = 0 /* step budget */, max_seqs = 0, block_size = 16, max_blocks_per_seq = 0, slots = 1;
  int rank = 0, world = 1;
  bool tf32 = false;
};

// One prefill step. Sequence i's tokens cu_q[i]..cu_q[i+1] are the last q_i of its first
// ctx_len[i] tokens, at positions ctx_len[i] − q_i + j; their K/V go to slot_mapping[t]
// (= block_tables[i][pos / block_size] · block_size + pos % block_size); earlier positions must be
// in the cache already (or written by another sequence of this step: every layer writes all K/V
// before its attention reads).
struct DecoderRequest {
  int slot = 0;
  std::vector<int> ids, positions, cu_q, ctx_len, block_tables /* [n, max_blocks_per_seq] */, slot_mapping;
  Output mode = Output::Embed;  // Embed: [n, hidden]; Score: [n, num_labels] raw logits; Hidden: [T, hidden]
  bool normalize = true;
  float* out = nullptr;  // host memory the caller keeps alive
  size_t out_len = 0;
};

class DecoderModel : public ResidentModel {
 public:
  explicit DecoderModel(const DecoderConfig& cfg);
  ~DecoderModel() override;

  const DecoderConfig& config() const { return cfg_; }
  void connect(const std::vector<NcclUniqueId>& ids) override;
  int slot_count() const override { return cfg_.slots; }
  // K and V caches of num_blocks blocks, [layers][num_blocks][block_size][kv_heads][head_dim] each.
  // CudaFailure with oom set when they do not fit; a second call replaces the first.
  void allocate_kv_cache(int num_blocks);
  size_t kv_bytes_per_block() const;
  // Times cuBLASLt's candidate algorithms for the four weight GEMMs at every token-count class up
  // to maxTokens now, at load, instead of inside the first steps that meet each class (the tuned
  // table is per device and shape class: gemm.cu t_class). Returns the classes tuned (0 under
  // EMBEDRANK_GEMM_TUNE=0, which GemmRunner reads).
  int tune_gemms();
  // Runs one step on the request's slot; called from that slot's executor thread only.
  void forward(DecoderRequest& r);
  size_t output_len(const DecoderRequest& r) const;

 protected:
  void expect(const std::string& name, size_t& numel, bool& fp32) const override;

 private:
  struct Slot {
    cudaStream_t stream = nullptr;
    std::unique_ptr<GemmRunner> gemm;
    Comm comm;
    int* d_in = nullptr;  // ids | positions | slots | token_seq | cu_q | ctx | tables | tiles, one copy from h_in
    int* h_in = nullptr;
    void *x = nullptr, *qkv = nullptr, *ctx = nullptr, *tmp = nullptr, *gate_up = nullptr, *act = nullptr;
    float* resid = nullptr;  // fp32 residual stream [max_tokens, hidden]
    float2* rope = nullptr;  // cos/sin per token and frequency [max_tokens, head_dim / 2], once per step
    float* d_out = nullptr;
    float* h_out = nullptr;
    float* d_hidden = nullptr;  // Output::Hidden, allocated on first use
    float* h_hidden = nullptr;
    std::vector<int2> tiles;  // host scratch: the step's attention tiles before packing
    // Whole steps as CUDA graphs (graphs.h), keyed by (bucketed, rows, sequences, tiles, output
    // mode, normalize, paged-attention kernel forced to warp); cleared when the KV cache is
    // reallocated (graphs hold its address).
    GraphCache graphs;
    Marks marks;
  };
  // Where a step's inputs sit in the slot's input buffer and how many rows, sequences and tiles the
  // kernels run over. Exact: the step itself. Bucketed: the bucket's sizes; rows past the step's T
  // are token 0 at position 0 with slot −1 (finite, never cached) belonging to the empty sequence n;
  // sequences past n are empty (cu = T, context 0; one spare entry so padding rows and surplus tiles
  // can name sequence n); surplus tiles point at sequence n, and the kernels skip all of them.
  struct Layout {
    int rows = 0, seqs = 0, tiles = 0;
    bool bucketed = false;
    size_t pos_off = 0, slots_off = 0, tseq_off = 0, cu_off = 0, cu_len = 0, ctx_off = 0, ctx_len = 0, tables_off = 0, tiles_off = 0,
           count = 0;
  };
  Layout layout(int rows, int seqs, int tiles, bool bucketed) const;
  // Writes the step into the slot's pinned input buffer in layout L (padding included).
  void pack(Slot& s, const DecoderRequest& r, int T, int n, int ntiles, const Layout& L);
  void mark(Slot& s, const char* name) { ResidentModel::mark(s.marks, s.stream, name); }
  void validate(const DecoderRequest& r) const;
  // A layer's four weight GEMMs on the slot's own buffers (qkv: x → qkv, o: ctx → tmp, gate_up:
  // x → gate_up, down: act → tmp), layer prefix p ("L3."): the one definition enqueue runs and
  // tune_gemms times, so tuning always covers the forward's shapes.
  enum class LayerLinear { Qkv, O, GateUp, Down };
  void layer_linear(Slot& s, LayerLinear which, const std::string& p, int T);
  // Everything a step puts on the slot's stream: input copy, layers, pooling/head, output copy.
  void enqueue(Slot& s, const DecoderRequest& r, const Layout& L);
  void allocate_slot(Slot& s);
  void free_slot(Slot& s);
  void* k_cache(int layer) const;
  void* v_cache(int layer) const;

  DecoderConfig cfg_;
  std::vector<Slot> slots_;
  void* kv_ = nullptr;  // K caches of every layer, then V caches
  float* inv_freq_ = nullptr;  // rope_inv_freq(head_dim, rope_theta) on the device
  int num_blocks_ = 0;
  size_t in_ints_ = 0, tile_cap_ = 0, out_floats_ = 0;
  bool fused_qk_ = true;  // qk_norm_rope (EMBEDRANK_DECODER_FUSED_QK=0: the four separate kernels, for A/B checks)
};

}  // namespace er
