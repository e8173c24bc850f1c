// The task registry: mteb 2.x's TaskMetadata for the tasks embedrank can evaluate, copied from
// mteb/tasks/** (names, datasets and revisions, splits, languages, main scores, prompts, and the
// AbsTask class attributes that change scoring); the MTEB(eng, v2) tasks not written out here
// come from mteb-tasks.ts.
import type { PromptType } from './model.js';
import { MTEB_ENG_V2_EXTRA_TASKS } from './mteb-tasks.js';

export type TaskType = 'STS' | 'Reranking' | 'Retrieval' | 'Classification' | 'Clustering' | 'PairClassification' | 'Summarization';

/** Every task type, in the order the leaderboard lists them. */
export const TASK_TYPES: readonly TaskType[] = ['Classification', 'Clustering', 'PairClassification', 'Reranking', 'Retrieval', 'STS', 'Summarization'];

export interface TaskMetadata {
  name: string;
  type: TaskType;
  description: string;
  reference: string;
  /** Hugging Face dataset id and the revision mteb pins. */
  dataset: { path: string; revision: string };
  evalSplits: string[];
  /** mteb eval_langs: a list (one "default" subset) or hf_subset -> languages. */
  evalLangs: string[] | Record<string, string[]>;
  mainScore: string;
  domains: string[];
  license: string;
  /** mteb TaskMetadata.prompt */
  prompt?: string | Partial<Record<PromptType, string>>;
  /** samples in the evaluation split according to mteb's descriptive statistics */
  nSamples?: number;
  /** AbsTaskSTS.min_score / max_score (gold scores are normalised to [0, 1] with them) */
  minScore?: number;
  maxScore?: number;
  /** AbsTaskRetrieval.ignore_identical_ids: drop a query's own id from its results (ArguAna) */
  ignoreIdenticalIds?: boolean;
  /** the task's dataset has a `lang` column in its default config (mteb fast_loading) */
  fastLoading?: boolean;
  /** for SemEval STS files: the folder and the per-source files mteb's dataset is made of */
  semeval?: { dir: string; sources: string[] };
  /** the original release's file (under a --data-dir), for tasks read from it (data/original.ts) */
  original?: { dir: string; file: string; format: 'stsbenchmark' | 'biosses' };
  /** AbsTaskClassification.samples_per_label (default 8) and n_experiments (default 10) */
  samplesPerLabel?: number;
  nExperiments?: number;
  /** AbsTaskClustering settings and the task's dataset_transform */
  clustering?: {
    /** rows hold lists of sentences and labels (mteb's v1 layout): concatenate them */
    flatten?: boolean;
    /** hierarchical labels: "cs.AI" -> ["cs", "AI"] (ArXivHierarchicalClustering's split_labels) */
    splitLabelsOn?: string;
    /** drop the one document of each label that occurs once (StackExchangeClusteringP2P.v2) */
    dropSingletonLabels?: boolean;
    /** max_fraction_of_documents_to_embed (default 0.04; null embeds all) */
    maxFractionOfDocumentsToEmbed?: number | null;
    maxDepth?: number | null;
  };
  /**
   * The task's dataset_transform subsamples the evaluation split with the `datasets` library's
   * train_test_split(test_size=nSamples, seed=42[, stratify_by_column]); both are reproduced
   * exactly (data/load.ts trainTestSplitTestIndices, stratifiedTestIndices).
   */
  subsample?: { method: 'random' | 'stratified'; nSamples: number; column: string };
  /** PairClassification datasets whose sentence columns have other names (sent1 / sent2) */
  pairColumns?: [string, string];
  /** AbsTaskRetrieval.task_specific_scores (MindSmallReranking: max over "<query>_<n>" subqueries) */
  taskSpecificScores?: 'max_over_subqueries';
}

/** mteb's abstask_prompt: the instruction used when the task has none. */
export const ABSTASK_PROMPT: Record<TaskType, string> = {
  STS: 'Retrieve semantically similar text.',
  Reranking: 'Retrieve text based on user query.',
  Retrieval: 'Retrieve text based on user query.',
  Classification: 'Classify user passages.',
  Clustering: 'Identify categories in user passages.',
  PairClassification: 'Retrieve text that are semantically similar to the given text.',
  Summarization: 'Given a news summary, retrieve other semantically similar summaries.',
};

