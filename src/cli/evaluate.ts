// yargs command modules for `embedrank evaluate` and `embedrank tasks`. The bin wires them in:
//
//   yargs(hideBin(process.argv))
//     .command(evaluateCommand(async (args) => loadModelSomehow(args)))
//     .command(tasksCommand())
//
// Model construction belongs to the caller: evaluateCommand takes a factory that gets the parsed
// options (model, device, dtype, batchSize...) and returns a model with close().
import { statSync } from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import { engineArgs, kvCacheStatsLine, usageCheck, withEngineOptions, type EngineArgs } from './engine-options.js';
import type { KvCacheStats } from '../kv/block-pool.js';
import { evaluate, noteLevel, OVERWRITE_STRATEGIES, type EvaluateEvent, type OverwriteStrategy } from '../eval/evaluate.js';
import type { EvaluableModel } from '../eval/model.js';
import { ProgressBar } from '../core/progress.js';
import { assertWritableFolder } from '../io/writable.js';
import { mainScore, modelResultDir, type TaskResult } from '../eval/results.js';
import { getBenchmark, getBenchmarks, summarizeBenchmark, type Benchmark } from '../eval/benchmarks.js';
import { getTask, getTasks, hfSubsets, taskLanguages, TASK_TYPES, type TaskMetadata } from '../eval/tasks.js';

export type Device = EngineArgs['device'];
export type Dtype = EngineArgs['dtype'];

/** Options of `embedrank evaluate`, as the model factory receives them: the engine options every command shares, and evaluate's own. */
export interface EvaluateCliArgs extends EngineArgs {
  /** task names (empty when a benchmark or filters choose the tasks) */
  tasks: string[];
  /** a benchmark name, e.g. "MTEB(eng, v2)" */
  benchmark?: string;
  /** keep only tasks of these types / covering these languages */
  taskTypes?: string[];
  languages?: string[];
  dataDir?: string;
  outputFolder: string;
  overwriteStrategy: OverwriteStrategy;
  batchSize?: number;
  continueOnError: boolean;
  quiet: boolean;
  /** Remote servers of the model (OpenAI-compatible base URLs); the model runs there, not here. */
  endpoint?: string[];
  /** write predictions to the model's results folder (or to predictionFolder) */
  savePredictions?: boolean;
  predictionFolder?: string;
  /** two-stage reranking: a first-stage prediction file or folder, and how many documents per query */
  previousResults?: string;
  rerankTopK?: number;
  /** Task instructions for embedders: auto (by model name, as mteb's model registry), mteb-qwen3, none. */
  instructions?: 'auto' | 'mteb-qwen3' | 'none';
}

/** What `evaluate` loads: a model to evaluate, closed at the end; a local decoder on CUDA also reports its KV cache. */
export type ModelFactory = (args: EvaluateCliArgs) => Promise<EvaluableModel & { close(): Promise<void>; kvCacheStats?(): Promise<KvCacheStats | undefined> }>;

export interface CliIo {
  out: (s: string) => void;
  err: (s: string) => void;
}

const defaultIo: CliIo = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
};

