#!/usr/bin/env node
// The `embedrank` command: encode, rerank, evaluate, tasks.
import { existsSync, writeFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { CrossEncoder } from '../cross-encoder.js';
import { Encoder, type PromptType } from '../encoder.js';
import { readTexts } from '../io/inputs.js';
import { writeNpyF32 } from '../io/npy.js';
import { runMain } from '../main.js';
import { loadModelFolder } from '../model/folder.js';
import { resolveModel } from '../model/hub.js';
import { toEngineOptions, withEngineOptions, type EngineArgs } from './engine-options.js';
import { registerEvalCommands, type EvaluateCliArgs } from './evaluate.js';
import { serveCommand } from './serve.js';
import { openRemoteModel } from '../remote/open.js';

interface EncodeArgs extends EngineArgs {
  input: string;
  output: string;
  field: string;
  promptName?: PromptType;
  prompt?: string;
  progress: boolean;
}

interface RerankArgs extends EngineArgs {
  query: string;
  documents: string;
  field: string;
  topK?: number;
  output?: string;
}

async function encodeCmd(a: EncodeArgs): Promise<void> {
  const texts = readTexts(a.input, a.field);
  const enc = await Encoder.create({ ...toEngineOptions(a), showProgress: a.progress });
  try {
    const t0 = performance.now();
    const m = await enc.embedMatrix(texts, { promptType: a.promptName, prompt: a.prompt, showProgress: a.progress });
    const secs = (performance.now() - t0) / 1000;
    writeNpyF32(a.output, m, texts.length, enc.dim);
    process.stderr.write(
      `embedrank: ${texts.length} texts → ${a.output} [${texts.length}, ${enc.dim}] float32 in ${secs.toFixed(2)} s on ${enc.device} (${enc.dtype})` +
        `${enc.lastTruncated ? `, ${enc.lastTruncated} truncated to ${enc.maxLength} tokens` : ''}\n`,
    );
  } finally {
    await enc.close();
  }
}

async function rerankCmd(a: RerankArgs): Promise<void> {
  const docs = readTexts(a.documents, a.field);
  const ce = await CrossEncoder.create(toEngineOptions(a));
  try {
    const scores = await ce.rank(a.query, docs);
    const order = docs.map((_, i) => i).sort((x, y) => scores[y] - scores[x] || x - y);
    const top = order.slice(0, a.topK ?? order.length).map((i, rank) => ({ rank: rank + 1, index: i, score: scores[i], document: docs[i] }));
    const lines = top.map((r) => JSON.stringify(r)).join('\n') + '\n';
    if (a.output) writeFileSync(a.output, lines);
    else process.stdout.write(lines);
  } finally {
    await ce.close();
  }
}

/** Builds an Encoder or CrossEncoder for `evaluate`, whichever the model folder is (or a remote one with --endpoint). */
async function evaluationModel(a: EvaluateCliArgs) {
  if (a.endpoint?.length) return openRemoteModel({ endpoints: a.endpoint, model: a.model, batchSize: a.batchSize, apiKey: process.env.EMBEDRANK_API_KEY });
  const dir = await resolveModel(a.model);
  const kind = loadModelFolder(dir).kind;
  const base = { model: dir, modelName: existsSync(a.model) ? undefined : a.model, device: a.device, dtype: a.dtype, maxNumSeqs: a.batchSize, showProgress: !a.quiet };
  return kind === 'cross-encoder' ? CrossEncoder.create(base) : Encoder.create(base);
}

export async function main(argv: string[]): Promise<void> {
  let y = yargs(argv)
    .scriptName('embedrank')
    .usage('$0 <command> [options]\n\nEvaluate and serve embedding and reranking models: fused CUDA kernels on one or many GPUs, onnxruntime on the CPU.')
    .command<EncodeArgs>(
      'encode',
      'Embed texts into a NumPy .npy matrix [n, dim] (float32)',
      (c) =>
        withEngineOptions(c)
          .option('input', { alias: 'i', type: 'string', demandOption: true, describe: 'texts: .txt (one per line) or .jsonl (strings, or objects with --field)' })
          .option('output', { alias: 'o', type: 'string', demandOption: true, describe: '.npy file to write' })
          .option('field', { type: 'string', default: 'text', describe: 'JSONL field holding the text' })
          .option('prompt-name', { choices: ['query', 'document'] as const, describe: "use the model's prompt for queries or documents (config_sentence_transformers.json)" })
          .option('prompt', { type: 'string', describe: 'literal prefix for every text (overrides --prompt-name)' })
          .option('progress', { type: 'boolean', default: true, describe: 'progress bar on stderr for long inputs' }) as never,
      (a) => encodeCmd(a),
    )
    .command<RerankArgs>(
      'rerank',
      'Score documents against a query with a cross-encoder; prints JSON lines, best first',
      (c) =>
        withEngineOptions(c)
          .option('query', { alias: 'q', type: 'string', demandOption: true, describe: 'the query' })
          .option('documents', { alias: 'd', type: 'string', demandOption: true, describe: 'documents: .txt (one per line) or .jsonl' })
          .option('field', { type: 'string', default: 'text', describe: 'JSONL field holding the text' })
          .option('top-k', { type: 'number', describe: 'print only the k best' })
          .option('output', { alias: 'o', type: 'string', describe: 'write the JSON lines here instead of stdout' }) as never,
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
      if (err) throw err;
      process.stderr.write(`${msg}\n\nRun "embedrank --help" for usage.\n`);
      process.exit(2);
    })
    .parseAsync();
}

await runMain(import.meta, () => main(hideBin(process.argv)));
