// The `embedrank` command end to end, as a user runs it: encode → .npy, rerank, evaluate over
// the bundled SemEval 2012 files (and resume), help texts; and the README's examples as written.
import { expect } from 'chai';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Encoder } from '../../src/encoder.js';
import { parsePyJson } from '../../src/eval/index.js';
import { readNpyF32 } from '../../src/io/npy.js';
import { contentRevision } from '../../src/model/revision.js';
import { testModel } from '../cpu/helpers.js';

const ROOT = process.cwd();
const BIN = join(ROOT, 'dist/src/cli/main.js');
const STS = join(ROOT, 'data/sts');
const ASKUBUNTU = join(ROOT, 'test/fixtures/eval/hf');

function cli(args: string[], cwd = ROOT) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, EMBEDRANK_DISABLE_CUDA: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function hasNumpy(): boolean {
  return spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;
}

describe('cli: embedrank', function () {
  this.timeout(180_000);
  const work = mkdtempSync(join(tmpdir(), 'embedrank-cli-'));
  const encoderDir = testModel('tiny-mean', { shape: 'tiny', pooling: 'mean' });
  const crossDir = testModel('tiny-cross', { shape: 'tiny', kind: 'cross-encoder' });
  const texts = readFileSync(join(STS, '2012/SMTnews.test.tsv'), 'utf8').split('\n').filter(Boolean).map((l) => l.split('\t')[1]);

  it('encode writes an .npy that numpy loads as [n, dim] float32, equal to Encoder.encode', async () => {
    const input = join(work, 'texts.txt');
    writeFileSync(input, texts.join('\n') + '\n');
    const out = join(work, 'emb.npy');
    const r = cli(['encode', '-m', encoderDir, '-i', input, '-o', out, '--device', 'cpu']);
    expect(r.code, r.err).to.equal(0);
    const npy = readNpyF32(out);
    expect(npy.shape).to.deep.equal([texts.length, 64]);
    const enc = await Encoder.create({ model: encoderDir, device: 'cpu' });
    try {
      const rows = await enc.encode(texts);
      let worst = 0;
      rows.forEach((row, i) => row.forEach((v, d) => (worst = Math.max(worst, Math.abs(v - npy.data[i * 64 + d])))));
      expect(worst).to.be.lessThan(1e-6);
    } finally {
      await enc.close();
    }
    if (hasNumpy()) {
      const py = execFileSync('python3', ['-c', `import numpy as np; a = np.load(${JSON.stringify(out)}); print(list(a.shape), a.dtype, float(a[3, 5]), sep=';')`], { encoding: 'utf8' });
      const [shape, dtype, value] = py.trim().split(';');
      expect(`${shape} ${dtype}`).to.equal(`[${texts.length}, 64] float32`);
      expect(Number(value)).to.be.closeTo(npy.data[3 * 64 + 5], 1e-7);
    }
  });

  it('encode reads "-" from a pipe that is still empty when it starts (no EAGAIN from a non-blocking stdin)', async () => {
    const out = join(work, 'stdin.npy');
    const child = spawn(process.execPath, [BIN, 'encode', '-m', encoderDir, '-i', '-', '-o', out, '--device', 'cpu'], {
      env: { ...process.env, EMBEDRANK_DISABLE_CUDA: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    // The texts arrive only after the CLI has loaded and read fd 0, so its first read finds the pipe empty.
    setTimeout(() => child.stdin.end(texts.slice(0, 5).join('\n') + '\n'), 1500);
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code, err).to.equal(0);
    expect(readNpyF32(out).shape[0]).to.equal(5);
  });

  it('encode reads JSON Lines with a field and applies the model prompt', () => {
    const input = join(work, 'texts.jsonl');
    writeFileSync(input, texts.slice(0, 5).map((t) => JSON.stringify({ id: 1, body: t })).join('\n'));
    const a = join(work, 'a.npy');
    const b = join(work, 'b.npy');
    expect(cli(['encode', '-m', encoderDir, '-i', input, '-o', a, '--field', 'body', '--device', 'cpu']).code).to.equal(0);
    expect(cli(['encode', '-m', encoderDir, '-i', input, '-o', b, '--field', 'body', '--prompt-name', 'query', '--device', 'cpu']).code).to.equal(0);
    expect(readNpyF32(a).shape).to.deep.equal([5, 64]);
    expect(readNpyF32(a).data[0]).to.not.equal(readNpyF32(b).data[0]);
    // --prompt-type query picks the same prompt through encode_query's rule; an unknown prompt name is an error.
    const c = join(work, 'c.npy');
    expect(cli(['encode', '-m', encoderDir, '-i', input, '-o', c, '--field', 'body', '--prompt-type', 'query', '--device', 'cpu']).code).to.equal(0);
    expect(Array.from(readNpyF32(c).data)).to.deep.equal(Array.from(readNpyF32(b).data));
    const unknown = cli(['encode', '-m', encoderDir, '-i', input, '-o', c, '--field', 'body', '--prompt-name', 'passage', '--device', 'cpu']);
    expect(unknown.code).to.not.equal(0);
    expect(unknown.err).to.match(/prompt name "passage" is not one of the model's prompts/);
    const bad = join(work, 'bad.jsonl');
    writeFileSync(bad, '{"other": 1}\n');
    const r = cli(['encode', '-m', encoderDir, '-i', bad, '-o', a, '--device', 'cpu']);
    expect(r.code).to.not.equal(0);
    expect(r.err).to.match(/bad\.jsonl:1: expected a JSON string or an object with a string "text" field/);
  });

  it('rerank prints JSON lines sorted by score with every document once', () => {
    const docs = join(work, 'docs.txt');
    writeFileSync(docs, texts.slice(0, 12).join('\n'));
    const r = cli(['rerank', '-m', crossDir, '-q', texts[20], '-d', docs, '--device', 'cpu']);
    expect(r.code, r.err).to.equal(0);
    const rows = r.out.trim().split('\n').map((l) => JSON.parse(l) as { rank: number; index: number; score: number });
    expect(rows.map((x) => x.index).sort((x, y) => x - y)).to.deep.equal([...Array(12).keys()]);
    for (let i = 1; i < rows.length; i++) expect(rows[i].score).to.be.at.most(rows[i - 1].score);
    rows.forEach((x) => expect(x.score).to.be.within(0, 1));
  });

  it('evaluate writes an mteb STS12.json from the real SemEval 2012 files and skips it when run again', async () => {
    const out = join(work, 'results');
    const first = cli(['evaluate', '-m', encoderDir, '-t', 'STS12', '--data-dir', STS, '--output-folder', out, '--device', 'cpu']);
    expect(first.code, first.err).to.equal(0);
    const file = join(out, 'cpu-v1-tiny-mean', await contentRevision(encoderDir), 'STS12.json');
    expect(existsSync(file), `${file} missing; stderr: ${first.err}`).to.equal(true);
    const json = JSON.parse(readFileSync(file, 'utf8'));
    expect(json.task_name).to.equal('STS12');
    expect(json.dataset_revision).to.equal('a0d554a64d88156834ff5ae9920b964011b16384');
    expect(json.scores.test[0].main_score).to.equal(json.scores.test[0].cosine_spearman);
    expect(first.err).to.match(/MSRvid/);
    const before = statSync(file).mtimeMs;
    const again = cli(['evaluate', '-m', encoderDir, '-t', 'STS12', '--data-dir', STS, '--output-folder', out, '--device', 'cpu']);
    expect(again.code, again.err).to.equal(0);
    expect(statSync(file).mtimeMs).to.equal(before);
    expect(again.err + again.out).to.match(/skip/i);
  });

  it('evaluate scores a bi-encoder and a cross-encoder on the AskUbuntuDupQuestions-format fixture (map_at_1000 main score)', async () => {
    const out = join(work, 'rerank-results');
    for (const [dir, name] of [[encoderDir, 'cpu-v1-tiny-mean'], [crossDir, 'cpu-v1-tiny-cross']] as const) {
      const r = cli(['evaluate', '-m', dir, '-t', 'AskUbuntuDupQuestions', '--data-dir', ASKUBUNTU, '--output-folder', out, '--device', 'cpu']);
      expect(r.code, r.err).to.equal(0);
      // mteb writes NaN (Python's json) where a metric is undefined, e.g. nAUC with one query.
      const json = parsePyJson(readFileSync(join(out, name, await contentRevision(dir), 'AskUbuntuDupQuestions.json'), 'utf8')) as { scores: { test: Array<Record<string, number>> } };
      const s = json.scores.test[0];
      expect(s.main_score).to.equal(s.map_at_1000);
      expect(s.main_score).to.be.within(0, 1);
      expect(s).to.have.property('mrr_at_10');
      expect(s).to.have.property('ndcg_at_10');
    }
  });

  it('--help explains every command and exits 0; a bad call exits non-zero with a message', () => {
    for (const cmd of [[], ['encode'], ['rerank'], ['evaluate'], ['tasks']]) {
      const r = cli([...cmd, '--help']);
      expect(r.code).to.equal(0);
      expect(r.out).to.match(/Options:/);
    }
    expect(cli(['encode', '--help']).out).to.match(/--max-num-batched-tokens/);
    const bad = cli(['encode', '-m', encoderDir]);
    expect(bad.code).to.not.equal(0);
    expect(bad.err).to.match(/Missing required argument/);
  });
});

describe('README examples run as written', function () {
  this.timeout(180_000);
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const tsx = join(ROOT, 'node_modules/.bin/tsx');

  for (const [file, model, data, task] of [
    ['examples/encoder.ts', () => testModel('tiny-mean', { shape: 'tiny', pooling: 'mean' }), STS, 'STS12'],
    ['examples/cross-encoder.ts', () => testModel('tiny-cross', { shape: 'tiny', kind: 'cross-encoder' }), ASKUBUNTU, 'AskUbuntuDupQuestions'],
  ] as const) {
    it(`${file} is in the README verbatim and evaluates ${task}`, () => {
      const src = readFileSync(join(ROOT, file), 'utf8');
      expect(readme).to.include(src.trim());
      const cwd = mkdtempSync(join(tmpdir(), 'embedrank-example-'));
      const out = execFileSync(tsx, [join(ROOT, file)], {
        cwd,
        encoding: 'utf8',
        env: { ...process.env, MODEL: model(), DATA_DIR: data, EMBEDRANK_DISABLE_CUDA: '1' },
      });
      expect(out).to.include(task);
      expect(out).to.match(/task_results/);
      expect(out).to.not.match(/exceptions: \[\s*\{/);
    });
  }
});
