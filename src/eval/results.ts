// Result files in mteb 2.x's format (mteb/results/task_result.py TaskResult.to_disk,
// mteb/cache/result_cache.py save_to_cache): {output}/{org__model}/{revision}/{Task}.json,
// model_meta.json and run_settings.jsonl, written byte-for-byte as Python's json.dump would
// (key order, float repr, NaN, ensure_ascii, indentation), atomically (temporary file + rename).
import { InputError } from '../errors.js';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { EvaluableModel, ModelMeta } from './model.js';
import { pyFloatRepr, pyRound } from './numeric.js';
import { hfSubsets, type TaskMetadata } from './tasks.js';

export interface PhaseTiming {
  name: string;
  start: number;
  end: number;
  split: string;
  subset: string;
}

/** One hf_subset's scores: metric keys, then main_score, hf_subset, languages, mteb_version. */
export type ScoresDict = Record<string, unknown> & { main_score: number; hf_subset: string; languages: string[] };

export interface TaskResult {
  dataset_revision: string;
  task_name: string;
  mteb_version: string | null;
  /** split -> one entry per hf_subset */
  scores: Record<string, ScoresDict[]>;
  evaluation_time: number | null;
  kg_co2_emissions: number | null;
  /** seconds since the epoch (mteb writes datetime.timestamp()) */
  date: number | null;
  evaluation_phases: PhaseTiming[] | null;
  /** embedrank only: findings about the data (e.g. SemEval sources missing); written only when present */
  notes?: string[];
}

/** The version of mteb whose scoring embedrank reproduces. */
export const MTEB_COMPAT_VERSION = '2.20.0';

function packageVersion(): string {
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const p = new URL(rel, import.meta.url);
      const j = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string };
      if (j.name === 'embedrank' && j.version) return j.version;
    } catch {
      /* try the next */
    }
  }
  return '0.0.0';
}

export const EMBEDRANK_VERSION = packageVersion();

/**
 * The mteb_version written into results: mteb's version with a PEP 440 local label naming
 * embedrank ("2.20.0+embedrank.0.1.0"), so mteb parses it and readers can tell who produced it.
 */
export const DEFAULT_MTEB_VERSION = `${MTEB_COMPAT_VERSION}+embedrank.${EMBEDRANK_VERSION.replace(/[^A-Za-z0-9.]/g, '.')}`;

// ---------------------------------------------------------------------------------------------
// Python-compatible JSON

function pyString(s: string): string {
  return JSON.stringify(s).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * json.dumps(value, indent=indent) as CPython writes it. Numbers are floats (repr, "1.0") unless
 * their key is in `intKeys`; NaN/Infinity are written bare, as Python does.
 */
export function pyJsonDumps(value: unknown, indent: number, intKeys: ReadonlySet<string> = new Set()): string {
  const out: string[] = [];
  const write = (v: unknown, depth: number, key: string | null): void => {
    const pad = ' '.repeat(indent * (depth + 1));
    const end = ' '.repeat(indent * depth);
    if (v === null || v === undefined) out.push('null');
    else if (typeof v === 'boolean') out.push(v ? 'true' : 'false');
    else if (typeof v === 'number') {
      if (key !== null && intKeys.has(key) && Number.isInteger(v)) out.push(String(v));
      else out.push(pyFloatRepr(v));
    } else if (typeof v === 'bigint') out.push(v.toString());
    else if (typeof v === 'string') out.push(pyString(v));
    else if (Array.isArray(v)) {
      if (!v.length) {
        out.push('[]');
        return;
      }
      out.push('[\n');
      v.forEach((x, i) => {
        out.push(pad);
        write(x, depth + 1, key);
        out.push(i < v.length - 1 ? ',\n' : '\n');
      });
      out.push(`${end}]`);
    } else if (typeof v === 'object') {
      const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
      if (!entries.length) {
        out.push('{}');
        return;
      }
      out.push('{\n');
      entries.forEach(([k, x], i) => {
        out.push(`${pad}${pyString(k)}: `);
        write(x, depth + 1, k);
        out.push(i < entries.length - 1 ? ',\n' : '\n');
      });
      out.push(`${end}}`);
    } else out.push(pyString(String(v)));
  };
  write(value, 0, null);
  return out.join('');
}

/** JSON.parse that also accepts Python's bare NaN, Infinity and -Infinity. */
export function parsePyJson(text: string): unknown {
  let s = '';
  let i = 0;
  const SENT = '\u0000pyjson:';
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      s += text.slice(i, j + 1);
      i = j + 1;
    } else if (text.startsWith('NaN', i)) {
      s += JSON.stringify(`${SENT}NaN`);
      i += 3;
    } else if (text.startsWith('-Infinity', i)) {
      s += JSON.stringify(`${SENT}-Infinity`);
      i += 9;
    } else if (text.startsWith('Infinity', i)) {
      s += JSON.stringify(`${SENT}Infinity`);
      i += 8;
    } else {
      s += c;
      i++;
    }
  }
  return JSON.parse(s, (_k, v) => (typeof v === 'string' && v.startsWith(SENT) ? Number(v.slice(SENT.length)) : v));
}

