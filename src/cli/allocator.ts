// Which malloc the process runs on. Hugging Face `tokenizers` (Rust, the system allocator) spends
// about a third of an STS sentence's encode in glibc's malloc and free (perf on the development VM:
// _int_malloc, _int_free, malloc_consolidate …); with jemalloc preloaded one thread encodes 41k → 61k
// STS sentences/s and a pool of two 39.7k → 54.8k (bench/RESULTS.md, session 14). An allocator can
// only be chosen before the process starts (LD_PRELOAD), so the `embedrank` command starts itself
// again with it (relaunchWithAllocator), as vLLM's CPU guide has users preload tcmalloc by hand.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { dieOfSignal } from '../main.js';

/** The allocators EMBEDRANK_ALLOCATOR names, and the shared library each is. */
export const ALLOCATOR_LIBRARIES = {
  jemalloc: 'libjemalloc.so.2',
  tcmalloc: 'libtcmalloc_minimal.so.4',
  mimalloc: 'libmimalloc.so.2',
} as const;
export type AllocatorName = keyof typeof ALLOCATOR_LIBRARIES;

/** The Debian/Ubuntu package that installs each (for the error when one is asked for and missing). */
const DEBIAN_PACKAGES: Record<AllocatorName, string> = { jemalloc: 'libjemalloc2', tcmalloc: 'libtcmalloc-minimal4', mimalloc: 'libmimalloc2.0' };

/** Where `auto` and the names look, in order: the multiarch and plain library directories. */
export const LIBRARY_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib'];

/** Set in the relaunched process: the library it preloads (so it does not relaunch again, and baselines can drop it). */
export const PRELOADED_VAR = 'EMBEDRANK_ALLOCATOR_PRELOADED';

export interface AllocatorPlan {
  /** The library to preload; undefined: run as started (glibc's malloc, or one already preloaded). */
  preload?: string;
  /** Why, in a few words (for logs and tests). */
  reason: string;
}

export interface AllocatorHost {
  platform: NodeJS.Platform;
  /** A regular file is there. */
  exists: (path: string) => boolean;
  /** The file starts with the ELF magic (a shared library, not a text file or a directory). */
  isElf: (path: string) => boolean;
  dirs: readonly string[];
}

