// Finding and loading a task's data: a --data-dir folder (a copy of the Hub dataset, or the SemEval
// STS files), the hub cache, or the Hub itself; then mteb's dataset layouts: STS rows
// (sentence1, sentence2, score), and retrieval/reranking as the corpus / queries / qrels
// (default) / top_ranked / instruction configs of mteb 2.x's RetrievalDatasetLoader.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Qrels } from '../retrieval-metrics.js';
import { hfSubsets, type TaskMetadata } from '../tasks.js';
import { readAllRows, type Row } from './files.js';
import { configNames, resolveConfigFiles } from './hf-layout.js';
import { HubSource, LocalSource, hubOffline, snapshotDir, type DatasetSource, type HubOptions } from './hub.js';
import { compareCodePoints } from '../numeric.js';
import { NumpyGenerator } from '../rng.js';
import { loadOriginal, originalFile } from './original.js';
import { loadSemEval, looksLikeSemEval, semevalDir, type StsPairs } from './semeval.js';
import type { ClassificationData, ClassificationSplit } from '../classification.js';
import type { ClusteringData } from '../clustering.js';
import type { PairClassificationData } from '../pair-classification.js';
import type { SummarizationData } from '../summarization.js';

export type { StsPairs } from './semeval.js';

export interface DataOptions extends HubOptions {
  /** a folder with datasets (org__name/, org/name/, name/, datasets--org--name/) or the SemEval STS years */
  dataDir?: string;
}

export class DataNotFoundError extends Error {
  constructor(message: string, readonly tried: string[]) {
    super(message);
    this.name = 'DataNotFoundError';
  }
}

export type ResolvedSource = { kind: 'semeval'; dataDir: string; dir: string } | { kind: 'original'; file: string } | { kind: 'hf'; source: DatasetSource };

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function folderSource(dir: string, task: TaskMetadata): DatasetSource | null {
  const snaps = join(dir, 'snapshots');
  if (isDir(snaps)) {
    const rev = task.dataset.revision;
    if (isDir(join(snaps, rev))) return new LocalSource(join(snaps, rev), `${join(snaps, rev)}`);
    const all = readdirSync(snaps).filter((n) => isDir(join(snaps, n)));
    if (all.length === 1) return new LocalSource(join(snaps, all[0]), `${join(snaps, all[0])} (revision ${all[0]}, mteb pins ${rev})`);
    return null;
  }
  return new LocalSource(dir);
}

/** Where `task`'s data comes from, without reading it (nothing is downloaded yet). */
export function resolveSource(task: TaskMetadata, o: DataOptions = {}): ResolvedSource {
  const tried: string[] = [];
  const [org, name] = task.dataset.path.includes('/') ? task.dataset.path.split('/') : ['', task.dataset.path];
  if (o.dataDir !== undefined) {
    const d = o.dataDir;
    if (!existsSync(d)) throw new DataNotFoundError(`data folder ${d} does not exist`, [d]);
    if (!isDir(d)) throw new DataNotFoundError(`data folder ${d} is not a folder`, [d]);
    const names = [`${org}__${name}`, join(org, name), `datasets--${org}--${name}`, name, task.name].filter((x) => x && !x.startsWith('__'));
    const base = basename(d);
    const candidates = names.map((n) => join(d, n));
    if (names.includes(base)) candidates.unshift(d);
    for (const c of candidates) {
      tried.push(c);
      if (!isDir(c)) continue;
      const src = folderSource(c, task);
      if (src) return { kind: 'hf', source: src };
    }
    // the original releases: SemEval year folders in d or d/sts, STS Benchmark / BIOSSES files
    for (const semRoot of [d, join(d, 'sts')]) {
      const sem = semevalDir(semRoot, task);
      if (sem) return { kind: 'semeval', dataDir: semRoot, dir: sem };
    }
    if (task.semeval) tried.push(join(d, task.semeval.dir), join(d, 'sts', task.semeval.dir));
    const orig = originalFile(d, task);
    if (orig) return { kind: 'original', file: orig };
    if (task.original) tried.push(join(d, task.original.dir, task.original.file));
  }
  const hub = new HubSource(task.dataset.path, task.dataset.revision, o, [...tried]);
  tried.push(snapshotDir(task.dataset.path, task.dataset.revision, o));
  if (hub.cached || !hubOffline(o)) return { kind: 'hf', source: hub };
  const hint = o.dataDir !== undefined && looksLikeSemEval(o.dataDir) && !task.semeval ? ` (${o.dataDir} holds SemEval STS files, which only cover STS12-STS16 and SICK-R)` : '';
  throw new DataNotFoundError(
    `no data for ${task.name} (${task.dataset.path}@${task.dataset.revision}): looked in ${tried.join(', ')}${hint}; HF_HUB_OFFLINE is set, so nothing was downloaded`,
    tried,
  );
}

