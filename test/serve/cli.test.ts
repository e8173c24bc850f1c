// `embedrank serve` on the command line: help, option checks, and a model that cannot load.
import { expect } from 'chai';
import { join } from 'node:path';
import { DIST, runProcess, tinyEncoder } from '../foundation/helpers.js';

const MAIN = join(DIST, 'src/cli/main.js');

describe('serve: command line', function () {
  this.timeout(60_000);

  it('--help lists the server options and the engine options', async () => {
    const r = await runProcess(process.execPath, [MAIN, 'serve', '--help']);
    expect(r.code).to.equal(0);
    for (const o of ['--port', '--host', '--max-client-batch-size', '--max-concurrent-requests', '--auto-truncate', '--request-timeout', '--payload-limit', '--served-model-name', '--max-num-batched-tokens']) {
      expect(r.stdout).to.include(o);
    }
    const top = await runProcess(process.execPath, [MAIN, '--help']);
    expect(top.stdout).to.match(/serve\s+Serve a model over HTTP/);
    const ev = await runProcess(process.execPath, [MAIN, 'evaluate', '--help']);
    expect(ev.stdout).to.include('--endpoint');
  });

  it('bad options exit non-zero with a message before loading anything', async () => {
    const neg = await runProcess(process.execPath, [MAIN, 'serve', '-m', tinyEncoder(), '--port', '-1']);
    expect(neg.code).to.not.equal(0);
    expect(neg.stderr).to.match(/--port must be a non-negative integer/);
    const both = await runProcess(process.execPath, [MAIN, 'serve', '-m', tinyEncoder(), '--default-prompt', 'q: ', '--default-prompt-name', 'query']);
    expect(both.code).to.not.equal(0);
    expect(both.stderr).to.match(/not both/);
    // (was: accepted, then every full-size request got 429 forever)
    const batch = await runProcess(process.execPath, [MAIN, 'serve', '-m', tinyEncoder(), '--max-client-batch-size', '1024']);
    expect(batch.code).to.not.equal(0);
    expect(batch.stderr).to.match(/--max-client-batch-size 1024 is more than --max-concurrent-requests 512: .*could never be admitted/);
    const missing = await runProcess(process.execPath, [MAIN, 'serve', '-m', '/nonexistent/model', '--device', 'cpu']);
    expect(missing.code).to.not.equal(0);
    expect(missing.stderr).to.match(/nonexistent/);
  });
});