function isElf(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const head = Buffer.alloc(4);
    return readSync(fd, head, 0, 4, 0) === 4 && head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

const realHost: AllocatorHost = {
  platform: process.platform,
  exists: (p) => {
    try {
      return statSync(p).isFile();
    } catch {
      return false;
    }
  },
  isElf,
  dirs: LIBRARY_DIRS,
};

/** LD_PRELOAD's entries, split as ld.so splits the list: at colons and spaces. */
function preloadEntries(env: NodeJS.ProcessEnv): string[] {
  return (env.LD_PRELOAD ?? '').split(/[:\s]+/);
}

/** The first LD_PRELOAD entry that is one of the allocators. */
function preloadedAllocator(env: NodeJS.ProcessEnv): string | undefined {
  return preloadEntries(env).find((p) => /jemalloc|tcmalloc|mimalloc/.test(basename(p)));
}

function find(name: AllocatorName, host: AllocatorHost): string | undefined {
  const file = ALLOCATOR_LIBRARIES[name];
  for (const d of host.dirs) if (host.exists(join(d, file))) return join(d, file);
  return undefined;
}

/**
 * What EMBEDRANK_ALLOCATOR asks for, resolved on this host:
 * - unset, empty or `auto`: jemalloc where its library is found (LIBRARY_DIRS), on Linux only, and
 *   not when LD_PRELOAD already names an allocator (the user chose); else nothing;
 * - `system`: nothing (glibc's malloc);
 * - `jemalloc`, `tcmalloc`, `mimalloc`: that library (ALLOCATOR_LIBRARIES);
 * - a path (contains `/`): that file.
 * A library LD_PRELOAD already has is not preloaded again.
 * @throws Error, before any work starts, for another value; a named allocator or a path that is not
 *   there, is not an ELF file, or holds a space or colon (ld.so would split it); a named allocator or
 *   path while LD_PRELOAD already has another allocator; a named allocator or path on a platform
 *   without LD_PRELOAD (not Linux).
 */
export function planAllocator(env: NodeJS.ProcessEnv = process.env, host: AllocatorHost = realHost): AllocatorPlan {
  const raw = env.EMBEDRANK_ALLOCATOR?.trim() ?? '';
  const v = raw.includes('/') ? raw : raw.toLowerCase();
  if (v === 'system') return { reason: 'EMBEDRANK_ALLOCATOR=system' };
  const named = v in ALLOCATOR_LIBRARIES ? (v as AllocatorName) : undefined;
  if (v !== '' && v !== 'auto' && !named && !v.includes('/')) {
    throw new Error(`EMBEDRANK_ALLOCATOR=${raw} is not one of auto, system, ${Object.keys(ALLOCATOR_LIBRARIES).join(', ')} or a library's path`);
  }
  const explicit = v !== '' && v !== 'auto';
  if (host.platform !== 'linux') {
    if (explicit) throw new Error(`EMBEDRANK_ALLOCATOR=${raw}: preloading an allocator needs Linux (LD_PRELOAD); this is ${host.platform}`);
    return { reason: `not Linux (${host.platform})` };
  }
  const preloaded = preloadEntries(env);
  const already = preloadedAllocator(env);
  if (v.includes('/')) {
    // ld.so splits LD_PRELOAD at spaces and colons, and ignores (with a warning) what it cannot load.
    if (/[:\s]/.test(v)) throw new Error(`EMBEDRANK_ALLOCATOR=${raw}: LD_PRELOAD cannot carry a path with a space or a colon`);
    if (!host.exists(v)) throw new Error(`EMBEDRANK_ALLOCATOR=${raw}: no such file`);
    if (!host.isElf(v)) throw new Error(`EMBEDRANK_ALLOCATOR=${raw}: not a shared library (no ELF header)`);
  }
  const wanted = v.includes('/') ? v : named ? find(named, host) : undefined;
  if (named && !wanted) {
    throw new Error(
      `EMBEDRANK_ALLOCATOR=${raw}: ${ALLOCATOR_LIBRARIES[named]} is not in ${host.dirs.join(', ')}; install it (Debian/Ubuntu: apt install ` +
        `${DEBIAN_PACKAGES[named]}), give its path, or set EMBEDRANK_ALLOCATOR=system`,
    );
  }
  if (wanted) {
    if (preloaded.includes(wanted)) return { reason: `LD_PRELOAD already has ${wanted}` };
    if (already) throw new Error(`EMBEDRANK_ALLOCATOR=${raw}: LD_PRELOAD already preloads ${already}; two allocators in one process would clash (unset one of them)`);
    return { preload: wanted, reason: named ? `EMBEDRANK_ALLOCATOR=${named}` : 'EMBEDRANK_ALLOCATOR names a path' };
  }
  if (already) return { reason: `LD_PRELOAD already has ${already}` };
  const path = find('jemalloc', host);
  return path ? { preload: path, reason: 'auto: jemalloc found' } : { reason: `auto: ${ALLOCATOR_LIBRARIES.jemalloc} not found` };
}

/**
 * LD_PRELOAD as the user had it: `env`'s value less the library a relaunch added (PRELOADED_VAR);
 * undefined when nothing is left. For child processes that must run as users run them (the Python
 * baselines of the benches).
 */
export function userPreload(env: NodeJS.ProcessEnv): string | undefined {
  const added = env[PRELOADED_VAR];
  const parts = (env.LD_PRELOAD ?? '').split(':').filter((p) => p !== '');
  const i = added ? parts.indexOf(added) : -1;
  if (i >= 0) parts.splice(i, 1);
  return parts.length ? parts.join(':') : undefined;
}

/**
 * Starts this same command again (same node, flags and arguments) with planAllocator's library in
 * LD_PRELOAD, when it plans one and this process is neither such a relaunch nor under a debugger
 * (--inspect in its flags or NODE_OPTIONS: the inspector's port is this process's). Returns false
 * when the caller should go on and do the work itself; true when the relaunched child does it: the
 * caller must then do nothing more, and this process exits with the child's status (or dies of its
 * signal).
 * The child runs in a process group of its own, and this process passes SIGTERM, SIGHUP and SIGINT
 * on to it: so a signal to the group (Ctrl-C on a terminal, `kill -- -PGID`) reaches the child once,
 * through this process, not twice (serve drains on the first and stops at once on a second).
 * A child that cannot be started (it is this same node binary, so only under exhausted resources)
 * is reported and this process exits 1.
 * @throws Error from planAllocator (a bad EMBEDRANK_ALLOCATOR), before anything starts.
 */
export function relaunchWithAllocator(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env[PRELOADED_VAR] !== undefined) return false;
  const plan = planAllocator(env);
  if (!plan.preload) return false;
  if ([...process.execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => a.startsWith('--inspect'))) {
    if (env.EMBEDRANK_ALLOCATOR) process.stderr.write(`embedrank: under --inspect the process is not started again, so it runs without ${plan.preload}\n`);
    return false;
  }
  const childEnv = { ...env, LD_PRELOAD: env.LD_PRELOAD ? `${plan.preload}:${env.LD_PRELOAD}` : plan.preload, [PRELOADED_VAR]: plan.preload };
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: childEnv, detached: true });
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGINT'];
  const pass = (s: NodeJS.Signals) => child.kill(s);
  for (const s of signals) process.on(s, pass);
  child.on('error', (e) => {
    process.stderr.write(`embedrank: could not relaunch with ${plan.preload}: ${e.message} (EMBEDRANK_ALLOCATOR=system runs without)\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    for (const s of signals) process.off(s, pass);
    if (signal) dieOfSignal(signal);
    else process.exit(code ?? 1);
  });
  return true;
}

/** The allocator this process runs on, for logs: the preloaded library's file name, else "glibc malloc". */
export function allocatorLabel(env: NodeJS.ProcessEnv = process.env): string {
  const lib = env[PRELOADED_VAR] ?? preloadedAllocator(env);
  return lib ? basename(lib) : 'glibc malloc';
}