const ENG = ['eng-Latn'];

function sts(
  name: string,
  path: string,
  revision: string,
  description: string,
  reference: string,
  extra: Partial<TaskMetadata>,
): TaskMetadata {
  return {
    name,
    type: 'STS',
    description,
    reference,
    dataset: { path, revision },
    evalSplits: ['test'],
    evalLangs: ENG,
    mainScore: 'cosine_spearman',
    domains: [],
    license: 'not specified',
    minScore: 0,
    maxScore: 5,
    ...extra,
  };
}

const TASK_LIST: TaskMetadata[] = [
  sts('STS12', 'mteb/sts12-sts', 'a0d554a64d88156834ff5ae9920b964011b16384', 'SemEval-2012 Task 6.', 'https://www.aclweb.org/anthology/S12-1051.pdf', {
    domains: ['Encyclopaedic', 'News', 'Written'],
    nSamples: 3108,
    semeval: { dir: '2012', sources: ['MSRpar', 'MSRvid', 'SMTeuroparl', 'OnWN', 'SMTnews'] },
  }),
  sts('STS13', 'mteb/sts13-sts', '7e90230a92c190f1bf69ae9002b8cea547a64cca', 'SemEval STS 2013 dataset.', 'https://www.aclweb.org/anthology/S13-1004/', {
    domains: ['Web', 'News', 'Non-fiction', 'Written'],
    nSamples: 1500,
    semeval: { dir: '2013', sources: ['headlines', 'OnWN', 'FNWN'] },
  }),
  sts('STS14', 'mteb/sts14-sts', '6031580fec1f6af667f0bd2da0a551cf4f0b2375', 'SemEval STS 2014 dataset. Currently only the English dataset', 'https://www.aclweb.org/anthology/S14-1002', {
    domains: ['Blog', 'Web', 'Spoken'],
    nSamples: 3750,
    semeval: { dir: '2014', sources: ['deft-forum', 'deft-news', 'headlines', 'images', 'OnWN', 'tweet-news'] },
  }),
  sts('STS15', 'mteb/sts15-sts', 'ae752c7c21bf194d8b67fd573edf7ae58183cbe3', 'SemEval STS 2015 dataset', 'https://www.aclweb.org/anthology/S15-2010', {
    domains: ['Blog', 'News', 'Web', 'Written', 'Spoken'],
    nSamples: 3000,
    semeval: { dir: '2015', sources: ['answers-forums', 'answers-students', 'belief', 'headlines', 'images'] },
  }),
  sts('STS16', 'mteb/sts16-sts', '4d8694f8f0e0100860b497b999b3dbed754a0513', 'SemEval-2016 Task 4', 'https://www.aclweb.org/anthology/S16-1001', {
    domains: ['Blog', 'Web', 'Spoken'],
    nSamples: 1186,
    semeval: { dir: '2016', sources: ['answer-answer', 'headlines', 'plagiarism', 'postediting', 'question-question'] },
  }),
  sts(
    'STS17',
    'mteb/sts17-crosslingual-sts',
    'faeb762787bd10488a50c8b5be4a3b82e411949c',
    'Semeval-2017 task 1: Semantic textual similarity-multilingual and cross-lingual focused evaluation',
    'https://alt.qcri.org/semeval2017/task1/',
    {
      evalLangs: {
        'ko-ko': ['kor-Hang'],
        'ar-ar': ['ara-Arab'],
        'en-ar': ['eng-Latn', 'ara-Arab'],
        'en-de': ['eng-Latn', 'deu-Latn'],
        'en-en': ['eng-Latn'],
        'en-tr': ['eng-Latn', 'tur-Latn'],
        'es-en': ['spa-Latn', 'eng-Latn'],
        'es-es': ['spa-Latn'],
        'fr-en': ['fra-Latn', 'eng-Latn'],
        'it-en': ['ita-Latn', 'eng-Latn'],
        'nl-en': ['nld-Latn', 'eng-Latn'],
      },
      domains: ['News', 'Web', 'Written'],
      nSamples: 5346,
      fastLoading: true,
    },
  ),
  sts('STSBenchmark', 'mteb/stsbenchmark-sts', 'b0fddb56ed78048fa8b90373c8a3cfc37b684831', 'Semantic Textual Similarity Benchmark (STSbenchmark) dataset.', 'https://github.com/PhilipMay/stsb-multi-mt/', {
    domains: ['Blog', 'News', 'Written'],
    nSamples: 1379,
    original: { dir: 'stsbenchmark', file: 'sts-test.csv', format: 'stsbenchmark' },
  }),
  sts('SICK-R', 'mteb/sickr-sts', '20a6d6f312dd54037fe07a32d58e5e168867909d', 'Semantic Textual Similarity SICK-R dataset', 'https://aclanthology.org/L14-1314/', {
    domains: ['Web', 'Written'],
    license: 'cc-by-nc-sa-3.0',
    nSamples: 9927,
    // mteb's SICK-R test split is the whole SICK corpus (train + trial + test = 9927 pairs)
    semeval: { dir: 'sick2014', sources: ['SICK_train.txt', 'SICK_trial.txt', 'SICK_test_annotated.txt'] },
  }),
  sts('BIOSSES', 'mteb/biosses-sts', 'd3fb88f8f02e40887cd149695127462bbcf29b4a', 'Biomedical Semantic Similarity Estimation.', 'https://tabilab.cmpe.boun.edu.tr/BIOSSES/DataSet.html', {
    domains: ['Medical'],
    nSamples: 100,
    original: { dir: 'biosses', file: 'all.tsv', format: 'biosses' },
  }),
  {
    name: 'AskUbuntuDupQuestions',
    type: 'Reranking',
    description: 'AskUbuntu Question Dataset - Questions from AskUbuntu with manual annotations marking pairs of questions as similar or non-similar',
    reference: 'https://github.com/taolei87/askubuntu',
    dataset: { path: 'mteb/AskUbuntuDupQuestions', revision: 'c5691e3c48741d5f83b5cc8e630653d7a8cfc048' },
    evalSplits: ['test'],
    evalLangs: ENG,
    mainScore: 'map_at_1000',
    domains: ['Programming', 'Web'],
    license: 'cc-by-sa-3.0',
    prompt: 'Retrieve duplicate questions from AskUbuntu forum',
    nSamples: 7581,
  },
  {
    name: 'SciDocsRR',
    type: 'Reranking',
    description: 'Ranking of related scientific papers based on their title.',
    reference: 'https://allenai.org/data/scidocs',
    dataset: { path: 'mteb/SciDocsRR', revision: '39b8377811871075eed9de3b8a7e21aaa6acb3d8' },
    evalSplits: ['test'],
    evalLangs: ENG,
    mainScore: 'map_at_1000',
    domains: ['Academic', 'Non-fiction', 'Written'],
    license: 'cc-by-4.0',
    prompt: 'Given a title of a scientific paper, retrieve the titles of other relevant papers',
    nSamples: 122578,
  },
  {
    name: 'StackOverflowDupQuestions',
    type: 'Reranking',
    description: 'Stack Overflow Duplicate Questions Task for questions with the tags Java, JavaScript and Python',
    reference: 'https://www.microsoft.com/en-us/research/uploads/prod/2019/03/nl4se18LinkSO.pdf',
    dataset: { path: 'mteb/StackOverflowDupQuestions', revision: '5debda000fe8e27ebb5c123d38081f92e1847a59' },
    evalSplits: ['test'],
    evalLangs: ENG,
    mainScore: 'map_at_1000',
    domains: ['Written', 'Blog', 'Programming'],
    license: 'cc-by-nc-sa-4.0',
    prompt: 'Retrieve duplicate questions from StackOverflow forum',
    nSamples: 92462,
  },
  {
    name: 'SciFact',
    type: 'Retrieval',
    description: 'SciFact verifies scientific claims using evidence from the research literature containing scientific paper abstracts.',
    reference: 'https://github.com/allenai/scifact',
    dataset: { path: 'mteb/scifact', revision: 'd56462d0e63a25450459c4f213e49ffdb866f7f9' },
    evalSplits: ['test'],
    evalLangs: ENG,
    mainScore: 'ndcg_at_10',
    domains: ['Academic', 'Medical', 'Written'],
    license: 'cc-by-nc-4.0',
    prompt: { query: 'Given a scientific claim, retrieve documents that support or refute the claim' },
    nSamples: 5483,
  },
  {
    name: 'NFCorpus',
    type: 'Retrieval',
    description: 'NFCorpus: A Full-Text Learning to Rank Dataset for Medical Information Retrieval',
    reference: 'https://www.cl.uni-heidelberg.de/statnlpgroup/nfcorpus/',
    dataset: { path: 'mteb/nfcorpus', revision: 'ec0fa4fe99da2ff19ca1214b7966684033a58814' },
    evalSplits: ['test'],
    evalLangs: ENG,
    mainScore: 'ndcg_at_10',
    domains: ['Medical', 'Academic', 'Written'],
    license: 'not specified',
    prompt: { query: 'Given a question, retrieve relevant documents that best answer the question' },
    nSamples: 3956,
  },
  {
    name: 'ArguAna',
    type: 'Retrieval',
    description: 'ArguAna: Retrieval of the Best Counterargument without Prior Topic Knowledge',
    reference: 'http://argumentation.bplaced.net/arguana/data',
    dataset: { path: 'mteb/arguana', revision: 'c22ab2a51041ffd869aaddef7af8d8215647e41a' },
    evalSplits: ['test'],
    evalLangs: ENG,
    mainScore: 'ndcg_at_10',
    domains: ['Social', 'Web', 'Written'],
    license: 'cc-by-sa-4.0',
    prompt: { query: 'Given a claim, find documents that refute the claim' },
    nSamples: 10080,
    ignoreIdenticalIds: true,
  },
];

