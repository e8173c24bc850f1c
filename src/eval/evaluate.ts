// evaluate(): mteb 2.x's mteb.evaluate for embedrank models. Per task: check the result cache
// (overwrite strategies always / never / only-missing / only-cache), load the data, evaluate each
// missing split and hf_subset, write {output}/{org__model}/{revision}/{Task}.json after every
// subset (atomically, so an interrupted run resumes with only-missing) plus model_meta.json and
// run_settings.jsonl, and return a ModelResult.
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { assertWritableFolder } from '../io/writable.js';
import { evaluateClassification } from './classification.js';
import { evaluateClustering } from './clustering.js';
import { allSplits, loadEmbeddingTaskData, loadRetrievalData, loadStsData, resolveSource, sourceDescription, type DataOptions, type EmbeddingTaskData, type RetrievalData, type StsData } from './data/load.js';
import { evaluatePairClassification } from './pair-classification.js';
import { loadPreviousResults, runToJson, savePredictions } from './predictions.js';
import type { Run } from './retrieval-metrics.js';
import { PythonRandom } from './rng.js';
import { evaluateSummarization } from './summarization.js';
import type { EncodeOptions, EvaluableModel } from './model.js';
import { evaluateRetrieval } from './retrieval.js';
import {
  appendRunSettings,
  DEFAULT_MTEB_VERSION,
  EMBEDRANK_VERSION,
  extraMeta,
  missingEvaluations,
  modelResultDir,
  readTaskResult,
  recordedInputs,
  taskResultPath,
  writeModelMeta,
  writeTaskResult,
  type PhaseTiming,
  type ScoresDict,
  type TaskResult,
} from './results.js';
import { evaluateSts } from './sts.js';
import { getTask, subsetLanguages, taskPrompt, type TaskMetadata } from './tasks.js';

export type OverwriteStrategy = 'always' | 'never' | 'only-missing' | 'only-cache';
export const OVERWRITE_STRATEGIES: readonly OverwriteStrategy[] = ['always', 'never', 'only-missing', 'only-cache'];

/** Passed through to every encode()/predict() call (e.g. batchSize), as mteb's encode_kwargs. */
export interface EncodeKwargs {
  batchSize?: number;
  showProgress?: boolean;
  [key: string]: unknown;
}

export type EvaluateEvent =
  | { type: 'task-start'; task: string; index: number; total: number; missing: Record<string, string[]> }
  | { type: 'task-skip'; task: string; index: number; total: number; reason: string; result: TaskResult }
  | { type: 'task-done'; task: string; index: number; total: number; result: TaskResult; seconds: number; path: string | null }
  | { type: 'task-error'; task: string; index: number; total: number; error: Error }
  | { type: 'subset-done'; task: string; split: string; subset: string; mainScore: number; seconds: number }
  | { type: 'progress'; task: string; split: string; subset: string; done: number; total: number; what: string }
  | { type: 'note'; task: string; message: string }
  | { type: 'log'; task: string; message: string };

export interface EvaluateOptions extends DataOptions {
  /** results folder (default "results"); null: write nothing */
  outputFolder?: string | null;
  /** default "only-missing", as mteb */
  overwriteStrategy?: OverwriteStrategy;
  encodeKwargs?: EncodeKwargs;
  /** throw on the first failing task (default true); otherwise record it in `exceptions` and go on */
  raiseError?: boolean;
  /** mteb_version written into results (default "<mteb version>+embedrank.<version>") */
  mtebVersion?: string;
  /** progress and findings, for CLIs */
  onEvent?: (e: EvaluateEvent) => void;
  /** print data findings (missing SemEval sources...) on stderr (default true) */
  warnings?: boolean;
  /**
   * mteb's prediction_folder: write each task's predictions (retrieval runs, classification
   * labels, cluster assignments, pair scores) to {folder}/{Task}_predictions.json
   */
  predictionFolder?: string | null;
  /**
   * Two-stage reranking (mteb's convert_to_reranking): a prediction file, or a folder holding
   * {Task}_predictions.json, from a first-stage run; retrieval tasks then rerank each query's top
   * `previousResultsTopK` (default 10) saved documents instead of searching the corpus
   */
  previousResults?: string;
  previousResultsTopK?: number;
}

