// Bad input fails early and clearly (issue 9 item 4): every case below once failed late, hung,
// or printed nothing useful; each must now exit non-zero with a message naming the option or
// file, before any model work (a usage error exits 2, as yargs' own do).
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Encoder } from '../../src/encoder.js';
import { InputError } from '../../src/errors.js';
import { assertWritableFile, assertWritableFolder } from '../../src/io/writable.js';
import { testModel } from '../cpu/helpers.js';

const ROOT = process.cwd();
const BIN = join(ROOT, 'dist/src/cli/main.js');
const STS_FIXTURE = join(ROOT, 'test/fixtures/eval/sts');

function cli(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', input, timeout: 60_000, env: { ...process.env, EMBEDRANK_DISABLE_CUDA: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

describe('cli: bad input fails early and clearly', function () {
  this.timeout(120_000);
  const work = mkdtempSync(join(tmpdir(), 'embedrank-badinput-'));
  const encoderDir = testModel('tiny-mean', { shape: 'tiny', pooling: 'mean' });
  const crossDir = testModel('tiny-cross', { shape: 'tiny', kind: 'cross-encoder' });
  const docs = join(work, 'docs.txt');
  writeFileSync(docs, 'first document\nsecond document\nthird document\n');
  const aFile = join(work, 'a-file');
  writeFileSync(aFile, 'not a folder\n');

  it('--tokenizer-threads abc (was: exit 13, no output) and other non-integer engine options exit 2 naming the option', () => {
    for (const [flag, value] of [['--tokenizer-threads', 'abc'], ['--tokenizer-threads', '0'], ['--max-num-seqs', '2.5'], ['--max-num-batched-tokens', '-8'], ['--max-model-len', '1']]) {
      const r = cli(['encode', '-m', encoderDir, '-i', docs, '-o', join(work, 'x.npy'), flag, value]);
      expect(r.code, `${flag} ${value}: ${r.err}`).to.equal(2);
      expect(r.err).to.include(`${flag} must be an integer ≥`);
      expect(r.err).to.include('embedrank encode --help');
    }
    const ev = cli(['evaluate', '-m', encoderDir, '-t', 'STS12', '--tokenizer-threads', 'abc']);
    expect(ev.code).to.equal(2);
    expect(ev.err).to.include('--tokenizer-threads must be an integer ≥ 1');
  });

  it('--top-k -1 (was: silently dropped a document), 0 and abc (were: a blank line) exit 2; --top-k above the count prints all', () => {
    for (const k of ['-1', '0', 'abc', '1.5']) {
      const r = cli(['rerank', '-m', crossDir, '-q', 'a query', '-d', docs, '--top-k', k]);
      expect(r.code, `--top-k ${k}`).to.equal(2);
      expect(r.out).to.equal('');
      expect(r.err).to.include('--top-k must be an integer ≥ 1');
    }
    const all = cli(['rerank', '-m', crossDir, '-q', 'a query', '-d', docs, '--top-k', '10', '--device', 'cpu']);
    expect(all.code, all.err).to.equal(0);
    expect(all.out.trim().split('\n')).to.have.length(3);
    expect(all.err, 'no document was cut').to.not.match(/truncated/);
    // A document past the model's length is cut, as sentence-transformers does, and stderr says so.
    const long = join(work, 'long-docs.txt');
    writeFileSync(long, `short\n${'word '.repeat(400)}\n`);
    const cut = cli(['rerank', '-m', crossDir, '-q', 'a query', '-d', long, '--device', 'cpu']);
    expect(cut.code, cut.err).to.equal(0);
    expect(cut.out.trim().split('\n')).to.have.length(2);
    expect(cut.err).to.match(/1 of 2 \(query, document\) pairs truncated to \d+ tokens/);
  });

  it('a failing evaluate task prints its error once (was: on the progress line and again on exit), exit 1', () => {
    const empty = mkdtempSync(join(tmpdir(), 'embedrank-nodata-'));
    const r = spawnSync(process.execPath, [BIN, 'evaluate', '-m', encoderDir, '-t', 'STS13', '--data-dir', empty, '-o', join(work, 'res-fail')], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, EMBEDRANK_DISABLE_CUDA: '1', HF_HUB_OFFLINE: '1', HF_HUB_CACHE: join(work, 'no-hub-cache') },
    });
    expect(r.status, r.stderr).to.equal(1);
    expect(r.stderr).to.match(/STS13: failed\n/);
    expect(r.stderr.match(/no data for STS13/g), r.stderr).to.have.length(1);
  });

  it('an empty documents or texts file (was: a blank line) is an error naming the file', () => {
    const empty = join(work, 'empty.txt');
    writeFileSync(empty, '');
    const r = cli(['rerank', '-m', crossDir, '-q', 'a query', '-d', empty, '--device', 'cpu']);
    expect(r.code).to.equal(1);
    expect(r.out).to.equal('');
    expect(r.err).to.match(/empty\.txt has no documents/);
    const e = cli(['encode', '-m', encoderDir, '-i', empty, '-o', join(work, 'e.npy'), '--device', 'cpu']);
    expect(e.code).to.equal(1);
    expect(e.err).to.match(/empty\.txt has no texts/);
    expect(existsSync(join(work, 'e.npy'))).to.equal(false);
  });

  it('encode -o with another extension than .npy (was: NumPy bytes written to x.json) exits 2 before the model loads', () => {
    for (const name of ['x.json', 'x.JSONL', 'x.txt']) {
      const r = cli(['encode', '-m', encoderDir, '-i', docs, '-o', join(work, name), '--device', 'cpu']);
      expect(r.code, name).to.equal(2);
      expect(r.err).to.match(/encode writes a NumPy \.npy matrix/);
      expect(existsSync(join(work, name)), name).to.equal(false);
    }
    const ok = cli(['encode', '-m', encoderDir, '-i', docs, '-o', join(work, 'X.NPY'), '--device', 'cpu']);
    expect(ok.code, ok.err).to.equal(0);
  });

  it('an --output-folder that cannot be written fails before the model loads (was: ENOENT after the task ran)', () => {
    const out = join(aFile, 'results');
    const t0 = Date.now();
    const r = cli(['evaluate', '-m', encoderDir, '-t', 'STS12', '--data-dir', STS_FIXTURE, '-o', out, '--device', 'cpu']);
    expect(r.code).to.equal(1);
    expect(r.err).to.include(`--output-folder ${out} cannot be created: ${aFile} is a file`);
    expect(r.err).to.not.match(/STS12: evaluating|ENOENT/);
    expect(Date.now() - t0).to.be.lessThan(30_000);
    const npy = cli(['encode', '-m', encoderDir, '-i', docs, '-o', join(aFile, 'x.npy'), '--device', 'cpu']);
    expect(npy.code).to.equal(1);
    expect(npy.err).to.include(`--output ${join(aFile, 'x.npy')}: ${aFile} is a file`);
    const missing = cli(['rerank', '-m', crossDir, '-q', 'q', '-d', docs, '-o', join(work, 'no', 'such', 'out.jsonl'), '--device', 'cpu']);
    expect(missing.code).to.equal(1);
    expect(missing.err).to.match(/--output .*out\.jsonl: folder .*no\/such does not exist/);
  });

  it('a read-only --output-folder fails before any task runs (as root: run as user nobody through setpriv)', function () {
    // Permissions do not bind root, so as root the command runs as nobody when setpriv exists.
    const asNobody = ['--reuid=65534', '--regid=65534', '--clear-groups'];
    const hasSetpriv = spawnSync('setpriv', [...asNobody, 'true']).status === 0;
    if (isRoot && !hasSetpriv) this.skip();
    chmodSync(work, 0o755); // mkdtemp makes it 0700
    const ro = join(work, 'ro');
    mkdirSync(ro);
    chmodSync(ro, 0o555);
    try {
      const args = [BIN, 'evaluate', '-m', encoderDir, '-t', 'STS12', '--data-dir', STS_FIXTURE, '-o', join(ro, 'results'), '--device', 'cpu'];
      const env = { ...process.env, EMBEDRANK_DISABLE_CUDA: '1' };
      const r = isRoot
        ? spawnSync('setpriv', [...asNobody, process.execPath, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...env, HOME: tmpdir() } })
        : spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', env });
      expect(r.status, r.stderr).to.equal(1);
      expect(r.stderr).to.include(`--output-folder ${join(ro, 'results')} cannot be created: ${ro} is not writable by this user`);
      expect(r.stderr).to.not.match(/evaluating|ENOENT/);
      expect(readdirSync(ro)).to.deep.equal([]);
    } finally {
      chmodSync(ro, 0o755);
    }
  });

  it('a missing --data-dir (was: the model loaded first) and an unknown task type exit 2 naming them', () => {
    const r = cli(['evaluate', '-m', encoderDir, '-t', 'STS12', '--data-dir', join(work, 'no-such-data'), '-o', join(work, 'r')]);
    expect(r.code).to.equal(2);
    expect(r.err).to.include(`--data-dir ${join(work, 'no-such-data')} is not a folder`);
    expect(r.err).to.not.match(/evaluating/);
    const t = cli(['tasks', '--type', 'foo']);
    expect(t.code).to.equal(2);
    expect(t.err).to.match(/unknown task type "foo" \(known: [A-Za-z, ]*STS/);
  });

  it('--prompt-name takes any prompt the model defines and refuses others, naming the ones it has; --onnx-file must exist', () => {
    const prompts = (JSON.parse(readFileSync(join(encoderDir, 'config_sentence_transformers.json'), 'utf8')) as { prompts: Record<string, string> }).prompts;
    const names = Object.keys(prompts);
    expect(names.length).to.be.greaterThan(0);
    const ok = cli(['encode', '-m', encoderDir, '-i', docs, '-o', join(work, 'p.npy'), '--device', 'cpu', '--prompt-name', names[0]]);
    expect(ok.code, ok.err).to.equal(0);
    const bad = cli(['encode', '-m', encoderDir, '-i', docs, '-o', join(work, 'p.npy'), '--device', 'cpu', '--prompt-name', 'no-such-prompt']);
    expect(bad.code).to.equal(1);
    expect(bad.err).to.include(`prompt name "no-such-prompt" is not one of the model's prompts (${names.join(', ')})`);
    const onnx = cli(['encode', '-m', encoderDir, '-i', docs, '-o', join(work, 'p.npy'), '--device', 'cpu', '--onnx-file', join(work, 'missing.onnx')]);
    expect(onnx.code).to.equal(1);
    expect(onnx.err).to.include(`${join(work, 'missing.onnx')} does not exist`);
  });

  it('a model of the wrong kind names the command that takes it', () => {
    const r = cli(['rerank', '-m', encoderDir, '-q', 'q', '-d', docs, '--device', 'cpu']);
    expect(r.code).to.equal(1);
    expect(r.err).to.match(/is an embedding model \(BertModel\), not a cross-encoder: use Encoder for it \(`embedrank encode`\)/);
  });

  it('`encode -i -` reads stdin (CR-only line ends, a UTF-8 BOM); a UTF-16 file is refused', () => {
    const out = join(work, 'stdin.npy');
    const r = cli(['encode', '-m', encoderDir, '-i', '-', '-o', out, '--device', 'cpu'], '\uFEFFone\rtwo\rthree\r');
    expect(r.code, r.err).to.equal(0);
    expect(r.err).to.match(/3 texts → .*\[3, 64\]/);
    const utf16 = join(work, 'u16.txt');
    writeFileSync(utf16, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('hello\n', 'utf16le')]));
    const bad = cli(['encode', '-m', encoderDir, '-i', utf16, '-o', out, '--device', 'cpu']);
    expect(bad.code).to.equal(1);
    expect(bad.err).to.match(/u16\.txt is UTF-16 \(little-endian\)/);
  });
});

