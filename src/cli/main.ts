#!/usr/bin/env node
// The `embedrank` command: encode, rerank, evaluate, tasks.
import { existsSync, writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { isatty } from 'node:tty';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { CrossEncoder } from '../cross-encoder.js';
import { Encoder, QWEN3_EMBEDDING_OPTIONS, type PromptType } from '../encoder.js';
import { InputError, UsageError } from '../errors.js';
import { INPUT_FORMATS, readTexts, type InputFormat } from '../io/inputs.js';
import { assertWritableFile } from '../io/writable.js';
import { writeNpyF32 } from '../io/npy.js';
import { runMain } from '../main.js';
import { loadModelFolder } from '../model/folder.js';
import { resolveModel } from '../model/hub.js';
import { checkIntegerOptions, kvCacheStatsLine, parseHfOverrides, toEngineOptions, withEngineOptions, type EngineArgs } from './engine-options.js';
import { registerEvalCommands, type EvaluateCliArgs } from './evaluate.js';
import { serveCommand } from './serve.js';
import { openRemoteModel } from '../remote/open.js';

interface EncodeArgs extends EngineArgs {
  input: string;
  output: string;
  field: string;
  format: InputFormat;
  promptName?: string;
  promptType?: PromptType;
  prompt?: string;
  progress: boolean;
}

interface RerankArgs extends EngineArgs {
  query: string;
  documents: string;
  field: string;
  format: InputFormat;
  topK?: number;
  output?: string;
}

/** The texts of a CLI input; an input without any is an error (nothing to compute). */
function readInput(path: string, a: { field: string; format: InputFormat }, what: string): string[] {
  // isatty, not process.stdin.isTTY: touching process.stdin makes a piped fd 0 non-blocking, and
  // readTexts' synchronous read of it then fails with EAGAIN.
  if (path === '-' && isatty(0)) process.stderr.write(`embedrank: reading ${what} from the terminal, one per line; end with Ctrl-D\n`);
  const texts = readTexts(path, { field: a.field, format: a.format });
  if (!texts.length) throw new InputError(`${path === '-' ? 'stdin' : path} has no ${what}`);
  return texts;
}

async function encodeCmd(a: EncodeArgs): Promise<void> {
  if (a.output === '-') throw new UsageError('--output -: the .npy matrix is written to a file, not to stdout; name a file');
  const ext = extname(a.output).toLowerCase();
  if (ext && ext !== '.npy') throw new UsageError(`--output ${a.output}: encode writes a NumPy .npy matrix (float32 [n, dim]); name the file .npy`);
  assertWritableFile(a.output, '--output');
  const texts = readInput(a.input, a, 'texts');
  const enc = await Encoder.create({ ...toEngineOptions(a), showProgress: a.progress });
  try {
    const t0 = performance.now();
    const m = await enc.embedMatrix(texts, { promptName: a.promptName, promptType: a.promptType, prompt: a.prompt, showProgress: a.progress });
    const secs = (performance.now() - t0) / 1000;
    writeNpyF32(a.output, m, texts.length, enc.dim);
    const kv = await enc.kvCacheStats();
    process.stderr.write(
      `embedrank: ${texts.length} text${texts.length === 1 ? "" : "s"} → ${a.output} [${texts.length}, ${enc.dim}] float32 in ${secs.toFixed(2)} s on ${enc.device} (${enc.dtype})` +
        `${enc.lastTruncated ? `, ${enc.lastTruncated} truncated to ${enc.maxLength} tokens` : ''}\n`,
    );
    if (kv) process.stderr.write(kvCacheStatsLine(kv));
  } finally {
    await enc.close();
  }
}

async function rerankCmd(a: RerankArgs): Promise<void> {
  if (a.output) assertWritableFile(a.output, '--output');
  const docs = readInput(a.documents, a, 'documents');
  const ce = await CrossEncoder.create(toEngineOptions(a));
  try {
    const scores = await ce.rank(a.query, docs);
    const order = docs.map((_, i) => i).sort((x, y) => scores[y] - scores[x] || x - y);
    const top = order.slice(0, a.topK ?? order.length).map((i, rank) => ({ rank: rank + 1, index: i, score: scores[i], document: docs[i] }));
    const lines = top.map((r) => JSON.stringify(r)).join('\n') + '\n';
    if (a.output) writeFileSync(a.output, lines);
    else process.stdout.write(lines);
    // As `encode` reports it: truncation is silent in sentence-transformers, but a user should know.
    if (ce.lastTruncated) process.stderr.write(`embedrank: ${ce.lastTruncated} of ${docs.length} (query, document) pairs truncated to ${ce.maxLength} tokens\n`);
    const kv = await ce.kvCacheStats();
    if (kv) process.stderr.write(kvCacheStatsLine(kv));
  } finally {
    await ce.close();
  }
}

/** Builds an Encoder or CrossEncoder for `evaluate`, whichever the model folder is (or a remote one with --endpoint). */
async function evaluationModel(a: EvaluateCliArgs) {
  if (a.endpoint?.length) return openRemoteModel({ endpoints: a.endpoint, model: a.model, revision: a.revision, batchSize: a.batchSize, apiKey: process.env.EMBEDRANK_API_KEY });
  const dir = await resolveModel(a.model, { revision: a.revision });
  const kind = loadModelFolder(dir, { hfOverrides: parseHfOverrides(a.hfOverrides) }).kind;
  const engine = toEngineOptions(a);
  // --batch-size is mteb's encode batch size; --max-num-seqs, when given, is the engine's own cap.
  const base = { ...engine, model: dir, modelName: existsSync(a.model) ? undefined : a.model, maxNumSeqs: a.maxNumSeqs ?? a.batchSize, showProgress: !a.quiet };
  if (kind === 'cross-encoder') return CrossEncoder.create(base);
  return Encoder.create(usesQwen3Instructions(a) ? { ...base, ...QWEN3_EMBEDDING_OPTIONS } : base);
}

/** --instructions: mteb keys Qwen3-Embedding's instruction template by model name (qwen3_models.py). */
function usesQwen3Instructions(a: EvaluateCliArgs): boolean {
  const mode = a.instructions ?? 'auto';
  return mode === 'mteb-qwen3' || (mode === 'auto' && /(^|\/)Qwen3-Embedding-[^/]+\/?$/i.test(a.model));
}

const COMMANDS = ['encode', 'rerank', 'evaluate', 'tasks'];

export async function main(argv: string[]): Promise<void> {
  let y = yargs(argv)
    .scriptName('embedrank')
    .usage('$0 <command> [options]\n\nEmbed texts, rerank documents and evaluate embedding and reranking models on MTEB tasks: fused CUDA kernels on one or many GPUs, onnxruntime on the CPU.')
    .command<EncodeArgs>(
      'encode',
      'Embed texts into a NumPy .npy matrix [n, dim] (float32)',
      (c) =>
        withEngineOptions(c)
          .option('input', { alias: 'i', type: 'string', demandOption: true, describe: 'texts: .txt (one per line), .jsonl (strings, or objects with --field) or .json (one array of either); - reads stdin. UTF-8' })
          .option('output', { alias: 'o', type: 'string', demandOption: true, describe: '.npy file to write' })
          .option('field', { type: 'string', default: 'text', describe: 'JSONL field holding the text' })
          .option('format', { choices: INPUT_FORMATS, default: 'auto' as const, describe: 'input format; auto: a .jsonl file is JSON Lines, a .json file one JSON array (or JSON Lines), stdin is JSON Lines when its first line is a JSON object, else one text per line' })
          .option('prompt-name', {
            type: 'string',
            describe: "one of the model's prompts by name (config_sentence_transformers.json \"prompts\", e.g. query); a name the model does not define is an error",
          })
          .option('prompt-type', {
            choices: ['query', 'document'] as const,
            describe: "embed as queries or documents: the model's prompt for them, as sentence-transformers' encode_query / encode_document pick it",
          })
          .option('prompt', { type: 'string', describe: 'literal prefix for every text (overrides --prompt-name and --prompt-type)' })
          .option('progress', { type: 'boolean', default: true, describe: 'progress bar on stderr for long inputs' })
          .example('$0 encode -m sentence-transformers/all-MiniLM-L6-v2 -i texts.txt -o emb.npy', 'one text per line → emb.npy [n, 384]')
          .example('jq -c \'{text: .title}\' docs.jsonl | $0 encode -m intfloat/e5-small -i - -o docs.npy --prompt-name document', 'JSON Lines from stdin, with the model\'s document prompt') as never,
      (a) => encodeCmd(a),
    )
    .command<RerankArgs>(
      'rerank',
      'Score documents against a query with a cross-encoder; prints JSON lines, best first',
      (c) =>
        withEngineOptions(c)
          .option('query', { alias: 'q', type: 'string', demandOption: true, describe: 'the query' })
          .option('documents', { alias: 'd', type: 'string', demandOption: true, describe: 'documents: .txt (one per line), .jsonl (strings, or objects with --field) or .json (one array of either); - reads stdin. UTF-8' })
          .option('field', { type: 'string', default: 'text', describe: 'JSONL field holding the text' })
          .option('format', { choices: INPUT_FORMATS, default: 'auto' as const, describe: 'documents format; auto: a .jsonl file is JSON Lines, a .json file one JSON array (or JSON Lines), stdin is JSON Lines when its first line is a JSON object, else one document per line' })
          .option('top-k', { type: 'number', describe: 'print only the k best (an integer ≥ 1; default: every document)' })
          .check((argv) => checkIntegerOptions(argv as Record<string, unknown>, { 'top-k': 1 }))
          .option('output', { alias: 'o', type: 'string', describe: 'write the JSON lines here instead of stdout' })
          .example('$0 rerank -m cross-encoder/ms-marco-MiniLM-L-6-v2 -q "how do I mount a USB drive" -d answers.txt --top-k 3', 'the 3 best answers, as JSON lines {rank, index, score, document}') as never,
      (a) => rerankCmd(a),
    );
  y = registerEvalCommands(y, evaluationModel as never);
  y = y.command(serveCommand() as never);
  await y
    .demandCommand(1, 'name a command: encode, rerank, evaluate, tasks or serve')
    .strict()
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(120, process.stdout.columns || 100))
    .fail((msg, err) => {
      // Errors of a running command go to runMain (exit 1); bad options are usage errors (exit 2).
      if (err && !(err instanceof UsageError)) throw err;
      process.stderr.write(`embedrank: ${err ? err.message : msg}\n\nRun "embedrank ${COMMANDS.includes(argv[0]) ? `${argv[0]} ` : ''}--help" for usage.\n`);
      process.exit(2);
    })
    .parseAsync();
}

await runMain(import.meta, () => main(hideBin(process.argv)));