export interface TaskError {
  task_name: string;
  exception: string;
}

/** mteb's ModelResult. */
export interface ModelResult {
  model_name: string;
  model_revision: string | null;
  task_results: TaskResult[];
  exceptions: TaskError[];
}

export class CacheError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CacheError';
  }
}

function checkModel(model: EvaluableModel): void {
  if (!model || typeof model !== 'object') throw new TypeError('evaluate() needs a model object');
  if (model.kind === 'encoder') {
    if (typeof model.encode !== 'function') throw new TypeError('an encoder model needs an encode(texts, options) method');
    if (!['cosine', 'dot', 'euclidean', 'manhattan'].includes(model.similarityFn)) throw new TypeError(`unknown similarity function "${String(model.similarityFn)}"`);
  } else if (model.kind === 'cross-encoder') {
    if (typeof model.predict !== 'function') throw new TypeError('a cross-encoder model needs a predict(pairs, options) method');
  } else throw new TypeError(`model.kind must be "encoder" or "cross-encoder", got ${JSON.stringify((model as { kind?: unknown }).kind)}`);
  if (!model.meta || typeof model.meta.name !== 'string') throw new TypeError('model.meta.name must be a string ("org/name")');
}

interface CacheDecision {
  existing: TaskResult | null;
  missing: Map<string, string[]>;
}

/** mteb's _check_cache. */
function checkCache(task: TaskMetadata, path: string | null, strategy: OverwriteStrategy): CacheDecision {
  let existing: TaskResult | null = null;
  if (path && strategy !== 'always' && existsSync(path)) {
    try {
      existing = readTaskResult(path);
    } catch (e) {
      if (strategy !== 'only-missing') throw new CacheError(`cannot read ${path}: ${(e as Error).message}`);
      existing = null; // unreadable: evaluate again
    }
  }
  const dontOverwrite = strategy === 'never' || strategy === 'only-cache';
  const all = allSplits(task);
  let missing = all;
  if (existing) {
    const m = missingEvaluations(existing, task);
    const mergeable = m.size === 0 || existing.dataset_revision === task.dataset.revision;
    if (dontOverwrite || mergeable) missing = m;
    else existing = null;
  }
  if (missing.size && dontOverwrite) {
    if (!existing) {
      if (strategy === 'only-cache') throw new CacheError(`overwrite strategy is "only-cache" but there are no results for ${task.name}${path ? ` (${path})` : ''}`);
    } else {
      const desc = [...missing].map(([s, subs]) => `${s}: ${subs.join(', ')}`).join('; ');
      throw new CacheError(`overwrite strategy is "${strategy}" and ${path} exists but lacks ${desc}; use "only-missing" to evaluate them`);
    }
    existing = null;
  }
  return { existing, missing };
}

/** The first stage a reranking run reads (previousResults), as run_settings.jsonl records it; null: none. */
function firstStage(o: EvaluateOptions): string | null {
  return o.previousResults ? `top ${o.previousResultsTopK ?? 10} of ${resolve(o.previousResults)}` : null;
}

/**
 * Whether the results a run would keep were computed from other inputs than this run would read:
 * the data_source and first_stage run_settings.jsonl recorded for the task's splits against what
 * this run resolves (paths compared absolute; a Hub source by repository and revision, not by cache
 * folder; the first stage by file and top-k). Null when nothing was recorded, or the data source
 * cannot be resolved without reading data (then nothing changes).
 */
function inputsChange(task: TaskMetadata, dir: string, o: EvaluateOptions): { what: string; was: string; now: string } | null {
  const recorded = recordedInputs(dir, task.name);
  if (!recorded.size) return null;
  const stage = firstStage(o);
  for (const r of recorded.values()) {
    if (r.firstStage !== stage) return { what: 'first stage (--previous-results / --rerank-top-k)', was: r.firstStage ?? 'none', now: stage ?? 'none' };
  }
  let now: string;
  try {
    now = sourceDescription(resolveSource(task, o));
  } catch {
    return null;
  }
  const key = (s: string): string => {
    const t = s.replace(/ \(hub cache [^)]*\)$/, '');
    return t.includes('@') && !isAbsolute(t) ? t : resolve(t);
  };
  for (const r of recorded.values()) if (r.dataSource !== undefined && key(r.dataSource) !== key(now)) return { what: 'data source', was: r.dataSource, now };
  return null;
}

