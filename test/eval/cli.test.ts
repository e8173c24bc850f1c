import { expect } from 'chai';
import { noteLevel } from '../../src/eval/evaluate.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yargs from 'yargs';
import { evaluateCommand, tasksCommand, type EvaluateCliArgs } from '../../src/cli/evaluate.js';
import { BowEncoder } from './helpers/fakes.js';
import { STS_FIXTURE } from './helpers/fixtures.js';

function cli(factoryArgs: EvaluateCliArgs[], closed: { n: number }) {
  const io = { out: '', err: '' };
  const y = yargs()
    .scriptName('embedrank')
    .command(
      evaluateCommand(
        async (args) => {
          factoryArgs.push(args);
          const m = new BowEncoder();
          return Object.assign(m, { close: async () => void closed.n++ });
        },
        { out: (s) => (io.out += s), err: (s) => (io.err += s) },
      ),
    )
    .command(tasksCommand({ out: (s) => (io.out += s), err: (s) => (io.err += s) }))
    .strict()
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new Error(msg);
    });
  return { y, io };
}

describe('cli/evaluate: yargs command modules', function () {
  this.timeout(30000);
  let out: string;
  beforeEach(() => (out = mkdtempSync(join(tmpdir(), 'embedrank-cli-'))));
  afterEach(() => rmSync(out, { recursive: true, force: true }));

  it('`tasks` lists the registry, filtered by --type and --language', async () => {
    const { y, io } = cli([], { n: 0 });
    await y.parseAsync(['tasks', '--type', 'reranking']);
    expect(io.out).to.contain('AskUbuntuDupQuestions').and.contain('map_at_1000').and.not.contain('STS12');
    io.out = '';
    await y.parseAsync(['tasks', '--language', 'tur']);
    const rows = io.out.trim().split('\n').slice(1);
    expect(rows.map((r) => r.split(/\s+/)[0])).to.include.members(['STS17', 'MassiveIntentClassification']);
    for (const r of rows) expect(r).to.contain('tur-Latn');
    expect(io.out).to.not.contain('STS12');
  });

  it('`evaluate` builds the model through the factory, prints progress and a summary table, closes the model', async () => {
    const seen: EvaluateCliArgs[] = [];
    const closed = { n: 0 };
    const { y, io } = cli(seen, closed);
    const prev = process.exitCode;
    await y.parseAsync(['evaluate', '-m', 'test-org/bow', '-t', 'STS12,SICK-R', '--data-dir', STS_FIXTURE, '-o', out, '--batch-size', '8']);
    process.exitCode = prev;
    expect(seen).to.have.length(1);
    expect(seen[0]).to.include({ model: 'test-org/bow', device: 'auto', dtype: 'auto', overwriteStrategy: 'only-missing', batchSize: 8, outputFolder: out, dataDir: STS_FIXTURE });
    expect(seen[0].tasks).to.deep.equal(['STS12', 'SICK-R']);
    expect(closed.n).to.equal(1);
    expect(io.err).to.match(/\[1\/2\] STS12: evaluating \(test: default\)/).and.match(/\[2\/2\] SICK-R: cosine_spearman = /);
    expect(io.err).to.match(/warning: STS12: missing MSRvid/);
    expect(io.err, 'what was read is a note, not a warning').to.match(/note: STS12: read 4 of 5 sources/);
    expect(noteLevel("BIOSSES: read 100 pairs from all.tsv (original release)")).to.equal('note');
    expect(noteLevel("SICK-R: 4927 pairs read but mteb's SICK-R has 9927")).to.equal('warning');
    const lines = io.out.trim().split('\n');
    expect(lines[0]).to.match(/^Task\s+Type\s+Main score\s+Value/);
    expect(lines[1]).to.match(/^STS12\s+STS\s+cosine_spearman\s+-?\d\.\d{5}/);
    const file = JSON.parse(readFileSync(join(out, 'test-org__bow-encoder', 'rev1', 'STS12.json'), 'utf8')) as { task_name: string };
    expect(file.task_name).to.equal('STS12');

    // second run: cached
    io.out = '';
    io.err = '';
    await y.parseAsync(['evaluate', '-m', 'test-org/bow', '-t', 'STS12', '--data-dir', STS_FIXTURE, '-o', out]);
    expect(io.err).to.match(/STS12: results exist/);
    expect(io.out).to.match(/STS12 .*\(cached(; see notes)?\)/);
  });

  it('`evaluate --quiet` prints no progress lines but still the notes its table points at (was: "(see notes)" with none shown)', async () => {
    const { y, io } = cli([], { n: 0 });
    const prev = process.exitCode;
    await y.parseAsync(['evaluate', '-m', 'test-org/bow', '-t', 'STS12', '--data-dir', STS_FIXTURE, '-o', join(out, 'quiet'), '-q']);
    process.exitCode = prev;
    expect(io.err).to.not.match(/STS12: evaluating|cosine_spearman = /);
    expect(io.err).to.match(/warning: STS12: missing MSRvid/);
    expect(io.out).to.match(/STS12 .*\(see notes\)/);
  });

  it('`evaluate` refuses unknown tasks and bad choices with a message', async () => {
    const { y } = cli([], { n: 0 });
    try {
      await y.parseAsync(['evaluate', '-m', 'x/y', '-t', 'STS-12']);
      expect.fail('should throw');
    } catch (e) {
      expect((e as Error).message).to.match(/unknown task "STS-12"; did you mean "STS12"/);
    }
    try {
      await y.parseAsync(['evaluate', '-m', 'x/y', '-t', 'STS12', '--dtype', 'int3']);
      expect.fail('should throw');
    } catch (e) {
      expect((e as Error).message).to.match(/Invalid values/);
    }
  });

  it('`evaluate --help` explains every option', async () => {
    const { y } = cli([], { n: 0 });
    const help = await new Promise<string>((resolve) => {
      void y.parse(['evaluate', '--help'], {}, (_err, _argv, output) => resolve(output));
    });
    for (const opt of ['--model', '--tasks', '--data-dir', '--output-folder', '--device', '--dtype', '--overwrite-strategy', '--batch-size', '--continue-on-error', '--quiet']) {
      expect(help).to.contain(opt);
    }
    expect(help).to.contain('only-missing').and.contain('cuda').and.contain('bfloat16').and.contain('SemEval');
  });
});