TASK_LIST.push(...MTEB_ENG_V2_EXTRA_TASKS);

const REGISTRY = new Map(TASK_LIST.map((t) => [t.name, t]));

/** The hf_subsets of a task: the keys of eval_langs, or ["default"]. */
export function hfSubsets(task: TaskMetadata): string[] {
  return Array.isArray(task.evalLangs) ? ['default'] : Object.keys(task.evalLangs);
}

/** hf_subset -> languages, as mteb's hf_subsets_to_langscripts. */
export function subsetLanguages(task: TaskMetadata, subset: string): string[] {
  if (Array.isArray(task.evalLangs)) return [...task.evalLangs];
  const langs = task.evalLangs[subset];
  if (langs) return [...langs];
  const all: string[] = [];
  for (const ls of Object.values(task.evalLangs)) for (const l of ls) if (!all.includes(l)) all.push(l);
  return all;
}

/** Every language (ISO 639-3 + script) the task covers. */
export function taskLanguages(task: TaskMetadata): string[] {
  return subsetLanguages(task, '\0all');
}

/** The instruction mteb would give an instruction model for this task and prompt type. */
export function taskPrompt(task: TaskMetadata): string | Partial<Record<PromptType, string>> {
  return task.prompt ?? ABSTASK_PROMPT[task.type];
}

