// Qwen3 benchmarks on one GPU (issue 12), each with its Python baseline in the same invocation
// (same GPU, same inputs: the baselines read the texts / token ids this writes):
//
//   node dist/bench/qwen3.js embed  --model DIR [--data-dir D] [--out O]   Qwen3-Embedding over the
//       SciFact corpus (documents plain, as mteb embeds them: title + " " + text), end to end
//       (tokenization included) after a warm-up, vs sentence-transformers bf16 (bench/st_encode_baseline.py,
//       best of a batch-size sweep); cosine of the two embeddings of the first --check documents.
//   node dist/bench/qwen3.js rerank --model DIR [--data-dir D] [--sts-dir S] [--out O]   Qwen3-Reranker
//       (an original Qwen3ForCausalLM folder, QWEN3_RERANKER_OVERRIDES) on --queries × --candidates
//       pairs per timed set whose prompts share ≥ --min-prefix tokens (system line, instruction and
//       a SciFact abstract as the query; STS sentences as documents), CrossEncoder.predict end to
//       end with the prefix cache on and off, vs transformers' Qwen3ForCausalLM bf16
//       (bench/qwen3_reranker_baseline.py); the measured shared-prefix lengths, cache hit rates
//       and max |ΔP(yes)| against transformers.
//
// The cuBLASLt GEMM peak is measured before and after (bench.ts's gemmPeak). Every measurement
// prints as a markdown table row (lines starting with "|"); the JSON and a log go to --out.
// `--device cpu --baseline none` runs the same harness on the CPU engine (a smoke test: no GPU,
// no Python, no KV cache).
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAddon, type CudaAddon, type DeviceInfo } from '../src/backends/cuda/addon.js';
import type { ComputeDtype } from '../src/core/options.js';
import { CrossEncoder, type CrossEncoderOptions } from '../src/cross-encoder.js';
import { Encoder, type EncoderOptions } from '../src/encoder.js';
import { runMain } from '../src/main.js';
import { relaunchedOnAllocator } from './allocator.js';
import { QWEN3_RERANKER_DEFAULT_INSTRUCTION, QWEN3_RERANKER_OVERRIDES, QWEN3_RERANKER_PREFIX, QWEN3_RERANKER_SUFFIX, qwen3RerankerBody } from '../src/models/qwen3-reranker.js';
import { stsSentences } from '../scripts/gpu/prepare.js';
import { median } from './batches.js';
import { gemmPeak } from './bench.js';
import { baselineEnv } from './baseline-env.js';
import { timeSplit } from './split.js';
import { buildRerankWorkload, idRows, rowCosines, scifactTexts, simulatePrefixCache, spread, type RerankSet } from './qwen3-inputs.js';

const BENCH_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench');
const DT: Record<string, ComputeDtype> = { fp32: 'float32', fp16: 'float16', bf16: 'bfloat16' };

/** One measured configuration: a markdown row and an entry of the JSON. */
export interface Measurement {
  bench: 'embed' | 'rerank';
  engine: 'embedrank' | 'sentence-transformers' | 'transformers';
  setting: string;
  /** Documents (embed) or (query, document) pairs (rerank). */
  items: number;
  tokens: number;
  seconds: number;
  itemsPerSec: number;
  tokensPerSec: number;
  batchSize: number | null;
  note: string;
}

/**
 * The prefix-cache counters of a CrossEncoder / Encoder on the CUDA decoder engine
 * (`kvCacheStats()`, cumulative since load: blocks looked up / found, tokens computed / read from
 * the cache). Read through a narrow cast so this compiles before the engine has it; absent → null.
 */
export interface KvCacheStats {
  queries: number;
  hits: number;
  hitRate: number;
  computedTokens: number;
  cachedTokens: number;
  evictions?: number;
  /** Tokens per block and blocks in the pool (readings only, not in deltas). */
  blockSize?: number;
  numBlocks?: number;
}

async function kvStats(h: Encoder | CrossEncoder): Promise<KvCacheStats | null> {
  const f = (h as unknown as { kvCacheStats?: () => KvCacheStats | Promise<KvCacheStats> | undefined }).kvCacheStats;
  if (typeof f !== 'function') return null;
  return (await f.call(h)) ?? null;
}

