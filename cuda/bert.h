// A post-LayerNorm encoder of any family in src/models/ (BERT, RoBERTa, XLM-R, DistilBERT; or one
// tensor-parallel shard of it) resident on one GPU. The config describes the model, not a family:
// shapes, dtype, whether there are token types (type_vocab 0: none), the head's activation.
// Positions arrive with each batch, computed by the family. Weights, and per slot a
// stream, a cuBLASLt runner, an NCCL communicator and activation buffers sized for the largest
// batch (maxNumBatchedTokens). forward() runs one unpadded batch end to end.
#pragma once
#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common.cuh"
#include "gemm.h"
#include "gemm_fp8.h"
#include "graphs.h"
#include "nccl.h"
#include "ops.h"
#include "resident.h"

namespace er {

struct BertConfig {
  int device = 0;
  DType dt = DType::F16;
  int hidden = 0, layers = 0, heads = 0 /* on this rank */, head_dim = 0, inter = 0 /* on this rank */;
  int vocab = 0, max_pos = 0, type_vocab = 0 /* 0: no token types */, num_labels = 0, pos_offset = 0;
  int head_act = 0;  // classification head dense → act → out: 0 tanh (BERT, RoBERTa), 1 ReLU (DistilBERT)
  float eps = 1e-12f;
  int max_tokens = 0, max_seqs = 0, slots = 2;
  int rank = 0, world = 1;
  bool tf32 = false;
  // 0 none; 1 fp8: the QKV, O, FFN-up and FFN-down linears in e4m3 (per-output-channel weight
  // scales made at load, per-token activation scales per batch; gemm_fp8.h). Needs sm_89+, dt 16-bit.
  int quant = 0;
};

struct Request {
  int slot = 0;
  std::vector<int> ids, types /* empty when type_vocab is 0 */, positions, cu, skip;
  Output mode = Output::Embed;
  int pool_mode = 1;  // 0 CLS, 1 mean, 2 last
  bool normalize = true;
  int stop_after_layers = -1;  // Hidden: how many layers to run (-1: all)
  float* out = nullptr;        // host memory the caller keeps alive
  size_t out_len = 0;
};

class BertModel : public ResidentModel {
 public:
  explicit BertModel(const BertConfig& cfg);
  ~BertModel() override;

  const BertConfig& config() const { return cfg_; }
  void connect(const std::vector<NcclUniqueId>& ids) override;
  int slot_count() const override { return cfg_.slots; }
  // Runs one batch on the request's slot; called from that slot's executor thread only.
  void forward(Request& r);
  size_t output_len(const Request& r) const;

 protected:
  void expect(const std::string& name, size_t& numel, bool& fp32) const override;
  bool derive_weight(const std::string& name, const void* src_dev, DType src, const Tensor& t, long long& bytes_delta) override;