function splitList(raw: unknown): string[] {
  if (raw === undefined || raw === null) return [];
  return (Array.isArray(raw) ? raw : [raw])
    .flatMap((x) => String(x ?? '').split(','))
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Task names from `--tasks A B` or `--tasks A,B`, validated against the registry. */
export function parseTaskNames(raw: unknown): TaskMetadata[] {
  const list = splitList(raw);
  if (!list.length) throw new Error('no tasks given: pass --tasks NAME [NAME ...] (see `embedrank tasks`) or --benchmark NAME (see `embedrank benchmarks`)');
  return list.map((n) => getTask(n));
}

/**
 * The tasks `evaluate` runs: the named tasks, else the benchmark's (restricted to its splits and
 * subsets), else the whole registry; then only those of the given types and languages. Throws
 * when nothing is selected or a name is unknown.
 */
export function selectTasks(o: { tasks?: unknown; benchmark?: string; taskTypes?: unknown; languages?: unknown }): { tasks: TaskMetadata[]; benchmark: Benchmark | null } {
  const names = splitList(o.tasks);
  const benchmark = o.benchmark ? getBenchmark(o.benchmark) : null;
  const types = splitList(o.taskTypes);
  const languages = splitList(o.languages);
  if (!names.length && !benchmark && !types.length && !languages.length) {
    throw new Error('no tasks given: pass --tasks NAME [NAME ...], --benchmark NAME, or --task-types / --languages to select from `embedrank tasks`');
  }
  let tasks = names.length ? names.map((n) => getTask(n)) : benchmark ? benchmark.tasks : getTasks();
  if (names.length && benchmark) {
    // named tasks of a benchmark keep the benchmark's splits and subsets
    const inBench = new Map(benchmark.tasks.map((t) => [t.name, t]));
    for (const t of tasks) if (!inBench.has(t.name)) throw new Error(`${t.name} is not part of ${benchmark.name}`);
    tasks = tasks.map((t) => inBench.get(t.name)!);
  }
  if (types.length || languages.length) {
    getTasks({ types }); // validates the type names
    const ty = types.map((t) => t.toLowerCase());
    const ls = languages.map((l) => l.toLowerCase());
    // on the selected tasks themselves: a benchmark's STS17 covers en-en only
    tasks = tasks.filter(
      (t) => (!ty.length || ty.includes(t.type.toLowerCase())) && (!ls.length || taskLanguages(t).some((l) => ls.includes(l.toLowerCase()) || ls.includes(l.toLowerCase().split('-')[0]))),
    );
  }
  if (!tasks.length) throw new Error(`no task matches${types.length ? ` --task-types ${types.join(',')}` : ''}${languages.length ? ` --languages ${languages.join(',')}` : ''}${benchmark ? ` in ${benchmark.name}` : ''}`);
  return { tasks, benchmark };
}

/** The leaderboard summary of a benchmark run: mean per task type, Mean (Task), Mean (TaskType), x100. */
export function benchmarkSummaryTable(benchmark: Benchmark, tasks: TaskMetadata[], results: TaskResult[]): string {
  const s = summarizeBenchmark(tasks, results);
  const pct = (v: number | null | undefined): string => (v === null || v === undefined ? 'n/a' : (100 * v).toFixed(2));
  const rows = [['Benchmark', 'Task type', 'Tasks', 'Mean main score (x100)']];
  for (const type of TASK_TYPES) {
    if (!(type in s.perType)) continue;
    rows.push([benchmark.name, type, String(tasks.filter((t) => t.type === type).length), pct(s.perType[type])]);
  }
  rows.push([benchmark.name, 'Mean (Task)', String(tasks.length), pct(s.meanTask)]);
  rows.push([benchmark.name, 'Mean (TaskType)', String(Object.keys(s.perType).length), pct(s.meanTaskType)]);
  let out = table(rows);
  if (s.missing.length) out += `(no result for ${s.missing.length} of ${tasks.length} tasks: ${s.missing.join(', ')}; their means are n/a)\n`;
  if (tasks.length !== benchmark.tasks.length) out += `(a selection of ${tasks.length} of the benchmark's ${benchmark.tasks.length} tasks: not comparable with the leaderboard's means)\n`;
  return out;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : pad(c, widths[i]))).join('  ')).join('\n') + '\n';
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toFixed(5) : String(x);
}

/** The summary table printed at the end of `evaluate`. */
export function summaryTable(results: TaskResult[], skipped: Set<string> = new Set(), failed: Map<string, string> = new Map()): string {
  const rows = [['Task', 'Type', 'Main score', 'Value', '']];
  for (const r of results) {
    let t: TaskMetadata | null = null;
    try {
      t = getTask(r.task_name);
    } catch {
      t = null;
    }
    rows.push([r.task_name, t?.type ?? '?', t?.mainScore ?? 'main_score', fmt(mainScore(r)), skipped.has(r.task_name) ? (r.notes?.length ? '(cached; see notes)' : '(cached)') : r.notes?.length ? '(see notes)' : '']);
  }
  for (const [name, msg] of failed) rows.push([name, '', '', 'failed', msg.split('\n')[0].slice(0, 80)]);
  return table(rows);
}

