// Documentation faults of issue 9 item 6: what README, bench/RESULTS.md and `embedrank --help`
// promise must exist.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = process.cwd();

function ignored(path: string): boolean | null {
  const r = spawnSync('git', ['check-ignore', '-q', '--no-index', path], { cwd: ROOT });
  return r.status === 0 ? true : r.status === 1 ? false : null;
}

describe('docs: what the documentation promises exists', () => {
  it('.gitignore ignores the top-level results/ (evaluate output) but not bench/results/ (cited logs and figures)', function () {
    if (ignored('results/x.json') === null) this.skip(); // not a git checkout
    expect(ignored('results/org__model/rev/STS12.json')).to.equal(true);
    expect(ignored('bench/results/bench-2026-12-01-h100.json')).to.equal(false);
    expect(ignored('bench/results/bench-2026-12-01-h100.svg')).to.equal(false);
  });

  it('every image README.md and bench/RESULTS.md embed is a file in the repository', () => {
    for (const doc of ['README.md', 'bench/RESULTS.md', 'bench/NOTES.md', 'docs/evaluation.md', 'docs/distributed.md']) {
      const text = readFileSync(join(ROOT, doc), 'utf8');
      for (const m of text.matchAll(/!\[[^\]]*\]\(([^)\s]+)\)/g)) {
        if (/^https?:/.test(m[1])) continue;
        const file = join(ROOT, doc.includes('/') ? doc.slice(0, doc.lastIndexOf('/')) : '', m[1]);
        expect(existsSync(file), `${doc} embeds ${m[1]}`).to.equal(true);
      }
    }
  });

  it('the `embedrank --help` tagline names no command that does not exist', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'dist/src/cli/main.js'), '--help'], { encoding: 'utf8' });
    expect(r.status).to.equal(0);
    const [head, commandsPart] = r.stdout.split(/\nCommands:\n/);
    const commands = new Set([...(commandsPart ?? '').matchAll(/^\s+embedrank (\S+)/gm)].map((m) => m[1]));
    expect([...commands]).to.include.members(['encode', 'rerank', 'evaluate', 'tasks']);
    for (const verb of ['serve', 'train', 'fine-tune', 'export', 'download', 'benchmark', 'encode', 'rerank', 'evaluate']) {
      if (new RegExp(`\\b${verb}\\b`, 'i').test(head)) expect(commands.has(verb), `tagline says "${verb}"`).to.equal(true);
    }
  });
});