/** What a run's result records as its data source (run_settings.jsonl `data_source`). */
export function sourceDescription(res: ResolvedSource): string {
  return res.kind === 'semeval' ? res.dir : res.kind === 'original' ? res.file : res.source.description;
}

export interface LoadedSplit<T> {
  data: T;
  /** split name used (a config's only split when the requested one does not exist) */
  split: string;
}

export interface StsData {
  kind: 'sts';
  /** split -> hf_subset -> pairs */
  splits: Map<string, Map<string, StsPairs>>;
  notes: string[];
  source: string;
}

export interface CorpusDoc {
  id: string;
  title: string;
  text: string;
}

export interface Query {
  id: string;
  text: string | string[];
  instruction?: string | null;
}

export interface RetrievalSplitData {
  corpus: CorpusDoc[];
  queries: Query[];
  qrels: Qrels;
  topRanked: Map<string, string[]> | null;
}

export interface RetrievalData {
  kind: 'retrieval';
  splits: Map<string, Map<string, RetrievalSplitData>>;
  notes: string[];
  source: string;
}

function str(v: unknown): string {
  return v === null || v === undefined ? '' : String(v);
}

async function configRows(src: DatasetSource, files: string[], readme: string | null, config: string, split: string): Promise<Row[] | null> {
  const r = resolveConfigFiles(files, readme, config, split);
  if (!r) return null;
  if (!r.files.length) throw new Error(`${src.description}: config "${config}" split "${split}" has no data files`);
  return readAllRows(await src.ensure(r.files));
}

function toPairs(rows: Row[], where: string): StsPairs {
  const p: StsPairs = { sentence1: [], sentence2: [], score: [] };
  rows.forEach((r, i) => {
    if (!('sentence1' in r) || !('sentence2' in r) || !('score' in r)) {
      throw new Error(`${where}: row ${i} lacks sentence1/sentence2/score (columns: ${Object.keys(r).join(', ')})`);
    }
    const s = Number(r.score);
    if (!Number.isFinite(s)) throw new Error(`${where}: row ${i}: score ${String(r.score)} is not a number`);
    p.sentence1.push(str(r.sentence1));
    p.sentence2.push(str(r.sentence2));
    p.score.push(s);
  });
  return p;
}

interface SubsetReader {
  source: string;
  /** rows of one split of one hf_subset: the subset's config, else the default config's rows with lang == subset */
  rows(split: string, subset: string): Promise<Row[]>;
}

/** Reads a task's rows per (split, hf_subset) from a Hugging Face layout (mteb's load_data / fast_load). */
async function subsetReader(task: TaskMetadata, src: DatasetSource): Promise<SubsetReader> {
  const files = await src.listFiles();
  const readme = await src.readme();
  const multilingual = !Array.isArray(task.evalLangs);
  const configs = configNames(files, readme);
  const grouped = new Map<string, Map<string, Row[]>>();
  return {
    source: src.description,
    rows: async (split, subset) => {
      const where = `${task.name} ${split}/${subset} (${src.description})`;
      let rows: Row[] | null = null;
      if (multilingual && configs.includes(subset)) rows = await configRows(src, files, readme, subset, split);
      if (!rows && multilingual) {
        // mteb fast_load: the default config has a `lang` column
        let g = grouped.get(split);
        if (!g) {
          const all = await configRows(src, files, readme, 'default', split);
          if (!all) throw new DataNotFoundError(`${where}: no config "${subset}" and no default config`, [src.root]);
          g = new Map();
          for (const r of all) {
            const l = str(r.lang);
            if (!g.has(l)) g.set(l, []);
            g.get(l)!.push(r);
          }
          grouped.set(split, g);
        }
        rows = g.get(subset) ?? null;
        if (!rows) throw new DataNotFoundError(`${where}: no rows with lang "${subset}"`, [src.root]);
      }
      if (!rows) rows = await configRows(src, files, readme, 'default', split);
      if (!rows) throw new DataNotFoundError(`${where}: no data files found (files: ${files.slice(0, 20).join(', ')}${files.length > 20 ? ', ...' : ''})`, [src.root]);
      return rows;
    },
  };
}

