// The SemEval STS releases as distributed (one folder per year with `<source>.test.tsv` files of
// `score<TAB>sentence1<TAB>sentence2`, or the original STS.input.*.txt + STS.gs.*.txt pairs, and
// SICK's tab-separated files with a header) read as the STS12-STS16 and SICK-R test sets.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskMetadata } from '../tasks.js';

export interface StsPairs {
  sentence1: string[];
  sentence2: string[];
  score: number[];
}

export interface SemEvalData {
  pairs: StsPairs;
  /** sources read, with their pair counts */
  found: Array<{ source: string; file: string; pairs: number }>;
  /** sources mteb's dataset has that are not in the folder */
  missing: string[];
  /** human-readable findings (also printed on stderr by the evaluator) */
  notes: string[];
}

function lines(path: string): string[] {
  return readFileSync(path, 'utf8').replace(/^\uFEFF/, '').split(/\r?\n/);
}

function readTsv(path: string, out: StsPairs): number {
  let n = 0;
  lines(path).forEach((line, i) => {
    if (!line.trim()) return;
    const cells = line.split('\t');
    const s = cells[0].trim();
    if (s === '') return; // pair not in the official scoring
    if (cells.length < 3) throw new Error(`${path}: line ${i + 1} has ${cells.length} fields, expected score, sentence1, sentence2`);
    const score = Number(s);
    if (!Number.isFinite(score)) throw new Error(`${path}: line ${i + 1}: score "${s}" is not a number`);
    out.score.push(score);
    out.sentence1.push(cells[1]);
    out.sentence2.push(cells[2]);
    n++;
  });
  return n;
}

function readInputGs(input: string, gs: string, out: StsPairs): number {
  const a = lines(input);
  const g = lines(gs);
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    if (!a[i].trim() && (g[i] ?? '').trim() === '') continue;
    const s = (g[i] ?? '').trim();
    if (s === '') continue;
    const cells = a[i].split('\t');
    if (cells.length < 2) throw new Error(`${input}: line ${i + 1} has ${cells.length} fields, expected two sentences`);
    const score = Number(s.split('\t')[0]);
    if (!Number.isFinite(score)) throw new Error(`${gs}: line ${i + 1}: score "${s}" is not a number`);
    out.score.push(score);
    out.sentence1.push(cells[0]);
    out.sentence2.push(cells[1]);
    n++;
  }
  return n;
}

function readSick(path: string, out: StsPairs): number {
  const ls = lines(path).filter((l) => l.trim());
  const header = ls[0].split('\t');
  const ia = header.indexOf('sentence_A'), ib = header.indexOf('sentence_B'), is = header.indexOf('relatedness_score');
  if (ia < 0 || ib < 0 || is < 0) throw new Error(`${path}: expected a header with sentence_A, sentence_B and relatedness_score`);
  for (let i = 1; i < ls.length; i++) {
    const c = ls[i].split('\t');
    const score = Number(c[is]);
    if (!Number.isFinite(score)) throw new Error(`${path}: line ${i + 1}: relatedness_score "${c[is]}" is not a number`);
    out.score.push(score);
    out.sentence1.push(c[ia]);
    out.sentence2.push(c[ib]);
  }
  return ls.length - 1;
}

/** The folder of `task`'s SemEval files under `dataDir`, or null when the task has none / it is absent. */
export function semevalDir(dataDir: string, task: TaskMetadata): string | null {
  if (!task.semeval) return null;
  const d = join(dataDir, task.semeval.dir);
  return existsSync(d) && statSync(d).isDirectory() ? d : null;
}

/** True when `dataDir` looks like a SemEval STS collection (year folders or sick2014). */
export function looksLikeSemEval(dataDir: string): boolean {
  try {
    return readdirSync(dataDir).some((n) => /^(20(12|13|14|15|16)|sick2014)$/.test(n));
  } catch {
    return false;
  }
}

/** Reads the task's pairs from the SemEval folder, reporting which sources were found and missing. */
export function loadSemEval(dataDir: string, task: TaskMetadata): SemEvalData {
  const dir = semevalDir(dataDir, task);
  if (!dir || !task.semeval) throw new Error(`${task.name}: no SemEval folder ${join(dataDir, task.semeval?.dir ?? '?')}`);
  const names = readdirSync(dir);
  const pairs: StsPairs = { sentence1: [], sentence2: [], score: [] };
  const found: SemEvalData['found'] = [];
  const missing: string[] = [];
  const used = new Set<string>();
  for (const source of task.semeval.sources) {
    let n = 0;
    let file: string | null = null;
    if (task.name === 'SICK-R') {
      if (names.includes(source)) {
        file = join(dir, source);
        n = readSick(file, pairs);
      }
    } else {
      const tsv = names.find((x) => x.toLowerCase() === `${source}.test.tsv`.toLowerCase());
      const input = names.find((x) => new RegExp(`^STS\\.input\\.(surprise\\.)?${source.replace(/[.-]/g, '\\$&')}\\.txt$`, 'i').test(x));
      const gs = names.find((x) => new RegExp(`^STS\\.gs\\.(surprise\\.)?${source.replace(/[.-]/g, '\\$&')}\\.txt$`, 'i').test(x));
      if (tsv) {
        file = join(dir, tsv);
        n = readTsv(file, pairs);
      } else if (input && gs) {
        file = join(dir, input);
        n = readInputGs(file, join(dir, gs), pairs);
        used.add(gs);
      }
    }
    if (file) {
      used.add(file.slice(dir.length + 1));
      found.push({ source, file, pairs: n });
    } else missing.push(source);
  }
  const notes: string[] = [];
  const total = pairs.score.length;
  const desc = found.map((f) => `${f.source} ${f.pairs}`).join(', ');
  notes.push(`${task.name}: read ${found.length} of ${task.semeval.sources.length} sources from ${dir} (${desc || 'none'}; ${total} pairs)`);
  if (missing.length) {
    notes.push(
      `${task.name}: missing ${missing.join(', ')} in ${dir}; mteb's ${task.name} has ${task.nSamples ?? '?'} pairs, these ${total}, so the scores are not comparable with mteb's`,
    );
  } else if (task.nSamples !== undefined && total !== task.nSamples) {
    notes.push(`${task.name}: ${total} pairs read but mteb's ${task.name} has ${task.nSamples}`);
  }
  const extra = names.filter((x) => /\.(tsv|txt)$/i.test(x) && !used.has(x) && !/readme|license/i.test(x));
  if (extra.length && task.name !== 'SICK-R') notes.push(`${task.name}: ignored ${extra.join(', ')} (not part of mteb's ${task.name})`);
  if (!found.length) throw new Error(`${task.name}: none of ${task.semeval.sources.join(', ')} found in ${dir}`);
  return { pairs, found, missing, notes };
}