 private:
  struct Slot {
    cudaStream_t stream = nullptr;
    std::unique_ptr<GemmRunner> gemm;
    std::unique_ptr<Fp8GemmRunner> gemm8;  // quant 1
    uint8_t* xq = nullptr;                 // quant 1: the next linear's e4m3 input [T, K] and its
    float* xs = nullptr;                   // per-token scales [T]
    Comm comm;
    int* d_in = nullptr;  // ids | types | positions | cu | skip | tiles, one copy from h_in
    int* h_in = nullptr;
    void *x = nullptr, *qkv = nullptr, *ctx = nullptr, *tmp = nullptr, *up = nullptr;
    float* d_out = nullptr;
    float* h_out = nullptr;
    float* d_hidden = nullptr;  // fp32 hidden states for Output::Hidden, allocated on first use
    float* h_hidden = nullptr;
    float* xf = nullptr;  // fp32 residual stream (bf16 only: 8-bit mantissas drift over 24 layers)
    std::vector<int2> tiles;  // host scratch: the batch's attention tiles before packing
    // Whole forward passes as CUDA graphs (graphs.h), keyed by (bucketed, rows, sequences, tiles,
    // output mode, pool mode, normalize, attention kernel).
    GraphCache graphs;
    Marks marks;
  };
  // Where a batch's inputs sit in the slot's input buffer and how many rows, sequences and tiles
  // the kernels run over. Exact: the batch itself. Bucketed: the bucket's sizes; rows past the
  // batch's T hold token 0 at position 0 (finite, ignored), sequences past n are empty (cu = T,
  // one spare entry so surplus tiles can name an empty sequence), surplus tiles point at sequence
  // n, and the kernels skip both.
  struct Layout {
    int rows = 0, seqs = 0, tiles = 0;
    bool bucketed = false;
    AttentionKernel attn = AttentionKernel::Mma;  // this batch's kernel (attn_, or what Auto picked)
    size_t cu_off = 0, cu_len = 0, skip_off = 0, tiles_off = 0, count = 0;
  };
  Layout layout(int rows, int seqs, int tiles, bool bucketed, AttentionKernel attn) const;
  void mark(Slot& s, const char* name) { ResidentModel::mark(s.marks, s.stream, name); }
  // Writes the batch into the slot's pinned input buffer in layout L (padding included).
  void pack(Slot& s, const Request& r, int T, int n, int ntiles, const Layout& L);
  // Everything a batch puts on the slot's stream: input copy, layers, pooling/head, output copy.
  void enqueue(Slot& s, const Request& r, const Layout& L);
  void row_parallel_add_ln(Slot& s, const void* in, int K, const std::string& lin, const std::string& ln, int T,
                           const char* gemm_mark, bool in_fp8 = false, bool quantize_out = false);
  // Y[T, N] = X[T, K] · lin.w^T (+ bias): the 16-bit GEMM, or under quant 1 X quantised per token
  // into s.xq/s.xs (already there when x_fp8) and the FP8 GEMM.
  void linear(Slot& s, const void* X, int T, int K, const std::string& lin, int N, const void* bias, void* Y, const char* gemm_mark,
              bool x_fp8 = false);
  // The [N, K] shape of a quantised linear's weight; false for any other weight.
  bool fp8_linear_shape(const std::string& name, int& N, int& K) const;
  // Bytes of one token's e4m3 GEMM input: the widest K of the four linears.
  size_t fp8_row_bytes() const { return (size_t)std::max(cfg_.hidden, std::max(cfg_.heads * cfg_.head_dim, cfg_.inter)); }
  // Bytes of an fp32 scale vector of n rows, padded to a multiple of 256 rows (a GEMM tile's reach).
  static size_t fp8_scale_bytes(size_t n) { return align_up(n, 256) * sizeof(float); }
  void allocate_slot(Slot& s);
  void free_slot(Slot& s);

  BertConfig cfg_;
  std::vector<Slot> slots_;
  struct Fp8Weight {
    uint8_t* q = nullptr;  // e4m3 [N, K]
    float* scale = nullptr;  // [N]
    size_t bytes = 0;
  };
  std::unordered_map<std::string, Fp8Weight> fp8_;
  size_t in_ints_ = 0, tile_cap_ = 0, out_floats_ = 0;
  bool resid_f32_ = false;
  bool longest_first_ = false;  // attention tiles of the longest sequences first (EMBEDRANK_ATTN_LONGEST_FIRST)
  AttentionKernel attn_ = AttentionKernel::Mma;  // EMBEDRANK_ATTENTION, as attention_kernel() resolved it
  // quant 1: the LayerNorms write the next linear's e4m3 input too (EMBEDRANK_FP8_FUSE_LN=0: a
  // separate quantize pass instead, to compare).
  bool fp8_fuse_ln_ = true;
  // EMBEDRANK_GELU_EPILOGUE=tanh (experiment, 16-bit, no fp8): FFN-up with cuBLASLt's GELU_BIAS
  // epilogue — the tanh approximation (text-embeddings-inference's choice for "gelu"), not the erf
  // GELU of BERT checkpoints — instead of the separate exact bias+GELU pass.
  bool gelu_epilogue_ = false;
  // EMBEDRANK_FUSED_GELU=1 (experiment, Hopper, 16-bit, no fp8): FFN-up, bias and exact GELU in
  // one kernel of our own (gemm_wgmma.cu) instead of cuBLASLt then bias_gelu. Same math with one
  // rounding fewer, but 14–28% slower than the pair it replaces (bench/NOTES.md, session 8).
  bool fused_up_ = false;
};

}  // namespace er