/** Loads an STS task's pairs for the given splits and subsets. */
export async function loadStsData(task: TaskMetadata, splits: Map<string, string[]>, o: DataOptions = {}): Promise<StsData> {
  const res = resolveSource(task, o);
  const out: StsData = { kind: 'sts', splits: new Map(), notes: [], source: '' };
  if (res.kind === 'semeval') {
    const sem = loadSemEval(res.dataDir, task);
    out.notes.push(...sem.notes);
    out.source = sourceDescription(res);
    for (const [split, subsets] of splits) {
      const m = new Map<string, StsPairs>();
      for (const s of subsets) if (s === 'default') m.set(s, sem.pairs);
      out.splits.set(split, m);
    }
    return out;
  }
  if (res.kind === 'original') {
    const o = loadOriginal(res.file, task);
    out.notes.push(...o.notes);
    out.source = sourceDescription(res);
    for (const [split, subsets] of splits) out.splits.set(split, new Map(subsets.filter((s) => s === 'default').map((s) => [s, o.pairs])));
    return out;
  }
  const reader = await subsetReader(task, res.source);
  out.source = sourceDescription(res);
  for (const [split, subsets] of splits) {
    const m = new Map<string, StsPairs>();
    for (const subset of subsets) m.set(subset, toPairs(await reader.rows(split, subset), `${task.name} ${split}/${subset} (${reader.source})`));
    out.splits.set(split, m);
  }
  return out;
}

/** Data of one evaluation of an embedding-only task type (Classification, Clustering, ...). */
export type EmbeddingTaskSplitData =
  | { kind: 'Classification'; data: ClassificationData }
  | { kind: 'Clustering'; data: ClusteringData }
  | { kind: 'PairClassification'; data: PairClassificationData }
  | { kind: 'Summarization'; data: SummarizationData };

export interface EmbeddingTaskData {
  kind: 'embedding-task';
  splits: Map<string, Map<string, EmbeddingTaskSplitData>>;
  notes: string[];
  source: string;
}

function column(rows: Row[], names: string[], where: string): unknown[] {
  if (!rows.length) return [];
  const name = names.find((n) => n in rows[0]);
  if (!name) throw new Error(`${where}: no column ${names.map((n) => `"${n}"`).join(' or ')} (columns: ${Object.keys(rows[0]).join(', ')})`);
  return rows.map((r, i) => {
    if (!(name in r)) throw new Error(`${where}: row ${i} lacks "${name}"`);
    return r[name];
  });
}

