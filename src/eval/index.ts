// embedrank's evaluation subsystem: mteb 2.x tasks, data loading, evaluators and result files.
export { evaluate, OVERWRITE_STRATEGIES, CacheError } from './evaluate.js';
export type { EvaluateOptions, EvaluateEvent, EncodeKwargs, ModelResult, OverwriteStrategy, TaskError } from './evaluate.js';
export { ModelOutputError } from './model.js';
export type { CrossEncoderLike, EmbeddingModelLike, EncodeOptions, EvaluableModel, ModelMeta, PromptType, SimilarityFn } from './model.js';
export { ABSTASK_PROMPT, UnknownTaskError, allTasks, closeTaskNames, getTask, getTasks, hfSubsets, subsetLanguages, taskLanguages, taskPrompt } from './tasks.js';
export type { TaskFilter, TaskMetadata, TaskType } from './tasks.js';
export {
  DEFAULT_MTEB_VERSION,
  MTEB_COMPAT_VERSION,
  mainScore,
  modelNameAsPath,
  modelResultDir,
  parsePyJson,
  pyJsonDumps,
  readTaskResult,
  taskResultJson,
  taskResultPath,
  writeTaskResult,
} from './results.js';
export type { PhaseTiming, ScoresDict, TaskResult } from './results.js';
export { calculateRetrievalScores, DEFAULT_K_VALUES, mrrQuery, nauc, trecEvalQuery } from './retrieval-metrics.js';
export type { Qrels, Run, RetrievalScores, ScoreDict } from './retrieval-metrics.js';
export { stsMetrics, stsSimilarities } from './sts.js';
export type { StsMetrics } from './sts.js';
export { pearson, spearman, rankdata } from './stats.js';
export { DataNotFoundError, loadRetrievalData, loadStsData, resolveSource } from './data/load.js';
export type { DataOptions, RetrievalData, RetrievalSplitData, StsData } from './data/load.js';
export { HubError, HubSource, LocalSource, downloadFile, hubCacheDir, listRemoteFiles, snapshotDir } from './data/hub.js';
export type { HubOptions } from './data/hub.js';
export { ProgressBar } from '../core/progress.js';
export type { ProgressOptions } from '../core/progress.js';
