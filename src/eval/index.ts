// embedrank's evaluation subsystem: mteb 2.x tasks, data loading, evaluators and result files.
export { evaluate, OVERWRITE_STRATEGIES, CacheError } from './evaluate.js';
export type { EvaluateOptions, EvaluateEvent, EncodeKwargs, ModelResult, OverwriteStrategy, TaskError } from './evaluate.js';
export { ModelOutputError } from './model.js';
export type { CrossEncoderLike, EmbeddingModelLike, EncodeOptions, EvaluableModel, ModelMeta, PromptType, SimilarityFn } from './model.js';
export { ABSTASK_PROMPT, TASK_TYPES, UnknownTaskError, allTasks, closeTaskNames, exclusiveLanguageSubsets, getTask, getTasks, hfSubsets, selectSubsets, subsetLanguages, taskLanguages, taskPrompt } from './tasks.js';
export { UnknownBenchmarkError, getBenchmark, getBenchmarks, summarizeBenchmark } from './benchmarks.js';
export type { Benchmark, BenchmarkSummary } from './benchmarks.js';
export { classificationFromEmbeddings, evaluateClassification, undersample } from './classification.js';
export type { ClassificationData, ClassificationMetrics, ClassificationSettings } from './classification.js';
export { accuracyScore, averagePrecision, classificationScores, precisionRecallF1 } from './classification-metrics.js';
export type { ClassificationScores } from './classification-metrics.js';
export { LogisticRegression } from './logistic-regression.js';
export { clusteringFromEmbeddings, documentsToEmbed, evaluateClustering } from './clustering.js';
export type { ClusteringData, ClusteringMetrics, ClusteringSettings } from './clustering.js';
export { adjustedMutualInfoScore, vMeasureScore } from './cluster-metrics.js';
export { miniBatchKMeans } from './kmeans.js';
export type { MiniBatchKMeansOptions } from './kmeans.js';
export { evaluatePairClassification, pairClassificationMetrics, pairScores, thresholdMetrics } from './pair-classification.js';
export type { PairClassificationData } from './pair-classification.js';
export { evaluateSummarization, summarizationScores } from './summarization.js';
export type { SummarizationData, SummarizationMetrics } from './summarization.js';
export { MT19937, NumpyRandomState, PythonRandom } from './rng.js';
export { loadPreviousResults, predictionsPath, savePredictions } from './predictions.js';
export { closeScoringPool } from './topk-pool.js';
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
export { DataNotFoundError, loadEmbeddingTaskData, loadRetrievalData, loadStsData, resolveSource } from './data/load.js';
export type { DataOptions, RetrievalData, RetrievalSplitData, StsData } from './data/load.js';
export { HubError, HubSource, LocalSource, downloadFile, hubCacheDir, listRemoteFiles, snapshotDir } from './data/hub.js';
export type { HubOptions } from './data/hub.js';
export { ProgressBar } from '../core/progress.js';
export type { ProgressOptions } from '../core/progress.js';
