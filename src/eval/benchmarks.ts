// Benchmarks: named task selections as mteb 2.x defines them (mteb/benchmarks/benchmarks/
// benchmarks.py), with the splits and hf_subsets each task is evaluated on, and the leaderboard's
// summary of a model's results: the mean main score per task type, the mean over tasks
// ("Mean (Task)") and the mean of the type means ("Mean (TaskType)").
import { mainScore, type TaskResult } from './results.js';
import { exclusiveLanguageSubsets, getTask, selectSubsets, TASK_TYPES, type TaskMetadata, type TaskType } from './tasks.js';

export interface Benchmark {
  name: string;
  aliases: string[];
  displayName: string;
  description: string;
  reference: string | null;
  /** the tasks, each restricted to the splits and subsets the benchmark evaluates */
  tasks: TaskMetadata[];
}

/** mteb's MTEB_EN: 38 English tasks (test split, English-only subsets) plus three with chosen subsets. */
function mtebEngV2(): Benchmark {
  const names = [
    'ArguAna', 'ArXivHierarchicalClusteringP2P', 'ArXivHierarchicalClusteringS2S', 'AskUbuntuDupQuestions', 'BIOSSES',
    'Banking77Classification', 'BiorxivClusteringP2P.v2', 'CQADupstackGamingRetrieval', 'CQADupstackUnixRetrieval',
    'ClimateFEVERHardNegatives', 'FEVERHardNegatives', 'FiQA2018', 'HotpotQAHardNegatives', 'ImdbClassification',
    'MTOPDomainClassification', 'MassiveIntentClassification', 'MassiveScenarioClassification', 'MedrxivClusteringP2P.v2',
    'MedrxivClusteringS2S.v2', 'MindSmallReranking', 'SCIDOCS', 'SICK-R', 'STS12', 'STS13', 'STS14', 'STS15', 'STSBenchmark',
    'SprintDuplicateQuestions', 'StackExchangeClustering.v2', 'StackExchangeClusteringP2P.v2', 'TRECCOVID',
    'Touche2020Retrieval.v3', 'ToxicConversationsClassification', 'TweetSentimentExtractionClassification',
    'TwentyNewsgroupsClustering.v2', 'TwitterSemEval2015', 'TwitterURLCorpus', 'SummEvalSummarization.v2',
  ];
  // get_tasks(tasks, languages=["eng"], eval_splits=["test"], exclusive_language_filter=True)
  const tasks = names.map((n) => {
    const t = getTask(n);
    const subsets = exclusiveLanguageSubsets(t, ['eng']);
    if (!subsets) throw new Error(`${n} has no English-only subset`);
    return selectSubsets(t, { evalSplits: ['test'], hfSubsets: Array.isArray(t.evalLangs) ? undefined : subsets });
  });
  tasks.push(
    selectSubsets(getTask('AmazonCounterfactualClassification'), { evalSplits: ['test'], hfSubsets: ['en'] }),
    selectSubsets(getTask('STS17'), { evalSplits: ['test'], hfSubsets: ['en-en'] }),
    selectSubsets(getTask('STS22.v2'), { evalSplits: ['test'], hfSubsets: ['en'] }),
  );
  return {
    name: 'MTEB(eng, v2)',
    aliases: ['MTEB(eng)'],
    displayName: 'English',
    description:
      'English text embedding quality across classification, clustering, retrieval, reranking, pair classification, and semantic similarity, prioritizing tasks not commonly used for fine-tuning to give a more realistic estimate of generalization performance.',
    reference: null,
    tasks,
  };
}

let cache: Benchmark[] | null = null;

/** Every benchmark embedrank can run. */
export function getBenchmarks(): Benchmark[] {
  cache ??= [mtebEngV2()];
  return [...cache];
}

export class UnknownBenchmarkError extends Error {
  constructor(readonly benchmarkName: string) {
    super(`unknown benchmark "${benchmarkName}" (known: ${getBenchmarks().map((b) => [b.name, ...b.aliases].map((x) => `"${x}"`).join(' / ')).join(', ')})`);
    this.name = 'UnknownBenchmarkError';
  }
}

/** The benchmark called `name` or one of its aliases (case-insensitive); throws UnknownBenchmarkError. */
export function getBenchmark(name: string): Benchmark {
  const q = name.trim().toLowerCase();
  const b = getBenchmarks().find((x) => [x.name, ...x.aliases].some((n) => n.toLowerCase() === q));
  if (!b) throw new UnknownBenchmarkError(name);
  return b;
}

export interface BenchmarkSummary {
  /** task type -> mean main score of its tasks (null when a task has no result) */
  perType: Partial<Record<TaskType, number | null>>;
  /** "Mean (Task)": mean over every task (null when one is missing) */
  meanTask: number | null;
  /** "Mean (TaskType)": mean of the per-type means */
  meanTaskType: number | null;
  /** tasks of the benchmark without a (finite) result */
  missing: string[];
}

/** The leaderboard's summary of `results` over `tasks` (main scores as stored, 0..1). */
export function summarizeBenchmark(tasks: TaskMetadata[], results: TaskResult[]): BenchmarkSummary {
  const byName = new Map(results.map((r) => [r.task_name, r]));
  const missing: string[] = [];
  const scores = new Map<string, number>();
  for (const t of tasks) {
    const r = byName.get(t.name);
    const s = r ? mainScore(r) : NaN;
    if (Number.isFinite(s)) scores.set(t.name, s);
    else missing.push(t.name);
  }
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const perType: BenchmarkSummary['perType'] = {};
  for (const type of TASK_TYPES) {
    const ts = tasks.filter((t) => t.type === type);
    if (!ts.length) continue;
    perType[type] = ts.every((t) => scores.has(t.name)) ? mean(ts.map((t) => scores.get(t.name)!)) : null;
  }
  const typeMeans = Object.values(perType);
  return {
    perType,
    meanTask: missing.length ? null : mean(tasks.map((t) => scores.get(t.name)!)),
    meanTaskType: typeMeans.some((v) => v === null) ? null : mean(typeMeans as number[]),
    missing,
  };
}
