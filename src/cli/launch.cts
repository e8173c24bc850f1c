#!/usr/bin/env node
// The `embedrank` bin. CommonJS on purpose: Node starts libuv's thread pool while it loads an ES
// module entry (Node 20.20: 4 pool threads exist at the entry's first line), so
// UV_THREADPOOL_SIZE set from an ESM entry comes too late. This entry runs first, turns the fast
// tokenizer path on unless EMBEDRANK_FAST_TOKENIZE=0 and sizes its threads (configureLaunch in
// ../tokenize/threads.ts), starts itself again with jemalloc preloaded when it can (./allocator.ts:
// the tokenizer's time is a third malloc under glibc), then loads the CLI as if it had been started
// directly.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { availableParallelism } from 'node:os';
import { configureLaunch, tokenizerThreadsArg } from '../tokenize/threads.js';
import { relaunchWithAllocator } from './allocator.js';

let relaunched = false;
try {
  configureLaunch(process.env, tokenizerThreadsArg(process.argv.slice(2)) ?? availableParallelism());
  relaunched = relaunchWithAllocator(process.env);
} catch (e) {
  process.stderr.write(`embedrank: ${(e as Error).message}\n`);
  process.exit(2);
}
if (!relaunched) {
  const cli = join(__dirname, 'main.js');
  process.argv[1] = cli; // runMain(import.meta) in main.js runs the CLI when argv[1] names it
  import(pathToFileURL(cli).href).catch((e: Error) => {
    process.stderr.write(`${e.stack ?? e.message}\n`);
    process.exitCode = 1;
  });
}