/** `embedrank evaluate`: runs tasks on a model built by `loadModel`. */
export function evaluateCommand(loadModel: ModelFactory, io: CliIo = defaultIo): CommandModule<object, EvaluateCliArgs> {
  return {
    command: 'evaluate',
    describe: 'Evaluate a model on MTEB tasks and write mteb-format results',
    builder: (y: Argv<object>) =>
      withEngineOptions(y)
        .option('tasks', {
          alias: 't',
          type: 'string',
          array: true,
          describe: 'Task names (space- or comma-separated), e.g. STS12 AskUbuntuDupQuestions; `embedrank tasks` lists them',
        })
        .option('benchmark', {
          alias: 'b',
          type: 'string',
          describe: 'Run a benchmark\'s tasks, on the splits and subsets it uses, and print its leaderboard summary, e.g. "MTEB(eng, v2)"; `embedrank benchmarks` lists them',
        })
        .option('task-types', {
          type: 'string',
          array: true,
          describe: `Only tasks of these types (of --tasks, of --benchmark, or of every task): ${TASK_TYPES.join(', ')}`,
        })
        .option('languages', {
          type: 'string',
          array: true,
          describe: 'Only tasks covering one of these languages: ISO 639-3 codes (eng) or with script (eng-Latn)',
        })
        .option('data-dir', {
          type: 'string',
          describe:
            'Folder with task data: Hugging Face dataset copies named org__name, org/name or name (e.g. mteb__sts12-sts), or the SemEval STS releases (2012/ ... 2016/, sick2014/). Tasks not found there come from the hub cache, downloaded unless HF_HUB_OFFLINE=1',
        })
        .option('output-folder', {
          alias: 'o',
          type: 'string',
          default: 'results',
          describe: 'Where results go: <output-folder>/<org__model>/<revision>/<Task>.json plus model_meta.json (revision: the hub commit, --revision, or "local-" + a hash of a local folder\'s weights and configs)',
        })
        .option('overwrite-strategy', {
          type: 'string',
          choices: OVERWRITE_STRATEGIES,
          default: 'only-missing' as OverwriteStrategy,
          describe:
            'Existing results: only-missing (evaluate only tasks/subsets without results, so an interrupted run resumes), always (re-evaluate and overwrite), never (skip tasks with results, fail on partial ones), only-cache (load results, never evaluate)',
        })
        .option('batch-size', {
          type: 'number',
          describe: 'Texts per model batch (passed to the model and to every encode call)',
        })
        .option('endpoint', {
          type: 'string',
          array: true,
          describe: 'Evaluate a served model instead of loading one: base URL(s) of OpenAI-compatible servers (embedrank serve, TEI, vLLM), e.g. http://10.0.0.2:8080/v1; work is spread over all of them, --model is the served model name',
        })
        .option('instructions', {
          choices: ['auto', 'mteb-qwen3', 'none'] as const,
          default: 'auto' as const,
          describe:
            'Task instructions for embedding models: mteb-qwen3 formats queries as mteb does for Qwen3-Embedding ("Instruct: {task instruction}\\nQuery:{query}", documents plain); auto uses it when --model names a Qwen3-Embedding model (as mteb\'s model registry does), else the model\'s own prompts; none: the model\'s own prompts',
        })
        .option('continue-on-error', {
          type: 'boolean',
          default: false,
          describe: 'Keep going when a task fails (it is reported at the end) instead of stopping',
        })
        .option('save-predictions', {
          type: 'boolean',
          default: false,
          describe: 'Also write each task\'s predictions (retrieval runs, labels, cluster assignments, pair scores) as mteb does: <Task>_predictions.json in the model\'s results folder, or in --prediction-folder',
        })
        .option('prediction-folder', {
          type: 'string',
          describe: 'Folder for the prediction files (implies --save-predictions)',
        })
        .option('previous-results', {
          type: 'string',
          describe: 'Two-stage reranking: a first-stage <Task>_predictions.json, or the folder holding it; retrieval tasks rerank each query\'s top --rerank-top-k saved documents (mteb convert_to_reranking)',
        })
        .option('rerank-top-k', {
          type: 'number',
          default: 10,
          describe: 'Documents per query taken from --previous-results (mteb\'s default 10)',
        })
        .option('quiet', {
          alias: 'q',
          type: 'boolean',
          default: false,
          describe: 'Print only the summary table and the notes on results (no per-task progress lines)',
        })
        .check(usageCheck((argv: Record<string, unknown>) => {
          selectTasks({ tasks: argv.tasks, benchmark: argv.benchmark as string | undefined, taskTypes: argv['task-types'], languages: argv.languages });
          const dataDir = argv['data-dir'];
          if (typeof dataDir === 'string' && !isDirectory(dataDir)) throw new Error(`--data-dir ${dataDir} is not a folder`);
          const k = argv['rerank-top-k'];
          if (k !== undefined && (!Number.isInteger(k) || (k as number) < 1)) throw new Error(`--rerank-top-k must be a positive integer, got ${String(k)}`);
          if (argv['batch-size'] !== undefined && (!Number.isInteger(argv['batch-size']) || (argv['batch-size'] as number) < 1)) {
            throw new Error(`--batch-size must be a positive integer, got ${String(argv['batch-size'])}`);
          }
        }))
        .example('$0 evaluate -m sentence-transformers/all-MiniLM-L6-v2 -t STS12 STS13 --data-dir /data/sts', 'STS from the SemEval files')
        .example('$0 evaluate -m BAAI/bge-reranker-base -t AskUbuntuDupQuestions', 'a cross-encoder on a reranking task')
        .example('$0 evaluate -m BAAI/bge-small-en-v1.5 -b "MTEB(eng, v2)" --task-types Classification Clustering', 'part of the English leaderboard benchmark') as unknown as Argv<EvaluateCliArgs>,
    handler: async (argv) => {
      const a = argv as unknown as Record<string, unknown>;
      const args: EvaluateCliArgs = {
        ...engineArgs(argv),
        tasks: splitList(argv.tasks),
        benchmark: a.benchmark as string | undefined,
        taskTypes: splitList(a.taskTypes),
        languages: splitList(a.languages),
        dataDir: argv.dataDir,
        outputFolder: argv.outputFolder,
        overwriteStrategy: argv.overwriteStrategy,
        batchSize: argv.batchSize,
        continueOnError: Boolean(argv.continueOnError),
        quiet: Boolean(argv.quiet),
        endpoint: argv.endpoint?.flatMap((x) => String(x).split(',')).filter(Boolean),
        savePredictions: Boolean(a.savePredictions) || a.predictionFolder !== undefined,
        predictionFolder: a.predictionFolder as string | undefined,
        previousResults: a.previousResults as string | undefined,
        rerankTopK: a.rerankTopK as number | undefined,
        instructions: a.instructions as EvaluateCliArgs['instructions'],
      };
      await runEvaluate(args, loadModel, io);
    },
  };
}

