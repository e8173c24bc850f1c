// The tokenizer pool: worker threads give the same ids as the tokenizer in this thread, in input
// order, and the tokenizer path never loads onnxruntime or the CUDA addon.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bertTokenizerJson } from '../../scripts/make-tokenizer.js';
import { forEachInput, TokenizerPool, type PositionedChunk } from '../../src/tokenize/pool.js';
import { Tokenizer } from '../../src/tokenize/tokenizer.js';

const sentences = readFileSync(join(process.cwd(), 'data/sts/2012/MSRpar.test.tsv'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .flatMap((l) => l.split('\t').slice(1, 3));

describe('tokenize/pool: worker threads', function () {
  this.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), 'embedrank-tok-'));
  const file = join(dir, 'tokenizer.json');
  writeFileSync(file, JSON.stringify(bertTokenizerJson()));
  const pool = new TokenizerPool({ file }, { threads: 2, chunkSize: 97 });
  after(() => pool.close());

  it('gives the same ids as the in-thread tokenizer, in input order, with truncation flags', async () => {
    const tok = Tokenizer.fromFile(file);
    const texts = [...sentences, 'word '.repeat(300)];
    const all = await pool.tokenizeAll(texts, undefined, 64);
    expect(all.n).to.equal(texts.length);
    const want = await tok.encodeBatch(texts, undefined, 64);
    texts.forEach((t, i) => {
      const e = want[i];
      expect(Array.from(all.ids.subarray(all.offsets[i], all.offsets[i + 1]))).to.deep.equal(e.ids);
      expect(all.truncated[i]).to.equal(e.truncated ? 1 : 0);
    });
    expect(all.truncated[texts.length - 1]).to.equal(1);
  });

  it('tokenizes pairs with segment ids', async () => {
    const tok = Tokenizer.fromFile(file);
    const a = sentences.slice(0, 300);
    const b = sentences.slice(300, 600);
    const all = await pool.tokenizeAll(a, b, 40);
    const want = await tok.encodeBatch(a, b, 40);
    a.forEach((q, i) => {
      const e = want[i];
      expect(Array.from(all.typeIds.subarray(all.offsets[i], all.offsets[i + 1]))).to.deep.equal(e.typeIds);
    });
  });

  it('the fast path (ids packed in the worker) gives buffers equal to the default path: singles, pairs, truncation flags', async () => {
    const fast = new TokenizerPool({ file }, { threads: 2, chunkSize: 97, fast: true });
    try {
      const texts = [...sentences, 'word '.repeat(300), 'a'];
      for (const [a, b, max] of [[texts, undefined, 64], [sentences.slice(0, 300), sentences.slice(300, 600), 40]] as const) {
        const want = await pool.tokenizeAll(a as string[], b as string[] | undefined, max);
        const got = await fast.tokenizeAll(a as string[], b as string[] | undefined, max);
        expect(got.n).to.equal(want.n);
        for (const k of ['offsets', 'ids', 'typeIds', 'truncated'] as const) expect(Buffer.from(got[k].buffer, got[k].byteOffset, got[k].byteLength).equals(Buffer.from(want[k].buffer, want[k].byteOffset, want[k].byteLength)), k).to.equal(true);
        expect(Array.from(got.truncated).some((t) => t === 1), 'truncation exercised').to.equal(true);
      }
    } finally {
      await fast.close();
    }
  });

  it('dedupe: each distinct text (or pair) tokenized once, every input referenced once with the ids it would have had', async () => {
    // Repeats near and far, pairs whose concatenations coincide, an over-long text repeated.
    const long = 'word '.repeat(300);
    const texts = [...sentences.slice(0, 250), ...sentences.slice(0, 120), long, 'a', 'ab', long, ...sentences.slice(100, 200)];
    const pairs = texts.map((t, i) => (i % 3 === 0 ? 'c' : t === 'a' ? 'bc' : t === 'ab' ? 'c' : sentences[(i * 7) % 50]));
    for (const p of [undefined, pairs]) {
      const want = await pool.tokenizeAll(texts, p, 64);
      const seen = new Int32Array(texts.length);
      let sequences = 0;
      for await (const c of pool.tokenize(texts, p, 64, { dedupe: true })) {
        expect(c.refs, 'repeats come as references').to.not.equal(undefined);
        sequences += c.n;
        forEachInput(c, (k, index) => {
          seen[index]++;
          const got = Array.from(c.ids.subarray(c.offsets[k], c.offsets[k + 1]));
          const exp = Array.from(want.ids.subarray(want.offsets[index], want.offsets[index + 1]));
          if (got.join() !== exp.join()) expect(got, `input ${index}`).to.deep.equal(exp);
          const gt = Array.from(c.typeIds.subarray(c.offsets[k], c.offsets[k + 1]));
          const et = Array.from(want.typeIds.subarray(want.offsets[index], want.offsets[index + 1]));
          if (gt.join() !== et.join()) expect(gt, `types of input ${index}`).to.deep.equal(et);
          expect(c.truncated[k], `input ${index}`).to.equal(want.truncated[index]);
        });
      }
      expect(Array.from(seen).every((v) => v === 1), 'every input exactly once').to.equal(true);
      const distinct = new Set(texts.map((t, i) => (p ? `${t.length}:${t}${p[i]}` : t))).size;
      expect(sequences, 'sequences tokenized').to.equal(distinct);
      expect(distinct).to.be.lessThan(texts.length);
    }
    // ("a", "bc") and ("ab", "c") are different pairs: both tokenized.
    for await (const c of pool.tokenize(['a', 'ab', 'a'], ['bc', 'c', 'bc'], 64, { dedupe: true })) {
      expect(c.n).to.equal(2);
      expect(Array.from(c.refs!.local)).to.deep.equal([0, 1, 0]);
    }
  });

  it('chunkChars: tasks hold at most that many characters (a longer text alone), with the same ids, plain and deduplicated', async () => {
    const small = new TokenizerPool({ file }, { threads: 2, chunkChars: 400 });
    try {
      const long = 'word '.repeat(120);
      const texts = [...sentences.slice(0, 200), long, ...sentences.slice(0, 50), long, 'a'];
      const want = await pool.tokenizeAll(texts, undefined, 64);
      for (const dedupe of [false, true]) {
        const seen = new Int32Array(texts.length);
        const starts: number[] = [];
        const sizes: number[] = [];
        let chunks = 0;
        for await (const c of small.tokenize(texts, undefined, 64, { dedupe })) {
          chunks++;
          // The chunk's own (distinct) texts: the first input that references each sequence.
          const firstOf = new Map<number, number>();
          forEachInput(c, (k, index) => {
            if (!firstOf.has(k)) firstOf.set(k, index);
            seen[index]++;
            const got = Array.from(c.ids.subarray(c.offsets[k], c.offsets[k + 1])).join();
            if (got !== Array.from(want.ids.subarray(want.offsets[index], want.offsets[index + 1])).join()) expect.fail(`input ${index} (dedupe ${dedupe})`);
          });
          const chars = [...firstOf.values()].reduce((t, i) => t + texts[i].length, 0);
          if (c.n > 1) expect(chars, `chunk ${chunks} (dedupe ${dedupe})`).to.be.at.most(400);
          starts.push(c.start);
          sizes.push(c.n);
        }
        // Exactly the boundaries of the rule (≤ 256 texts, ≤ 400 characters unless alone) over the
        // inputs, or with dedupe over each distinct text's first occurrence, chunk by chunk.
        const order = dedupe ? texts.flatMap((t, i) => (texts.indexOf(t) === i ? [i] : [])) : texts.map((_, i) => i);
        const wantStarts: number[] = [];
        const wantSizes: number[] = [];
        let n = 0;
        let c = 0;
        for (const i of order) {
          if (n > 0 && (n >= 256 || c + texts[i].length > 400)) {
            wantSizes.push(n);
            n = 0;
            c = 0;
          }
          if (n === 0) wantStarts.push(i);
          n++;
          c += texts[i].length;
        }
        wantSizes.push(n);
        expect(starts, `chunk starts (dedupe ${dedupe})`).to.deep.equal(wantStarts);
        expect(sizes, `chunk sizes (dedupe ${dedupe})`).to.deep.equal(wantSizes);
        expect(Array.from(seen).every((v) => v === 1), 'every input exactly once').to.equal(true);
        // ≥ 22 k characters in tasks of ≤ 400: many more tasks than the 256-text default would make.
        expect(chunks, `tasks (dedupe ${dedupe})`).to.be.greaterThan(40);
      }
      let none = 0;
      for await (const c of small.tokenize([], undefined, 64)) none += 1 + c.n;
      expect(none, 'no input, no task').to.equal(0);
      expect((await small.tokenizeAll([], undefined, 64)).n).to.equal(0);
    } finally {
      await small.close();
    }
  });

  it('a tokenizer file that does not load fails the call with its error (the thread-start preload stays silent)', async () => {
    const bad = join(dir, 'bad-tokenizer.json');
    writeFileSync(bad, '{"not": "a tokenizer"}');
    const p = new TokenizerPool({ file: bad }, { threads: 1 });
    try {
      let err: Error | undefined;
      try {
        await p.tokenizeAll(['hello'], undefined, 16);
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message ?? '').to.match(/tokenizer|variant|field|missing/i);
    } finally {
      await p.close();
    }
  });

  it('chunks stream out in input order as they finish: the middle chunk arrives well before the last (tasks start first in, first out)', async () => {
    // Piscina's default requeued a task it could not place at once at the back of its queue, so
    // chunk 1 started last and in-order yielding held every later chunk until the end.
    const texts = Array.from({ length: 12 }, () => sentences).flat();
    const p = new TokenizerPool({ file }, { threads: 2, chunkSize: 64 });
    try {
      await p.tokenizeAll(sentences.slice(0, 256), undefined, 64);
      const t0 = performance.now();
      const at: number[] = [];
      for await (const c of p.tokenize(texts, undefined, 64)) {
        void c;
        at.push(performance.now() - t0);
      }
      expect(at.length).to.be.greaterThan(40);
      const total = at[at.length - 1];
      const middle = at[at.length >> 1];
      expect(middle / total, `middle chunk at ${middle.toFixed(0)} of ${total.toFixed(0)} ms`).to.be.below(0.8);
    } finally {
      await p.close();
    }
  });

  it('dedupe with nothing repeated tokenizes as without it (plain chunks: same starts and ids, no references)', async () => {
    const small = new TokenizerPool({ file }, { threads: 2, chunkChars: 400 });
    try {
      const texts = [...new Set(sentences)].slice(0, 300);
      const plain: PositionedChunk[] = [];
      for await (const c of small.tokenize(texts, undefined, 64)) plain.push(c);
      let k = 0;
      for await (const c of small.tokenize(texts, undefined, 64, { dedupe: true })) {
        expect(c.refs, 'no references without repeats').to.equal(undefined);
        expect(c.start, `chunk ${k}`).to.equal(plain[k].start);
        expect(Array.from(c.ids), `chunk ${k}`).to.deep.equal(Array.from(plain[k].ids));
        k++;
      }
      expect(k, 'chunks').to.equal(plain.length).and.to.be.greaterThan(1);
    } finally {
      await small.close();
    }
  });

  it('dedupe: a failing task fails the call where it is awaited, and no other task\'s failure goes unhandled', async () => {
    const bad = join(dir, 'bad-tokenizer-dedupe.json');
    writeFileSync(bad, '{"not": "a tokenizer"}');
    const p = new TokenizerPool({ file: bad }, { threads: 2, chunkSize: 2 });
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      // Repeats, so the deduplicating path with its references runs; several chunks, all failing.
      const texts = ['a', 'b', 'a', 'c', 'd', 'e', 'b', 'f', 'g'];
      let err: Error | undefined;
      try {
        for await (const c of p.tokenize(texts, undefined, 16, { dedupe: true })) void c;
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message ?? '', 'the first chunk\'s error').to.match(/tokenizer|variant|field|missing/i);
      await new Promise((r) => setTimeout(r, 200)); // the later chunks' rejections have settled
      expect(unhandled, 'unhandled rejections').to.deep.equal([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await p.close();
    }
  });

  it('never loads onnxruntime or the CUDA addon, in this thread or its workers', () => {
    const hook = join(dir, 'hook.mjs');
    writeFileSync(
      hook,
      `export async function resolve(s, c, next) { if (/onnxruntime|embedrank_cuda|backends\\/(cpu|cuda)/.test(s)) throw new Error('tokenizer path loaded ' + s); return next(s, c); }`,
    );
    const reg = join(dir, 'register.mjs');
    writeFileSync(reg, `import { register } from 'node:module'; register(${JSON.stringify(pathToFileURL(hook).href)});`);
    const script = join(dir, 'run.mjs');
    const poolUrl = pathToFileURL(join(process.cwd(), 'dist/src/tokenize/pool.js')).href;
    writeFileSync(
      script,
      `import { TokenizerPool } from ${JSON.stringify(poolUrl)};
       const p = new TokenizerPool({ file: ${JSON.stringify(file)} }, { threads: 2 });
       const r = await p.tokenizeAll(['hello world', 'a second text'], undefined, 16);
       await p.close();
       console.log(r.n);`,
    );
    const out = execFileSync(process.execPath, ['--import', pathToFileURL(reg).href, script], { encoding: 'utf8' });
    expect(out.trim()).to.equal('2');
  });
});