function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

/** Registry names closest to `name` (case-insensitive edit distance and substring matches). */
export function closeTaskNames(name: string, max = 5): string[] {
  const q = name.toLowerCase();
  return TASK_LIST.map((t) => {
    const n = t.name.toLowerCase();
    // substring matches ("askubuntu", "sts1") first, then small edit distances
    const d = q.length >= 3 && (n.includes(q) || q.includes(n)) ? 0.5 : levenshtein(q, n);
    return { name: t.name, d };
  })
    .filter((x) => x.d <= Math.max(2, q.length / 3))
    .sort((a, b) => a.d - b.d || a.name.localeCompare(b.name))
    .slice(0, max)
    .map((x) => x.name);
}

export class UnknownTaskError extends Error {
  constructor(readonly taskName: string, readonly suggestions: string[]) {
    super(
      `unknown task "${taskName}"` +
        (suggestions.length ? `; did you mean ${suggestions.map((s) => `"${s}"`).join(', ')}?` : '') +
        ` (known tasks: ${TASK_LIST.map((t) => t.name).join(', ')})`,
    );
    this.name = 'UnknownTaskError';
  }
}

/** The task called `name` (exact, else case-insensitive); throws UnknownTaskError listing close names. */
export function getTask(name: string): TaskMetadata {
  const t = REGISTRY.get(name) ?? TASK_LIST.find((x) => x.name.toLowerCase() === name.toLowerCase());
  if (!t) throw new UnknownTaskError(name, closeTaskNames(name));
  return t;
}

