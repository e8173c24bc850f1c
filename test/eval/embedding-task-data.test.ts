// Loading the embedding-only task types from mteb's layouts, with the tasks' dataset_transform
// steps: v1 clustering rows flattened, ArXiv labels split into levels and the test split
// subsampled as datasets.train_test_split(test_size=2048, seed=42) does, singleton labels dropped,
// pair columns renamed, one-row v1 pair datasets unpacked.
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allSplits, loadEmbeddingTaskData, trainTestSplitTestIndices } from '../../src/eval/data/load.js';
import { getTask } from '../../src/eval/tasks.js';

function write(root: string, repo: string, rows: unknown[]): void {
  mkdirSync(join(root, repo, 'data'), { recursive: true });
  writeFileSync(join(root, repo, 'data', 'test.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

describe('eval/data: embedding-only task layouts and dataset_transform steps', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'embedrank-etd-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('ArXivHierarchicalClusteringS2S: flattens v1 rows, splits "cs.AI" into levels, keeps train_test_split\'s 2048 test rows in its order', async () => {
    const rows = [0, 1, 2].map((r) => ({
      sentences: Array.from({ length: 700 }, (_, i) => `title ${r}-${i}`),
      labels: Array.from({ length: 700 }, (_, i) => `${['cs', 'math', 'physics'][r]}.${['AI', 'CL'][i % 2]}`),
    }));
    write(dir, 'mteb__arxiv-clustering-s2s', rows);
    const task = getTask('ArXivHierarchicalClusteringS2S');
    const d = await loadEmbeddingTaskData(task, allSplits(task), { dataDir: dir, offline: true });
    const got = d.splits.get('test')!.get('default')!;
    expect(got.kind).to.equal('Clustering');
    const data = got.data as { sentences: string[]; labels: string[][] };
    const flat = rows.flatMap((r) => r.sentences);
    const keep = trainTestSplitTestIndices(2100, 2048, 42);
    expect(data.sentences).to.deep.equal(keep.map((i) => flat[i]));
    expect(data.labels[0]).to.have.length(2);
    expect(data.labels[0].join('.')).to.equal(rows.flatMap((r) => r.labels)[keep[0]]);
    expect(d.notes).to.deep.equal([]);
  });

  it('StackExchangeClusteringP2P.v2 drops labels seen once; pair tasks rename sent1/sent2 and unpack one-row datasets', async () => {
    write(dir, 'mteb__stackexchange-clustering-p2p', [
      { sentences: 'a', labels: 'x' },
      { sentences: 'b', labels: 'y' },
      { sentences: 'c', labels: 'x' },
    ]);
    const se = getTask('StackExchangeClusteringP2P.v2');
    const c = (await loadEmbeddingTaskData(se, allSplits(se), { dataDir: dir, offline: true })).splits.get('test')!.get('default')!.data as { sentences: string[] };
    expect(c.sentences).to.deep.equal(['a', 'c']);
    write(dir, 'mteb__sprintduplicatequestions-pairclassification', [{ sent1: ['q1', 'q2'], sent2: ['p1', 'p2'], labels: [1, 0] }]);
    const sp = getTask('SprintDuplicateQuestions');
    const p = (await loadEmbeddingTaskData(sp, allSplits(sp), { dataDir: dir, offline: true })).splits.get('test')!.get('default')!.data;
    expect(p).to.deep.equal({ sentence1: ['q1', 'q2'], sentence2: ['p1', 'p2'], labels: [1, 0] });
    write(dir, 'mteb__twitterurlcorpus-pairclassification', [{ sent1: 'a', sent2: 'b', labels: 2 }]);
    const tu = getTask('TwitterURLCorpus');
    let err = '';
    await loadEmbeddingTaskData(tu, allSplits(tu), { dataDir: dir, offline: true }).catch((e: Error) => (err = e.message));
    expect(err).to.match(/pair 0 has label 2; pair classification needs 0 or 1/);
  });
});