/** The body of `embedrank evaluate` (exported for tests and programmatic use). */
export async function runEvaluate(args: EvaluateCliArgs, loadModel: ModelFactory, io: CliIo = defaultIo): Promise<{ results: TaskResult[]; failed: Map<string, string> }> {
  const { tasks, benchmark } = selectTasks(args);
  assertWritableFolder(args.outputFolder, '--output-folder'); // before the model loads, let alone a task runs
  const model = await loadModel(args);
  const skipped = new Set<string>();
  const failed = new Map<string, string>();
  const bars = new Map<string, ProgressBar>();
  const say = (s: string): void => {
    if (!args.quiet) io.err(`${s}\n`);
  };
  const onEvent = (e: EvaluateEvent): void => {
    const n = 'index' in e ? `[${e.index + 1}/${e.total}] ` : '';
    switch (e.type) {
      case 'task-start': {
        const what = Object.entries(e.missing)
          .map(([s, subs]) => `${s}: ${subs.length > 3 ? `${subs.length} subsets` : subs.join(', ')}`)
          .join('; ');
        say(`${n}${e.task}: evaluating (${what})`);
        break;
      }
      case 'task-skip':
        skipped.add(e.task);
        say(`${n}${e.task}: ${e.reason}; skipped`);
        break;
      case 'subset-done':
        say(`      ${e.task} ${e.split}/${e.subset}: ${fmt(e.mainScore)} (${e.seconds.toFixed(1)} s)`);
        break;
      case 'task-done':
        say(`${n}${e.task}: ${getTask(e.task).mainScore} = ${fmt(mainScore(e.result))} in ${e.seconds.toFixed(1)} s${e.path ? ` -> ${e.path}` : ''}`);
        break;
      case 'task-error':
        failed.set(e.task, e.error.message);
        // Without --continue-on-error the error ends the run and is printed once, by the caller.
        say(args.continueOnError ? `${n}${e.task}: failed: ${e.error.message}` : `${n}${e.task}: failed`);
        break;
      case 'note':
        // Warnings about a result, not progress: printed under --quiet too (the summary table's
        // "(see notes)" points at them).
        io.err(`${noteLevel(e.message)}: ${e.message}\n`);
        break;
      case 'log':
        say(`      ${e.message}`);
        break;
      case 'progress': {
        if (args.quiet) break;
        const key = `${e.task}/${e.split}/${e.subset}/${e.what}`;
        let bar = bars.get(key);
        if (!bar) bars.set(key, (bar = new ProgressBar(`      ${e.task} ${e.what}`, e.total)));
        bar.update(e.done);
        if (e.done >= e.total) bar.finish();
        break;
      }
      default:
        break;
    }
  };
  let res;
  try {
    res = await evaluate(model, tasks, {
      outputFolder: args.outputFolder,
      overwriteStrategy: args.overwriteStrategy,
      dataDir: args.dataDir,
      encodeKwargs: { ...(args.batchSize !== undefined ? { batchSize: args.batchSize } : {}), showProgress: !args.quiet && Boolean(process.stderr.isTTY) },
      raiseError: !args.continueOnError,
      warnings: false, // notes arrive as events and are printed by `say`
      onEvent,
      predictionFolder: args.predictionFolder ?? (args.savePredictions ? modelResultDir(args.outputFolder, model.meta) : null),
      previousResults: args.previousResults,
      previousResultsTopK: args.rerankTopK,
    });
  } finally {
    // A decoder on CUDA: the prefix cache's hit rate over the whole run, one line on stderr.
    const kv = await model.kvCacheStats?.().catch(() => undefined);
    if (kv) io.err(kvCacheStatsLine(kv));
    await model.close();
  }
  io.out(summaryTable(res.task_results, skipped, failed));
  if (benchmark) io.out(`\n${benchmarkSummaryTable(benchmark, tasks, res.task_results)}`);
  if (failed.size) process.exitCode = 1;
  return { results: res.task_results, failed };
}

