// STS test sets in the layouts of their original releases, read as mteb's tasks see them:
//   - STS Benchmark: sts-test.csv, TAB-separated and NOT quoted (some sentences contain quotes),
//     fields genre, file, years, id, score, sentence1, sentence2 (and on some lines source1,
//     source2): mteb's STSBenchmark test split is its 1379 pairs;
//   - BIOSSES: all.tsv as the Hugging Face `biosses` loader reads it (a pandas-written TSV with
//     csv quoting: one sentence is quoted and contains a TAB), columns sentence1, sentence2, score.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import type { TaskMetadata } from '../tasks.js';
import type { StsPairs } from './semeval.js';

export type OriginalFormat = 'stsbenchmark' | 'biosses';

/** The original release file of `task` under `dataDir`, or null (task without one, or file absent). */
export function originalFile(dataDir: string, task: TaskMetadata): string | null {
  if (!task.original) return null;
  const p = join(dataDir, task.original.dir, task.original.file);
  return existsSync(p) && statSync(p).isFile() ? p : null;
}

function score(v: string, where: string): number {
  const s = Number(v);
  if (v.trim() === '' || !Number.isFinite(s)) throw new Error(`${where}: score "${v}" is not a number`);
  return s;
}

/** STS Benchmark's sts-{train,dev,test}.csv: split every line on TABs (no quoting). */
export function readStsBenchmark(path: string): StsPairs {
  const out: StsPairs = { sentence1: [], sentence2: [], score: [] };
  readFileSync(path, 'utf8')
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .forEach((line, i) => {
      if (!line.trim()) return;
      const f = line.split('\t');
      if (f.length < 7) throw new Error(`${path}:${i + 1}: ${f.length} fields; expected genre, file, years, id, score, sentence1, sentence2`);
      out.score.push(score(f[4], `${path}:${i + 1}`));
      out.sentence1.push(f[5]);
      out.sentence2.push(f[6]);
    });
  return out;
}

/** BIOSSES all.tsv: TAB-separated with a header and csv quoting. */
export function readBiosses(path: string): StsPairs {
  const rows = parse(readFileSync(path, 'utf8'), { delimiter: '\t', columns: true, quote: '"', skip_empty_lines: true, bom: true }) as Array<Record<string, string>>;
  const out: StsPairs = { sentence1: [], sentence2: [], score: [] };
  rows.forEach((r, i) => {
    if (!('sentence1' in r) || !('sentence2' in r) || !('score' in r)) throw new Error(`${path}: row ${i + 1} lacks sentence1 / sentence2 / score (columns: ${Object.keys(r).join(', ')})`);
    out.sentence1.push(r.sentence1);
    out.sentence2.push(r.sentence2);
    out.score.push(score(r.score, `${path}: row ${i + 1}`));
  });
  return out;
}

/** Reads `task`'s original release file; notes say what was read and flag a size other than mteb's. */
export function loadOriginal(path: string, task: TaskMetadata): { pairs: StsPairs; notes: string[] } {
  const format = task.original?.format;
  const pairs = format === 'stsbenchmark' ? readStsBenchmark(path) : format === 'biosses' ? readBiosses(path) : null;
  if (!pairs) throw new Error(`${task.name} has no original-release reader`);
  const notes = [`${task.name}: read ${pairs.score.length} pairs from ${path} (original release)`];
  if (task.nSamples !== undefined && pairs.score.length !== task.nSamples) notes.push(`${task.name}: ${pairs.score.length} pairs read but mteb's ${task.name} has ${task.nSamples}`);
  return { pairs, notes };
}
