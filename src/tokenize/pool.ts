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

export interface TokenizerPoolOptions {
  /** Worker threads; defaults to os.availableParallelism(). */
  threads?: number;
  /** Texts per task: large enough to amortise the thread hop, small enough to balance. */
  chunkSize?: number;
  /**
   * The fast path: workers write ids straight into the packed buffer (Tokenizer.encodePacked).
   * Default: EMBEDRANK_FAST_TOKENIZE=1 (./threads.ts).
   */
  fast?: boolean;
}

export interface PositionedChunk extends TokenizedChunk {
  /** Index of the chunk's first text in the caller's input. */
  start: number;
}

export class TokenizerPool {
  private readonly pool: Piscina;
  private readonly chunkSize: number;
  private readonly runOptions: { name?: string };
  readonly threads: number;

  constructor(readonly spec: TokenizerSpec, opts: TokenizerPoolOptions = {}) {
    const threads = opts.threads ?? availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) throw new InputError(`tokenizerThreads must be a positive integer, got ${threads}`);
    this.threads = threads;
    this.chunkSize = opts.chunkSize ?? 256;
    this.runOptions = opts.fast ?? fastTokenizeEnabled() ? { name: 'packed' } : {};
    this.pool = new Piscina({
      filename: new URL('../../workers/tokenize.worker.js', import.meta.url).href,
      minThreads: Math.min(this.threads, 1),
      maxThreads: this.threads,
      idleTimeout: 30_000,
    });
  }

  /** Tokenizes texts (and optional pair segments); yields chunks in input order. */
  async *tokenize(texts: string[], pairs: string[] | undefined, maxLength: number): AsyncGenerator<PositionedChunk> {
    const tasks: Array<Promise<PositionedChunk>> = [];
    for (let start = 0; start < texts.length; start += this.chunkSize) {
      const task: TokenizeTask = {
        spec: this.spec,
        texts: texts.slice(start, start + this.chunkSize),
        pairs: pairs?.slice(start, start + this.chunkSize),
        maxLength,
      };
      const p = this.pool.run(task, this.runOptions).then((buf: Int32Array) => ({ start, ...unpack(buf) }));
      p.catch(() => undefined); // surfaced when awaited below; avoids unhandled-rejection noise
      tasks.push(p);
    }
    for (const t of tasks) yield await t;
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
