// bench/qwen3.ts on the CPU: its input preparation (shared-prefix measurement, the prefix-cache
// replay, the reranking workload built on CrossEncoder's own token ids) and the whole harness end
// to end on the tiny Qwen3 fixtures with `--device cpu --baseline none`, so a GPU call never finds
// a harness bug. Data: the committed SemEval STS slice, made into a SciFact-layout folder.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CrossEncoder } from '../../src/cross-encoder.js';
import { QWEN3_RERANKER_OVERRIDES } from '../../src/models/qwen3-reranker.js';
import type { TokenizedChunk } from '../../src/tokenize/packed.js';
import { stsSentences } from '../../scripts/gpu/prepare.js';
import { kvDelta } from '../../bench/qwen3.js';
import { buildRerankWorkload, scifactTexts, sharedPrefixLength, simulatePrefixCache } from '../../bench/qwen3-inputs.js';

const LM = 'test/fixtures/hf/qwen3-lm';
const EMB = 'test/fixtures/hf/qwen3-emb';
const STS = 'test/fixtures/eval/sts';

function chunkOf(rows: number[][]): TokenizedChunk {
  const offsets = new Int32Array(rows.length + 1);
  rows.forEach((r, i) => (offsets[i + 1] = offsets[i] + r.length));
  return { n: rows.length, offsets, ids: Int32Array.from(rows.flat()), typeIds: new Int32Array(offsets[rows.length]), truncated: new Int32Array(rows.length) };
}

/** A SciFact-layout folder (corpus, queries, qrels) of real sentences: a title and 12 more per document. */
function writeScifact(root: string, sentences: string[], docs: number): void {
  const dir = join(root, 'scifact');
  mkdirSync(join(dir, 'qrels'), { recursive: true });
  const corpus = Array.from({ length: docs }, (_, i) => JSON.stringify({ _id: `d${i}`, title: sentences[i * 13], text: sentences.slice(i * 13 + 1, i * 13 + 13).join(' '), metadata: {} }));
  writeFileSync(join(dir, 'corpus.jsonl'), corpus.join('\n') + '\n');
  writeFileSync(join(dir, 'queries.jsonl'), ['q1', 'q2'].map((id, i) => JSON.stringify({ _id: id, text: sentences[320 + i], metadata: {} })).join('\n') + '\n');
  writeFileSync(join(dir, 'qrels', 'test.tsv'), 'query-id\tcorpus-id\tscore\r\nq1\td0\t1\r\nq2\td1\t1\r\n');
}

