// Host entry points of the kernels, one .cu file each (llama.cpp ggml-cuda style); the model
// (bert.cu) and the Node addon call only these.
#pragma once
#include <vector>
#include "common.cuh"

namespace er {

// out[t] = LayerNorm(word[ids[t]] + pos[positions[t]] + type[types[t]]); also into out_f32 (fp32
// residual stream) unless null. type (and types) null: a model without token types (DistilBERT).
// positions are the family's (BERT: 0.., RoBERTa/XLM-R: padding_idx + 1..), computed on the host.
void embed_layernorm(DType dt, const int* ids, const int* types, const int* positions, int T, const void* word,
                     const void* pos, const void* type, const float* gamma, const float* beta, float eps, int H,
                     void* out, float* out_f32, cudaStream_t s);

// out[t] = LayerNorm(x[t] + bias + residual[t]); out may alias residual. bias may be null. With
// resid_f32 non-null the residual is read from it instead and the result written to it as well.
// With q non-null (quantization fp8) the result is also quantised per row for the next linear,
// as quantize_fp8_rows does, from the fp32 values in the same pass (both the one-warp-per-row and
// the block-per-row kernel). H % 4 == 0 (H % 8 for the one-warp-per-row kernel, H ≤ 1024).
void add_bias_layernorm(DType dt, const void* x, const void* bias, const void* residual, const float* gamma,
                        const float* beta, float eps, int T, int H, void* out, float* resid_f32, cudaStream_t s,
                        uint8_t* q = nullptr, float* q_scale = nullptr);

// x[t, n] = gelu_erf(x[t, n] + bias[n]) in place.
void bias_gelu(DType dt, void* x, const void* bias, int T, int N, cudaStream_t s);

// Which kernel serves fp16/bf16 attention: Mma, FlashAttention-2 style (mma.sync, sm_80 and later,
// 64 query rows and 4 warps per block; the default); Mma128, the same with 128 rows and 8 warps
// per block (each K/V tile in shared memory serves twice the queries); Wgmma, FlashAttention-3
// style for head_dim 64 and 128 (sm_90a only: wgmma, TMA, a producer warpgroup and two consumer
// warpgroups; attention_wgmma.cu; other head dims fall back to Mma). fp32 always takes the FMA kernel.
// Auto is a policy, not a kernel: per batch, Wgmma when its sequences average at least
// kAttentionAutoMinLen tokens (a 128-row tile is then mostly full), else Mma; a model resolves it with
// attention_kernel_for_batch before launching.
enum class AttentionKernel : int { Mma = 0, Wgmma = 1, Mma128 = 2, Auto = 3 };
constexpr int kAttentionAutoMinLen = 256;
// EMBEDRANK_ATTENTION = mma | mma128 | wgmma | auto (unset or empty: auto), read at each call (a model
// reads it once, when it is created).
// Throws std::runtime_error on any other value.
AttentionKernel attention_kernel_from_env();
// The kernel that serves (dt, head_dim) when `wanted` is asked for. For Wgmma on fp16/bf16 at head_dim
// 64/128 it checks the current device first (compute capability 9.0 and an sm_90a build) and throws
// std::runtime_error with the fix when it cannot run there; call it before any stream capture.
AttentionKernel attention_kernel(DType dt, int head_dim, AttentionKernel wanted);
// Auto → the kernel for a batch of `tokens` tokens in `seqs` sequences; any other kernel → itself.
AttentionKernel attention_kernel_for_batch(AttentionKernel k, int tokens, int seqs);
// Query rows per tile for the kernel attention_kernel() chose (Auto: the smaller, Mma's, which bounds tile counts).
int attention_block_m(DType dt, int head_dim, AttentionKernel k);

// Variable-length non-causal attention. qkv rows hold [q | k | v] for `heads` heads of head_dim
// (row stride ld_qkv elements, `tokens` rows = cu[nseq]); tiles are (sequence, first query) pairs
// made by attention_tiles with attention_block_m(dt, head_dim, k) rows; k as attention_kernel() chose.
// A tile whose first query is at or past its sequence's length (an empty sequence: cu[i+1] ==
// cu[i]) is skipped, so a graph may launch more tiles than a batch has.
void attention(AttentionKernel k, DType dt, const void* qkv, int ld_qkv, int tokens, int heads, int head_dim, const int* cu,
               const int2* tiles, int ntiles, float scale, void* out, int ld_out, cudaStream_t s);
// Writes the tile list for sequences with lengths from cu (host array, n+1 entries); returns count.
// longest_first: sequences in descending length (ties by index) instead of batch order — same
// tiles, better balanced last wave on ragged batches. Throws when more than cap tiles are needed.
int attention_tiles(const int* cu_host, int nseq, int block_m, int2* tiles_host, int cap, bool longest_first = false);

// Pooling (0 = CLS, 1 = mean, 2 = last token) with optional L2 normalisation; fp32 output [nseq, H].
// An empty sequence (cu[i+1] == cu[i], a bucketed graph's padding) writes nothing (same for classifier_head).
void pool(DType dt, const void* hidden, int H, const int* cu, const int* skip, int nseq, int mode, bool normalize,
          float* out, cudaStream_t s);

// Cross-encoder head in fp32 on each sequence's first token: logits = Wc · act(Wp · h_0 + bp) + bc,
// act 0 = tanh (BERT pooler, RoBERTa classifier.dense), 1 = ReLU (DistilBERT pre_classifier); out [nseq, L].
void classifier_head(DType dt, const void* hidden, int H, const int* cu, int nseq, const float* Wp, const float* bp,
                     const float* Wc, const float* bc, int L, int act, float* out, cudaStream_t s);

// Full-corpus retrieval scoring (similarity_topk.cu): queries Q [nq, dim] against documents D
// [nd, dim] (fp32, host memory), dot product or cosine (rows normalised as torch's F.normalize),
// exact fp32 on `device`; per query the top min(k, nd) document indices and scores, best first,
// ties by lower index, into out_idx / out_scores [nq, min(k, nd)] (host). tile_docs / query_block
// > 0 override the tiling (tests); 0 picks it. Throws on NaN scores or non-positive sizes.
void similarity_topk(int device, const float* Q, int nq, const float* D, int nd, int dim, bool cosine, int k,
                     int tile_docs, int query_block, int* out_idx, float* out_scores);
// --- Decoder (Qwen3) ops -------------------------------------------------------------------
// out[t] = float(table[ids[t]]) for T tokens of H values: the fp32 residual stream's start.
void embedding_f32(DType dt, const int* ids, int T, const void* table, int H, float* out, cudaStream_t s);

// out[s, l] = W[l] · hidden[last token of s] in fp32 (W fp32 [L, H]; hidden rows [T, H] in dt); an
// empty sequence (a bucketed CUDA graph's padding) leaves its row unwritten.
void last_token_head(DType dt, const void* hidden, int H, const int* cu, int nseq, const float* W, int L, float* out, cudaStream_t s);

// RMSNorm over `rows` rows of `dim` values; row r at x + (r / per)·ld + (r % per)·dim (per = 1:
// hidden rows; per = heads: q_norm / k_norm over the heads of QKV rows), written likewise at
// ld_out. resid non-null (fp32 [rows, dim]): resid += x first (x null: nothing added) and the
// norm is of resid (fused add, vLLM's fused_add_rms_norm).
void rms_norm(DType dt, const void* x, int ld, int per, int rows, int dim, const void* w, float eps, float* resid,
              void* out, int ld_out, cudaStream_t s);

// transformers' inv_freq buffer, on the host: inv_freq_i = 1 / theta^(2i/d) for i < d / 2, with the
// exponent (2i as fp32) / d and the division in fp32 as its default RoPE init computes them on the
// CPU, and theta^x rounded once from double (a correctly rounded powf; the device's powf is off by
// up to 2 ulp, which at position 300 moves the angle by ~1e-5 rad and fp32 scores by ~1e-5).
std::vector<float> rope_inv_freq(int head_dim, float theta);

// NeoX rotary in place on `heads` heads of head_dim at row stride ld, positions per token, angle
// positions[t] · inv_freq[i] in fp32 (inv_freq: device, head_dim / 2 floats, rope_inv_freq).
void rotary_neox(DType dt, void* x, int ld, int heads, int head_dim, const int* positions, int T, const float* inv_freq, cudaStream_t s);

// cos/sin of NeoX rotary for each token's position: out[t, i] = (cos, sin)(positions[t] · inv_freq[i]),
// i < head_dim / 2, as rotary_neox. Computed once per step, read by every layer's qk_norm_rope.
void rope_table(const int* positions, int T, int head_dim, const float* inv_freq, float2* out, cudaStream_t s);

// Fused q_norm / k_norm + rotary in place on the first nh + nkv heads of QKV rows (row stride ld):
// RMSNorm of each head with q_w (query heads) or k_w (KV heads), then NeoX rotary by rope
// (rope_table, [T, head_dim / 2]). head_dim 64, 128 or 256.
void qk_norm_rope(DType dt, void* qkv, int ld, int nh, int nkv, int head_dim, const void* q_w, const void* k_w, float eps,
                  const float2* rope, int T, cudaStream_t s);

// out[t, n] = SiLU(gate_up[t, n]) · gate_up[t, I + n] (fused gate/up GEMM output [T, 2I]).
void swiglu(DType dt, const void* gate_up, int T, int I, void* out, cudaStream_t s);

// K (columns k_col…) and V (v_col…) of QKV rows into the paged caches [blocks, block_size, kv_heads, head_dim]
// at slot_mapping[t] (negative: skipped).
void kv_cache_write(DType dt, const void* qkv, int ld, int k_col, int v_col, int kv_heads, int head_dim, const int* slot_mapping, int T,
                    void* k_cache, void* v_cache, cudaStream_t s);

// GQA causal attention of a step's new tokens over the paged cache (their own K/V written first):
// sequence s has q_len = cu_q[s+1] − cu_q[s] new tokens (rows of q at row stride ld_q), the last of
// its ctx_len[s]; its token j sits at position ctx_len[s] − q_len + j and sees keys 0 … that
// position, read through block_tables[s · max_blocks + key / block_size] from caches
// [num_blocks, block_size, kv_heads, head_dim]; query head h reads KV head h / (heads / kv_heads).
// out [T, heads · head_dim] at row stride ld_out. fp16/bf16 at head_dim 64/128 run on tensor cores
// over tiles (device array, ntiles entries) built by attention_tiles with paged_attention_block_m
// (optionally ordered by paged_attention_order_tiles); every other case, rows not 16-byte aligned,
// and EMBEDRANK_PAGED_ATTENTION=warp run paged_attention_warp, which uses token_seq (device [T]:
// each token's sequence) and ignores tiles. A tile or token whose row lies past its sequence's q_len
// (an empty sequence: a bucketed CUDA graph's padding) writes nothing, so a graph may launch more
// tiles and rows than a step has. Throws std::invalid_argument on kv_heads not dividing heads,
// non-positive block_size / max_blocks, an unsupported head_dim, missing tiles.
void paged_attention(DType dt, const void* q, int ld_q, int heads, int kv_heads, int head_dim, const int* cu_q, const int* ctx_len,
                     const int* token_seq, int T, const int2* tiles, int ntiles, const void* k_cache, const void* v_cache,
                     const int* block_tables, int max_blocks, int block_size, float scale, void* out, int ld_out, cudaStream_t s);
// Query rows per tile the kernel serving (dt, head_dim) expects (for attention_tiles).
int paged_attention_block_m(DType dt, int head_dim);
// Whether EMBEDRANK_PAGED_ATTENTION=warp forces the CUDA-core kernel now (read on every call; part
// of a captured step's key, since a graph keeps the kernel it was captured with). Throws
// std::invalid_argument for a value other than auto or warp.
bool paged_attention_forced_warp();
// Sorts host tiles (from attention_tiles with block_m) so those whose last row sees the most keys
// launch first (shorter tail); cu_q_host [n+1], ctx_len_host [n]. Optional: any order is correct.
void paged_attention_order_tiles(int2* tiles_host, int ntiles, const int* cu_q_host, const int* ctx_len_host, int block_m);
// The CUDA-core kernel alone (one warp per token × query head; any dtype, head_dim a multiple of 32
// up to 256): paged_attention's fallback, and the reference path tests compare it with.
void paged_attention_warp(DType dt, const void* q, int ld_q, int heads, int kv_heads, int head_dim, const int* cu_q, const int* ctx_len,
                          const int* token_seq, int T, const void* k_cache, const void* v_cache, const int* block_tables, int max_blocks,
                          int block_size, float scale, void* out, int ld_out, cudaStream_t s);

// --- FP8 (e4m3) quantisation (quantize_fp8.cu), for quantization 'fp8' -------------------------
// Per row r of x [rows, K] (K % 8 == 0): scale[r] = amax(|x[r]|) / 448 (1 for an all-zero row) and
// q[r, k] = e4m3(x[r, k] · (1 / scale[r])), round to nearest even, saturating at ±448 (vLLM's
// dynamic per-token quantisation; on a PyTorch [out, in] weight: per-output-channel scales).
void quantize_fp8_rows(DType dt, const void* x, int rows, int K, uint8_t* q, float* scale, cudaStream_t s);
// Rows of gelu_erf(x + bias) quantised as quantize_fp8_rows does (the FFN-down GEMM's input), one
// pass over the FFN-up output instead of bias_gelu then quantize. N must pass _fits (≤ 12,224).
void bias_gelu_quantize_fp8(DType dt, const void* x, const void* bias, int T, int N, uint8_t* q, float* scale, cudaStream_t s);
bool bias_gelu_quantize_fp8_fits(int N);
// The FP8 GEMM's epilogue when cuBLASLt does not apply the scales: y[t, n] = acc[t, n] · x_scale[t]
// · w_scale[n] + bias[n] (bias may be null), acc fp32 [T, N], y in dt; N % 8 == 0.
// y[t, n] += bias[n] in place (y [T, N] in dt, N % 8 == 0): the FP8 GEMM's bias where cuBLASLt
// scales the output but refuses its bias epilogue with outer-vector scales.
void add_bias_rows(DType dt, void* y, const void* bias, int T, int N, cudaStream_t s);
void dequantize_fp8_gemm(DType dt, const float* acc, const float* x_scale, const float* w_scale, const void* bias, int T, int N,
                         void* y, cudaStream_t s);

// out[i] = Σ_r parts[r][i], r = 0 … n−1 in order, fp32 accumulation, one rounding to dt; count
// elements each; 1 ≤ n ≤ kMaxSumParts (else std::invalid_argument). out may not alias a part.
// The in-process all-reduce's reduction (local_comm.cu).
constexpr int kMaxSumParts = 8;
void sum_partials(DType dt, const void* const* parts, int n, size_t count, void* out, cudaStream_t s);

// Element-wise dtype conversion (same dtype: plain copy).
void convert(DType src, DType dst, const void* in, void* out, size_t n, cudaStream_t s);

}  // namespace er
