// Miniature datasets in mteb's Hugging Face layouts for every task of a benchmark, written by the
// tests into a temporary folder (org__name/ per dataset), so that a whole benchmark runs end to
// end offline. Texts are made of topic words, so a bag-of-words or a real model scores them
// better than chance; sizes are the smallest that exercise each evaluator (clustering embeds only
// 4% of its documents, so it gets 400).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hfSubsets, type TaskMetadata } from '../../../src/eval/tasks.js';

const TOPICS = [
  ['bank', 'card', 'loan', 'money', 'account', 'transfer'],
  ['movie', 'actor', 'scene', 'plot', 'film', 'director'],
  ['virus', 'cell', 'protein', 'gene', 'patient', 'vaccine'],
  ['code', 'python', 'compile', 'error', 'linux', 'server'],
  ['game', 'team', 'score', 'player', 'match', 'season'],
];
const FILLER = ['the', 'a', 'of', 'and', 'to', 'in', 'is', 'for', 'with', 'on'];

/** Deterministic text generator (LCG), so fixtures are the same on every run. */
export class TextGen {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  next(): number {
    this.s = (Math.imul(this.s, 1664525) + 1013904223) >>> 0;
    return this.s / 2 ** 32;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  sentence(topic: number, len = 8): string {
    const words: string[] = [];
    for (let i = 0; i < len; i++) words.push(this.next() < 0.55 ? TOPICS[topic][this.int(6)] : FILLER[this.int(FILLER.length)]);
    return words.join(' ');
  }
}

function jsonl(path: string, rows: unknown[]): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

function card(dir: string, configs: Record<string, Record<string, string>>, note: string): void {
  const lines = ['---', 'configs:'];
  for (const [name, splits] of Object.entries(configs)) {
    lines.push(`- config_name: ${name}`, '  data_files:');
    for (const [split, path] of Object.entries(splits)) lines.push(`  - split: ${split}`, `    path: ${path}`);
  }
  lines.push('---', '', note, '');
  writeFileSync(join(dir, 'README.md'), lines.join('\n'));
}

/** The rows' language column value for a task's hf_subset (mteb fast_load layout), or none. */
function withLang<T extends object>(task: TaskMetadata, subset: string, rows: T[]): Array<T & { lang?: string }> {
  return Array.isArray(task.evalLangs) ? rows : rows.map((r) => ({ ...r, lang: subset }));
}

/** Writes a miniature of `task` under root/org__name; returns its folder. */
export function writeMiniature(root: string, task: TaskMetadata, seed = 1): string {
  const dir = join(root, task.dataset.path.replace('/', '__'));
  mkdirSync(dir, { recursive: true });
  const g = new TextGen(seed);
  const subsets = hfSubsets(task);
  const split = 'test';
  const note = `# ${task.name} (miniature written by test/eval/helpers/miniatures.ts; not real data)`;
  switch (task.type) {
    case 'STS': {
      const rows = subsets.flatMap((s) =>
        withLang(task, s, Array.from({ length: 24 }, (_, i) => {
          const a = g.int(5), b = i % 3 === 0 ? a : g.int(5);
          const lo = task.minScore ?? 0, hi = task.maxScore ?? 5;
          return { sentence1: g.sentence(a), sentence2: g.sentence(b), score: a === b ? hi - g.next() : lo + g.next() * (hi - lo) / 2 };
        })),
      );
      jsonl(join(dir, 'data', `${split}.jsonl`), rows);
      card(dir, { default: { test: 'data/test.jsonl' } }, note);
      break;
    }
    case 'Retrieval':
    case 'Reranking': {
      const corpus = Array.from({ length: 40 }, (_, i) => ({ _id: `d${i}`, title: `doc ${i}`, text: g.sentence(i % 5, 12) }));
      const sub = task.taskSpecificScores === 'max_over_subqueries';
      const queries: Array<{ _id: string; text: string }> = [];
      const qrels: Array<{ 'query-id': string; 'corpus-id': string; score: number }> = [];
      const top: Array<{ 'query-id': string; 'corpus-ids': string[] }> = [];
      for (let q = 0; q < 10; q++) {
        const t = q % 5;
        const ids = sub ? [`q${q}_0`, `q${q}_1`] : [`q${q}`];
        for (const id of ids) {
          queries.push({ _id: id, text: g.sentence(t, 6) });
          const rel = corpus.filter((_, i) => i % 5 === t).slice(0, 2).map((d) => d._id);
          for (const r of rel) qrels.push({ 'query-id': id, 'corpus-id': r, score: 1 });
          qrels.push({ 'query-id': id, 'corpus-id': `d${(t + 1) % 5}`, score: 0 });
          if (task.type === 'Reranking') top.push({ 'query-id': id, 'corpus-ids': Array.from({ length: 10 }, (_, k) => `d${(q * 3 + k * 4) % 40}`).concat(rel).filter((x, i, a) => a.indexOf(x) === i) });
        }
      }
      jsonl(join(dir, 'corpus', 'test.jsonl'), corpus);
      jsonl(join(dir, 'queries', 'test.jsonl'), queries);
      jsonl(join(dir, 'data', 'test.jsonl'), qrels);
      const configs: Record<string, Record<string, string>> = { corpus: { test: 'corpus/test.jsonl' }, queries: { test: 'queries/test.jsonl' }, default: { test: 'data/test.jsonl' } };
      if (top.length) {
        jsonl(join(dir, 'top_ranked', 'test.jsonl'), top);
        configs.top_ranked = { test: 'top_ranked/test.jsonl' };
      }
      card(dir, configs, note);
      break;
    }
    case 'Classification': {
      const make = (n: number, s: string) =>
        withLang(task, s, Array.from({ length: n }, () => {
          const label = g.int(3);
          return { text: g.sentence(label, 10), label };
        }));
      const splits: Record<string, string> = {};
      for (const sp of ['train', ...task.evalSplits]) {
        jsonl(join(dir, 'data', `${sp}.jsonl`), subsets.flatMap((s) => make(sp === 'train' ? 120 : 40, s)));
        splits[sp] = `data/${sp}.jsonl`;
      }
      card(dir, { default: splits }, note);
      break;
    }
    case 'Clustering': {
      const hier = Boolean(task.clustering?.splitLabelsOn);
      const rows = Array.from({ length: 400 }, () => {
        const t = g.int(3);
        const label = hier ? `${['cs', 'math', 'bio'][t]}.${['a', 'b'][g.int(2)]}` : ['alpha', 'beta', 'gamma'][t];
        return { sentences: g.sentence(t, 10), labels: label };
      });
      jsonl(join(dir, 'data', `${split}.jsonl`), rows);
      card(dir, { default: { test: 'data/test.jsonl' } }, note);
      break;
    }
    case 'PairClassification': {
      const [c1, c2] = task.pairColumns ?? ['sentence1', 'sentence2'];
      const rows = Array.from({ length: 60 }, (_, i) => {
        const a = g.int(5), same = i % 2 === 0, b = same ? a : (a + 1 + g.int(4)) % 5;
        return { [c1]: g.sentence(a), [c2]: g.sentence(b), labels: same ? 1 : 0 };
      });
      jsonl(join(dir, 'data', `${split}.jsonl`), rows);
      card(dir, { default: { test: 'data/test.jsonl' } }, note);
      break;
    }
    case 'Summarization': {
      const rows = Array.from({ length: 8 }, () => {
        const t = g.int(5);
        const quality = Array.from({ length: 6 }, () => g.next());
        return {
          text: g.sentence(t, 30),
          human_summaries: [g.sentence(t), g.sentence(t)],
          machine_summaries: quality.map((q) => g.sentence(q > 0.5 ? t : (t + 1) % 5)),
          relevance: quality.map((q) => Math.round((1 + 4 * q) * 3) / 3),
        };
      });
      jsonl(join(dir, 'data', `${split}.jsonl`), rows);
      card(dir, { default: { test: 'data/test.jsonl' } }, note);
      break;
    }
  }
  return dir;
}
