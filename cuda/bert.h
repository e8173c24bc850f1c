// A post-LayerNorm encoder of any family in src/models/ (BERT, RoBERTa, XLM-R, DistilBERT; or one
// tensor-parallel shard of it) resident on one GPU. The config describes the model, not a family:
// shapes, dtype, whether there are token types (type_vocab 0: none), the head's activation.
// Positions arrive with each batch, computed by the family. Weights, and per slot a
// stream, a cuBLASLt runner, an NCCL communicator and activation buffers sized for the largest
// batch (maxNumBatchedTokens). forward() runs one unpadded batch end to end.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "common.cuh"
#include "gemm.h"
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

 private:
  struct Slot {
    cudaStream_t stream = nullptr;
    std::unique_ptr<GemmRunner> gemm;
    NcclComm comm = nullptr;
    int* d_in = nullptr;  // ids | types | positions | cu | skip | tiles, one copy from h_in
    int* h_in = nullptr;
    void *x = nullptr, *qkv = nullptr, *ctx = nullptr, *tmp = nullptr, *up = nullptr;
    float* d_out = nullptr;
    float* h_out = nullptr;
    float* d_hidden = nullptr;  // fp32 hidden states for Output::Hidden, allocated on first use
    float* h_hidden = nullptr;
    float* xf = nullptr;  // fp32 residual stream (bf16 only: 8-bit mantissas drift over 24 layers)
    // CUDA graphs of whole forward passes, by batch shape: a shape seen a second time on this
    // slot is captured, later ones replay it. One launch instead of ~12 per layer: at 512 tokens
    // the host enqueueing kernels one by one, not the GPU, set the latency.
    struct Graph {
      int seen = 0;
      bool failed = false;
      cudaGraphExec_t exec = nullptr;
    };
    std::map<std::tuple<int, int, int, int, int, bool>, Graph> graphs;
    Marks marks;
  };
  void mark(Slot& s, const char* name) { ResidentModel::mark(s.marks, s.stream, name); }
  // Everything a batch puts on the slot's stream: input copy, layers, pooling/head, output copy.
  void enqueue(Slot& s, const Request& r, int T, int n, int ntiles, size_t tiles_off, size_t in_count);
  void drop_graphs(Slot& s);
  void row_parallel_add_ln(Slot& s, const void* in, int K, const std::string& lin, const std::string& ln, int T,
                           const char* gemm_mark);
  void allocate_slot(Slot& s);
  void free_slot(Slot& s);

  BertConfig cfg_;
  std::vector<Slot> slots_;
  size_t in_ints_ = 0, tile_cap_ = 0, out_floats_ = 0;
  bool resid_f32_ = false, graphs_ = true;
  AttentionKernel attn_ = AttentionKernel::Mma;  // EMBEDRANK_ATTENTION, as attention_kernel() resolved it
};

}  // namespace er