/** Atomically replaces `path` with `content` (temporary file in the same folder, then rename). */
export function writeFileAtomic(path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    writeFileSync(tmp, content);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Task results

function roundScores(v: unknown): unknown {
  if (typeof v === 'number') return pyRound(v, 6);
  if (Array.isArray(v)) return v.map(roundScores);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, roundScores(x)]));
  return v;
}

/** TaskResult.to_disk's JSON: fields in model order, scores rounded to 6 decimals, indent 2. */
export function taskResultJson(r: TaskResult): string {
  const obj: Record<string, unknown> = {
    dataset_revision: r.dataset_revision,
    task_name: r.task_name,
    mteb_version: r.mteb_version,
    scores: roundScores(r.scores),
    evaluation_time: r.evaluation_time,
    kg_co2_emissions: r.kg_co2_emissions,
    date: r.date,
    evaluation_phases: r.evaluation_phases,
  };
  if (r.notes?.length) obj.notes = r.notes;
  return pyJsonDumps(obj, 2);
}

export function writeTaskResult(path: string, r: TaskResult): void {
  writeFileAtomic(path, taskResultJson(r));
}

/** Reads a result file written by mteb or embedrank. */
export function readTaskResult(path: string): TaskResult {
  const raw = parsePyJson(readFileSync(path, 'utf8')) as Record<string, unknown>;
  if (!raw || typeof raw !== 'object' || typeof raw.task_name !== 'string' || !raw.scores || typeof raw.scores !== 'object') {
    throw new Error(`${path} is not an mteb task result (no task_name / scores)`);
  }
  return {
    dataset_revision: String(raw.dataset_revision ?? ''),
    task_name: raw.task_name,
    mteb_version: (raw.mteb_version as string | null) ?? null,
    scores: raw.scores as Record<string, ScoresDict[]>,
    evaluation_time: (raw.evaluation_time as number | null) ?? null,
    kg_co2_emissions: (raw.kg_co2_emissions as number | null) ?? null,
    date: (raw.date as number | null) ?? null,
    evaluation_phases: (raw.evaluation_phases as PhaseTiming[] | null) ?? null,
    ...(Array.isArray(raw.notes) ? { notes: raw.notes as string[] } : {}),
  };
}

/** mteb's get_missing_evaluations: split -> hf_subsets without scores. */
export function missingEvaluations(r: TaskResult, task: TaskMetadata): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const subsets = hfSubsets(task);
  for (const split of task.evalSplits) {
    const have = new Set((r.scores[split] ?? []).map((s) => s.hf_subset));
    const miss = subsets.filter((s) => !have.has(s));
    if (miss.length) out.set(split, miss);
  }
  return out;
}

/** Mean main score over every split and subset (TaskResult.get_score). */
export function mainScore(r: TaskResult): number {
  const vals: number[] = [];
  for (const entries of Object.values(r.scores)) for (const e of entries) vals.push(Number(e.main_score));
  return vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : NaN;
}

// ---------------------------------------------------------------------------------------------
// Paths and model metadata

