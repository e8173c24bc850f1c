// Where one sentence's tokenization time goes, and what other libraries would cost (issue: STS ≥ 25×).
// Two modes, both on every SemEval STS 2012–16 sentence (52 082) and the real all-MiniLM-L6-v2
// tokenizer.json; run after `npm run build` (uses dist/src/tokenize/tokenizer.js for embedrank's own
// calls):
//
//   check: are @huggingface/transformers' (v4, pure JS, via @huggingface/tokenizers) input_ids equal to
//          the `tokenizers` binding's as embedrank calls it (Tokenizer.encodeBatch: specials added,
//          longest_first truncation to max_length specials included, right side)? Every STS sentence at
//          128 and 512 and untruncated; STS pairs (sentence1, sentence2) and SciFact (claim, abstract)
//          pairs as a cross-encoder passes them. Two transformers.js variants: "tjs": its own
//          tokenizer(texts, {text_pair, truncation: true, max_length}) as a transformers.js user calls
//          it; "tjs+rust-trunc": @huggingface/tokenizers' encode without specials, then the Rust (≥ 0.23: early exit, then)
//          library's truncation (truncate_encodings) and the [CLS] A [SEP] (B [SEP]) template in JS.
//     node bench/tokenizer-cost.mjs check [--sts DIR] [--tokenizer DIR] [--scifact DIR] [--pairs 3000]
//
//   time: one thread, per-sentence cost of each call pattern, alternating rounds in one process.
//         Reports the median wall µs/sentence and CPU µs/sentence of the main (JS) thread and of all
//         other threads (libuv's pool thread where the binding's Rust work runs, plus V8's GC helpers),
//         read from /proc/self/task/*/stat (10 ms ticks; each pattern runs ≥ 1 s per round).
//     UV_THREADPOOL_SIZE=1 TOKENIZERS_PARALLELISM=false node bench/tokenizer-cost.mjs time \
//         [--rounds 5] [--max-length 256] [--filter REGEX] [--sts DIR] [--tokenizer DIR]
//
//   scale: N worker threads (chunks of 256, chunk k on worker k % N, as the pool hands them out), each
//          producing embedrank's packed Int32Array: the binding through dist's Tokenizer.encodePacked
//          (the fast path) against @huggingface/tokenizers + the Rust truncation + template, alternating
//          rounds; sentences/s and process CPU µs per sentence.
//     UV_THREADPOOL_SIZE=<N+4> TOKENIZERS_PARALLELISM=false node bench/tokenizer-cost.mjs scale \
//         [--threads 1,2,16] [--rounds 5] [--max-length 256]
import { createRequire } from 'node:module';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const require = createRequire(resolve('package.json'));
const binding = require('tokenizers');
const args = process.argv.slice(2);
const mode = args[0];
const arg = (k, d) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
const stsDir = arg('--sts', '../shared/data/sts');
const tokDir = arg('--tokenizer', '../shared/data/tokenizers/all-MiniLM-L6-v2');
const scifactDir = arg('--scifact', '../shared/data/scifact');
const tokFile = join(tokDir, 'tokenizer.json');

// Every line's (sentence1, sentence2) of the STS year folders, in scripts/gpu/prepare.ts's order.
const { stsSentences } = await import(pathToFileURL(resolve('dist/scripts/gpu/prepare.js')).href);
function stsPairs(dir) {
  const s = stsSentences(dir);
  return Array.from({ length: s.length / 2 }, (_, i) => [s[2 * i], s[2 * i + 1]]);
}
const pairsAll = stsPairs(stsDir);
const sentences = pairsAll.flat();

// ---- the binding, configured as src/tokenize/tokenizer.ts configures it (MiniLM: no lowercase added,
// ---- its BertNormalizer lowercases; truncation/padding of the file dropped; right side) ----
function bindingTokenizer(maxLength) {
  const json = JSON.parse(readFileSync(tokFile, 'utf8'));
  const t = binding.Tokenizer.fromString(JSON.stringify({ ...json, truncation: null, padding: null }));
  if (maxLength) t.setTruncation(maxLength, { strategy: 'LongestFirst', direction: 'right', stride: 0 });
  return t;
}

