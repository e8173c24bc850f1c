// Serving benchmark: the same texts embedded directly through Encoder.embedMatrix (one call over
// every text, and the server's request pattern in-process: concurrent calls of the request size),
// and through `embedrank serve` (its own process, the same engine options) by closed-loop HTTP
// clients at several concurrency levels. Reports texts/s and tokens/s, the fraction of the one
// direct call, and request latency p50/p99 per concurrency and request size.
//
//   node dist/bench/serve.js --model DIR [--device cpu|cuda|auto] [--dtype auto] [--texts 4000]
//       [--concurrency 1,4,16,64] [--client-batch 32,1] [--repeats 2] [--data-dir STS_DIR] [--out results.json]
//
// Without --model a minilm-l6-shaped model is generated (random weights: speed does not depend
// on them). Texts are the SemEval STS sentences (--data-dir), cycled to --texts.
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, hostname, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { makeTestModel } from '../scripts/make-test-model.js';
import { stsSentences } from '../scripts/gpu/prepare.js';
import { Encoder } from '../src/encoder.js';
import { runMain } from '../src/main.js';

const DIST = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURE = resolve(DIST, '..', 'test', 'fixtures', 'eval', 'sts');

interface Point {
  /** direct: one embedMatrix call over every text; direct-requests: the server's request pattern (c concurrent embedMatrix calls of b texts) in-process; server: over HTTP. */
  mode: 'direct' | 'direct-requests' | 'server';
  concurrency: number | null;
  clientBatch: number | null;
  texts: number;
  tokens: number;
  seconds: number;
  textsPerSec: number;
  tokensPerSec: number;
  fractionOfDirect: number | null;
  p50ms: number | null;
  p99ms: number | null;
}

function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

async function startServer(model: string, args: string[]): Promise<{ url: string; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, [join(DIST, 'src/cli/main.js'), 'serve', '-m', model, '--port', '0', '--request-timeout', '0', '--max-concurrent-requests', '1000000', ...args], {
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  let log = '';
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  const url = await new Promise<string>((res, rej) => {
    child.stderr.on('data', (d) => {
      log += d;
      process.stderr.write(d);
      const m = log.match(/listening on (http:\/\/\S+)/);
      if (m) res(m[1]);
    });
    child.on('exit', () => rej(new Error(`server exited before listening:\n${log}`)));
  });
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/**
 * Closed loop: `concurrency` clients each send the next request (texts cut into `clientBatch`-sized
 * requests, in order) as soon as their last is answered. Returns wall seconds and each request's
 * latency in ms, sorted.
 */
async function closedLoop(texts: string[], clientBatch: number, concurrency: number, send: (request: string[], k: number) => Promise<void>): Promise<{ seconds: number; latencies: number[] }> {
  const requests: string[][] = [];
  for (let i = 0; i < texts.length; i += clientBatch) requests.push(texts.slice(i, i + clientBatch));
  let next = 0;
  const latencies: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const k = next++;
        if (k >= requests.length) return;
        const s = performance.now();
        await send(requests[k], k);
        latencies.push(performance.now() - s);
      }
    }),
  );
  return { seconds: (performance.now() - t0) / 1000, latencies: latencies.sort((x, y) => x - y) };
}

