// Multi-GPU suite (needs ≥ 2 GPUs; TP=4 and DP=4 parts need 4): tensor-parallel shards and
// data-parallel replicas give the single-GPU answers, and a crashed replica loses no request.
import { expect } from 'chai';
import { join } from 'node:path';
import { loadAddon } from '../../src/backends/cuda/addon.js';
import { CrossEncoder } from '../../src/cross-encoder.js';
import { evaluate } from '../../src/eval/index.js';
import { Encoder } from '../../src/encoder.js';
import { GPU_MODELS, referencePairs, referenceTexts, stsSentences } from '../../scripts/gpu/prepare.js';
import { check as checkWithin } from './helpers.js';

const check = (title: string, fn: () => Promise<void>) => checkWithin(title, fn, 300_000);

function minCosine(a: Float32Array[], b: Float32Array[]): number {
  let worst = 1;
  a.forEach((x, r) => {
    let ab = 0, aa = 0, bb = 0;
    for (let d = 0; d < x.length; d++) {
      if (!Number.isFinite(x[d])) throw new Error(`row ${r}: non-finite value`);
      ab += x[d] * b[r][d]; aa += x[d] * x[d]; bb += b[r][d] * b[r][d];
    }
    worst = Math.min(worst, ab / Math.sqrt(aa * bb));
  });
  return worst;
}


async function encodeWith(model: string, texts: string[], opts: Record<string, unknown>): Promise<Float32Array[]> {
  const enc = await Encoder.create({ model, device: 'cuda', ...opts });
  try {
    return (await enc.encode(texts)).map((r) => r.slice());
  } finally {
    await enc.close();
  }
}

describe('multi-GPU: tensor and data parallelism', function () {
  const gpus = loadAddon().deviceCount();
  before(function () {
    if (gpus < 2) this.skip();
  });

  for (const name of ['bert-base', 'xlmr-large']) {
    check(`${name}: TP=2 and TP=4 equal TP=1 (fp16, cosine ≥ 0.9995), ragged texts up to the maximum length`, async () => {
      const dir = join(GPU_MODELS, name);
      const texts = referenceTexts();
      const one = await encodeWith(dir, texts, { dtype: 'float16', tensorParallelSize: 1, dataParallelSize: 1 });
      for (const tp of [2, 4].filter((k) => k <= gpus)) {
        const got = await encodeWith(dir, texts, { dtype: 'float16', tensorParallelSize: tp, dataParallelSize: 1, maxNumSeqs: 9 });
        const c = minCosine(got, one);
        process.stdout.write(`      ${name} TP=${tp} vs TP=1: worst cosine ${c.toFixed(7)}\n`);
        expect(c).to.be.at.least(0.9995);
      }
      const exact = await encodeWith(dir, texts, { dtype: 'float32', tensorParallelSize: 1, dataParallelSize: 1 });
      const tpExact = await encodeWith(dir, texts, { dtype: 'float32', tensorParallelSize: 2, dataParallelSize: 1 });
      const c32 = minCosine(tpExact, exact);
      process.stdout.write(`      ${name} TP=2 vs TP=1 fp32: worst cosine ${c32.toFixed(9)}\n`);
      expect(c32).to.be.at.least(0.999999);
    });
  }

  check('cross-encoder: TP=2 scores equal TP=1 (fp16, |Δ| ≤ 2e-3)', async () => {
    const dir = join(GPU_MODELS, 'cross-minilm');
    const pairs = referencePairs();
    const run = async (tp: number) => {
      const ce = await CrossEncoder.create({ model: dir, device: 'cuda', dtype: 'float16', tensorParallelSize: tp, dataParallelSize: 1 });
      try {
        return await ce.scoreMatrix(pairs);
      } finally {
        await ce.close();
      }
    };
    const a = await run(1);
    const b = await run(2);
    const d = Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));
    process.stdout.write(`      cross-encoder TP=2 vs TP=1: max |Δ| ${d.toExponential(2)}\n`);
    expect(d).to.be.at.most(2e-3);
  });

  check('DP over every GPU equals one GPU (fp32), in input order; a crashed replica loses nothing', async () => {
    const dir = join(GPU_MODELS, 'minilm-l6');
    const texts = stsSentences().slice(0, 6000);
    const one = await encodeWith(dir, texts, { dtype: 'float32', dataParallelSize: 1, maxNumSeqs: 64 });
    const all = await encodeWith(dir, texts, { dtype: 'float32', maxNumSeqs: 64 });
    const c = minCosine(all, one);
    process.stdout.write(`      DP=${gpus} vs DP=1: worst cosine ${c.toFixed(9)}\n`);
    expect(c).to.be.at.least(0.999999);
    const faulty = await encodeWith(dir, texts, { dtype: 'float32', maxNumSeqs: 64, faultInjection: { crashAfterBatches: 5 } });
    expect(minCosine(faulty, one)).to.be.at.least(0.999999);
  });

  check('evaluation through TP=2 and DP over every GPU gives one GPU\'s scores (STS12, AskUbuntuDupQuestions fixture)', async () => {
    const run = async (dir: string, kind: 'encoder' | 'cross-encoder', task: string, dataDir: string, opts: Record<string, unknown>) => {
      const model = kind === 'encoder'
        ? await Encoder.create({ model: dir, device: 'cuda', dtype: 'float16', ...opts })
        : await CrossEncoder.create({ model: dir, device: 'cuda', dtype: 'float16', ...opts });
      try {
        const r = await evaluate(model, [task], { dataDir, outputFolder: null, warnings: false });
        return r.task_results[0].scores.test[0] as unknown as Record<string, number>;
      } finally {
        await model.close();
      }
    };
    const sts = join(process.cwd(), 'data/sts');
    const askubuntu = join(process.cwd(), 'test/fixtures/eval/hf');
    for (const [dir, kind, task, data] of [
      [join(GPU_MODELS, 'bert-base'), 'encoder', 'STS12', sts],
      [join(GPU_MODELS, 'bert-base'), 'encoder', 'AskUbuntuDupQuestions', askubuntu],
      [join(GPU_MODELS, 'cross-minilm'), 'cross-encoder', 'AskUbuntuDupQuestions', askubuntu],
    ] as const) {
      const one = await run(dir, kind, task, data, { tensorParallelSize: 1, dataParallelSize: 1 });
      for (const opts of [{ tensorParallelSize: 2, dataParallelSize: 1 }, { tensorParallelSize: 1 }]) {
        const got = await run(dir, kind, task, data, opts);
        process.stdout.write(`      ${task} ${kind} ${JSON.stringify(opts)}: main ${got.main_score} vs ${one.main_score}\n`);
        if (task === 'STS12') expect(Math.abs(got.main_score - one.main_score)).to.be.at.most(1e-3);
        else for (const k of ['map_at_1000', 'mrr_at_10', 'ndcg_at_10']) expect(got[k], k).to.equal(one[k]);
      }
    }
  });
});