// ---- transformers.js ----
async function tjsTokenizer() {
  const tf = await import('@huggingface/transformers');
  tf.env.allowRemoteModels = false;
  tf.env.localModelPath = resolve(tokDir, '..') + '/';
  return tf.AutoTokenizer.from_pretrained(tokDir.split('/').filter(Boolean).pop());
}
async function rawJsTokenizer() {
  const { Tokenizer } = await import('@huggingface/tokenizers');
  return new Tokenizer(JSON.parse(readFileSync(tokFile, 'utf8')), JSON.parse(readFileSync(join(tokDir, 'tokenizer_config.json'), 'utf8')));
}
const CLS = 101, SEP = 102;
/**
 * The length the binding (Rust tokenizers ≥ 0.23, "early exit for truncation", PR #1990) gives a
 * sequence before truncate_encodings: pre-tokens (words) are tokenized until their count reaches
 * the full max_length, then the rest is dropped. For WordPiece a word starts at every token that
 * is not a "##" continuation.
 */
function earlyExitLength(tokens, maxLength) {
  let n = 0;
  for (let i = 0; i < tokens.length; i++) {
    n++;
    const wordEnds = i + 1 === tokens.length || !tokens[i + 1].startsWith('##');
    if (wordEnds && n >= maxLength) return n;
  }
  return n;
}
/**
 * Rust tokenizers' truncate_encodings (LongestFirst, right, stride 0) on max − specials, then the BERT
 * template. a, b: {ids, tokens} without specials. early: apply the ≥ 0.23 early exit first.
 */
function rustTruncTemplate(a, b, maxLength, early = true) {
  if (b === undefined) {
    const m = maxLength - 2;
    const ids = new Array(Math.min(a.ids.length, m) + 2);
    ids[0] = CLS;
    for (let i = 0; i < ids.length - 2; i++) ids[i + 1] = a.ids[i];
    ids[ids.length - 1] = SEP;
    return ids;
  }
  const m = maxLength - 3;
  let n1 = early ? earlyExitLength(a.tokens, maxLength) : a.ids.length;
  let n2 = early ? earlyExitLength(b.tokens, maxLength) : b.ids.length;
  if (n1 + n2 > m) {
    let swap = false;
    if (n1 > n2) { swap = true; [n1, n2] = [n2, n1]; }
    n2 = n1 > m ? n1 : Math.max(n1, m - n1);
    if (n1 + n2 > m) { n1 = Math.floor(m / 2); n2 = n1 + (m % 2); }
    if (swap) [n1, n2] = [n2, n1];
  }
  return [CLS, ...a.ids.slice(0, n1), SEP, ...b.ids.slice(0, n2), SEP];
}

/**
 * A second @huggingface/tokenizers instance whose WordPiece model is memoised per pre-token (word):
 * the library's encode_text calls this.model(words) and maps tokens to ids through
 * model.tokens_to_ids, and WordPiece encodes each word on its own, so the ids are the same.
 * Monkey-patches a library internal (Tokenizer.model): a measurement, not an API.
 */
let cachedRaw;
function withWordCache() {
  const t = cachedRaw;
  const m = t.__model ?? (t.__model = t.model);
  const cache = new Map();
  const f = (words) => {
    const out = [];
    for (const w of words) {
      let v = cache.get(w);
      if (v === undefined) cache.set(w, (v = m([w])));
      for (let i = 0; i < v.length; i++) out.push(v[i]);
    }
    return out;
  };
  for (const k of ['tokens_to_ids', 'unk_token_id', 'unk_token', 'vocab', 'config']) f[k] = m[k];
  t.model = f;
  return t;
}

/**
 * The guard a JS path would need: code points where @huggingface/tokenizers and the binding disagree
 * (/tmp sweep: 53 827, CJK Extension B–F ideographs not split as Chinese characters, and 147 BMP code
 * points with newer Unicode properties in V8's ICU than in the Rust tables) go to the binding.
 * Here the table is empty (STS has none): this times the check itself.
 */
