// The tokenizer pool: a Piscina pool of CPU worker threads that tokenizes chunks of texts off the
// caller's thread and hands them back in input order as they finish, so batching can start
// before the last text is tokenized.
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { InputError } from '../errors.js';
import type { TokenizeTask } from '../../workers/tokenize.worker.js';
import { unpack, type TokenizedChunk } from './packed.js';
import { fastTokenizeEnabled } from './threads.js';
import type { TokenizerSpec } from './tokenizer.js';
import { trace } from '../core/trace.js';

export interface TokenizerPoolOptions {
  /** Worker threads; defaults to os.availableParallelism(). */
  threads?: number;
  /** Most texts per task: large enough to amortise the thread hop (default 256). */
  chunkSize?: number;
  /**
   * Most characters per task (texts and pair segments; a longer text goes alone): tokenization
   * time follows characters, not texts, so tasks of long documents stay small enough to balance
   * over the threads (SciFact's 5183 abstracts in tasks of 256 made 21 tasks of ~0.3 s for 16
   * threads). Default 32768.
   */
  chunkChars?: number;
  /**
   * The fast path: workers write ids straight into the packed buffer (Tokenizer.encodePacked).
   * Default: EMBEDRANK_FAST_TOKENIZE=1 (./threads.ts).
   */
  fast?: boolean;
}

export interface PositionedChunk extends TokenizedChunk {
  /** Index of the chunk's first text in the caller's input (sequence k is input start + k unless `refs` says otherwise). */
  start: number;
  /**
   * Set when the input repeated texts and each distinct text was tokenized once: the chunk's
   * sequences stand for inputs[r] = the input index of reference r, whose tokens are sequence
   * local[r] of this chunk (input order; a sequence may be referenced several times).
   */
  refs?: { local: Int32Array; inputs: Int32Array };
}

/** Sequences a chunk stands for (its references), counting repeats. */
export function chunkInputs(chunk: PositionedChunk): number {
  return chunk.refs ? chunk.refs.inputs.length : chunk.n;
}

/** Calls fn(local sequence, input index) for every input a chunk stands for, in input order. */
export function forEachInput(chunk: PositionedChunk, fn: (local: number, index: number) => void): void {
  if (chunk.refs) {
    const { local, inputs } = chunk.refs;
    for (let r = 0; r < inputs.length; r++) fn(local[r], inputs[r]);
  } else {
    for (let k = 0; k < chunk.n; k++) fn(k, chunk.start + k);
  }
}

export interface TokenizeOptions {
  /**
   * Tokenize each distinct text (or pair) once per call and hand repeats out as references
   * (PositionedChunk.refs): same ids, less tokenizer work when the input repeats itself (the STS
   * sets repeat 26% of their sentences). Chunks then follow the order of first occurrences.
   */
  dedupe?: boolean;
}

export class TokenizerPool {
  private readonly pool: Piscina;
  private readonly chunkSize: number;
  private readonly chunkChars: number;
  private readonly runOptions: { name?: string };
  readonly threads: number;

