// The CUDA engine on folders sentence-transformers 6.0.1 saved itself (test/fixtures/hf, written
// by scripts/gpu/hf_fixtures.py), against the outputs sentence-transformers computed for them:
// embeddings (Dense and Normalize included) and cross-encoder scores, in fp32, fp16 and bf16.
// Folders of families this build does not load yet are reported as pending, not passed.
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CrossEncoder } from '../../src/cross-encoder.js';
import { Encoder } from '../../src/encoder.js';
import { loadModelFolder } from '../../src/model/folder.js';

const HF = join(process.cwd(), 'test/fixtures/hf');
const COS = { float32: 0.999999, float16: 0.9999, bfloat16: 0.999 } as const;
const ABS = { float32: 1e-5, float16: 2e-3, bfloat16: 1e-2 } as const;

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) throw new Error(`non-finite value at ${i}`);
    ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

describe('gpu: folders sentence-transformers saved, against its outputs', function () {
  this.timeout(600_000);
  const names = readdirSync(HF).filter((d) => existsSync(join(HF, d, 'reference.json')));
  for (const name of names) {
    const dir = join(HF, name);
    let loadable = true;
    try {
      loadModelFolder(dir);
    } catch {
      loadable = false;
    }
    for (const dtype of ['float32', 'float16', 'bfloat16'] as const) {
      it(`${name} ${dtype}`, async function () {
        if (!loadable) this.skip();
        const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8'));
        if (ref.texts) {
          const e = await Encoder.create({ model: dir, device: 'cuda', dtype });
          try {
            const got = await e.encode(ref.texts);
            const cos = got.map((r, i) => cosine(r, ref.embeddings[i]));
            const one = await e.encode(ref.texts.slice(0, 1));
            cos.push(cosine(one[0], ref.batch1[0]));
            const worst = Math.min(...cos);
            console.log(`      ${name} ${dtype}: worst cosine ${worst.toFixed(8)} over ${cos.length} (ragged, batch of 1, one over max length)`);
            expect(worst).to.be.at.least(COS[dtype]);
          } finally {
            await e.close();
          }
        } else {
          const ce = await CrossEncoder.create({ model: dir, device: 'cuda', dtype });
          try {
            const got = await ce.scoreMatrix(ref.pairs);
            const want = (ref.scores as Array<number | number[]>).flat();
            let worst = 0;
            for (let i = 0; i < want.length; i++) {
              if (!Number.isFinite(got[i])) throw new Error(`non-finite score ${i}`);
              worst = Math.max(worst, Math.abs(got[i] - want[i]));
            }
            console.log(`      ${name} ${dtype}: max |Δ| ${worst.toExponential(2)} over ${want.length} scores`);
            expect(worst).to.be.at.most(ABS[dtype]);
          } finally {
            await ce.close();
          }
        }
      });
    }
  }
});