const unsafeTable = new Uint8Array(0x110000);
function unsafeIn(t) {
  for (let i = 0; i < t.length; i++) {
    let c = t.charCodeAt(i);
    if (c < 0x80) continue;
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < t.length) c = t.codePointAt(i++);
    if (unsafeTable[c]) return true;
  }
  return false;
}

const same = (x, y) => x.length === y.length && x.every((v, i) => v === y[i]);

async function check() {
  const { Tokenizer: Ours } = await import(pathToFileURL(resolve('dist/src/tokenize/tokenizer.js')).href);
  const ours = new Ours({ file: tokFile });
  const tjs = await tjsTokenizer();
  const raw = await rawJsTokenizer();
  cachedRaw = await rawJsTokenizer();
  const BIG = 1 << 30;
  const refIds = async (texts, pairs, max) => {
    const out = [];
    for (let i = 0; i < texts.length; i += 1024) {
      const e = await ours.encodeBatch(texts.slice(i, i + 1024), pairs?.slice(i, i + 1024), max);
      for (const x of e) out.push(x.ids);
    }
    return out;
  };
  const report = (label, texts, pairs, ref, got) => {
    let bad = 0;
    const ex = [];
    for (let i = 0; i < texts.length; i++) {
      if (same(ref[i], got[i])) continue;
      bad++;
      if (ex.length < 3) {
        let k = 0;
        while (k < ref[i].length && ref[i][k] === got[i][k]) k++;
        ex.push(`    #${i} len ${ref[i].length} vs ${got[i].length}, first diff at token ${k}: binding [${ref[i].slice(k, k + 4).map((t) => ours.idToToken(t))}] vs [${got[i].slice(k, k + 4).map((t) => ours.idToToken(t))}]; text ${JSON.stringify(texts[i].slice(0, 90))}${pairs ? ` / ${JSON.stringify(pairs[i].slice(0, 40))}` : ''}`);
      }
    }
    console.log(`${label}: ${bad} of ${texts.length} differ`);
    for (const e of ex) console.log(e);
    return bad;
  };
  const noSpecial = new Map();
  const jsNoSpecial = (t) => {
    let v = noSpecial.get(t);
    if (!v) noSpecial.set(t, (v = raw.encode(t, { add_special_tokens: false })));
    return v;
  };
  const run = async (name, texts, pairs, maxes) => {
    for (const max of maxes) {
      const ref = await refIds(texts, pairs, max ?? BIG);
      const cut = ref.filter((r) => r.length === max).length;
      const tag = `${name}, max ${max ?? 'none'} (${cut} at the limit)`;
      const opts = max ? { truncation: true, max_length: max } : {};
      const a = [];
      for (let i = 0; i < texts.length; i++) a.push(tjs(texts[i], { ...(pairs ? { text_pair: pairs[i] } : {}), ...opts, return_tensor: false }).input_ids);
      report(`  tjs tokenizer(…)      ${tag}`, texts, pairs, ref, a);
      const b = texts.map((t, i) => rustTruncTemplate(jsNoSpecial(t), pairs ? jsNoSpecial(pairs[i]) : undefined, max ?? BIG));
      report(`  tjs+rust-trunc        ${tag}`, texts, pairs, ref, b);
      const wc = withWordCache();
      const b2 = texts.map((t, i) => rustTruncTemplate(wc.encode(t, { add_special_tokens: false }), pairs ? wc.encode(pairs[i], { add_special_tokens: false }) : undefined, max ?? BIG));
      report(`  tjs+wordcache+trunc   ${tag}`, texts, pairs, ref, b2);
      if (pairs && max) {
        const c = texts.map((t, i) => rustTruncTemplate(jsNoSpecial(t), jsNoSpecial(pairs[i]), max, false));
        report(`  tjs+rust≤0.22-trunc   ${tag}`, texts, pairs, ref, c);
      }
    }
  };
  console.log(`${sentences.length} STS sentences (${pairsAll.length} pairs) from ${stsDir}; ${tokFile}`);
  await run('STS sentences', sentences, undefined, [undefined, 128, 512]);
  await run('STS pairs', pairsAll.map((p) => p[0]), pairsAll.map((p) => p[1]), [undefined, 128, 512]);
  const nSci = Number(arg('--pairs', '3000'));
  const corpusFile = join(scifactDir, 'corpus.jsonl');
  if (existsSync(corpusFile)) {
    const docs = readFileSync(corpusFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).map((d) => `${d.title} ${d.text}`.trim());
    const qs = readFileSync(join(scifactDir, 'queries.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l).text);
    await run('SciFact abstracts (singles)', docs, undefined, [undefined, 128, 512]);
    // Deterministic sample of (claim, abstract) pairs; also (abstract, abstract) so both sides get cut.
    const q = [], d = [];
    for (let i = 0; i < nSci; i++) {
      const j = (i * 7919) % docs.length;
      q.push(i % 3 === 2 ? docs[(i * 104729) % docs.length] : qs[i % qs.length]);
      d.push(docs[j]);
    }
    await run(`SciFact pairs sample (${nSci})`, q, d, [128, 512]);
  }
}

// ---------------------------------------------------------------------------------------------------
function threadTicks() {
  const m = new Map();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const f = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const s = f.slice(f.lastIndexOf(')') + 2).split(' ');
      m.set(tid, Number(s[11]) + Number(s[12]));
    } catch { /* thread gone */ }
  }
  return m;
}