describe('bench/qwen3: inputs and harness (CPU)', function () {
  this.timeout(120_000);
  let root: string;
  let sentences: string[];
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'embedrank-qwen3-bench-'));
    sentences = [...new Set(stsSentences(STS))];
    expect(sentences.length).to.be.greaterThan(400);
    writeScifact(root, sentences, 24);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('sharedPrefixLength: the common leading ids of a run of sequences', () => {
    const c = chunkOf([[1, 2, 3, 4], [1, 2, 3, 5, 6], [1, 2, 9], [7], [7]]);
    expect(sharedPrefixLength(c, 0, 2)).to.equal(3);
    expect(sharedPrefixLength(c, 0, 3)).to.equal(2);
    expect(sharedPrefixLength(c, 1, 2)).to.equal(5); // alone: the whole sequence
    expect(sharedPrefixLength(c, 2, 4)).to.equal(0);
    expect(sharedPrefixLength(c, 3, 5)).to.equal(1);
    expect(() => sharedPrefixLength(c, 3, 6)).to.throw(RangeError);
  });

  it('simulatePrefixCache: full blocks only, never a whole sequence, cached across chunks', () => {
    const a = Array.from({ length: 12 }, (_, i) => i + 1);
    const b = [...a.slice(0, 8), 100, 101]; // shares two blocks of 4 with a
    // a: 2 lookups (its last token is always computed), no hits; b: 2 lookups, 2 hits; a again: 2 of 2.
    expect(simulatePrefixCache([chunkOf([a, b]), chunkOf([a])], 4)).to.deep.equal([
      { queries: 4, hits: 2, cachedTokens: 8 },
      { queries: 2, hits: 2, cachedTokens: 8 },
    ]);
  });

  it('kvDelta: counters of an interval, its own hit rate; null without stats', () => {
    const a = { queries: 10, hits: 4, hitRate: 0.4, computedTokens: 100, cachedTokens: 64 };
    const b = { queries: 30, hits: 19, hitRate: 19 / 30, computedTokens: 180, cachedTokens: 304, evictions: 2 };
    expect(kvDelta(a, b)).to.deep.equal({ queries: 20, hits: 15, hitRate: 0.75, computedTokens: 80, cachedTokens: 240, evictions: 2 });
    expect(kvDelta(null, b)).to.equal(null);
  });

  it('scifactTexts: documents as mteb joins them (title + " " + text), queries with judgements', async () => {
    const { documents, queries } = await scifactTexts(root);
    expect(documents).to.have.length(24);
    expect(documents[0]).to.equal(`${sentences[0]} ${sentences.slice(1, 13).join(' ')}`.trim());
    expect(queries).to.deep.equal([sentences[320], sentences[321]]);
  });

  it('buildRerankWorkload: the shortest queries whose candidates share ≥ minPrefix tokens of the ids predict runs, no text reused', async () => {
    const ce = await CrossEncoder.create({ model: LM, device: 'cpu', hfOverrides: { ...QWEN3_RERANKER_OVERRIDES }, maxModelLen: 256 });
    try {
      const { documents: sources } = await scifactTexts(root);
      const docs = sentences.slice(330);
      const o = { queries: 3, candidates: 5, minPrefix: 100, sets: 2 };
      const sets = await buildRerankWorkload((p) => ce.tokenizePairs(p), sources, docs, o);
      expect(sets).to.have.length(2);
      const seenQ = new Set<string>();
      const seenD = new Set<string>();
      for (const s of sets) {
        expect(s.pairs).to.have.length(15);
        expect(s.chunk.n).to.equal(15);
        expect(Array.from(s.chunk.truncated)).to.deep.equal(new Array(15).fill(0));
        // the ids are what predict tokenizes for these pairs
        const again = await ce.tokenizePairs(s.pairs);
        expect(Array.from(again.ids)).to.deep.equal(Array.from(s.chunk.ids));
        for (let q = 0; q < o.queries; q++) {
          const group = s.pairs.slice(q * o.candidates, (q + 1) * o.candidates);
          const query = group[0][0];
          expect(group.every(([x]) => x === query)).to.equal(true);
          expect(seenQ.has(query)).to.equal(false);
          seenQ.add(query);
          for (const [, d] of group) {
            expect(seenD.has(d)).to.equal(false);
            seenD.add(d);
          }
          expect(s.sharedPrefix[q]).to.be.at.least(o.minPrefix);
          // the query is a leading run of a source's words, and one word fewer falls short
          const src = sources.find((t) => t.split(/\s+/).join(' ').startsWith(query));
          expect(src, query).to.be.a('string');
          const words = query.split(' ');
          if (words.length > 1) {
            const shorter = await ce.tokenizePairs(group.map(([, d]) => [words.slice(0, -1).join(' '), d] as [string, string]));
            expect(sharedPrefixLength(shorter, 0, o.candidates)).to.be.below(o.minPrefix);
          }
        }
      }
      // sources too short to reach the prefix are skipped; running out is an error that says so
      let err: Error | undefined;
      await buildRerankWorkload((p) => ce.tokenizePairs(p), sources.slice(0, 2), docs, o).catch((e) => (err = e));
      expect(err?.message).to.match(/source texts ran out/);
    } finally {
      await ce.close();
    }
  });

  it('the harness end to end: `qwen3.js embed` and `rerank` with --device cpu --baseline none write JSON, a log and table rows', () => {
    const out = join(root, 'out');
    const run = (args: string[]) => spawnSync(process.execPath, ['dist/bench/qwen3.js', ...args, '--device', 'cpu', '--baseline', 'none', '--data-dir', root, '--out', out, '--tag', 't'], { encoding: 'utf8' });
    const e = run(['embed', '--model', EMB, '--docs', '12']);
    expect(e.status, e.stderr).to.equal(0);
    expect(e.stdout).to.match(/^\| embed \| embedrank \| float32, no KV cache \| 12 docs \|/m);
    const r = run(['rerank', '--model', LM, '--sts-dir', STS, '--queries', '2', '--candidates', '4', '--repeats', '1', '--min-prefix', '100', '--max-model-len', '256']);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^PREFIX rerank: 2 queries × 4 candidates per set, 1 timed sets/m);
    expect(r.stdout).to.match(/^\| rerank \| embedrank \| float32, no KV cache \(cpu\) \| 8 pairs \|/m);
    const stamp = new Date().toISOString().slice(0, 10);
    for (const bench of ['embed', 'rerank']) {
      const file = join(out, `qwen3-${bench}-${stamp}-t.json`);
      expect(existsSync(file), file).to.equal(true);
      const j = JSON.parse(readFileSync(file, 'utf8'));
      expect(j.measurements).to.have.length(1);
      const m = j.measurements[0];
      for (const k of ['seconds', 'itemsPerSec', 'tokensPerSec']) expect(m[k]).to.be.a('number').and.greaterThan(0);
      expect(j.gemmPeakTflops).to.equal(null);
      if (bench === 'rerank') {
        expect(j.workload.sharedPrefix).to.have.length(2);
        for (const s of j.workload.sharedPrefix) expect(s).to.be.at.least(100);
        expect(j.workload.simulatedPrefixCache[0].hits).to.be.greaterThan(0);
      } else expect(j.documents).to.equal(12);
    }
    const log = readFileSync(join(out, 'qwen3.log'), 'utf8');
    expect(log).to.contain('| embed | embedrank |').and.contain('| rerank | embedrank |');
    // bad input: a clear message, no table
    const bad = run(['rerank', '--model', LM, '--queries', '0']);
    expect(bad.status).to.equal(1);
    expect(bad.stderr).to.contain('--queries must be an integer ≥ 1');
  });
});