describe('API: engine options are validated before anything loads', function () {
  this.timeout(60_000);
  const encoderDir = testModel('tiny-mean', { shape: 'tiny', pooling: 'mean' });

  it('tokenizerThreads: NaN (was: encode never settled) and other bad numbers reject with an InputError naming the option', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ tokenizerThreads: NaN }, /options\.tokenizerThreads must be an integer ≥ 1, got NaN/],
      [{ tokenizerThreads: '4' }, /options\.tokenizerThreads must be an integer ≥ 1, got "4"/],
      [{ maxNumSeqs: 0 }, /options\.maxNumSeqs must be an integer ≥ 1, got 0/],
      [{ cpuThreads: 1.5 }, /options\.cpuThreads must be an integer ≥ 1, got 1\.5/],
      [{ truncate: 'no' }, /options\.truncate must be true or false/],
      [{ devices: [0, 0] }, /options\.devices lists a GPU twice/],
    ];
    for (const [extra, message] of cases) {
      const enc = new Encoder({ model: encoderDir, device: 'cpu', ...extra } as never);
      const settled = await Promise.race([
        enc.encode(['a text']).then(() => 'resolved', (e: unknown) => e),
        new Promise((r) => setTimeout(() => r('unsettled after 20 s'), 20_000)),
      ]);
      expect(settled, JSON.stringify(extra)).to.be.instanceOf(InputError);
      expect((settled as Error).message).to.match(message);
      await enc.close();
    }
  });
});

describe('io/writable', () => {
  const work = mkdtempSync(join(tmpdir(), 'embedrank-writable-'));
  const aFile = join(work, 'f');
  writeFileSync(aFile, '');

  it('accepts a folder to create under a writable one, and an existing writable file; creates nothing', () => {
    assertWritableFolder(join(work, 'new', 'deeper'));
    assertWritableFile(join(work, 'out.npy'));
    assertWritableFile(aFile);
    expect(readdirSync(work)).to.deep.equal(['f']);
  });

  it('refuses a folder path through a file, a file where a folder is wanted and the reverse', () => {
    expect(() => assertWritableFolder(join(aFile, 'x'), 'results')).to.throw(InputError, `results ${join(aFile, 'x')} cannot be created: ${aFile} is a file`);
    expect(() => assertWritableFolder(aFile)).to.throw(InputError, /exists but is not a folder/);
    expect(() => assertWritableFile(work)).to.throw(InputError, /is a folder; give a file name/);
  });
});
