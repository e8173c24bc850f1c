// Result identity (issue 9 item 3): results are filed under mteb's {org__name}/{revision}/, where
// the revision of a hub model is its snapshot commit and that of a local folder a hash of its
// weights and configs, so two different folders both named `model` never share a results folder.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeTestModel } from '../../scripts/make-test-model.js';
import { Encoder } from '../../src/encoder.js';
import { parsePyJson } from '../../src/eval/index.js';
import { contentRevision, snapshotIdOf } from '../../src/model/revision.js';

const ROOT = process.cwd();
const BIN = join(ROOT, 'dist/src/cli/main.js');
const STS_FIXTURE = join(ROOT, 'test/fixtures/eval/sts');

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, EMBEDRANK_DISABLE_CUDA: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

describe('result identity: revision of a model folder', function () {
  this.timeout(180_000);
  const work = mkdtempSync(join(tmpdir(), 'embedrank-revision-'));
  // Two different models in two folders that are both called "model".
  const a = join(work, 'a', 'model');
  const b = join(work, 'b', 'model');
  makeTestModel({ shape: 'tiny', out: a, seed: 1, pooling: 'mean' });
  makeTestModel({ shape: 'tiny', out: b, seed: 2, pooling: 'mean' });

  it('is SHA-256 over "path\\0size\\0sha256\\n" of the weights and configs (README excluded), "local-" + 16 hex', async () => {
    // Expected value computed here from the files makeTestModel writes, listed by hand: the
    // definition in src/model/revision.ts, not its code.
    const files = ['1_Pooling/config.json', 'config.json', 'config_sentence_transformers.json', 'model.safetensors', 'modules.json', 'sentence_bert_config.json', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt']
      .filter((f) => existsSync(join(a, f)))
      .sort();
    expect(files).to.include.members(['config.json', 'model.safetensors', 'tokenizer.json']);
    const lines = files.map((f) => {
      const bytes = readFileSync(join(a, f));
      return `${f}\0${bytes.length}\0${sha(bytes)}\n`;
    });
    const expected = `local-${sha(lines.join('')).slice(0, 16)}`;
    expect(await contentRevision(a)).to.equal(expected);
    expect(existsSync(join(a, 'README.md'))).to.equal(true);
  });

  it('differs between two different folders of the same name, stays when the folder moves, changes with one weight byte', async () => {
    const ra = await contentRevision(a);
    const rb = await contentRevision(b);
    expect(ra).to.match(/^local-[0-9a-f]{16}$/);
    expect(rb).to.not.equal(ra);
    const moved = join(work, 'moved', 'elsewhere');
    cpSync(a, moved, { recursive: true });
    writeFileSync(join(moved, 'README.md'), 'a different model card\n'); // not part of the model
    expect(await contentRevision(moved)).to.equal(ra);
    const w = join(moved, 'model.safetensors');
    const bytes = readFileSync(w);
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(w, bytes);
    expect(await contentRevision(moved)).to.not.equal(ra);
  });

  it('remembers file digests on disk (EMBEDRANK_CACHE_DIR) and re-hashes a file whose stat data changed', async () => {
    const dir = join(work, 'cached', 'model');
    cpSync(a, dir, { recursive: true });
    const past = new Date(Date.now() - 3600_000);
    for (const f of readdirSync(dir, { recursive: true }) as string[]) utimesSync(join(dir, f), past, past);
    const cacheDir = join(work, 'digest-cache');
    const before = process.env.EMBEDRANK_CACHE_DIR;
    process.env.EMBEDRANK_CACHE_DIR = cacheDir;
    try {
      const r1 = await contentRevision(dir);
      expect(r1).to.equal(await contentRevision(a));
      const cache = JSON.parse(readFileSync(join(cacheDir, 'file-sha256.json'), 'utf8')) as Record<string, { digest: string }>;
      const w = join(dir, 'model.safetensors');
      expect(cache[realpathSync(w)].digest).to.equal(sha(readFileSync(w)));
      const bytes = readFileSync(w);
      bytes[bytes.length - 1] ^= 1;
      writeFileSync(w, bytes);
      const later = new Date(Date.now() - 1800_000);
      utimesSync(w, later, later);
      expect(await contentRevision(dir)).to.not.equal(r1);
    } finally {
      if (before === undefined) delete process.env.EMBEDRANK_CACHE_DIR;
      else process.env.EMBEDRANK_CACHE_DIR = before;
    }
  });

  it('a hub cache snapshot is filed under its commit and its org/name, whether given as an id or as the snapshot path', async () => {
    const cache = join(work, 'hub');
    const commit = '0123456789abcdef0123456789abcdef01234567';
    const snap = join(cache, 'models--test-org--tiny', 'snapshots', commit);
    mkdirSync(join(cache, 'models--test-org--tiny', 'refs'), { recursive: true });
    writeFileSync(join(cache, 'models--test-org--tiny', 'refs', 'main'), commit);
    cpSync(a, snap, { recursive: true });
    expect(snapshotIdOf(snap)).to.deep.equal({ repoId: 'test-org/tiny', commit });
    expect(snapshotIdOf(a)).to.equal(null);
    for (const model of ['test-org/tiny', snap]) {
      const enc = await Encoder.create({ model, cacheDir: cache, device: 'cpu', tokenizerThreads: 1 });
      try {
        expect(enc.meta.revision, model).to.equal(commit);
        expect(enc.meta.name, model).to.equal('test-org/tiny');
      } finally {
        await enc.close();
      }
    }
    const local = await Encoder.create({ model: a, device: 'cpu', tokenizerThreads: 1 });
    try {
      expect(local.meta.revision).to.equal(await contentRevision(a));
      expect(local.meta.name).to.equal('model');
    } finally {
      await local.close();
    }
  });

  it('`evaluate` on two different folders both named model writes two results (the second is not skipped); --revision labels a local folder', () => {
    const out = join(work, 'results');
    const scores: number[] = [];
    for (const dir of [a, b]) {
      const r = cli(['evaluate', '-m', dir, '-t', 'STS12', '--data-dir', STS_FIXTURE, '-o', out, '--device', 'cpu', '--tokenizer-threads', '1', '--max-num-batched-tokens', '512', '--max-num-seqs', '8']);
      expect(r.code, r.err).to.equal(0);
      expect(r.err + r.out).to.not.match(/skipped|\(cached\)/);
    }
    const revs = readdirSync(join(out, 'model')).sort();
    expect(revs).to.have.length(2);
    for (const rev of revs) {
      const json = parsePyJson(readFileSync(join(out, 'model', rev, 'STS12.json'), 'utf8')) as { scores: { test: Array<{ main_score: number }> } };
      scores.push(json.scores.test[0].main_score);
      const metaText = readFileSync(join(out, 'model', rev, 'model_meta.json'), 'utf8');
      const meta = JSON.parse(metaText) as { revision: string; loader_kwargs: Record<string, unknown> };
      expect(metaText).to.match(/"max_num_seqs": 8,\n/); // an int, as Python's json.dump writes it (not 8.0)
      expect(meta.revision).to.equal(rev);
      // The engine options given on the command line reach the engine and are recorded.
      expect(meta.loader_kwargs).to.include({ dtype: 'float32', max_num_batched_tokens: 512, max_num_seqs: 8, tensor_parallel_size: 1, data_parallel_size: 1, truncate: true });
    }
    expect(scores[0]).to.not.equal(scores[1]);
    const labelled = cli(['evaluate', '-m', a, '-t', 'STS12', '--data-dir', STS_FIXTURE, '-o', out, '--device', 'cpu', '--revision', 'v7', '--tokenizer-threads', '1']);
    expect(labelled.code, labelled.err).to.equal(0);
    expect(existsSync(join(out, 'model', 'v7', 'STS12.json'))).to.equal(true);
  });

  it('`evaluate` takes every engine option `encode` has, and refuses what the CPU cannot do before any task runs', () => {
    const help = cli(['evaluate', '--help']).out;
    const encodeHelp = cli(['encode', '--help']).out;
    const engineFlags = ['--revision', '--device', '--dtype', '--max-model-len', '--max-num-batched-tokens', '--max-num-seqs', '--tensor-parallel-size', '--data-parallel-size', '--truncate', '--tokenizer-threads'];
    for (const flag of engineFlags) {
      expect(encodeHelp, flag).to.include(flag);
      expect(help, flag).to.include(flag);
    }
    const r = cli(['evaluate', '-m', a, '-t', 'STS12', '--data-dir', STS_FIXTURE, '-o', join(work, 'tp'), '--device', 'cpu', '--tensor-parallel-size', '2']);
    expect(r.code).to.not.equal(0);
    expect(r.err).to.match(/tensorParallelSize and dataParallelSize > 1 need device "cuda"/);
    expect(existsSync(join(work, 'tp', 'model'))).to.equal(false);
  });
});