function asLabel(v: unknown, where: string): string | number {
  if (typeof v === 'number' || typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  throw new Error(`${where}: label ${JSON.stringify(v)} is not a number or string`);
}

function classificationSplit(rows: Row[], where: string): ClassificationSplit {
  const texts = column(rows, ['text'], where).map(str);
  const labels = column(rows, ['label'], where).map((l) => asLabel(l, where));
  return { texts, labels };
}

function clusteringData(task: TaskMetadata, rows: Row[], where: string): ClusteringData {
  let sentences: unknown[] = column(rows, ['sentences', 'text'], where);
  let labels: unknown[] = column(rows, ['labels', 'label'], where);
  // mteb's v1 layout: each row is one clustering set with lists of sentences and labels
  if (sentences.length && Array.isArray(sentences[0])) {
    sentences = sentences.flatMap((x) => x as unknown[]);
    labels = labels.flatMap((x) => x as unknown[]);
  }
  if (sentences.length !== labels.length) throw new Error(`${where}: ${sentences.length} sentences but ${labels.length} labels`);
  let sents = sentences.map(str);
  let labs: Array<string | number | Array<string | number>> = labels.map((l) => (Array.isArray(l) ? l.map((x) => asLabel(x, where)) : asLabel(l, where)));
  const c = task.clustering ?? {};
  if (c.dropSingletonLabels) {
    // StackExchangeClusteringP2P.v2: remove the only document of each label seen once
    const count = new Map<string, number>();
    for (const l of labs) count.set(String(l), (count.get(String(l)) ?? 0) + 1);
    const keep = labs.map((l) => count.get(String(l))! > 1);
    sents = sents.filter((_, i) => keep[i]);
    labs = labs.filter((_, i) => keep[i]);
  }
  if (c.splitLabelsOn) labs = labs.map((l) => (typeof l === 'string' ? l.split(c.splitLabelsOn!) : l));
  const sub = task.subsample;
  if (sub && sents.length > sub.nSamples) {
    // dataset.train_test_split(test_size=n, seed=42[, stratify_by_column])["test"]
    const keep = sub.method === 'random' ? trainTestSplitTestIndices(sents.length, sub.nSamples, 42) : stratifiedTestIndices(labs.map((l) => (Array.isArray(l) ? l.join('\u0000') : l)), sub.nSamples, 42);
    sents = keep.map((i) => sents[i]);
    labs = keep.map((i) => labs[i]);
  }
  return { sentences: sents, labels: labs };
}

function pairData(task: TaskMetadata, rows: Row[], where: string): PairClassificationData {
  const [c1, c2] = task.pairColumns ?? ['sentence1', 'sentence2'];
  let s1: unknown[] = column(rows, [c1, 'sentence1'], where);
  let s2: unknown[] = column(rows, [c2, 'sentence2'], where);
  let labels: unknown[] = column(rows, ['labels', 'label'], where);
  // mteb v1 datasets store the whole split in one row of lists
  if (rows.length === 1 && Array.isArray(s1[0])) {
    s1 = s1[0] as unknown[];
    s2 = s2[0] as unknown[];
    labels = labels[0] as unknown[];
  }
  const lab = labels.map((l, i) => {
    const v = Number(l);
    if (v !== 0 && v !== 1) throw new Error(`${where}: pair ${i} has label ${JSON.stringify(l)}; pair classification needs 0 or 1`);
    return v;
  });
  return { sentence1: s1.map(str), sentence2: s2.map(str), labels: lab };
}

function summarizationData(rows: Row[], where: string): SummarizationData {
  const list = (v: unknown, what: string, i: number): unknown[] => {
    if (!Array.isArray(v)) throw new Error(`${where}: row ${i}: ${what} is not a list`);
    return v;
  };
  const texts = column(rows, ['text'], where).map(str);
  const human = column(rows, ['human_summaries'], where).map((v, i) => list(v, 'human_summaries', i).map(str));
  const machine = column(rows, ['machine_summaries'], where).map((v, i) => list(v, 'machine_summaries', i).map(str));
  const relevance = column(rows, ['relevance'], where).map((v, i) =>
    list(v, 'relevance', i).map((x) => {
      const n = Number(x);
      if (!Number.isFinite(n)) throw new Error(`${where}: row ${i}: relevance ${JSON.stringify(x)} is not a number`);
      return n;
    }),
  );
  machine.forEach((m, i) => {
    if (m.length !== relevance[i].length) throw new Error(`${where}: row ${i} has ${m.length} machine summaries but ${relevance[i].length} relevance scores`);
  });
  return { texts, humanSummaries: human, machineSummaries: machine, relevance };
}

/**
 * The `datasets` library's Dataset.train_test_split(test_size=nTest, seed)["test"] row indices,
 * in its order: the first nTest entries of np.random.default_rng(seed).permutation(n).
 */
export function trainTestSplitTestIndices(n: number, nTest: number, seed: number): number[] {
  if (!Number.isInteger(nTest) || nTest <= 0 || nTest >= n) throw new Error(`test_size=${nTest} should be positive and smaller than the number of samples ${n}`);
  return new NumpyGenerator(seed).permutation(n).slice(0, nTest);
}

/**
 * mteb's stratified_subsampling: the `datasets` library's
 * train_test_split(test_size=nTest, seed, stratify_by_column)["test"] row indices, in its order
 * (datasets/utils/stratify.py on default_rng(seed): approximate_mode for the train and test counts
 * per class, ties broken by choice(replace=False); a permutation per class; then the train and test
 * lists permuted). Labels are class-encoded as class_encode_column does (sorted as strings).
 */
export function stratifiedTestIndices(labels: ArrayLike<string | number>, nTest: number, seed: number): number[] {
  const n = labels.length;
  if (!Number.isInteger(nTest) || nTest <= 0 || nTest >= n) throw new Error(`test_size=${nTest} should be positive and smaller than the number of samples ${n}`);
  const names = [...new Set(Array.from(labels, (l) => String(l)))].sort(compareCodePoints);
  const code = new Map(names.map((c, i) => [c, i]));
  const y = Array.from(labels, (l) => code.get(String(l))!);
  const k = names.length;
  const counts = new Array<number>(k).fill(0);
  for (const c of y) counts[c]++;
  if (Math.min(...counts) < 2) throw new Error('stratified subsampling: a class has fewer than 2 rows (the datasets library: "Minimum class count error")');
  const nTrain = n - nTest;
  if (nTrain < k || nTest < k) throw new Error(`stratified subsampling needs at least ${k} rows on each side (one per class)`);
  const rng = new NumpyGenerator(seed);
  const approximateMode = (classCounts: number[], draws: number): number[] => {
    const total = classCounts.reduce((a, b) => a + b, 0);
    const continuous = classCounts.map((c) => (draws * c) / total);
    const floored = continuous.map(Math.floor);
    let need = draws - floored.reduce((a, b) => a + b, 0);
    if (need > 0) {
      const remainder = continuous.map((c, i) => c - floored[i]);
      const values = [...new Set(remainder)].sort((a, b) => b - a);
      for (const v of values) {
        const inds = remainder.flatMap((r, i) => (r === v ? [i] : []));
        const addNow = Math.min(inds.length, need);
        for (const j of rng.choiceWithoutReplacement(inds.length, addNow)) floored[inds[j]] += 1;
        need -= addNow;
        if (need === 0) break;
      }
    }
    return floored;
  };
  // rows of each class in input order (argsort(y, kind="mergesort") split by class)
  const classRows: number[][] = Array.from({ length: k }, () => []);
  y.forEach((c, i) => classRows[c].push(i));
  const nI = approximateMode(counts, nTrain);
  const tI = approximateMode(counts.map((c, i) => c - nI[i]), nTest);
  const train: number[] = [];
  const test: number[] = [];
  for (let c = 0; c < k; c++) {
    const perm = rng.permutation(counts[c]).map((p) => classRows[c][p]);
    train.push(...perm.slice(0, nI[c]));
    test.push(...perm.slice(nI[c], nI[c] + tI[c]));
  }
  rng.permuted(train); // drawn before the test permutation, as in the datasets library
  return rng.permuted(test);
}

/** Loads a Classification, Clustering, PairClassification or Summarization task. */
export async function loadEmbeddingTaskData(task: TaskMetadata, splits: Map<string, string[]>, o: DataOptions = {}): Promise<EmbeddingTaskData> {
  const res = resolveSource(task, o);
  if (res.kind !== 'hf') throw new Error(`${task.name} cannot be read from STS release files`);
  const reader = await subsetReader(task, res.source);
  const out: EmbeddingTaskData = { kind: 'embedding-task', splits: new Map(), notes: [], source: sourceDescription(res) };
  for (const [split, subsets] of splits) {
    const m = new Map<string, EmbeddingTaskSplitData>();
    for (const subset of subsets) {
      const where = `${task.name} ${split}/${subset} (${reader.source})`;
      const rows = await reader.rows(split, subset);
      switch (task.type) {
        case 'Classification': {
          const train = classificationSplit(await reader.rows('train', subset), `${task.name} train/${subset} (${reader.source})`);
          let test = classificationSplit(rows, where);
          if (task.subsample && test.texts.length > task.subsample.nSamples) {
            // ToxicConversationsClassification: stratified_subsampling of the test split
            const keep = task.subsample.method === 'random' ? trainTestSplitTestIndices(test.texts.length, task.subsample.nSamples, 42) : stratifiedTestIndices(test.labels, task.subsample.nSamples, 42);
            test = { texts: keep.map((i) => test.texts[i]), labels: keep.map((i) => test.labels[i]) };
          }
          m.set(subset, { kind: 'Classification', data: { train, test } });
          break;
        }
        case 'Clustering':
          m.set(subset, { kind: 'Clustering', data: clusteringData(task, rows, where) });
          break;
        case 'PairClassification':
          m.set(subset, { kind: 'PairClassification', data: pairData(task, rows, where) });
          break;
        case 'Summarization':
          m.set(subset, { kind: 'Summarization', data: summarizationData(rows, where) });
          break;
        default:
          throw new Error(`${task.name}: ${task.type} is not an embedding-only task type`);
      }
    }
    out.splits.set(split, m);
  }
  return out;
}

function idOf(r: Row): string {
  return str('id' in r ? r.id : r._id);
}

/** Loads a retrieval/reranking task's corpus, queries, qrels and top_ranked per split and subset. */
export async function loadRetrievalData(task: TaskMetadata, splits: Map<string, string[]>, o: DataOptions = {}): Promise<RetrievalData> {
  const res = resolveSource(task, o);
  if (res.kind !== 'hf') throw new Error(`${task.name} cannot be read from STS release files`);
  const src = res.source;
  const out: RetrievalData = { kind: 'retrieval', splits: new Map(), notes: [], source: sourceDescription(res) };
  const files = await src.listFiles();
  const readme = await src.readme();
  const configs = configNames(files, readme);
  for (const [split, subsets] of splits) {
    const m = new Map<string, RetrievalSplitData>();
    for (const subset of subsets) {
      const base = subset === 'default' ? null : subset;
      const cfg = (kind: string): string => (base ? `${base}-${kind}` : kind);
      const where = `${task.name} ${split}/${subset} (${src.description})`;
      const need = async (config: string, what: string): Promise<Row[]> => {
        const rows = await configRows(src, files, readme, config, split);
        if (!rows) throw new DataNotFoundError(`${where}: no ${what} (config "${config}"; configs found: ${configs.join(', ') || 'none'})`, [src.root]);
        return rows;
      };
      // qrels: "<subset>-qrels", or "default" then "qrels" for single-subset datasets
      let qrelRows: Row[] | null = null;
      if (base) qrelRows = await need(cfg('qrels'), 'relevance judgements');
      else {
        qrelRows = (configs.includes('default') || !configs.includes('qrels') ? await configRows(src, files, readme, 'default', split) : null) ?? (await configRows(src, files, readme, 'qrels', split));
        if (!qrelRows) throw new DataNotFoundError(`${where}: no relevance judgements (config "default" or "qrels"; configs found: ${configs.join(', ') || 'none'})`, [src.root]);
      }
      const qrels: Qrels = new Map();
      for (const r of qrelRows) {
        if (!('query-id' in r) || !('corpus-id' in r)) throw new Error(`${where}: qrels rows need query-id and corpus-id (columns: ${Object.keys(r).join(', ')})`);
        const q = str(r['query-id']);
        const d = str(r['corpus-id']);
        const score = Math.trunc(Number(r.score ?? 1)); // mteb casts qrels to int32
        if (!qrels.has(q)) qrels.set(q, new Map());
        qrels.get(q)!.set(d, score);
      }
      const corpusRows = await need(cfg('corpus'), 'corpus');
      const corpus: CorpusDoc[] = corpusRows.map((r) => ({ id: idOf(r), title: str(r.title), text: str(r.text) }));
      if (!corpus.length) throw new Error(`${where}: the corpus is empty`);
      const queryConfig = !base && configs.includes('query') ? 'query' : cfg('queries');
      const queryRows = await need(queryConfig, 'queries');
      let queries: Query[] = queryRows.map((r) => ({ id: idOf(r), text: Array.isArray(r.text) ? (r.text as unknown[]).map(str) : str(r.text ?? r.query) }));
      queries = queries.filter((q) => qrels.has(q.id) && qrels.get(q.id)!.size > 0);
      let topRanked: Map<string, string[]> | null = null;
      if (configs.includes(cfg('top_ranked'))) {
        topRanked = new Map();
        for (const r of await need(cfg('top_ranked'), 'top ranked documents')) {
          const ids = r['corpus-ids'];
          if (!Array.isArray(ids)) throw new Error(`${where}: top_ranked rows need a corpus-ids list`);
          topRanked.set(str(r['query-id']), ids.map(str));
        }
      }
      if (configs.includes(cfg('instruction'))) {
        const instr = new Map<string, string>();
        for (const r of await need(cfg('instruction'), 'instructions')) instr.set(str(r['query-id']), str(r.instruction));
        for (const q of queries) q.instruction = instr.get(q.id) ?? null;
      }
      if (!queries.length) throw new Error(`${where}: no query has relevance judgements`);
      m.set(subset, { corpus, queries, qrels, topRanked });
    }
    out.splits.set(split, m);
  }
  return out;
}

/** Which splits/subsets of a task to load: every eval split with every hf_subset. */
export function allSplits(task: TaskMetadata): Map<string, string[]> {
  return new Map(task.evalSplits.map((s) => [s, hfSubsets(task)]));
}