/** The server: POST /v1/embeddings (base64), checking every answer; also counts the usage tokens. */
async function drive(url: string, texts: string[], clientBatch: number, concurrency: number): Promise<{ seconds: number; tokens: number; latencies: number[] }> {
  let tokens = 0;
  const r = await closedLoop(texts, clientBatch, concurrency, async (request, k) => {
    const res = await fetch(`${url}/v1/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: request, encoding_format: 'base64' }),
    });
    const j = (await res.json()) as { data?: unknown[]; usage?: { prompt_tokens: number }; error?: unknown };
    if (res.status !== 200 || j.data?.length !== request.length) throw new Error(`request ${k}: HTTP ${res.status} ${JSON.stringify(j).slice(0, 300)}`);
    tokens += j.usage!.prompt_tokens;
  });
  return { ...r, tokens };
}

/** The request pattern of drive(), in-process: c loops of enc.embedMatrix on b texts each. */
function driveDirect(enc: Encoder, texts: string[], clientBatch: number, concurrency: number): Promise<{ seconds: number; latencies: number[] }> {
  return closedLoop(texts, clientBatch, concurrency, async (request) => {
    await enc.embedMatrix(request);
  });
}

await runMain(import.meta, async () => {
  const a = await yargs(hideBin(process.argv))
    .option('model', { type: 'string', describe: 'model folder (default: a generated minilm-l6-shaped model)' })
    .option('device', { choices: ['auto', 'cpu', 'cuda'] as const, default: 'auto' as const })
    .option('dtype', { choices: ['auto', 'float32', 'float16', 'bfloat16'] as const, default: 'auto' as const })
    .option('texts', { type: 'number', default: 4000, describe: 'texts per measurement' })
    .option('concurrency', { type: 'string', default: '1,4,16,64', describe: 'HTTP clients in flight' })
    .option('client-batch', { type: 'string', default: '32,1', describe: 'texts per request' })
    .option('data-dir', { type: 'string', default: process.env.EMBEDRANK_STS_DIR ?? '/work/shared/data/sts', describe: 'SemEval STS folder (2012/ ...)' })
    .option('max-num-seqs', { type: 'number' })
    .option('max-num-batched-tokens', { type: 'number' })
    .option('repeats', { type: 'number', default: 2, describe: 'alternating rounds; the best of each point is kept' })
    .option('out', { type: 'string', describe: 'write the points as JSON here' })
    .strict()
    .parseAsync();

  let model = a.model;
  if (!model) {
    model = join(tmpdir(), 'embedrank-bench-models', 'minilm-l6-mean-norm');
    if (!existsSync(join(model, 'README.md'))) makeTestModel({ shape: 'minilm-l6', out: model, pooling: 'mean', normalize: true });
  }
  let pool = stsSentences(a['data-dir']);
  if (!pool.length) pool = stsSentences(FIXTURE);
  if (!pool.length) throw new Error(`no STS sentences under ${a['data-dir']} or ${FIXTURE}`);
  const texts = Array.from({ length: a.texts }, (_, i) => pool[i % pool.length]);
  const engine = { model, device: a.device, dtype: a.dtype, maxNumSeqs: a['max-num-seqs'], maxNumBatchedTokens: a['max-num-batched-tokens'] };
  const engineArgs = ['--device', a.device, '--dtype', a.dtype];
  if (a['max-num-seqs']) engineArgs.push('--max-num-seqs', String(a['max-num-seqs']));
  if (a['max-num-batched-tokens']) engineArgs.push('--max-num-batched-tokens', String(a['max-num-batched-tokens']));

  const sizes = a['client-batch'].split(',').map(Number);
  const levels = a.concurrency.split(',').map(Number);
  const reps = a.repeats;
  /** Single-text requests over every text would take long on a CPU: they get at most 1000. */
  const sliceFor = (b: number) => (b === 1 ? texts.slice(0, Math.min(texts.length, 1000)) : texts);

  // The direct Encoder (this process) and the server (its own process) are both loaded, and the
  // measurements alternate, `repeats` rounds of each; the best round of each point is kept, so a
  // machine whose load drifts (a shared CPU) biases neither side.
  const enc = await Encoder.create(engine);
  const server = await startServer(model, [...engineArgs, '--max-client-batch-size', String(Math.max(32, ...sizes))]);
  const device = `${enc.device} ${enc.dtype}`;
  const best = new Map<string, Point>();
  const keep = (p: Point) => {
    const k = `${p.mode}/${p.clientBatch}/${p.concurrency}`;
    const prev = best.get(k);
    if (!prev || p.tokensPerSec > prev.tokensPerSec) best.set(k, p);
  };
  try {
    const tok = await enc.tokenize(texts);
    const tokens = tok.chunk.ids.length;
    const tokensOf = (n: number) => tok.chunk.offsets[n];
    await enc.embedMatrix(texts.slice(0, 256)); // warm-up
    await drive(server.url, texts.slice(0, 256), 32, 4);
    for (let rep = 0; rep < reps; rep++) {
      const t0 = performance.now();
      await enc.embedMatrix(texts);
      const secs = (performance.now() - t0) / 1000;
      keep({ mode: 'direct', concurrency: null, clientBatch: null, texts: texts.length, tokens, seconds: secs, textsPerSec: texts.length / secs, tokensPerSec: tokens / secs, fractionOfDirect: null, p50ms: null, p99ms: null });
      process.stdout.write(`round ${rep + 1}: direct one call ${(texts.length / secs).toFixed(1)} texts/s\n`);
      for (const b of sizes) {
        for (const c of levels) {
          const slice = sliceFor(b);
          const d = await driveDirect(enc, slice, b, c);
          const tk = tokensOf(slice.length);
          keep({ mode: 'direct-requests', concurrency: c, clientBatch: b, texts: slice.length, tokens: tk, seconds: d.seconds, textsPerSec: slice.length / d.seconds, tokensPerSec: tk / d.seconds, fractionOfDirect: null, p50ms: quantile(d.latencies, 0.5), p99ms: quantile(d.latencies, 0.99) });
          const r = await drive(server.url, slice, b, c);
          keep({ mode: 'server', concurrency: c, clientBatch: b, texts: slice.length, tokens: r.tokens, seconds: r.seconds, textsPerSec: slice.length / r.seconds, tokensPerSec: r.tokens / r.seconds, fractionOfDirect: null, p50ms: quantile(r.latencies, 0.5), p99ms: quantile(r.latencies, 0.99) });
          process.stdout.write(`round ${rep + 1}: ${b} texts/request, concurrency ${c}: direct ${(slice.length / d.seconds).toFixed(1)}, server ${(slice.length / r.seconds).toFixed(1)} texts/s\n`);
        }
      }
    }
  } finally {
    const code = await server.stop();
    if (code !== 0) process.stderr.write(`server exited with ${code}\n`);
    await enc.close();
  }
  const points = [...best.values()];
  const direct = best.get('direct/null/null')!;
  for (const p of points) p.fractionOfDirect = p.tokensPerSec / direct.tokensPerSec;

  const label = { direct: 'Encoder.embedMatrix, one call', 'direct-requests': 'Encoder.embedMatrix per request', server: 'embedrank serve /v1/embeddings' };
  const rows = points.map((p) =>
    p.mode === 'direct'
      ? `| ${label[p.mode]} | – | – | ${p.textsPerSec.toFixed(1)} | ${p.tokensPerSec.toFixed(0)} | 100% | – | – |`
      : `| ${label[p.mode]} | ${p.clientBatch} | ${p.concurrency} | ${p.textsPerSec.toFixed(1)} | ${p.tokensPerSec.toFixed(0)} | ${(100 * p.fractionOfDirect!).toFixed(1)}% | ${p.p50ms!.toFixed(1)} | ${p.p99ms!.toFixed(1)} |`,
  );
  process.stdout.write(
    `\nmachine: ${hostname()}, ${cpus()[0]?.model ?? '?'} × ${availableParallelism()}, ${device}; model ${model}\n\n` +
      `loadavg at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n\n` +
      '| path | texts/request | concurrency | texts/s | tokens/s | of one direct call | p50 ms | p99 ms |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n' +
      rows.join('\n') +
      '\n',
  );
  if (a.out) writeFileSync(a.out, `${JSON.stringify({ date: new Date().toISOString(), host: hostname(), cpu: cpus()[0]?.model, cores: availableParallelism(), device, model, argv: process.argv.slice(2), points }, null, 2)}\n`);
});
