// Issue 10 on the GPU: the CUDA engine on models of every family written by transformers'
// save_pretrained and sentence-transformers on the GPU machine (scripts/gpu/family_models.py, the
// `families` phase of scripts/gpu/device-run.sh), fed the very token ids sentence-transformers fed
// PyTorch, against SentenceTransformer.encode / CrossEncoder.predict in float32:
//   embeddings  cosine ≥ 0.999999 fp32, ≥ 0.9999 fp16; bf16 at least as close as PyTorch's own
//               bf16 is to its fp32 (worst text); ragged batch, batch of 1, a text over the max
//               length (truncated by sentence-transformers; bge-m3's 8192 tokens for xlmr-large-8k)
//   rerankers   |score − CrossEncoder| ≤ 1e-5 fp32, ≤ 2e-3 fp16
// Pooling / normalisation come from the reference (what sentence-transformers used), so this checks
// the family layer and the kernels; the last block runs the whole chain from raw text (tokenizer and
// sentence-transformers reader included) and is reported separately.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CudaEngine } from '../../src/backends/cuda/engine.js';
import type { ComputeDtype } from '../../src/core/options.js';
import { CrossEncoder } from '../../src/cross-encoder.js';
import { Encoder } from '../../src/encoder.js';
import { loadModelFolder, type ModelFolder, type PoolingMode } from '../../src/model/folder.js';
import { GPU_MODELS } from '../../scripts/gpu/prepare.js';
import { batchOf, check as checkWithin, cosine, readJsonFile } from './helpers.js';

const check = (title: string, fn: () => Promise<void>) => checkWithin(title, fn, 600_000);

const ROOT = process.env.EMBEDRANK_FAMILY_MODELS ?? join(GPU_MODELS, 'families');
const MANIFEST = join(ROOT, 'families.json');

interface Entry { name: string; dir: string; kind: 'encoder' | 'cross-encoder' }
interface EncRef {
  texts: string[]; input_ids: number[][]; pooling: PoolingMode; normalize: boolean;
  embeddings_fp32: number[][]; torch_cos_bf16: number[]; torch_cos_fp16: number[]; batch1_fp32: number[][];
}
interface CeRef { pairs: [string, string][]; input_ids: number[][]; logits_fp32: number[][]; scores_fp32: number[]; scores_fp16: number[]; scores_bf16: number[] }

const json = readJsonFile;
const manifest: Entry[] = existsSync(MANIFEST) ? json<Entry[]>(MANIFEST) : [];




const say = (s: string) => process.stdout.write(`      ${s}\n`);
const EMB_TOL: Record<ComputeDtype, number> = { float32: 0.999999, float16: 0.9999, bfloat16: NaN };

async function engineFor(folder: ModelFolder, dtype: ComputeDtype, seqs: number[][]): Promise<CudaEngine> {
  const tokens = seqs.reduce((s, x) => s + x.length, 0);
  return CudaEngine.create(folder, { dtype, device: 0, rank: 0, worldSize: 1, maxTokens: Math.max(tokens, 16384), maxSeqs: Math.max(seqs.length, 8), slots: 1 });
}

