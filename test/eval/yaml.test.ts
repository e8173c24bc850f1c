// Dataset-card YAML through the `yaml` package (issue 9 item 5). The hand-written parser it
// replaces read `data_files: [a,\n  b]` as the string "[a," and `data_files: *files` as the
// string "&files"; the expected values below are what the YAML 1.2 spec gives for these
// documents (PyYAML, which huggingface_hub reads cards with, agrees except that YAML 1.1 reads a
// bare `no` as false).
import { expect } from 'chai';
import { parseCardConfigs } from '../../src/eval/data/hf-layout.js';
import { parseYaml, readFrontMatter } from '../../src/eval/data/yaml.js';

describe('eval/data/yaml: dataset cards', () => {
  it('reads a flow list that spans several lines', () => {
    expect(parseYaml('data_files: [corpus/test-*,\n  queries/test-*]\nn: 3\n')).to.deep.equal({ data_files: ['corpus/test-*', 'queries/test-*'], n: 3 });
    expect(parseYaml('m: {split: test,\n    path: "data/a b.parquet"}\n')).to.deep.equal({ m: { split: 'test', path: 'data/a b.parquet' } });
  });

  it('resolves anchors, aliases and << merge keys', () => {
    const doc = [
      'base: &files',
      '  - split: test',
      '    path: data/test-*',
      'defaults: &d {config_name: default}',
      'configs:',
      '- <<: *d',
      '  data_files: *files',
      '- config_name: corpus',
      '  data_files: *files',
    ].join('\n');
    expect(parseYaml(doc)).to.deep.equal({
      base: [{ split: 'test', path: 'data/test-*' }],
      defaults: { config_name: 'default' },
      configs: [
        { config_name: 'default', data_files: [{ split: 'test', path: 'data/test-*' }] },
        { config_name: 'corpus', data_files: [{ split: 'test', path: 'data/test-*' }] },
      ],
    });
  });

  it('keeps YAML 1.2 scalars: "no" is a string (a Norwegian config), true/1.5/~ are typed, quoted strings stay strings', () => {
    expect(parseYaml('a: no\nb: true\nc: 1.5\nd: ~\ne: "123"\nf: \'it\'\'s\'\ng: |\n  two\n  lines\n')).to.deep.equal({ a: 'no', b: true, c: 1.5, d: null, e: '123', f: "it's", g: 'two\nlines\n' });
  });

  it('reports malformed YAML with its line', () => {
    expect(() => parseYaml('a: [1, 2\nb: 3\n')).to.throw(/^YAML line \d+, column \d+: /);
  });

  it('a card whose configs use a multi-line flow list and an alias gives the right files per split', () => {
    const card = ['---', 'x-files: &q', '  - split: test', '    path: queries/test-*', 'configs:', '- config_name: corpus', '  data_files: {test: [corpus/test-0*,', '      corpus/test-1*]}', '- config_name: queries', '  data_files: *q', '---', '# card'].join('\n');
    expect(readFrontMatter(card)).to.have.property('configs');
    const configs = parseCardConfigs(card)!;
    expect([...configs.keys()]).to.deep.equal(['corpus', 'queries']);
    expect(configs.get('corpus')!.splits.get('test')).to.deep.equal(['corpus/test-0*', 'corpus/test-1*']);
    expect(configs.get('queries')!.splits.get('test')).to.deep.equal(['queries/test-*']);
  });
});