export interface TasksCliArgs {
  type?: string[];
  language?: string[];
  json: boolean;
}


function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The `embedrank tasks` listing. */
export function tasksTable(tasks: TaskMetadata[]): string {
  const rows = [['Name', 'Type', 'Main score', 'Dataset', 'Revision', 'Subsets', 'Languages']];
  for (const t of tasks) {
    const subsets = hfSubsets(t);
    rows.push([t.name, t.type, t.mainScore, t.dataset.path, t.dataset.revision.slice(0, 10), subsets.length === 1 ? subsets[0] : String(subsets.length), taskLanguages(t).join(',')]);
  }
  return table(rows);
}

/** `embedrank tasks`: lists the task registry. */
export function tasksCommand(io: CliIo = defaultIo): CommandModule<object, TasksCliArgs> {
  return {
    command: 'tasks',
    describe: 'List the MTEB tasks embedrank can evaluate',
    builder: (y: Argv<object>) =>
      y
        .option('type', {
          alias: 'task-types',
          type: 'string',
          array: true,
          describe: `Only tasks of these types: ${TASK_TYPES.join(', ')} (case-insensitive)`,
        })
        .option('language', {
          alias: ['l', 'languages'],
          type: 'string',
          array: true,
          describe: 'Only tasks covering one of these languages: ISO 639-3 codes (eng) or with script (eng-Latn)',
        })
        .option('json', {
          type: 'boolean',
          default: false,
          describe: 'Print the full task metadata as JSON instead of a table',
        })
        .check(usageCheck((argv: Record<string, unknown>) => getTasks({ types: splitList(argv.type as string[] | undefined), languages: splitList(argv.language as string[] | undefined) }))) as unknown as Argv<TasksCliArgs>,
    handler: (argv) => {
      const tasks = getTasks({ types: splitList(argv.type), languages: splitList(argv.language) });
      io.out(argv.json ? `${JSON.stringify(tasks, null, 2)}\n` : tasks.length ? tasksTable(tasks) : 'no task matches\n');
    },
  };
}

