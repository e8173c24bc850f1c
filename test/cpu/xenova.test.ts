// Cross-check against an independent implementation: @huggingface/transformers (Transformers.js
// v4, the maintained successor of @xenova/transformers: its own tokenizer, its own mean pooling
// and normalisation, onnxruntime-node 1.30 as the project) running the ONNX file we export.
import { expect } from 'chai';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { CpuEngine } from '../../src/backends/cpu/engine.js';
import { writeOnnxToModelFolder } from '../../src/backends/cpu/export-onnx.js';
import { loadModelFolder } from '../../src/model/folder.js';
import { cosine, testModel, toBatch } from './helpers.js';

const STS = 'data/sts/2012/MSRpar.test.tsv';

function sentences(n: number): string[] {
  if (!existsSync(STS)) {
    return ['A man is playing a guitar.', 'The cat sat on the mat, didn’t it?', 'Stocks fell 3.5% on Tuesday.', 'Hello world.'];
  }
  const out: string[] = [];
  for (const line of readFileSync(STS, 'utf8').split('\n')) {
    const cols = line.split('\t');
    if (cols.length >= 3) out.push(cols[1], cols[2]);
    if (out.length >= n) break;
  }
  return out;
}

describe('cpu/transformers.js: exported ONNX vs @huggingface/transformers feature-extraction', function () {
  this.timeout(120_000);
  let work: string;
  let modelDir: string;

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'embedrank-xenova-'));
    modelDir = join(work, 'tiny-st');
    cpSync(testModel('small-mean-norm', { shape: { hidden: 128, layers: 2, heads: 4, intermediate: 256, maxPositions: 160 }, pooling: 'mean', normalize: true, seed: 31 }), modelDir, { recursive: true });
    writeOnnxToModelFolder(loadModelFolder(modelDir));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('mean-pooled normalised embeddings agree (cosine ≥ 0.99999) on real sentences, from Transformers.js’ own token ids', async () => {
    const { pipeline, env, AutoTokenizer } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.useFSCache = false;
    env.useBrowserCache = false;
    env.localModelPath = dirname(modelDir) + '/';
    const id = basename(modelDir);
    const extractor = await pipeline('feature-extraction', id, { local_files_only: true, dtype: 'fp32' });
    const tokenizer = await AutoTokenizer.from_pretrained(id, { local_files_only: true });

    const folder = loadModelFolder(modelDir);
    expect(folder.onnxFile).to.equal(join(modelDir, 'onnx', 'model.onnx'));
    const fromFolder = await CpuEngine.create(folder, { onnxFile: folder.onnxFile }); // runs onnx/model.onnx, asked for by path
    const exported = await CpuEngine.create(folder); // the default: exports model.safetensors in memory
    expect(fromFolder.source).to.equal('folder');
    expect(exported.source).to.equal('export-memory');
    try {
      const texts = sentences(8);
      const H = folder.dims.hidden;
      const xen = await extractor(texts, { pooling: 'mean', normalize: true });
      expect(xen.dims).to.deep.equal([texts.length, H]);
      const seqs = texts.map((t) => {
        const enc = tokenizer(t);
        return { ids: Array.from(enc.input_ids.data as BigInt64Array, Number), typeIds: Array.from(enc.token_type_ids!.data as BigInt64Array, Number) };
      });
      for (const s of seqs) expect(s.ids[0]).to.equal(101);
      // Length-sorted, as the scheduler sends them.
      const order = seqs.map((_, i) => i).sort((a, b) => seqs[a].ids.length - seqs[b].ids.length);
      const batch = toBatch(order.map((i) => seqs[i]));
      for (const engine of [fromFolder, exported]) {
        const ours = await engine.embed(batch);
        order.forEach((orig, row) => {
          const c = cosine(ours, xen.data as Float32Array, row * H, orig * H, H);
          expect(c, `${engine.source}: "${texts[orig]}"`).to.be.at.least(0.99999);
        });
      }
    } finally {
      await fromFolder.close();
      await exported.close();
    }
  });
});