/** ModelMeta.model_name_as_path(): "/" -> "__", " " -> "_". */
export function modelNameAsPath(name: string | null | undefined): string {
  return (name || 'no_model_name/available').replace(/\//g, '__').replace(/ /g, '_');
}

/** {outputFolder}/{org__name}/{revision or no_revision_available} */
/**
 * `{outputFolder}/{org__name}/{revision}/`, as mteb files results. A revision is one path component:
 * separators become "__" (a hub ref such as refs/pr/1) and "." / ".." are refused, so a revision
 * can never put results outside the output folder.
 * @throws InputError for a revision that is "." or "..".
 */
export function modelResultDir(outputFolder: string, meta: ModelMeta): string {
  const rev = (meta.revision || 'no_revision_available').replace(/[\\/]/g, '__');
  if (rev === '.' || rev === '..') throw new InputError(`revision "${meta.revision}" cannot name a results folder`);
  return join(outputFolder, modelNameAsPath(meta.name), rev);
}

export function taskResultPath(outputFolder: string, meta: ModelMeta, taskName: string): string {
  return join(modelResultDir(outputFolder, meta), `${taskName}.json`);
}

// Integers Python writes without ".0": ModelMeta's int fields and the vLLM engine arguments in
// loader_kwargs (max_tokens is a float field in ModelMeta: mteb writes 512.0).
const MODEL_META_INT_KEYS = new Set([
  'n_parameters', 'n_active_parameters_override', 'n_embedding_parameters', 'embed_dim',
  'max_model_len', 'max_num_batched_tokens', 'max_num_seqs', 'tensor_parallel_size', 'data_parallel_size',
]);

/** ModelMeta.to_dict() with mteb's field order (unknown fields dropped: mteb's ModelMeta forbids extras). */
export function modelMetaDict(model: EvaluableModel): Record<string, unknown> {
  const m = model.meta;
  const cross = model.kind === 'cross-encoder';
  return {
    loader_kwargs: m.loader_kwargs ?? {},
    name: m.name || 'no_model_name/available',
    revision: m.revision || 'no_revision_available',
    release_date: m.release_date ?? null,
    languages: m.languages ?? null,
    n_parameters: m.n_parameters ?? null,
    n_active_parameters_override: m.n_active_parameters_override ?? null,
    n_embedding_parameters: m.n_embedding_parameters ?? null,
    memory_usage_mb: m.memory_usage_mb ?? null,
    max_tokens: m.max_tokens ?? null,
    embed_dim: m.embed_dim ?? null,
    license: m.license ?? null,
    open_weights: m.open_weights ?? null,
    public_training_code: m.public_training_code ?? null,
    public_training_data: m.public_training_data ?? null,
    framework: m.framework ?? ['embedrank'],
    reference: m.reference ?? null,
    similarity_fn_name: m.similarity_fn_name ?? (model.kind === 'encoder' ? model.similarityFn : null),
    use_instructions: m.use_instructions ?? null,
    training_datasets: m.training_datasets ?? null,
    adapted_from: m.adapted_from ?? null,
    superseded_by: m.superseded_by ?? null,
    modalities: m.modalities ?? ['text'],
    model_type: m.model_type ?? [cross ? 'cross-encoder' : 'dense'],
    citation: m.citation ?? null,
    contacts: m.contacts ?? null,
    experiment_kwargs: m.experiment_kwargs ?? null,
    output_dtypes: m.output_dtypes ?? null,
    extra_requirements_groups: m.extra_requirements_groups ?? null,
    loader: m.loader ?? null,
    is_cross_encoder: cross,
  };
}

/** Metadata fields mteb's ModelMeta does not have (e.g. dtype, device), kept for run_settings.jsonl. */
export function extraMeta(meta: ModelMeta): Record<string, unknown> {
  const known = new Set(Object.keys(modelMetaDict({ kind: 'cross-encoder', meta, predict: async () => new Float32Array() })));
  return Object.fromEntries(Object.entries(meta).filter(([k]) => !known.has(k)));
}

/** model_meta.json as save_to_cache writes it (indent 4). */
export function writeModelMeta(dir: string, model: EvaluableModel): void {
  writeFileAtomic(join(dir, 'model_meta.json'), pyJsonDumps(modelMetaDict(model), 4, MODEL_META_INT_KEYS));
}

/**
 * Adds rows to run_settings.jsonl: one per (task, split) with the settings of its last run; rows
 * of other tasks and splits are kept.
 */
export function appendRunSettings(dir: string, rows: Array<Record<string, unknown> & { task: string; splits: string[] }>): void {
  const path = join(dir, 'run_settings.jsonl');
  const keep: string[] = [];
  const replaced = new Set(rows.flatMap((r) => r.splits.map((s) => `${r.task}\0${s}`)));
  if (existsSync(path)) {
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        const r = JSON.parse(line) as { task?: string; splits?: string[] };
        if (r.task && Array.isArray(r.splits) && r.splits.every((s) => replaced.has(`${r.task}\0${s}`))) continue;
      } catch {
        /* keep unparseable lines as they are */
      }
      keep.push(line);
    }
  }
  writeFileAtomic(path, [...keep, ...rows.map((r) => compactPyJson(r))].join('\n') + '\n');
}

/** What a task's split was last computed from, as run_settings.jsonl records it. */
export interface RecordedInputs {
  /** `data_source` (absent in rows written before it was recorded). */
  dataSource?: string;
  /** `first_stage`: "top K of PATH" when it reranked a previous run's results; null when it did not. */
  firstStage: string | null;
}

/**
 * The inputs run_settings.jsonl records for each split of `task` (its last run); splits without a
 * row are absent. An unreadable or missing file gives none.
 */
export function recordedInputs(dir: string, task: string): Map<string, RecordedInputs> {
  const out = new Map<string, RecordedInputs>();
  const path = join(dir, 'run_settings.jsonl');
  if (!existsSync(path)) return out;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as { task?: unknown; splits?: unknown; data_source?: unknown; first_stage?: unknown };
      if (r.task !== task || !Array.isArray(r.splits)) continue;
      const rec: RecordedInputs = {
        dataSource: typeof r.data_source === 'string' ? r.data_source : undefined,
        firstStage: typeof r.first_stage === 'string' ? r.first_stage : null,
      };
      for (const sp of r.splits) if (typeof sp === 'string') out.set(sp, rec);
    } catch {
      /* a line another tool wrote: not ours to judge */
    }
  }
  return out;
}

/** json.dumps(value) without indent: ", " and ": " separators. */
export function compactPyJson(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : pyFloatRepr(v);
  if (typeof v === 'string') return pyString(v);
  if (Array.isArray(v)) return `[${v.map(compactPyJson).join(', ')}]`;
  if (typeof v === 'object') return `{${Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).map(([k, x]) => `${pyString(k)}: ${compactPyJson(x)}`).join(', ')}}`;
  return pyString(String(v));
}