  constructor(readonly spec: TokenizerSpec, opts: TokenizerPoolOptions = {}) {
    const threads = opts.threads ?? availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) throw new InputError(`tokenizerThreads must be a positive integer, got ${threads}`);
    this.threads = threads;
    this.chunkSize = opts.chunkSize ?? 256;
    this.chunkChars = opts.chunkChars ?? 32768;
    if (!Number.isInteger(this.chunkSize) || this.chunkSize < 1 || !Number.isInteger(this.chunkChars) || this.chunkChars < 1) {
      throw new InputError(`chunkSize and chunkChars must be positive integers, got ${this.chunkSize} and ${this.chunkChars}`);
    }
    this.runOptions = opts.fast ?? fastTokenizeEnabled() ? { name: 'packed' } : {};
    // Every thread starts now and loads the tokenizer (workerData) while the model loads, instead
    // of threads being added one by one, each parsing tokenizer.json, inside the first calls.
    this.pool = new Piscina({
      filename: new URL('../../workers/tokenize.worker.js', import.meta.url).href,
      minThreads: this.threads,
      maxThreads: this.threads,
      idleTimeout: 30_000,
      workerData: { spec },
      // Tasks start in submission order. Piscina's default puts a task it cannot place at once at
      // the back of its queue, so under load chunk 1 could start last, and chunks are yielded in
      // order: batching waited for the whole input (measured: SciFact's tokenization and GPU time
      // added up instead of overlapping).
      stricterFIFO: true,
    });
  }

  /**
   * The task rule, one input at a time: the returned function, given the next input's characters,
   * says whether that input starts a new task (the current one already holds chunkSize inputs, or
   * would pass chunkChars with it; a longer input goes alone) and counts it in.
   */
  private chunker(): (chars: number) => boolean {
    let n = 0;
    let c = 0;
    return (ci) => {
      const cut = n > 0 && (n >= this.chunkSize || c + ci > this.chunkChars);
      if (cut) {
        n = 0;
        c = 0;
      }
      n++;
      c += ci;
      return cut;
    };
  }

  /** Task boundaries over inputs 0..count−1 of `chars(i)` characters, by chunker()'s rule. */
  private bounds(count: number, chars: (i: number) => number): number[] {
    if (count === 0) return [0]; // no tasks
    const starts = [0];
    const cut = this.chunker();
    for (let i = 0; i < count; i++) if (cut(chars(i))) starts.push(i);
    starts.push(count);
    return starts;
  }

  /** Tokenizes texts (and optional pair segments); yields chunks in input order. */
  async *tokenize(texts: string[], pairs: string[] | undefined, maxLength: number, opts: TokenizeOptions = {}): AsyncGenerator<PositionedChunk> {
    if (opts.dedupe) {
      yield* this.tokenizeDistinct(texts, pairs, maxLength);
      return;
    }
    const b = this.bounds(texts.length, (i) => inputChars(texts, pairs, i));
    const tasks: Array<Promise<PositionedChunk>> = [];
    for (let c = 0; c + 1 < b.length; c++) {
      const start = b[c];
      const p = this.run(texts.slice(start, b[c + 1]), pairs?.slice(start, b[c + 1]), maxLength).then((t) => ({ start, ...t }));
      p.catch(() => undefined); // surfaced when awaited below; avoids unhandled-rejection noise
      tasks.push(p);
    }
    for (const t of tasks) yield await t;
  }

  private run(texts: string[], pairs: string[] | undefined, maxLength: number): Promise<TokenizedChunk> {
    const task: TokenizeTask = { spec: this.spec, texts, pairs, maxLength };
    return this.pool.run(task, this.runOptions).then((buf: Int32Array) => unpack(buf));
  }

  /**
   * Each distinct input tokenized once; chunk c carries every input whose text first occurs in it.
   * Tasks go out while the inputs are still being scanned for repeats (a chunk as soon as its
   * distinct texts fill it, by chunker()'s rule, as bounds() cuts), so the workers start after the first
   * chunk's worth of input instead of after the whole scan (~19 ms for the 52 082 STS sentences on
   * the development VM); the references are filled in once the scan is done. With no repeat at all
   * the chunks are the plain path's and carry no references.
   */
  private async *tokenizeDistinct(texts: string[], pairs: string[] | undefined, maxLength: number): AsyncGenerator<PositionedChunk> {
    const seen = new Map<string, number>();
    const first: number[] = []; // input index of each distinct input's first occurrence
    const of = new Int32Array(texts.length); // per input, its distinct number
    const b = [0]; // chunk boundaries over distinct numbers
    const tasks: Array<Promise<TokenizedChunk>> = [];
    const dispatch = (end: number) => {
      const ids = first.slice(b[b.length - 1], end);
      const p = this.run(ids.map((i) => texts[i]), pairs && ids.map((i) => pairs[i]), maxLength);
      p.catch(() => undefined); // surfaced when awaited below
      tasks.push(p);
      b.push(end);
    };
    const cut = this.chunker();
    for (let i = 0; i < texts.length; i++) {
      // The length prefix keeps (text, pair) keys apart: ("ab", "c") and ("a", "bc") differ.
      const key = pairs ? `${texts[i].length}:${texts[i]}${pairs[i]}` : texts[i];
      let u = seen.get(key);
      if (u === undefined) {
        u = first.length;
        if (cut(inputChars(texts, pairs, i))) dispatch(u); // the chunk so far is full: send it
        seen.set(key, u);
        first.push(i);
      }
      of[i] = u;
    }
    if (first.length > 0) dispatch(first.length); // the last chunk
    trace('scan-end', { inputs: texts.length, distinct: first.length, tasks: tasks.length });
    const chunks = tasks.length;
    if (first.length === texts.length) {
      // No repeats: distinct number = input index, so these are the plain path's chunks.
      for (let c = 0; c < chunks; c++) yield { start: b[c], ...(await tasks[c]) };
      return;
    }
    const chunkOf = new Int32Array(first.length);
    for (let c = 0; c < chunks; c++) chunkOf.fill(c, b[c], b[c + 1]);
    // References per chunk, in input order: a counting pass, then a fill.
    const count = new Int32Array(chunks + 1);
    for (let i = 0; i < texts.length; i++) count[chunkOf[of[i]] + 1]++;
    for (let c = 1; c <= chunks; c++) count[c] += count[c - 1];
    const local = new Int32Array(texts.length);
    const inputs = new Int32Array(texts.length);
    const fill = count.slice(0, chunks);
    for (let i = 0; i < texts.length; i++) {
      const u = of[i];
      const c = chunkOf[u];
      const at = fill[c]++;
      local[at] = u - b[c];
      inputs[at] = i;
    }
    for (let c = 0; c < chunks; c++) {
      yield { start: first[b[c]], ...(await tasks[c]), refs: { local: local.subarray(count[c], count[c + 1]), inputs: inputs.subarray(count[c], count[c + 1]) } };
    }
  }

  /** Whole-input convenience: every chunk concatenated. */
  async tokenizeAll(texts: string[], pairs: string[] | undefined, maxLength: number): Promise<TokenizedChunk> {
    const chunks: PositionedChunk[] = [];
    for await (const c of this.tokenize(texts, pairs, maxLength)) chunks.push(c);
    return concatChunks(chunks);
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}

/** Characters of input i: its text and, for pairs, its second segment (what a task's size counts). */
function inputChars(texts: string[], pairs: string[] | undefined, i: number): number {
  return texts[i].length + (pairs ? pairs[i].length : 0);
}

export function concatChunks(chunks: TokenizedChunk[]): TokenizedChunk {
  let n = 0;
  let total = 0;
  for (const c of chunks) {
    n += c.n;
    total += c.ids.length;
  }
  const offsets = new Int32Array(n + 1);
  const ids = new Int32Array(total);
  const typeIds = new Int32Array(total);
  const truncated = new Int32Array(n);
  let i = 0;
  let pos = 0;
  for (const c of chunks) {
    for (let k = 0; k < c.n; k++) offsets[i + k] = pos + c.offsets[k];
    ids.set(c.ids, pos);
    typeIds.set(c.typeIds, pos);
    truncated.set(c.truncated, i);
    i += c.n;
    pos += c.ids.length;
  }
  offsets[n] = pos;
  return { n, offsets, ids, typeIds, truncated };
}