function toTaskMetadata(t: string | TaskMetadata): TaskMetadata {
  return typeof t === 'string' ? getTask(t) : t;
}

/**
 * Evaluates `model` on `tasks` (names or registry entries) and writes mteb-format results.
 * Unknown task names throw before any work starts.
 */
/**
 * How a data note is printed: "warning" when it says the data differs from mteb's (missing
 * sources, other counts, ignored files), "note" when it only says what was read.
 */
export function noteLevel(message: string): 'warning' | 'note' {
  return /missing|not comparable|but mteb's|ignored|differ|fewer|more than/i.test(message) ? 'warning' : 'note';
}

export async function evaluate(model: EvaluableModel, tasks: string | TaskMetadata | Array<string | TaskMetadata>, options: EvaluateOptions = {}): Promise<ModelResult> {
  checkModel(model);
  const list = (Array.isArray(tasks) ? tasks : [tasks]).map(toTaskMetadata);
  const strategy = options.overwriteStrategy ?? 'only-missing';
  if (!OVERWRITE_STRATEGIES.includes(strategy)) throw new TypeError(`overwriteStrategy must be one of ${OVERWRITE_STRATEGIES.join(', ')}, got "${String(strategy)}"`);
  const outputFolder = options.outputFolder === undefined ? 'results' : options.outputFolder;
  const raiseError = options.raiseError ?? true;
  const mtebVersion = options.mtebVersion ?? DEFAULT_MTEB_VERSION;
  const emit = options.onEvent ?? (() => undefined);
  const warn = (task: string, message: string): void => {
    emit({ type: 'note', task, message });
    if (options.warnings ?? true) process.stderr.write(`${noteLevel(message)}: ${message}\n`);
  };
  const meta = model.meta;
  // A results folder that cannot be written fails now, not after the first task has run.
  if (outputFolder) assertWritableFolder(modelResultDir(outputFolder, meta), 'results folder');
  const result: ModelResult = { model_name: meta.name, model_revision: meta.revision, task_results: [], exceptions: [] };

  for (let index = 0; index < list.length; index++) {
    const task = list[index];
    const total = list.length;
    const path = outputFolder ? taskResultPath(outputFolder, meta, task.name) : null;
    try {
      let { existing, missing } = checkCache(task, path, strategy);
      const changed = existing && outputFolder ? inputsChange(task, modelResultDir(outputFolder, meta), options) : null;
      if (changed) {
        if (strategy === 'only-missing') {
          warn(task.name, `${task.name}: the ${changed.what} differs from the one ${path} was computed from (${changed.was}; now ${changed.now}): evaluating it again`);
          existing = null;
          missing = allSplits(task);
        } else {
          warn(task.name, `${task.name}: ${path} was computed from a ${changed.what} that differs from this run's (${changed.was}; now ${changed.now}); overwrite strategy "${strategy}" keeps it`);
        }
      }
      if (existing && missing.size === 0 && strategy !== 'always') {
        emit({ type: 'task-skip', task: task.name, index, total, reason: `results exist (${path})`, result: existing });
        result.task_results.push(existing);
        continue;
      }
      emit({ type: 'task-start', task: task.name, index, total, missing: Object.fromEntries(missing) });
      const log = options.log ?? ((message: string) => emit({ type: 'log', task: task.name, message }));
      const r = await evaluateTask(model, task, missing, existing, path, { ...options, outputFolder, mtebVersion, log }, (m) => warn(task.name, m), emit);
      result.task_results.push(r.result);
      emit({ type: 'task-done', task: task.name, index, total, result: r.result, seconds: r.seconds, path });
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      emit({ type: 'task-error', task: task.name, index, total, error: err });
      if (raiseError) throw err;
      result.exceptions.push({ task_name: task.name, exception: err.message });
    }
  }
  return result;
}