describe('families on CUDA vs sentence-transformers / transformers (issue 10)', function () {
  this.timeout(1_800_000);
  before(function () {
    if (!manifest.length) {
      process.stdout.write(`    (no ${MANIFEST}: run the families phase of scripts/gpu/device-run.sh first)\n`);
      this.skip();
    }
  });

  for (const m of manifest.filter((e) => e.kind === 'encoder')) {
    describe(m.name, () => {
      for (const dtype of ['float32', 'float16', 'bfloat16'] as const) {
        check(`${dtype}: embeddings from sentence-transformers' ids (ragged, batch of 1, over-long text)`, async () => {
          const ref = json<EncRef>(join(m.dir, 'reference.json'));
          const base = loadModelFolder(m.dir);
          // The reference's pooling, not the folder reader's: this block tests family + kernels.
          const folder: ModelFolder = { ...base, st: { ...base.st, pooling: ref.pooling, normalize: ref.normalize } };
          const H = folder.dims.hidden;
          const engine = await engineFor(folder, dtype, ref.input_ids);
          try {
            const rows = await engine.embed(batchOf(ref.input_ids));
            const cos = ref.input_ids.map((_, i) => cosine(rows, ref.embeddings_fp32[i], i * H, H));
            const worst = Math.min(...cos);
            const at = cos.indexOf(worst);
            const longest = ref.input_ids.reduce((b, x, i) => (x.length > ref.input_ids[b].length ? i : b), 0);
            const one = await engine.embed(batchOf([ref.input_ids[0]]));
            const cOne = cosine(one, ref.batch1_fp32[0], 0, H);
            const long = await engine.embed(batchOf([ref.input_ids[longest]]));
            const cLong = cosine(long, ref.embeddings_fp32[longest], 0, H);
            const torchWorst = dtype === 'bfloat16' ? Math.min(...ref.torch_cos_bf16) : dtype === 'float16' ? Math.min(...ref.torch_cos_fp16) : 1;
            say(`${m.name} ${folder.family.name} ${dtype}: worst cosine ${worst.toFixed(8)} (text ${at}, ${ref.input_ids[at].length} tokens), batch of 1 ${cOne.toFixed(8)}, ` +
              `longest alone (${ref.input_ids[longest].length} tokens) ${cLong.toFixed(8)}; PyTorch's own ${dtype} worst ${torchWorst.toFixed(8)}`);
            const tol = dtype === 'bfloat16' ? torchWorst : EMB_TOL[dtype];
            expect(worst, `worst cosine, ragged batch`).to.be.at.least(tol);
            expect(cOne, 'batch of 1').to.be.at.least(tol);
            expect(cLong, 'the over-long text alone').to.be.at.least(tol);
          } finally {
            await engine.close();
          }
        });
      }
    });
  }

  for (const m of manifest.filter((e) => e.kind === 'cross-encoder')) {
    describe(m.name, () => {
      for (const [dtype, tol] of [['float32', 1e-5], ['float16', 2e-3], ['bfloat16', NaN]] as const) {
        check(`${dtype}: scores from CrossEncoder's ids${Number.isNaN(tol) ? ' (reported beside PyTorch bf16)' : ` within ${tol}`}`, async () => {
          const ref = json<CeRef>(join(m.dir, 'reference.json'));
          const folder = loadModelFolder(m.dir);
          const engine = await engineFor(folder, dtype, ref.input_ids);
          try {
            const got = await engine.score(batchOf(ref.input_ids), 'sigmoid');
            const d = Array.from(got, (g, i) => Math.abs(g - ref.scores_fp32[i]));
            expect(got.every(Number.isFinite), 'finite scores').to.equal(true);
            const worst = Math.max(...d);
            const logits = await engine.score(batchOf(ref.input_ids), 'identity');
            const dLogit = Math.max(...Array.from(logits, (g, i) => Math.abs(g - ref.logits_fp32[i][0])));
            const torchD = Math.max(...(dtype === 'bfloat16' ? ref.scores_bf16 : ref.scores_fp16).map((s, i) => Math.abs(s - ref.scores_fp32[i])));
            say(`${m.name} ${folder.family.name} ${dtype}: max |Δ score| ${worst.toExponential(2)} (pair ${d.indexOf(worst)}), max |Δ logit| vs transformers ${dLogit.toExponential(2)}; PyTorch's own ${dtype === 'float32' ? 'fp16' : dtype} ${torchD.toExponential(2)}`);
            if (Number.isNaN(tol)) expect(worst, 'bf16 no worse than PyTorch bf16 (with 2e-3 slack)').to.be.at.most(torchD + 2e-3);
            else expect(worst).to.be.at.most(tol);
          } finally {
            await engine.close();
          }
        });
      }
    });
  }

  describe('end to end from raw text (tokenizer layer + sentence-transformers reader + engine), fp32', () => {
    for (const m of manifest) {
      check(`${m.name}: ${m.kind === 'encoder' ? 'Encoder.encode' : 'CrossEncoder.predict'} = sentence-transformers`, async () => {
        if (m.kind === 'encoder') {
          const ref = json<EncRef>(join(m.dir, 'reference.json'));
          const enc = await Encoder.create({ model: m.dir, device: 'cuda', dtype: 'float32', maxNumSeqs: 64 });
          try {
            const rows = await enc.encode(ref.texts);
            const cos = ref.texts.map((_, i) => cosine(rows[i], ref.embeddings_fp32[i], 0, rows[i].length));
            say(`${m.name}: end-to-end worst cosine ${Math.min(...cos).toFixed(8)} (text ${cos.indexOf(Math.min(...cos))})`);
            expect(Math.min(...cos)).to.be.at.least(0.999999);
          } finally {
            await enc.close();
          }
        } else {
          const ref = json<CeRef>(join(m.dir, 'reference.json'));
          const ce = await CrossEncoder.create({ model: m.dir, device: 'cuda', dtype: 'float32' });
          try {
            const got = (await ce.predict(ref.pairs)) as Float32Array; // one label: one score per pair
            const worst = Math.max(...Array.from(got, (g, i) => Math.abs(g - ref.scores_fp32[i])));
            say(`${m.name}: end-to-end max |Δ score| ${worst.toExponential(2)}`);
            expect(worst).to.be.at.most(1e-5);
          } finally {
            await ce.close();
          }
        }
      });
    }
  });
});
