// Opt-in (EMBEDRANK_TEST_BIG=1): a model whose fp32 weights exceed protobuf's 2 GiB limit, so the
// CPU engine must go through ONNX external data. Needs ~1.2 GB of disk for the F16 checkpoint,
// ~2.3 GB of temporary disk during export and ~10 GB of memory (the float64 reference included).
import { expect } from 'chai';
import { Rng } from '../../scripts/make-test-model.js';
import { CpuEngine } from '../../src/backends/cpu/engine.js';
import { buildEncoderGraph, EXTERNAL_DATA_THRESHOLD } from '../../src/backends/cpu/export-onnx.js';
import { loadModelFolder } from '../../src/model/folder.js';
import { encoderHiddenF64, loadEncoderF64 } from '../../src/reference/encoder-f64.js';
import { maxAbsDiff, randomSequence, runSeed, testModel, toBatch } from './helpers.js';

const BIG = { hidden: 1024, layers: 42, heads: 16, intermediate: 4096, maxPositions: 64 };

describe('cpu/engine: a model over the 2 GiB protobuf limit (EMBEDRANK_TEST_BIG=1)', function () {
  this.timeout(1_200_000);
  before(function () {
    if (!process.env.EMBEDRANK_TEST_BIG) this.skip();
  });

  it('exports through external data and matches the float64 reference', async () => {
    const t0 = Date.now();
    const folder = loadModelFolder(testModel('big-f16', { shape: BIG, dtype: 'F16', seed: 3, std: 0.02 }));
    const bytes = buildEncoderGraph(folder).weightBytes;
    expect(bytes).to.be.above(EXTERNAL_DATA_THRESHOLD);
    const t1 = Date.now();
    const engine = await CpuEngine.create(folder);
    const t2 = Date.now();
    try {
      expect(engine.source).to.equal('export-external');
      const seed = runSeed();
      const rng = new Rng(seed);
      const seqs = [1, 6].map((l) => randomSequence(rng, l, folder.dims.vocab));
      const batch = toBatch(seqs);
      const hidden = await engine.lastHiddenState(batch);
      const ref = loadEncoderF64(folder);
      let worst = 0;
      seqs.forEach((s, i) => {
        const e = maxAbsDiff(hidden, encoderHiddenF64(ref, s.ids, s.typeIds), batch.cuSeqlens[i] * folder.dims.hidden, 0);
        worst = Math.max(worst, e);
        expect(e, `seed=${seed}`).to.be.at.most(1e-4);
      });
      process.stdout.write(
        `      fp32 weights ${(bytes / 2 ** 30).toFixed(2)} GiB; model ready in ${((t1 - t0) / 1000).toFixed(0)} s, ` +
          `session in ${((t2 - t1) / 1000).toFixed(0)} s; max error ${worst.toExponential(2)}\n`,
      );
    } finally {
      await engine.close();
    }
  });
});
