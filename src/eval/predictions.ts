// Model predictions as mteb 2.x saves them (AbsTask._save_task_predictions): one file per task,
// {prediction_folder}/{TaskName}_predictions.json = {"mteb_model_meta": {"model_name", "revision"},
// <hf_subset>: {<split>: predictions}}, merged with what the file already holds; and
// AbsTaskRetrieval.convert_to_reranking, which turns a retrieval task into reranking of the top k
// documents a first-stage run saved.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelMeta } from './model.js';
import type { Run } from './retrieval-metrics.js';
import { compactPyJson, parsePyJson, writeFileAtomic } from './results.js';

/** {folder}/{TaskName}_predictions.json */
export function predictionsPath(folder: string, taskName: string): string {
  return join(folder, `${taskName}_predictions.json`);
}

/** A run as mteb's results dict: query id -> {doc id: score}, in run order. */
export function runToJson(run: Run): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [q, docs] of run) out[q] = Object.fromEntries(docs);
  return out;
}

/** Adds one (subset, split) of predictions to the task's prediction file (atomic rewrite). */
export function savePredictions(folder: string, taskName: string, meta: ModelMeta, subset: string, split: string, predictions: unknown): string {
  const path = predictionsPath(folder, taskName);
  let existing: Record<string, unknown> = { mteb_model_meta: { model_name: meta.name, revision: meta.revision } };
  if (existsSync(path)) existing = parsePyJson(readFileSync(path, 'utf8')) as Record<string, unknown>;
  const bySubset = (existing[subset] ?? {}) as Record<string, unknown>;
  bySubset[split] = predictions;
  existing[subset] = bySubset;
  writeFileAtomic(path, compactPyJson(existing));
  return path;
}

export interface PreviousResults {
  path: string;
  /** mteb_model_meta of the first-stage model (reported as previous_results_model_meta) */
  modelMeta: Record<string, unknown>;
  /** hf_subset -> split -> query id -> the top k document ids, best first */
  topRanked: Map<string, Map<string, Map<string, string[]>>>;
}

/**
 * convert_to_reranking(top_ranked_path, top_k): reads a prediction file (or the task's file in a
 * folder) and keeps each query's top_k documents by score (ties in saved order). Throws when the
 * file is missing or not a prediction file.
 */
export function loadPreviousResults(pathOrFolder: string, taskName: string, topK = 10): PreviousResults {
  if (!Number.isInteger(topK) || topK < 1) throw new RangeError(`top_k must be a positive integer, got ${topK}`);
  const path = existsSync(pathOrFolder) && statSync(pathOrFolder).isDirectory() ? predictionsPath(pathOrFolder, taskName) : pathOrFolder;
  if (!existsSync(path)) throw new Error(`Can't find previous results for ${taskName}: ${path} does not exist (save them with --save-predictions on a first-stage run)`);
  const raw = parsePyJson(readFileSync(path, 'utf8')) as Record<string, unknown>;
  if (!raw || typeof raw !== 'object' || !raw.mteb_model_meta) throw new Error(`${path} is not an mteb prediction file (no mteb_model_meta)`);
  const topRanked: PreviousResults['topRanked'] = new Map();
  for (const [subset, splits] of Object.entries(raw)) {
    if (subset === 'mteb_model_meta') continue;
    const m = new Map<string, Map<string, string[]>>();
    for (const [split, results] of Object.entries(splits as Record<string, unknown>)) {
      if (!results || typeof results !== 'object' || Array.isArray(results)) throw new Error(`${path}: ${subset}/${split}: previous top ranked results are not a dictionary`);
      const q = new Map<string, string[]>();
      for (const [qid, docs] of Object.entries(results as Record<string, Record<string, number>>)) {
        const ids = Object.keys(docs);
        // sorted(values, key=values.get, reverse=True): stable, so ties keep the saved order
        ids.sort((a, b) => docs[b] - docs[a]);
        q.set(qid, ids.slice(0, topK));
      }
      m.set(split, q);
    }
    topRanked.set(subset, m);
  }
  return { path, modelMeta: raw.mteb_model_meta as Record<string, unknown>, topRanked };
}
