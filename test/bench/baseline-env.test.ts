// bench/baseline-env.ts: the Python baselines start without embedrank's tokenizer-thread setting.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { baselineEnv } from '../../bench/baseline-env.js';

describe('bench baselineEnv', () => {
  it('drops TOKENIZERS_PARALLELISM, keeps everything else and adds PYTHONUNBUFFERED', () => {
    const src = { TOKENIZERS_PARALLELISM: 'false', UV_THREADPOOL_SIZE: '20', EMBEDRANK_FAST_TOKENIZE: '1', PATH: '/bin' };
    const env = baselineEnv(src);
    expect(env).to.not.have.property('TOKENIZERS_PARALLELISM');
    expect(env).to.include({ UV_THREADPOOL_SIZE: '20', EMBEDRANK_FAST_TOKENIZE: '1', PATH: '/bin', PYTHONUNBUFFERED: '1' });
    expect(src.TOKENIZERS_PARALLELISM, 'the caller\'s environment is left alone').to.equal('false');
  });

  it('a child process started with it does not see the variable (the bench scripts pass it to their Python baselines; that call is not checked here)', () => {
    const env = baselineEnv({ ...process.env, TOKENIZERS_PARALLELISM: 'false' });
    const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.env.TOKENIZERS_PARALLELISM))'], { env, encoding: 'utf8' });
    expect(r.stdout).to.equal('undefined');
  });
});
