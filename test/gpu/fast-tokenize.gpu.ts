// The fast tokenizer path (EMBEDRANK_FAST_TOKENIZE=1: ids packed in the workers, each distinct
// text tokenized once) against the default path on the GPU: every SemEval STS sentence through
// MiniLM-L6, fp32 and fp16, row by row. Ids are identical (test/tokenize checks that on the CPU);
// batches differ (repeats are scheduled next to their first occurrence), so rows agree to the
// suite's cosine tolerance rather than bit for bit. Run: npm run test:gpu, or
//   npx mocha --no-config --timeout 900000 dist/test/gpu/fast-tokenize.gpu.js
import { expect } from 'chai';
import { join } from 'node:path';
import { Encoder } from '../../src/encoder.js';
import { GPU_MODELS, stsSentences } from '../../scripts/gpu/prepare.js';
import { check, cosine } from './helpers.js';

const TOL = { float32: 0.999999, float16: 0.9995 } as const;

describe('gpu: fast tokenizer path = default path (MiniLM-L6, all STS sentences)', () => {
  const saved = process.env.EMBEDRANK_FAST_TOKENIZE;
  afterEach(() => {
    if (saved === undefined) delete process.env.EMBEDRANK_FAST_TOKENIZE;
    else process.env.EMBEDRANK_FAST_TOKENIZE = saved;
  });

  for (const dtype of ['float32', 'float16'] as const) {
    check(`${dtype}: every row matches (cosine ≥ ${TOL[dtype]}), finite, same truncation count`, async () => {
      const model = join(GPU_MODELS, 'minilm-l6');
      const texts = stsSentences();
      expect(texts.length, 'STS sentences found (EMBEDRANK_STS_DIR)').to.be.greaterThan(50_000);
      const rows: Record<string, { m: Float32Array; truncated: number }> = {};
      for (const path of ['default', 'fast']) {
        if (path === 'fast') process.env.EMBEDRANK_FAST_TOKENIZE = '1';
        else delete process.env.EMBEDRANK_FAST_TOKENIZE;
        const enc = await Encoder.create({ model, device: 'cuda', dtype, maxNumSeqs: 256 });
        try {
          rows[path] = { m: await enc.embedMatrix(texts), truncated: enc.lastTruncated };
        } finally {
          await enc.close();
        }
      }
      const dim = rows.default.m.length / texts.length;
      let worst = 1;
      for (let r = 0; r < texts.length; r++) {
        // cosine() throws on a non-finite value of the engine output (the fast path's rows).
        const c = cosine(rows.fast.m, rows.default.m.subarray(r * dim, (r + 1) * dim), r * dim, dim);
        if (!(c >= worst)) worst = c;
      }
      expect(worst, 'worst row cosine').to.be.at.least(TOL[dtype]);
      expect(rows.fast.truncated).to.equal(rows.default.truncated);
    });
  }
});
