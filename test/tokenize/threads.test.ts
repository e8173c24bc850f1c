// The thread sizing of the fast tokenizer path (src/tokenize/threads.ts): what it sets, what it
// leaves alone, and that the CommonJS bin entry really enlarges libuv's pool of the process.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configureLaunch, configureTokenizerThreads, dedupeEnabled, defaultTokenizerThreads, fastTokenizeEnabled, tokenizerThreadsArg } from '../../src/tokenize/threads.js';

describe('tokenize/threads: libuv and rayon sizing for the fast tokenizer path', () => {
  it('sets UV_THREADPOOL_SIZE to workers + 4 and TOKENIZERS_PARALLELISM=false when neither is set', () => {
    const env: NodeJS.ProcessEnv = {};
    expect(configureTokenizerThreads(12, env)).to.deep.equal({ UV_THREADPOOL_SIZE: '16', TOKENIZERS_PARALLELISM: 'false' });
    expect(env).to.deep.equal({ UV_THREADPOOL_SIZE: '16', TOKENIZERS_PARALLELISM: 'false' });
    expect(configureTokenizerThreads(5000, {}).UV_THREADPOOL_SIZE).to.equal('1024');
  });

  it("leaves the user's settings alone: their UV_THREADPOOL_SIZE means nothing is touched; their TOKENIZERS_PARALLELISM is kept while the pool is still sized", () => {
    const uv: NodeJS.ProcessEnv = { UV_THREADPOOL_SIZE: '8' };
    expect(configureTokenizerThreads(16, uv)).to.deep.equal({});
    expect(uv).to.deep.equal({ UV_THREADPOOL_SIZE: '8' });
    for (const par of ['true', 'false']) {
      const env: NodeJS.ProcessEnv = { TOKENIZERS_PARALLELISM: par };
      expect(configureTokenizerThreads(16, env)).to.deep.equal({ UV_THREADPOOL_SIZE: '20' });
      expect(env).to.deep.equal({ TOKENIZERS_PARALLELISM: par, UV_THREADPOOL_SIZE: '20' });
    }
  });

  it('defaults the tokenizer workers to every core on the CPU and leaves the main, assembly and one executor thread per GPU their cores with CUDA', () => {
    expect(defaultTokenizerThreads('cpu', 0, 16)).to.equal(16);
    expect(defaultTokenizerThreads('cpu', 0, 2)).to.equal(2);
    expect(defaultTokenizerThreads('cuda', 1, 16)).to.equal(13);
    expect(defaultTokenizerThreads('cuda', 8, 128)).to.equal(118);
    expect(defaultTokenizerThreads('cuda', 1, 2)).to.equal(1);
    expect(defaultTokenizerThreads('cuda', 4, 4)).to.equal(1);
    for (const c of [0, -2, 1.5, NaN]) expect(() => defaultTokenizerThreads('cuda', 1, c)).to.throw(RangeError, /cores/);
    for (const g of [-1, 0.5, NaN]) expect(() => defaultTokenizerThreads('cuda', g, 16)).to.throw(RangeError, /gpus/);
  });

  it('rejects a worker count that is not a positive integer', () => {
    for (const w of [0, -1, 1.5, NaN]) expect(() => configureTokenizerThreads(w, {})).to.throw(RangeError, /positive integer/);
  });

  it('the switch is EMBEDRANK_FAST_TOKENIZE (1/true/yes/on, 0/false/no/off), off by default in the library; any other value is an error', () => {
    expect(fastTokenizeEnabled({})).to.equal(false);
    expect(fastTokenizeEnabled({ EMBEDRANK_FAST_TOKENIZE: '' })).to.equal(false);
    for (const v of ['0', 'false', 'No', 'OFF']) expect(fastTokenizeEnabled({ EMBEDRANK_FAST_TOKENIZE: v }), v).to.equal(false);
    for (const v of ['1', 'true', 'Yes', ' on ']) expect(fastTokenizeEnabled({ EMBEDRANK_FAST_TOKENIZE: v }), v).to.equal(true);
    for (const v of ['2', 'fast', 'y']) expect(() => fastTokenizeEnabled({ EMBEDRANK_FAST_TOKENIZE: v }), v).to.throw(/EMBEDRANK_FAST_TOKENIZE=.* is not one of/);
    expect(dedupeEnabled({ EMBEDRANK_FAST_TOKENIZE: '1' })).to.equal(true);
    expect(dedupeEnabled({ EMBEDRANK_FAST_TOKENIZE: '1', EMBEDRANK_TOKENIZE_DEDUPE: '0' })).to.equal(false);
    expect(dedupeEnabled({ EMBEDRANK_TOKENIZE_DEDUPE: '1' })).to.equal(false);
  });

  it("the embedrank command's launch: the fast path unless EMBEDRANK_FAST_TOKENIZE=0, threads sized only with it, the user's variables kept", () => {
    const unset: NodeJS.ProcessEnv = {};
    expect(configureLaunch(unset, 6)).to.deep.equal({ EMBEDRANK_FAST_TOKENIZE: '1', UV_THREADPOOL_SIZE: '10', TOKENIZERS_PARALLELISM: 'false' });
    expect(fastTokenizeEnabled(unset)).to.equal(true);
    const off: NodeJS.ProcessEnv = { EMBEDRANK_FAST_TOKENIZE: '0' };
    expect(configureLaunch(off, 6)).to.deep.equal({});
    expect(off).to.deep.equal({ EMBEDRANK_FAST_TOKENIZE: '0' });
    const mine: NodeJS.ProcessEnv = { UV_THREADPOOL_SIZE: '3' };
    expect(configureLaunch(mine, 6)).to.deep.equal({ EMBEDRANK_FAST_TOKENIZE: '1' });
    expect(mine).to.deep.equal({ UV_THREADPOOL_SIZE: '3', EMBEDRANK_FAST_TOKENIZE: '1' });
    const empty: NodeJS.ProcessEnv = { EMBEDRANK_FAST_TOKENIZE: '' };
    expect(configureLaunch(empty, 2).EMBEDRANK_FAST_TOKENIZE, 'empty counts as unset').to.equal('1');
    expect(() => configureLaunch({ EMBEDRANK_FAST_TOKENIZE: 'fast' }, 2)).to.throw(/not one of/);
  });

  it('the launch reads --tokenizer-threads from the command line to size the pool', () => {
    expect(tokenizerThreadsArg(['evaluate', '--tokenizer-threads', '3', '-m', 'x'])).to.equal(3);
    expect(tokenizerThreadsArg(['encode', '--tokenizer-threads=5'])).to.equal(5);
    for (const bad of [['--tokenizer-threads', '0'], ['--tokenizer-threads', 'abc'], ['--tokenizer-threads'], ['encode']]) expect(tokenizerThreadsArg(bad), bad.join(' ')).to.equal(undefined);
  });

  it('the bin entry refuses a bad EMBEDRANK_FAST_TOKENIZE with a usage error before anything runs', () => {
    let err: { status?: number; stderr?: string } = {};
    try {
      execFileSync(process.execPath, [join(process.cwd(), 'dist/src/cli/launch.cjs'), '--version'], { encoding: 'utf8', stdio: 'pipe', env: { ...process.env, EMBEDRANK_FAST_TOKENIZE: 'maybe' } });
    } catch (e) {
      err = e as { status?: number; stderr?: string };
    }
    expect(err.status).to.equal(2);
    expect(err.stderr).to.match(/embedrank: EMBEDRANK_FAST_TOKENIZE=maybe is not one of/);
  });

  it('the CommonJS bin entry sizes the libuv pool of the process when the switch is on (an ES module entry could not)', function () {
    if (!existsSync('/proc/self/task')) this.skip();
    const dir = mkdtempSync(join(tmpdir(), 'embedrank-threads-'));
    const script = join(dir, 'count.cjs');
    // Does what src/cli/launch.cts does first, then runs enough pool tasks that libuv starts its whole pool.
    writeFileSync(
      script,
      `const { configureLaunch } = require(${JSON.stringify(join(process.cwd(), 'dist/src/tokenize/threads.js'))});
       const { readdirSync } = require('node:fs');
       configureLaunch();
       const before = readdirSync('/proc/self/task').length;
       const { pbkdf2 } = require('node:crypto');
       Promise.all(Array.from({ length: 256 }, () => new Promise((r) => pbkdf2('x', 'y', 2000, 32, 'sha256', r)))).then(() =>
         console.log(JSON.stringify({ added: readdirSync('/proc/self/task').length - before, cores: require('node:os').availableParallelism(), par: process.env.TOKENIZERS_PARALLELISM ?? null, uv: process.env.UV_THREADPOOL_SIZE ?? null })));`,
    );
    const run = (extra: NodeJS.ProcessEnv) => {
      const env = { ...process.env, ...extra };
      if (!('EMBEDRANK_FAST_TOKENIZE' in extra)) delete env.EMBEDRANK_FAST_TOKENIZE;
      delete env.UV_THREADPOOL_SIZE;
      delete env.TOKENIZERS_PARALLELISM;
      return JSON.parse(execFileSync(process.execPath, [script], { encoding: 'utf8', env })) as { added: number; cores: number; par: string | null; uv: string | null };
    };
    const on = run({ EMBEDRANK_FAST_TOKENIZE: '1' });
    expect(on).to.include({ par: 'false', uv: String(on.cores + 4) });
    expect(on.added).to.equal(on.cores + 4);
    const unset = run({});
    expect(unset).to.include({ par: 'false', uv: String(unset.cores + 4) });
    const off = run({ EMBEDRANK_FAST_TOKENIZE: '0' });
    expect(off).to.include({ par: null, uv: null });
    expect(off.added).to.equal(4);
  });

  it('the bin entry runs the CLI', () => {
    const out = execFileSync(process.execPath, [join(process.cwd(), 'dist/src/cli/launch.cjs'), '--version'], { encoding: 'utf8', env: { ...process.env, EMBEDRANK_FAST_TOKENIZE: '1' } });
    expect(out.trim()).to.match(/^\d+\.\d+\.\d+$/);
  });
});