export interface BenchmarksCliArgs {
  json: boolean;
  tasks: boolean;
}

/** `embedrank benchmarks`: lists the benchmarks, or with --tasks each benchmark's tasks, splits and subsets. */
export function benchmarksCommand(io: CliIo = defaultIo): CommandModule<object, BenchmarksCliArgs> {
  return {
    command: 'benchmarks',
    describe: 'List the benchmarks embedrank can run (evaluate -b NAME)',
    builder: (y: Argv<object>) =>
      y
        .option('tasks', { type: 'boolean', default: false, describe: "Also list each benchmark's tasks with the splits and subsets it evaluates" })
        .option('json', { type: 'boolean', default: false, describe: 'Print the benchmarks as JSON' }) as unknown as Argv<BenchmarksCliArgs>,
    handler: (argv) => {
      const list = getBenchmarks();
      if (argv.json) {
        io.out(`${JSON.stringify(list.map((b) => ({ ...b, tasks: b.tasks.map((t) => ({ name: t.name, type: t.type, eval_splits: t.evalSplits, hf_subsets: hfSubsets(t) })) })), null, 2)}\n`);
        return;
      }
      const rows = [['Benchmark', 'Aliases', 'Tasks', 'Types']];
      for (const b of list) {
        const types = [...new Set(b.tasks.map((t) => t.type))];
        rows.push([b.name, b.aliases.join(', '), String(b.tasks.length), types.map((ty) => `${ty} ${b.tasks.filter((t) => t.type === ty).length}`).join(', ')]);
      }
      io.out(table(rows));
      if (argv.tasks) {
        for (const b of list) {
          const tr = [['Task', 'Type', 'Main score', 'Splits', 'Subsets']];
          for (const t of b.tasks) tr.push([t.name, t.type, t.mainScore, t.evalSplits.join(','), hfSubsets(t).join(',')]);
          io.out(`\n${b.name}\n${table(tr)}`);
        }
      }
    },
  };
}

/** Registers the evaluation commands (evaluate, tasks, benchmarks) on a yargs instance. */
export function registerEvalCommands<T>(y: Argv<T>, loadModel: ModelFactory, io: CliIo = defaultIo): Argv<T> {
  return y
    .command(evaluateCommand(loadModel, io) as unknown as CommandModule<T, EvaluateCliArgs>)
    .command(tasksCommand(io) as unknown as CommandModule<T, TasksCliArgs>)
    .command(benchmarksCommand(io) as unknown as CommandModule<T, BenchmarksCliArgs>);
}
