// Inputs of the FP8 GPU suite (test/gpu/fp8.gpu.ts), shared with bench/fp8_ln_block_emulation.ts,
// which replays the LayerNorm+quantize case on the host with the same numbers.
import { Rng } from '../../scripts/make-test-model.js';

/** Rows of values exactly representable in fp16 and bf16 (8-bit integers × 2^k), one range per row. */
export function representableRows(rng: Rng, rows: number, K: number): Float32Array {
  const x = new Float32Array(rows * K);
  for (let r = 0; r < rows; r++) {
    const k = rng.int(-10, 4);
    for (let c = 0; c < K; c++) x[r * K + c] = rng.int(-255, 255) * 2 ** k;
  }
  if (rows > 2) {
    x.fill(0, 0, K); // an all-zero row: scale 1, codes 0
    x.fill(0, K, 2 * K);
    x[K + 5] = -3; // one value: it becomes ∓448 exactly
  }
  return x;
}

/**
 * Hidden sizes of the add_ln_quantize test, in its draw order: the one-warp-per-row kernel (≤ 1024),
 * then the block-per-row one (2048 first, as in the s4d run whose failure the emulation reproduces).
 */
export const ADD_LN_SIZES = [384, 768, 1024, 2048, 1536, 4096];

/** One add_ln_quantize case [T, H]: row 0 of x is zero (the sum is the residual alone), row 1 a single spike. */
export function addLnInputs(rng: Rng, T: number, H: number) {
  const x = representableRows(rng, T, H).map((v) => v / 64);
  const residual = representableRows(rng, T, H).map((v) => v / 64);
  x.fill(0, 0, H);
  const gamma = Float32Array.from({ length: H }, () => 1 + rng.int(-32, 32) / 256);
  const beta = Float32Array.from({ length: H }, () => rng.int(-32, 32) / 256);
  return { x, residual, gamma, beta, eps: 1e-12 };
}