async function evaluateTask(
  model: EvaluableModel,
  task: TaskMetadata,
  missing: Map<string, string[]>,
  existing: TaskResult | null,
  path: string | null,
  o: EvaluateOptions & { outputFolder: string | null; mtebVersion: string },
  warn: (m: string) => void,
  emit: (e: EvaluateEvent) => void,
): Promise<{ result: TaskResult; seconds: number }> {
  const t0 = performance.now();
  const phases: PhaseTiming[] = [];
  const phase = (name: string, start: number, end: number, split = '', subset = ''): void => {
    phases.push({ name, start: (start - t0) / 1000, end: (end - t0) / 1000, split, subset });
  };
  if (model.kind === 'cross-encoder' && task.type !== 'Retrieval' && task.type !== 'Reranking') {
    throw new TypeError(`${task.name} is a${/^[AEIOU]/.test(task.type) ? 'n' : ''} ${task.type} task, which needs an embedding model (mteb: "Expected model to be an instance of EncoderProtocol"); ${model.meta.name} is a cross-encoder`);
  }
  // splits -> subset -> scores, existing ones first (mteb merges the new subsets in)
  const scores = new Map<string, Map<string, ScoresDict>>();
  for (const [split, entries] of Object.entries(existing?.scores ?? {})) scores.set(split, new Map(entries.map((e) => [e.hf_subset, e])));
  const notes = [...(existing?.notes ?? [])];
  let evaluationTime = existing?.evaluation_time ?? 0;

  // previous results are checked before any data is read (mteb: convert_to_reranking)
  const isRetrieval = task.type === 'Retrieval' || task.type === 'Reranking';
  if (o.previousResults && !isRetrieval) throw new Error(`${task.name}: previous results can only turn retrieval tasks into reranking; ${task.name} is ${task.type}`);
  const previous = o.previousResults ? loadPreviousResults(o.previousResults, task.name, o.previousResultsTopK ?? 10) : null;

  const tLoad = performance.now();
  const data: StsData | RetrievalData | EmbeddingTaskData =
    task.type === 'STS'
      ? await loadStsData(task, missing, o)
      : task.type === 'Retrieval' || task.type === 'Reranking'
        ? await loadRetrievalData(task, missing, o)
        : await loadEmbeddingTaskData(task, missing, o);
  // the task's random.Random(seed): clustering draws continue it across splits and subsets, as in mteb
  const taskRng = new PythonRandom(42);

  phase('Data loading', tLoad, performance.now());
  for (const n of data.notes) {
    warn(n);
    if (!notes.includes(n)) notes.push(n);
  }
  evaluationTime += (performance.now() - tLoad) / 1000;

  const build = (): TaskResult => {
    const flat: Record<string, ScoresDict[]> = {};
    for (const split of task.evalSplits) {
      const m = scores.get(split);
      if (m?.size) flat[split] = [...m.values()];
    }
    for (const [split, m] of scores) if (!flat[split] && m.size) flat[split] = [...m.values()];
    return {
      dataset_revision: task.dataset.revision,
      task_name: task.name,
      mteb_version: o.mtebVersion,
      scores: flat,
      evaluation_time: evaluationTime,
      kg_co2_emissions: existing?.kg_co2_emissions ?? null,
      date: Date.now() / 1000,
      evaluation_phases: [...(existing?.evaluation_phases ?? []), ...phases],
      ...(notes.length ? { notes } : {}),
    };
  };
  const save = (r: TaskResult): void => {
    if (!path || !o.outputFolder) return;
    writeTaskResult(path, r);
    writeModelMeta(modelResultDir(o.outputFolder, model.meta), model);
  };

  const { batchSize, showProgress, ...restKwargs } = o.encodeKwargs ?? {};
  for (const [split, subsets] of missing) {
    if (!scores.has(split)) scores.set(split, new Map());
    for (const subset of subsets) {
      const ts = performance.now();
      const opts: EncodeOptions & Record<string, unknown> = {
        ...restKwargs,
        ...(batchSize !== undefined ? { batchSize } : {}),
        taskName: task.name,
        taskType: task.type,
        taskPrompt: taskPrompt(task),
        showProgress,
        hfSplit: split,
        hfSubset: subset,
      };
      const savePred = (p: unknown): void => {
        if (o.predictionFolder) savePredictions(o.predictionFolder, task.name, model.meta, subset, split, p);
      };
      const hooks = {
        predictions: (p: unknown) => savePred(p instanceof Map ? runToJson(p as Run) : p),
        phase: (name: string, a: number, b: number) => phase(name, a, b, split, subset),
        progress: (done: number, total: number, what: string) => emit({ type: 'progress', task: task.name, split, subset, done, total, what }),
        log: warn,
      };
      let metrics: Record<string, unknown>;
      if (data.kind === 'sts') {
        const pairs = data.splits.get(split)?.get(subset);
        if (!pairs) throw new Error(`${task.name}: no data for split ${split}, subset ${subset}`);
        if (model.kind !== 'encoder') throw new TypeError(`${task.name} needs an embedding model`);
        metrics = { ...(await evaluateSts(model, pairs, opts, { minScore: task.minScore, maxScore: task.maxScore }, hooks)) };
      } else if (data.kind === 'retrieval') {
        let d = data.splits.get(split)?.get(subset);
        if (!d) throw new Error(`${task.name}: no data for split ${split}, subset ${subset}`);
        if (previous) {
          const top = previous.topRanked.get(subset)?.get(split);
          if (!top) throw new Error(`${task.name}: ${previous.path} has no predictions for ${subset}/${split}`);
          d = { ...d, topRanked: top };
        }
        metrics = await evaluateRetrieval(model, d, opts, { ignoreIdenticalIds: task.ignoreIdenticalIds, taskSpecificScores: task.taskSpecificScores }, hooks);
        if (previous) metrics.previous_results_model_meta = previous.modelMeta;
      } else {
        const d = data.splits.get(split)?.get(subset);
        if (!d) throw new Error(`${task.name}: no data for split ${split}, subset ${subset}`);
        if (model.kind !== 'encoder') throw new TypeError(`${task.name} needs an embedding model`);
        switch (d.kind) {
          case 'Classification': {
            const c = await evaluateClassification(model, d.data, opts, { samplesPerLabel: task.samplesPerLabel, nExperiments: task.nExperiments }, hooks);
            savePred(c.predictions);
            metrics = { ...c.metrics };
            break;
          }
          case 'Clustering':
            metrics = { ...(await evaluateClustering(model, d.data, opts, { maxFractionOfDocumentsToEmbed: task.clustering?.maxFractionOfDocumentsToEmbed, maxDepth: task.clustering?.maxDepth }, taskRng, hooks)) };
            break;
          case 'PairClassification':
            metrics = await evaluatePairClassification(model, d.data, opts, hooks);
            break;
          case 'Summarization':
            metrics = { ...(await evaluateSummarization(model, d.data, opts, { minScore: task.minScore ?? 0, maxScore: task.maxScore ?? 5 }, hooks)) };
            break;
        }
      }
      if (!(task.mainScore in metrics)) throw new Error(`${task.name}: main score ${task.mainScore} was not computed`);
      const entry = {
        ...metrics,
        main_score: metrics[task.mainScore] as number,
        hf_subset: subset,
        languages: subsetLanguages(task, subset),
        mteb_version: o.mtebVersion,
      } as ScoresDict;
      scores.get(split)!.set(subset, entry);
      const secs = (performance.now() - ts) / 1000;
      evaluationTime += secs;
      emit({ type: 'subset-done', task: task.name, split, subset, mainScore: entry.main_score, seconds: secs });
      save(build()); // intermediate result: an interrupted run resumes from here
    }
  }
  const final = build();
  save(final);
  if (path && o.outputFolder) {
    const dir = modelResultDir(o.outputFolder, model.meta);
    appendRunSettings(
      dir,
      [...missing.keys()].map((split) => ({
        task: task.name,
        splits: [split],
        version: { mteb: null, embedrank: EMBEDRANK_VERSION, mteb_compat: o.mtebVersion },
        encode_kwargs: { ...(o.encodeKwargs ?? {}) },
        model_settings: extraMeta(model.meta),
        subsets: [...(final.scores[split] ?? []).map((s) => s.hf_subset)].sort(),
        data_source: data.source,
        first_stage: firstStage(o) ?? undefined,
      })),
    );
  }
  return { result: final, seconds: (performance.now() - t0) / 1000 };
}