async function time() {
  const max = Number(arg('--max-length', '256'));
  const rounds = Number(arg('--rounds', '5'));
  const only = args.includes('--filter') ? new RegExp(arg('--filter', '')) : null;
  const s = sentences;
  const n = s.length;
  const tok = bindingTokenizer(max);
  const tokNoTrunc = bindingTokenizer(0);
  const { Tokenizer: Ours } = await import(pathToFileURL(resolve('dist/src/tokenize/tokenizer.js')).href);
  const { pack } = await import(pathToFileURL(resolve('dist/src/tokenize/packed.js')).href);
  const ours = new Ours({ file: tokFile });
  const tjs = await tjsTokenizer();
  const raw = await rawJsTokenizer();
  cachedRaw = await rawJsTokenizer();
  const norm = tok.getNormalizer();
  const pre = tok.getPreTokenizer();
  const empties = new Array(256).fill('');
  let sink = 0;
  const B = (k) => async (fn) => { for (let i = 0; i < n; i += k) await fn(s.slice(i, i + k), i); };
  const pats = {
    'binding encodeBatch(256), no getter': () => B(256)(async (c) => { sink += (await tok.encodeBatch(c)).length; }),
    'binding encodeBatch(256) + getIds': () => B(256)(async (c) => { for (const e of await tok.encodeBatch(c)) sink += e.getIds().length; }),
    'binding encodeBatch(256) + getLength + getIds': () => B(256)(async (c) => { for (const e of await tok.encodeBatch(c)) { sink += e.getLength(); sink += e.getIds().length; } }),
    'binding encodeBatch(256) + ids + types + mask': () => B(256)(async (c) => { for (const e of await tok.encodeBatch(c)) { sink += e.getIds().length + e.getTypeIds().length + e.getAttentionMask().length; } }),
    'binding encodeBatch(4096) + getIds': () => B(4096)(async (c) => { for (const e of await tok.encodeBatch(c)) sink += e.getIds().length; }),
    'binding encodeBatch(256) + getIds, no truncation set': () => B(256)(async (c) => { for (const e of await tokNoTrunc.encodeBatch(c)) sink += e.getIds().length; }),
    'binding encodeBatch(256) + getIds, addSpecialTokens false': () => B(256)(async (c) => { for (const e of await tok.encodeBatch(c, { addSpecialTokens: false })) sink += e.getIds().length; }),
    // (No pre-tokenized variant: the Node binding's encode/encodeBatch take strings only; isPretokenized is ignored.)
    'binding mergeEncodings(encodeBatch(256)) + 1 getIds + getLength each': () => B(256)(async (c) => { const e = await tok.encodeBatch(c); for (const x of e) sink += x.getLength(); sink += binding.mergeEncodings(e, false).getIds().length; }),
    'binding encode each, Promise.all(256) + getIds': () => B(256)(async (c) => { for (const e of await Promise.all(c.map((t) => tok.encode(t)))) sink += e.getIds().length; }),
    'binding encodeBatch(256) of empty strings + getIds': () => B(256)(async () => { for (const e of await tok.encodeBatch(empties)) sink += e.getIds().length; }),
    'binding normalizeString each (sync)': () => { for (const t of s) sink += norm.normalizeString(t).length; },
    'binding normalize + preTokenizeString each (sync)': () => { for (const t of s) sink += pre.preTokenizeString(norm.normalizeString(t)).length; },
    'embedrank encodePacked(256) (fast path)': () => B(256)(async (c) => { sink += (await ours.encodePacked(c, undefined, max)).length; }),
    'embedrank pack(encodeBatch(256)) (default path)': () => B(256)(async (c) => { sink += pack(await ours.encodeBatch(c, undefined, max)).length; }),
    'transformers.js tokenizer(batch of 256, truncation)': () => B(256)(async (c) => { sink += tjs(c, { truncation: true, max_length: max, return_tensor: false }).input_ids.length; }),
    'transformers.js tokenizer(text) each, truncation': () => { for (const t of s) sink += tjs(t, { truncation: true, max_length: max, return_tensor: false }).input_ids.length; },
    '@hf/tokenizers encode(no specials) + rust-trunc + template': () => { for (const t of s) sink += rustTruncTemplate(raw.encode(t, { add_special_tokens: false }), undefined, max).length; },
    '@hf/tokenizers + per-code-point guard + rust-trunc + template': () => { for (const t of s) { if (unsafeIn(t)) throw new Error('guard'); sink += rustTruncTemplate(raw.encode(t, { add_special_tokens: false }), undefined, max).length; } },
    '@hf/tokenizers encode(text) ids only': () => { for (const t of s) sink += raw.encode(t).ids.length; },
    '@hf/tokenizers + word cache (fresh per pass) + rust-trunc + template': () => { const c = withWordCache(); for (const t of s) sink += rustTruncTemplate(c.encode(t, { add_special_tokens: false }), undefined, max).length; },
  };
  const names = Object.keys(pats).filter((k) => !only || only.test(k));
  const res = Object.fromEntries(names.map((k) => [k, []]));
  const pid = String(process.pid);
  for (let r = -1; r < rounds; r++) {
    for (const k of names) {
      const t0 = threadTicks();
      const w0 = performance.now();
      await pats[k]();
      const wall = performance.now() - w0;
      const t1 = threadTicks();
      let main = 0, other = 0, top = 0;
      for (const [tid, v] of t1) {
        const d = v - (t0.get(tid) ?? 0);
        if (tid === pid) main += d;
        else { other += d; top = Math.max(top, d); }
      }
      if (r >= 0) res[k].push([(wall * 1e3) / n, (main * 1e4) / n, (other * 1e4) / n, (top * 1e4) / n]);
    }
  }
  const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
  const lo = (a) => Math.min(...a), hi = (a) => Math.max(...a);
  console.log(`${n} STS sentences, max_length ${max}, ${rounds} rounds (+1 warm-up), UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE} TOKENIZERS_PARALLELISM=${process.env.TOKENIZERS_PARALLELISM}, load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  console.log(`${'pattern'.padEnd(68)} wall µs/sent (min–max)   main CPU µs  other CPU µs (busiest thread)`);
  for (const k of names) {
    const v = res[k];
    const w = v.map((x) => x[0]);
    console.log(
      `${k.padEnd(68)} ${med(w).toFixed(2).padStart(6)} (${lo(w).toFixed(1)}–${hi(w).toFixed(1)})`.padEnd(96) +
        `${med(v.map((x) => x[1])).toFixed(1).padStart(8)}  ${med(v.map((x) => x[2])).toFixed(1).padStart(8)} (${med(v.map((x) => x[3])).toFixed(1)})`,
    );
  }
  if (sink < 0) console.log(sink);
}

/** A worker of `scale`: tokenizes its chunks of the sentences it is sent into packed buffers. */
async function scaleWorker() {
  const { kind, w, N, max } = workerData;
  let enc;
  if (kind === 'binding') {
    const { Tokenizer: Ours } = await import(pathToFileURL(resolve('dist/src/tokenize/tokenizer.js')).href);
    const t = new Ours({ file: tokFile });
    enc = async (c) => (await t.encodePacked(c, undefined, max))[1];
  } else {
    const { allocPacked } = await import(pathToFileURL(resolve('dist/src/tokenize/packed.js')).href);
    const t = await rawJsTokenizer();
    enc = async (c) => {
      const ids = c.map((x) => rustTruncTemplate(t.encode(x, { add_special_tokens: false }), undefined, max));
      let total = 0;
      for (const a of ids) total += a.length;
      const { buf, chunk } = allocPacked(ids.length, total);
      let pos = 0;
      for (let i = 0; i < ids.length; i++) {
        chunk.offsets[i] = pos;
        chunk.ids.set(ids[i], pos);
        pos += ids[i].length;
      }
      chunk.offsets[ids.length] = pos;
      return buf[1];
    };
  }
  parentPort.on('message', async (s) => {
    let tot = 0;
    for (let k = w * 256; k < s.length; k += 256 * N) tot += await enc(s.slice(k, k + 256));
    parentPort.postMessage(tot);
  });
}

async function scale() {
  const rounds = Number(arg('--rounds', '5'));
  const max = Number(arg('--max-length', '256'));
  const s = sentences;
  for (const N of arg('--threads', '1,2').split(',').map(Number)) {
    const mk = (kind) => Array.from({ length: N }, (_, w) => new Worker(new URL(import.meta.url), { workerData: { kind, w, N, max }, argv: args }));
    const pools = { binding: mk('binding'), js: mk('js') };
    const call = (ws) => Promise.all(ws.map((w) => new Promise((r) => { w.once('message', r); w.postMessage(s); })));
    const res = { binding: [], js: [] };
    for (let r = -1; r < rounds; r++) {
      for (const k of ['binding', 'js']) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        const out = await call(pools[k]);
        const dt = performance.now() - t0;
        const c = process.cpuUsage(c0);
        if (r >= 0) res[k].push([(s.length / dt) * 1e3, (c.user + c.system) / s.length, out.reduce((a, b) => a + b, 0)]);
      }
    }
    const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
    for (const k of ['binding', 'js']) {
      const v = res[k].map((x) => x[0]);
      console.log(
        `${String(N).padStart(2)} threads, ${(k === 'binding' ? 'binding (encodePacked)' : '@hf/tokenizers + trunc').padEnd(24)} ${(med(v) / 1e3).toFixed(1)}k sentences/s ` +
          `(median of ${rounds}; ${(Math.min(...v) / 1e3).toFixed(1)}–${(Math.max(...v) / 1e3).toFixed(1)}k), ${med(res[k].map((x) => x[1])).toFixed(1)} CPU µs/sentence, ${res[k][0][2]} tokens`,
      );
    }
    for (const ws of Object.values(pools)) for (const w of ws) await w.terminate();
  }
  console.log(`${s.length} STS sentences, max_length ${max}, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE} TOKENIZERS_PARALLELISM=${process.env.TOKENIZERS_PARALLELISM}, load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
}

if (!isMainThread) await scaleWorker();
else if (mode === 'check') await check();
else if (mode === 'time') await time();
else if (mode === 'scale') await scale();
else console.error('usage: node bench/tokenizer-cost.mjs check|time|scale [options] (see the header)');