export interface TaskFilter {
  names?: string[];
  types?: string[];
  /** ISO 639-3 codes ("eng") or language-script codes ("eng-Latn") */
  languages?: string[];
}

/** Tasks matching every given filter, in registry order (or in `names` order when names are given). */
export function getTasks(filter: TaskFilter = {}): TaskMetadata[] {
  let tasks = filter.names ? filter.names.map(getTask) : [...TASK_LIST];
  if (filter.types?.length) {
    const types = filter.types.map((t) => t.toLowerCase());
    const known = new Set(TASK_TYPES.map((t) => t.toLowerCase()));
    for (const t of types) if (!known.has(t)) throw new Error(`unknown task type "${t}" (known: ${TASK_TYPES.join(', ')})`);
    tasks = tasks.filter((t) => types.includes(t.type.toLowerCase()));
  }
  if (filter.languages?.length) {
    const langs = filter.languages.map((l) => l.toLowerCase());
    tasks = tasks.filter((t) =>
      taskLanguages(t).some((l) => {
        const ll = l.toLowerCase();
        return langs.includes(ll) || langs.includes(ll.split('-')[0]);
      }),
    );
  }
  return tasks;
}

/** Every registered task. */
export function allTasks(): TaskMetadata[] {
  return [...TASK_LIST];
}

/**
 * A copy of `task` restricted to some splits and hf_subsets (mteb's get_task(..., eval_splits,
 * hf_subsets)): result files then hold, and resuming checks, only those. Throws on a split or
 * subset the task does not have.
 */
export function selectSubsets(task: TaskMetadata, o: { evalSplits?: string[]; hfSubsets?: string[] }): TaskMetadata {
  const t: TaskMetadata = { ...task };
  if (o.evalSplits) {
    for (const s of o.evalSplits) if (!task.evalSplits.includes(s)) throw new Error(`${task.name} has no eval split "${s}" (it has ${task.evalSplits.join(', ')})`);
    t.evalSplits = [...o.evalSplits];
  }
  if (o.hfSubsets) {
    if (Array.isArray(task.evalLangs)) {
      if (o.hfSubsets.some((s) => s !== 'default')) throw new Error(`${task.name} has only the "default" subset`);
    } else {
      const langs = task.evalLangs;
      for (const s of o.hfSubsets) if (!(s in langs)) throw new Error(`${task.name} has no subset "${s}" (it has ${Object.keys(langs).join(', ')})`);
      t.evalLangs = Object.fromEntries(o.hfSubsets.map((s) => [s, [...langs[s]]]));
    }
  }
  return t;
}

/**
 * get_tasks(languages=..., exclusive_language_filter=True) for one task: its hf_subsets whose
 * languages are all among `languages` (ISO 639-3 codes, or with script); null when none are.
 */
export function exclusiveLanguageSubsets(task: TaskMetadata, languages: string[]): string[] | null {
  const want = languages.map((l) => l.toLowerCase());
  const ok = (l: string): boolean => want.includes(l.toLowerCase()) || want.includes(l.toLowerCase().split('-')[0]);
  const subsets = hfSubsets(task).filter((s) => subsetLanguages(task, s).every(ok));
  return subsets.length ? subsets : null;
}