/** Counters between two kvStats readings, hitRate = hits / queries of the interval. */
export function kvDelta(a: KvCacheStats | null, b: KvCacheStats | null): KvCacheStats | null {
  if (!a || !b) return null;
  const d = (k: 'queries' | 'hits' | 'computedTokens' | 'cachedTokens') => (b[k] ?? 0) - (a[k] ?? 0);
  const queries = d('queries');
  const hits = d('hits');
  return { queries, hits, hitRate: queries ? hits / queries : 0, computedTokens: d('computedTokens'), cachedTokens: d('cachedTokens'), evictions: (b.evictions ?? 0) - (a.evictions ?? 0) };
}

/** The engine options this bench may pass that EngineOptions may not declare yet (i12s4.md names). */
interface KvEngineOptions {
  enablePrefixCaching?: boolean;
  blockSize?: number;
  gpuMemoryUtilization?: number;
}

class Log {
  private rows = 0;
  constructor(private readonly file: string) {}
  /** Text as given (may hold several lines, ends with \n), to stdout and the log file. */
  raw(text: string): void {
    process.stdout.write(text);
    appendFileSync(this.file, text);
  }
  line(text: string): void {
    this.raw(`${text}\n`);
  }
  row(m: Measurement): void {
    if (this.rows++ === 0) {
      this.line('| bench | engine | setting | items | tokens | seconds | items/s | Mtok/s | batch | notes |');
      this.line('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
    }
    const unit = m.bench === 'embed' ? 'docs' : 'pairs';
    this.line(
      `| ${m.bench} | ${m.engine} | ${m.setting} | ${m.items} ${unit} | ${m.tokens} | ${m.seconds.toFixed(3)} | ${m.itemsPerSec.toFixed(0)} ${unit}/s | ` +
        `${(m.tokensPerSec / 1e6).toFixed(3)} | ${m.batchSize ?? ''} | ${m.note} |`,
    );
  }
}

/** Runs a Python baseline; its stdout and stderr go to the log as they come. @throws Error on a non-zero exit. */
async function runPython(script: string, args: string[], log: Log): Promise<void> {
  log.line(`$ python3 ${script} ${args.join(' ')}`);
  const child = spawn('python3', [join(BENCH_DIR, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: baselineEnv() });
  const forward = (d: Buffer) => log.raw(`  ${d.toString().replace(/\n(?!$)/g, '\n  ')}`);
  child.stdout.on('data', forward);
  child.stderr.on('data', forward);
  const code = await new Promise<number | null>((res, rej) => {
    child.on('error', rej);
    child.on('close', res);
  });
  if (code !== 0) throw new Error(`${script} failed (exit ${code})`);
}

interface Common {
  model: string;
  device: 'cuda' | 'cpu';
  dtype: string;
  out: string;
  tag: string;
  'work-dir': string;
  'data-dir': string;
  'max-num-seqs'?: number;
  'max-num-batched-tokens'?: number;
  'gpu-memory-utilization'?: number;
  'block-size'?: number;
  'tokenizer-threads'?: number;
}

interface Gpu {
  addon: CudaAddon;
  info: DeviceInfo;
  peak: number;
}

function startGpu(device: 'cuda' | 'cpu', log: Log): Gpu | null {
  if (device !== 'cuda') {
    log.line('GPU: none (device cpu: the harness only; no GEMM peak)');
    return null;
  }
  const addon = loadAddon();
  const info = addon.deviceInfo(0);
  return { addon, info, peak: gemmPeak(addon, 'start', (l) => log.raw(l)) };
}

function engineOptions(a: Common, kv: KvEngineOptions): EncoderOptions & CrossEncoderOptions {
  const dtype = a.device === 'cpu' ? 'float32' : DT[a.dtype];
  if (!dtype) throw new Error(`--dtype ${a.dtype} is not one of ${Object.keys(DT).join(', ')}`);
  const o: EncoderOptions & KvEngineOptions = { model: a.model, device: a.device, dtype };
  if (a['max-num-seqs'] !== undefined) o.maxNumSeqs = a['max-num-seqs'];
  if (a['max-num-batched-tokens'] !== undefined) o.maxNumBatchedTokens = a['max-num-batched-tokens'];
  if (a['tokenizer-threads'] !== undefined) o.tokenizerThreads = a['tokenizer-threads'];
  // The KV-cache options exist for the CUDA decoder engine only; the CPU engine runs without a cache.
  if (a.device === 'cuda') {
    if (kv.enablePrefixCaching !== undefined) o.enablePrefixCaching = kv.enablePrefixCaching;
    if (a['block-size'] !== undefined) o.blockSize = a['block-size'];
    if (a['gpu-memory-utilization'] !== undefined) o.gpuMemoryUtilization = a['gpu-memory-utilization'];
  }
  return o as EncoderOptions & CrossEncoderOptions;
}

function writeResult(a: Common, bench: string, gpu: Gpu | null, log: Log, body: Record<string, unknown>): void {
  const peakAfter = gpu ? gemmPeak(gpu.addon, 'after', (l) => log.raw(l)) : null;
  const stamp = new Date().toISOString().slice(0, 10);
  const file = join(a.out, `qwen3-${bench}-${stamp}${a.tag ? '-' + a.tag : ''}.json`);
  const { $0: _0, _: _1, ...args } = a as unknown as Record<string, unknown>;
  writeFileSync(
    file,
    JSON.stringify({ bench, date: new Date().toISOString(), host: hostname(), gpu: gpu?.info ?? null, gemmPeakTflops: gpu?.peak ?? null, gemmAfterTflops: peakAfter, args, ...body }, null, 1),
  );
  log.line(`wrote ${file}`);
}

// ---------------------------------------------------------------------------------------------

interface EmbedArgs extends Common {
  docs: number;
  repeats: number;
  baseline: 'st' | 'none';
  'st-batch-sizes': string;
  'st-sweep-docs': number;
  check: number;
  'prefix-caching': boolean;
}

async function embedBench(a: EmbedArgs, log: Log): Promise<void> {
  const { documents: all, queries: claims } = await scifactTexts(a['data-dir']);
  const docs = a.docs > 0 ? all.slice(0, a.docs) : all;
  // Warm-up on other texts than the timed ones (the claims, and documents only when no prefix
  // cache could keep their blocks): the timed pass then computes every document.
  const warm = a['prefix-caching'] ? claims : [...claims, ...docs.slice(0, 256)];
  log.line(`SciFact: ${docs.length} of ${all.length} documents (title + " " + text, as mteb); warm-up on the ${claims.length} claims${a['prefix-caching'] ? '' : ` and the first ${warm.length - claims.length} documents`}`);
  const gpu = startGpu(a.device, log);
  const measurements: Measurement[] = [];
  const enc = await Encoder.create(engineOptions(a, { enablePrefixCaching: a['prefix-caching'] }));
  let ours: Float32Array;
  let tokens: number;
  let kv: KvCacheStats | null;
  let truncated: number;
  try {
    const { chunk } = await enc.tokenize(docs);
    tokens = chunk.ids.length;
    truncated = chunk.truncated.reduce((s, t) => s + t, 0);
    log.line(`embedrank: ${tokens} tokens as the engine sees them (EOS included; ${truncated} documents cut to ${enc.maxLength}), device ${enc.device}, dtype ${enc.dtype}, batches ≤ ${enc.limits.maxNumSeqs} sequences / ${enc.limits.maxNumBatchedTokens} tokens`);
    await enc.embedMatrix(warm);
    const times: number[] = [];
    let last: Float32Array = new Float32Array(0);
    const kv0 = await kvStats(enc);
    for (let r = 0; r < a.repeats; r++) {
      const t0 = performance.now();
      last = await enc.embedMatrix(docs);
      times.push((performance.now() - t0) / 1000);
    }
    kv = kvDelta(kv0, await kvStats(enc));
    ours = last;
    const split = await timeSplit(enc, docs, a.repeats);
    log.line(`SPLIT embed: end to end ${median(times).toFixed(3)} s = tokenize alone ${split.tokenize.toFixed(3)} s + engine alone on pre-tokenized ids ${split.engine.toFixed(3)} s (${(tokens / split.engine / 1e6).toFixed(3)} M tok/s); medians of ${a.repeats}`);
    const secs = median(times);
    const caching = a.device === 'cpu' ? 'no KV cache' : `prefix cache ${a['prefix-caching'] ? 'on' : 'off'}`;
    const m: Measurement = {
      bench: 'embed', engine: 'embedrank', setting: `${enc.dtype}, ${caching}`, items: docs.length, tokens, seconds: secs,
      itemsPerSec: docs.length / secs, tokensPerSec: tokens / secs, batchSize: enc.limits.maxNumSeqs,
      note: `median of ${a.repeats} (${times.map((t) => t.toFixed(2)).join(', ')} s)${kv ? `; KV hit rate ${(kv.hitRate * 100).toFixed(1)}%` : ''}`,
    };
    measurements.push(m);
    log.row(m);
  } finally {
    await enc.close();
  }
  const dim = ours.length / docs.length;
  let check: Record<string, unknown> | null = null;
  if (a.baseline === 'st') {
    mkdirSync(a['work-dir'], { recursive: true });
    const input = join(a['work-dir'], 'embed-texts.json');
    const result = join(a['work-dir'], 'st-embed.json');
    const n = Math.min(a.check, docs.length);
    writeFileSync(input, JSON.stringify({ texts: docs, warmup: warm }));
    await runPython(
      'st_encode_baseline.py',
      ['--model', a.model, '--texts', input, '--dtype', a.dtype, '--batch-sizes', a['st-batch-sizes'], '--sweep-docs', String(a['st-sweep-docs']), '--repeats', String(a.repeats), '--save-first', String(n), '--out', result],
      log,
    );
    const st = JSON.parse(readFileSync(result, 'utf8')) as {
      points: Array<{ batchSize: number; seconds: number; texts: number; tokens: number }>;
      bestBatchSize: number;
      embeddings: number[][];
      tokens: number;
      versions: string;
    };
    log.line(`CHECK embed: tokens the model sees: embedrank ${tokens}, sentence-transformers ${st.tokens}${st.tokens === tokens ? ' (equal)' : ' (DIFFERENT: the two tokenize these documents differently)'}`);
    for (const p of st.points) {
      const full = p.texts === docs.length;
      const m: Measurement = {
        bench: 'embed', engine: 'sentence-transformers', setting: `${DT[a.dtype]}, encode(batch_size=${p.batchSize})${full ? '' : ', sweep'}`, items: p.texts, tokens: p.tokens,
        seconds: p.seconds, itemsPerSec: p.texts / p.seconds, tokensPerSec: p.tokens / p.seconds, batchSize: p.batchSize,
        note: `${full ? `all documents, batch size ${st.bestBatchSize} best` : `first ${p.texts} documents`}; ${st.versions}`,
      };
      measurements.push(m);
      log.row(m);
    }
    const rows = Array.from({ length: n }, (_, i) => ours.subarray(i * dim, (i + 1) * dim));
    const cos = rowCosines(rows, st.embeddings);
    const s = spread(cos);
    check = { documents: n, cosineMin: s.min, cosineMean: s.mean, worstDocument: cos.indexOf(s.min) };
    log.line(`CHECK embed: cosine embedrank vs sentence-transformers over the first ${n} documents: min ${s.min.toFixed(6)}, mean ${s.mean.toFixed(6)} (${Number.isNaN(s.min) ? 'NaN!' : `both ${a.dtype}`})`);
    const full = st.points.filter((p) => p.texts === docs.length);
    const best = Math.max(...full.map((p) => docs.length / p.seconds));
    log.line(`RATIO embed ${a.dtype}: embedrank ${measurements[0].itemsPerSec.toFixed(0)} docs/s vs sentence-transformers ${best.toFixed(0)} docs/s (batch size ${st.bestBatchSize}, best of ${a['st-batch-sizes']}) = ${(measurements[0].itemsPerSec / best).toFixed(2)}x`);
  }
  writeResult(a, 'embed', gpu, log, { model: a.model, documents: docs.length, tokens, truncated, dim, kvCache: kv, measurements, check });
}

// ---------------------------------------------------------------------------------------------

interface RerankArgs extends Common {
  'sts-dir': string;
  queries: number;
  candidates: number;
  repeats: number;
  'min-prefix': number;
  'max-model-len': number;
  baseline: 'transformers' | 'none';
  'hf-batch-sizes': string;
  'compare-overlap': boolean;
}

interface RerankRun {
  measurement: Measurement;
  /** P(yes) of every timed pair, sets in order. */
  scores: Float32Array;
  kv: KvCacheStats | null;
  perSet: Array<{ seconds: number; kv: KvCacheStats | null }>;
}

async function timeReranker(ce: CrossEncoder, sets: RerankSet[], setting: string, log: Log): Promise<RerankRun> {
  await ce.predict(sets[0].pairs); // warm-up: its own queries and documents
  const timed = sets.slice(1);
  const scores = new Float32Array(timed.reduce((n, s) => n + s.pairs.length, 0));
  const perSet: RerankRun['perSet'] = [];
  const first = await kvStats(ce);
  let at = 0;
  for (const s of timed) {
    const k0 = await kvStats(ce);
    const t0 = performance.now();
    const p = (await ce.predict(s.pairs)) as Float32Array;
    perSet.push({ seconds: (performance.now() - t0) / 1000, kv: kvDelta(k0, await kvStats(ce)) });
    scores.set(p, at);
    at += p.length;
  }
  const last = await kvStats(ce);
  const kv = kvDelta(first, last);
  if (last) log.line(`KV pool (${setting}): ${last.numBlocks ?? '?'} blocks of ${last.blockSize ?? '?'} tokens`);
  const seconds = perSet.reduce((t, s) => t + s.seconds, 0);
  const tokens = timed.reduce((n, s) => n + s.chunk.ids.length, 0);
  const measurement: Measurement = {
    bench: 'rerank', engine: 'embedrank', setting, items: scores.length, tokens, seconds, itemsPerSec: scores.length / seconds, tokensPerSec: tokens / seconds,
    batchSize: ce.limits.maxNumSeqs,
    note: `${timed.length} sets (${perSet.map((p) => (sets[1].pairs.length / p.seconds).toFixed(0)).join(', ')} pairs/s)` + (kv ? `; hit rate ${(kv.hitRate * 100).toFixed(1)}%, ${kv.cachedTokens} tokens cached / ${kv.computedTokens} computed` : ''),
  };
  log.row(measurement);
  return { measurement, scores, kv, perSet };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`${a.length} scores against ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? NaN : d; // NaN sticks
    if (Number.isNaN(m)) break;
  }
  return m;
}

async function rerankBench(a: RerankArgs, log: Log): Promise<void> {
  const { documents: abstracts } = await scifactTexts(a['data-dir']);
  const sentences = stsSentences(a['sts-dir']);
  if (!sentences.length) throw new Error(`no STS sentences under ${a['sts-dir']} (--sts-dir)`);
  const gpu = startGpu(a.device, log);
  const sets1 = a.repeats + 1;
  const blockSize = a['block-size'] ?? 16;
  const opts = (cache: boolean): CrossEncoderOptions => ({ ...engineOptions(a, { enablePrefixCaching: cache }), hfOverrides: { ...QWEN3_RERANKER_OVERRIDES }, maxModelLen: a['max-model-len'] });
  const measurements: Measurement[] = [];
  const runs: Record<string, RerankRun> = {};
  let sets: RerankSet[];
  const on = await CrossEncoder.create(opts(true));
  try {
    sets = await buildRerankWorkload((p) => on.tokenizePairs(p), abstracts, sentences, { queries: a.queries, candidates: a.candidates, minPrefix: a['min-prefix'], sets: sets1 });
    const timed = sets.slice(1);
    const shared = spread(timed.flatMap((s) => s.sharedPrefix));
    const lens = timed.flatMap((s) => Array.from({ length: s.chunk.n }, (_, i) => s.chunk.offsets[i + 1] - s.chunk.offsets[i]));
    const len = spread(lens);
    const sim = simulatePrefixCache(sets.map((s) => s.chunk), blockSize).slice(1);
    const simCached = sim.reduce((t, s) => t + s.cachedTokens, 0);
    const simRate = sim.reduce((t, s) => t + s.hits, 0) / Math.max(1, sim.reduce((t, s) => t + s.queries, 0));
    const tokens = lens.reduce((t, l) => t + l, 0);
    log.line(
      `PREFIX rerank: ${a.queries} queries × ${a.candidates} candidates per set, ${a.repeats} timed sets (+1 warm-up); shared prefix per query ` +
        `min ${shared.min} / mean ${shared.mean.toFixed(1)} / max ${shared.max} tokens (system line + instruction + query); prompts ${len.min}..${len.max} tokens (mean ${len.mean.toFixed(1)})`,
    );
    log.line(
      `PREFIX rerank: with blocks of ${blockSize} and room for all, the prefix cache can skip ${simCached} of ${tokens} timed tokens (${((100 * simCached) / tokens).toFixed(1)}%), ` +
        `block hit rate ${(simRate * 100).toFixed(1)}% (BlockPool replayed on the same ids)`,
    );
    const q0 = timed[0].pairs[0];
    log.line(`PREFIX rerank: e.g. query 1 (${q0[0].split(' ').length} words of a SciFact abstract): "${q0[0].slice(0, 100)}…", document 1: "${q0[1].slice(0, 60)}"`);
    if (shared.min < a['min-prefix']) throw new Error(`a query's candidates share only ${shared.min} tokens (< --min-prefix ${a['min-prefix']})`);
    const label = (cache: boolean) => (a.device === 'cpu' ? `${on.dtype}, no KV cache (cpu)` : `${on.dtype}, prefix caching ${cache ? 'on' : 'off'}`);
    runs.on = await timeReranker(on, sets, label(true), log);
    measurements.push(runs.on.measurement);
    const engineBlock = (await kvStats(on))?.blockSize;
    if (engineBlock !== undefined && engineBlock !== blockSize) log.line(`warning: the engine's blocks hold ${engineBlock} tokens, the replay assumed ${blockSize} (pass --block-size)`);
    if (runs.on.kv) log.line(`KV rerank (cache on): measured ${runs.on.kv.cachedTokens} cached tokens, hit rate ${(runs.on.kv.hitRate * 100).toFixed(1)}%; simulated ${simCached}, ${(simRate * 100).toFixed(1)}%`);
  } finally {
    await on.close();
  }
  if (a.device === 'cuda' && a['compare-overlap']) {
    // The same cache-on run with one batch in flight (host work not overlapped with the GPU).
    process.env.EMBEDRANK_DECODER_OVERLAP = '0';
    const serial = await CrossEncoder.create(opts(true));
    delete process.env.EMBEDRANK_DECODER_OVERLAP;
    try {
      runs.serial = await timeReranker(serial, sets, `${serial.dtype}, prefix caching on, one batch in flight (EMBEDRANK_DECODER_OVERLAP=0)`, log);
      measurements.push(runs.serial.measurement);
    } finally {
      await serial.close();
    }
    log.line(`SPEEDUP rerank: two batches in flight vs one (cache on) ${(runs.on.measurement.itemsPerSec / runs.serial.measurement.itemsPerSec).toFixed(2)}x`);
    log.line(`CHECK rerank: max |ΔP(yes)| two in flight vs one ${maxAbsDiff(runs.on.scores, runs.serial.scores).toExponential(2)}`);
  }
  if (a.device === 'cuda') {
    const off = await CrossEncoder.create(opts(false));
    try {
      runs.off = await timeReranker(off, sets, `${off.dtype}, prefix caching off`, log);
      measurements.push(runs.off.measurement);
    } finally {
      await off.close();
    }
    const speedup = runs.on.measurement.itemsPerSec / runs.off.measurement.itemsPerSec;
    log.line(`SPEEDUP rerank: prefix caching on vs off ${speedup.toFixed(2)}x (${runs.on.measurement.itemsPerSec.toFixed(0)} vs ${runs.off.measurement.itemsPerSec.toFixed(0)} pairs/s; issue 12 aims ≥ 3x)`);
    log.line(`CHECK rerank: max |ΔP(yes)| cache on vs off ${maxAbsDiff(runs.on.scores, runs.off.scores).toExponential(2)}`);
  }
  const timed = sets.slice(1);
  const checks: Record<string, number> = {};
  if (runs.off) checks.maxAbsDiffOnVsOff = maxAbsDiff(runs.on.scores, runs.off.scores);
  let hf: { points: Array<{ batchSize: number; seconds: number; tokens: number }>; p_yes: number[]; bestBatchSize: number; cardTokenization: { equal: number; total: number }; versions: string } | null = null;
  if (a.baseline === 'transformers') {
    mkdirSync(a['work-dir'], { recursive: true });
    const input = join(a['work-dir'], 'rerank-inputs.json');
    const result = join(a['work-dir'], 'hf-rerank.json');
    const instruction = QWEN3_RERANKER_DEFAULT_INSTRUCTION;
    writeFileSync(
      input,
      JSON.stringify({
        prefix: QWEN3_RERANKER_PREFIX,
        suffix: QWEN3_RERANKER_SUFFIX,
        bodies: timed.flatMap((s) => s.pairs.map(([q, d]) => qwen3RerankerBody(q, d, instruction))),
        input_ids: timed.flatMap((s) => idRows(s.chunk)),
        warmup_input_ids: idRows(sets[0].chunk),
        max_length: a['max-model-len'],
      }),
    );
    await runPython('qwen3_reranker_baseline.py', ['--model', a.model, '--inputs', input, '--dtype', a.dtype, '--batch-sizes', a['hf-batch-sizes'], '--out', result], log);
    hf = JSON.parse(readFileSync(result, 'utf8'));
    for (const p of hf!.points) {
      const m: Measurement = {
        bench: 'rerank', engine: 'transformers', setting: `${DT[a.dtype]}, Qwen3ForCausalLM, left-padded batches of ${p.batchSize}`, items: hf!.p_yes.length, tokens: p.tokens,
        seconds: p.seconds, itemsPerSec: hf!.p_yes.length / p.seconds, tokensPerSec: p.tokens / p.seconds, batchSize: p.batchSize, note: hf!.versions,
      };
      measurements.push(m);
      log.row(m);
    }
    log.line(`CHECK rerank: the model card's tokenization (prefix + tokenizer(body) + suffix, transformers) equals embedrank's ids for ${hf!.cardTokenization.equal} of ${hf!.cardTokenization.total} prompts`);
    for (const k of Object.keys(runs)) {
      const d = maxAbsDiff(runs[k].scores, hf!.p_yes);
      checks[`maxAbsDiffVsTransformers_${k}`] = d;
      log.line(`CHECK rerank: max |ΔP(yes)| embedrank (${runs[k].measurement.setting}) vs transformers ${d.toExponential(2)} over ${hf!.p_yes.length} pairs`);
    }
    const best = Math.max(...hf!.points.map((p) => hf!.p_yes.length / p.seconds));
    for (const k of Object.keys(runs)) log.line(`RATIO rerank ${a.dtype}: embedrank (${runs[k].measurement.setting}) ${runs[k].measurement.itemsPerSec.toFixed(0)} pairs/s vs transformers ${best.toFixed(0)} pairs/s (best batch size) = ${(runs[k].measurement.itemsPerSec / best).toFixed(2)}x`);
  }
  writeResult(a, 'rerank', gpu, log, {
    model: a.model,
    workload: {
      queriesPerSet: a.queries, candidates: a.candidates, timedSets: a.repeats, blockSizeAssumed: blockSize,
      sharedPrefix: timed.flatMap((s) => s.sharedPrefix), simulatedPrefixCache: simulatePrefixCache(sets.map((s) => s.chunk), blockSize).slice(1),
      tokens: timed.reduce((n, s) => n + s.chunk.ids.length, 0),
    },
    kvCache: Object.fromEntries(Object.entries(runs).map(([k, r]) => [k, { total: r.kv, perSet: r.perSet }])),
    measurements,
    checks,
    transformers: hf ? { bestBatchSize: hf.bestBatchSize, cardTokenization: hf.cardTokenization } : null,
  });
}

// ---------------------------------------------------------------------------------------------

await runMain(import.meta, async () => {
  if (relaunchedOnAllocator()) return;
  const { default: yargs } = await import('yargs');
  const { hideBin } = await import('yargs/helpers');
  const common = {
    model: { type: 'string', demandOption: true, describe: 'model folder' },
    device: { choices: ['cuda', 'cpu'] as const, default: 'cuda' as const, describe: 'cpu: the harness only (CPU engine, float32, no KV cache)' },
    dtype: { choices: ['bf16', 'fp16', 'fp32'], default: 'bf16', describe: 'compute dtype on CUDA, and the baseline\'s' },
    'data-dir': { type: 'string', default: process.env.EMBEDRANK_SHARED_DATA ?? '../shared/data', describe: 'folder holding scifact/ (BEIR layout)' },
    'max-num-seqs': { type: 'number', describe: 'engine batch: most sequences (default the engine\'s)' },
    'max-num-batched-tokens': { type: 'number', describe: 'engine batch: token budget (default the engine\'s)' },
    'gpu-memory-utilization': { type: 'number', describe: 'fraction of GPU memory for weights, activations and the KV pool (default the engine\'s, 0.9)' },
    'block-size': { type: 'number', describe: 'tokens per KV block (default the engine\'s, 16)' },
    'tokenizer-threads': { type: 'number', describe: 'tokenizer worker threads (default the engine\'s)' },
    out: { type: 'string', default: 'bench/results', describe: 'folder for the JSON and qwen3.log' },
    tag: { type: 'string', default: '', describe: 'suffix for output file names' },
    'work-dir': { type: 'string', default: join(tmpdir(), 'embedrank-qwen3-bench'), describe: 'where the inputs for the Python baselines are written' },
  } as const;
  const start = (a: Common): Log => {
    mkdirSync(a.out, { recursive: true });
    const log = new Log(join(a.out, 'qwen3.log'));
    log.line(`== ${new Date().toISOString()} ${hostname()}: node ${process.argv.slice(1).join(' ')}`);
    return log;
  };
  const argv = await yargs(hideBin(process.argv))
    .usage('$0 <embed|rerank> --model DIR [options]\n\nQwen3-Embedding / Qwen3-Reranker throughput on one GPU with the Python baseline in the same run (issue 12).')
    .command('embed', 'Qwen3-Embedding over the SciFact corpus vs sentence-transformers', (y) =>
      y
        .options(common)
        .option('docs', { type: 'number', default: 0, describe: 'first N documents (0: all 5183)' })
        .option('repeats', { type: 'number', default: 1, describe: 'timed passes over the corpus (median), each engine' })
        .option('baseline', { choices: ['st', 'none'] as const, default: 'st' as const })
        .option('st-batch-sizes', { type: 'string', default: '16,32,64', describe: 'sentence-transformers encode batch sizes swept (each reported; the best runs all documents)' })
        .option('st-sweep-docs', { type: 'number', default: 1024, describe: 'documents the sentence-transformers sweep times (0: all, every batch size over the whole corpus)' })
        .option('check', { type: 'number', default: 64, describe: 'first N documents compared by cosine with sentence-transformers' })
        .option('prefix-caching', { type: 'boolean', default: false, describe: 'embed with the prefix cache on (off: the documents are distinct, and a repeated pass would only time cache hits)' }),
    )
    .command('rerank', 'Qwen3-Reranker, prefix caching on vs off, vs transformers', (y) =>
      y
        .options(common)
        .option('sts-dir', { type: 'string', default: process.env.EMBEDRANK_STS_DIR ?? '../shared/data/sts', describe: 'SemEval STS folder: the candidate documents' })
        .option('queries', { type: 'number', default: 16, describe: 'queries per timed set' })
        .option('candidates', { type: 'number', default: 20, describe: 'documents per query' })
        .option('repeats', { type: 'number', default: 3, describe: 'timed sets (fresh queries and documents each; one more set warms up)' })
        .option('min-prefix', { type: 'number', default: 200, describe: "least tokens a query's candidates share" })
        .option('max-model-len', { type: 'number', default: 1024, describe: "maxModelLen (the test folders' tokenizer says 128)" })
        .option('baseline', { choices: ['transformers', 'none'] as const, default: 'transformers' as const })
        .option('compare-overlap', { type: 'boolean', default: false, describe: 'also time prefix caching on with one batch in flight (EMBEDRANK_DECODER_OVERLAP=0)' })
        .option('hf-batch-sizes', { type: 'string', default: '20,40,80,160', describe: 'transformers batch sizes in pairs (each reported; best for the ratio)' }),
    )
    .demandCommand(1, 'name a benchmark: embed or rerank')
    .strict()
    .help()
    .parse();
  // Run outside yargs, so a failure prints its message (runMain) rather than the usage.
  const a = argv as unknown as Common;
  for (const k of ['queries', 'candidates', 'repeats', 'docs', 'check'] as const) {
    const v = (argv as Record<string, unknown>)[k];
    if (v !== undefined && !(Number.isInteger(v) && (v as number) >= (k === 'docs' || k === 'check' ? 0 : 1))) throw new Error(`--${k} must be an integer ≥ ${k === 'docs' || k === 'check' ? 0 : 1}, got ${String(v)}`);
  }
  if (argv._[0] === 'embed') await embedBench(argv as unknown as EmbedArgs, start(a));
  else await rerankBench(argv as unknown as RerankArgs, start(a));
});
