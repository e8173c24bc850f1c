// Per-core cost of the Hugging Face `tokenizers` binding's call patterns on the real STS sentences
// and the real all-MiniLM-L6-v2 tokenizer.json, one process, alternating rounds (issue 14, item 4).
// Run it single-threaded to measure per-core cost: every Rust call then runs on the one libuv thread.
//   UV_THREADPOOL_SIZE=1 TOKENIZERS_PARALLELISM=false node bench/tokenizer-patterns.mjs STS_DIR TOKENIZER_JSON [FILTER_REGEX] [ROUNDS]
// Reports texts (or pairs) per wall second and per CPU second of the process (main + libuv thread).
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { readFileSync } from 'node:fs';
const require = createRequire(resolve('package.json'));
const { Tokenizer } = require('tokenizers');
const { stsSentences } = await import(pathToFileURL(resolve('dist/scripts/gpu/prepare.js')).href);
const { Tokenizer: Ours } = await import(pathToFileURL(resolve('dist/src/tokenize/tokenizer.js')).href);
const { pack } = await import(pathToFileURL(resolve('dist/src/tokenize/packed.js')).href);
const [stsDir, file, filter, roundsArg] = process.argv.slice(2);
const s = stsSentences(stsDir).slice(0, 20000);
const json = JSON.parse(readFileSync(file, 'utf8'));
const tok = Tokenizer.fromString(JSON.stringify({ ...json, truncation: null, padding: null }));
tok.setTruncation(256, { strategy: 'LongestFirst', direction: 'right', stride: 0 });
const ours = new Ours({ file });
const firsts = s.filter((_, i) => i % 2 === 0), seconds = s.filter((_, i) => i % 2 === 1);
const nt = s.length;
const res = {};
function cpu() { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; }
async function time(name, n, fn) {
  const t0 = performance.now(); const c0 = cpu();
  await fn();
  const w = (performance.now() - t0) / 1000, c = cpu() - c0;
  (res[name] ??= []).push([n / w, n / c]);
}
const pats = {
  'encodeBatch(256)+getIds': async () => { for (let i = 0; i < nt; i += 256) for (const e of await tok.encodeBatch(s.slice(i, i + 256))) e.getIds(); },
  'encodeBatch(64)+getIds': async () => { for (let i = 0; i < nt; i += 64) for (const e of await tok.encodeBatch(s.slice(i, i + 64))) e.getIds(); },
  'encodeBatch(2048)+getIds': async () => { for (let i = 0; i < nt; i += 2048) for (const e of await tok.encodeBatch(s.slice(i, i + 2048))) e.getIds(); },
  'encodeBatch(256) no getter': async () => { for (let i = 0; i < nt; i += 256) await tok.encodeBatch(s.slice(i, i + 256)); },
  'encodeBatch(256)+getLength': async () => { for (let i = 0; i < nt; i += 256) for (const e of await tok.encodeBatch(s.slice(i, i + 256))) e.getLength(); },
  'encodeBatch(256)+getIds+getTypeIds': async () => { for (let i = 0; i < nt; i += 256) for (const e of await tok.encodeBatch(s.slice(i, i + 256))) { e.getIds(); e.getTypeIds(); } },
  'encodeBatch(256)+ids+types+mask': async () => { for (let i = 0; i < nt; i += 256) for (const e of await tok.encodeBatch(s.slice(i, i + 256))) { e.getIds(); e.getTypeIds(); e.getAttentionMask(); } },
  'encodeBatch(256)+ids+getOverflowing': async () => { for (let i = 0; i < nt; i += 256) for (const e of await tok.encodeBatch(s.slice(i, i + 256))) { e.getIds(); e.getOverflowing(); } },
  'encodeBatch(256)+ids+getOffsets': async () => { for (let i = 0; i < nt; i += 256) for (const e of await tok.encodeBatch(s.slice(i, i + 256))) { e.getIds(); e.getOffsets(); } },
  'encode each, awaited': async () => { for (const t of s) (await tok.encode(t)).getIds(); },
  'encode each, Promise.all(256)': async () => { for (let i = 0; i < nt; i += 256) for (const e of await Promise.all(s.slice(i, i + 256).map((t) => tok.encode(t)))) e.getIds(); },
  'ours: pack(encodeBatch(256)) (default path)': async () => { for (let i = 0; i < nt; i += 256) pack(await ours.encodeBatch(s.slice(i, i + 256), undefined, 256)); },
  'ours: encodePacked(256) (fast path)': async () => { for (let i = 0; i < nt; i += 256) await ours.encodePacked(s.slice(i, i + 256), undefined, 256); },
  'encodeBatch(256) empty strings': async () => { const z = new Array(256).fill(''); for (let i = 0; i < nt; i += 256) for (const e of await tok.encodeBatch(z)) e.getIds(); },
  'pairs: encode each, Promise.all(256)': async () => { for (let i = 0; i < firsts.length; i += 256) for (const e of await Promise.all(firsts.slice(i, i + 256).map((t, k) => tok.encode(t, seconds[i + k])))) { e.getIds(); e.getTypeIds(); } },
};
const pairNames = new Set(Object.keys(pats).filter((k) => k.startsWith('pairs')));
const only = filter ? new RegExp(filter) : null;
for (let r = 0; r < Number(roundsArg ?? 3); r++) for (const [k, f] of Object.entries(pats)) if (!only || only.test(k)) await time(k, pairNames.has(k) ? firsts.length : nt, f);
console.log(`${nt} sentences; per-pattern texts(or pairs)/s: median wall, median per CPU-second (main+libuv threads), UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE} TOKENIZERS_PARALLELISM=${process.env.TOKENIZERS_PARALLELISM}`);
const med = (a) => a.sort((x, y) => x - y)[a.length >> 1];
for (const [k, v] of Object.entries(res)) console.log(`${k.padEnd(40)} ${(med(v.map((x) => x[0])) / 1e3).toFixed(1).padStart(7)}k/s wall  ${(med(v.map((x) => x[1])) / 1e3).toFixed(1).padStart(7)}k/cpu-s`);
