// src/cli/allocator.ts: which malloc EMBEDRANK_ALLOCATOR resolves to, and the relaunch that puts it
// under the process (LD_PRELOAD, the marker, the exit status and signals passed through).
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baselineEnv } from '../../bench/baseline-env.js';
import { ALLOCATOR_LIBRARIES, LIBRARY_DIRS, PRELOADED_VAR, allocatorLabel, planAllocator, userPreload, type AllocatorHost } from '../../src/cli/allocator.js';

/** A Linux host whose library directories hold exactly `files`. */
function host(files: string[], platform: NodeJS.Platform = 'linux', notElf: string[] = []): AllocatorHost {
  const set = new Set(files);
  return { platform, exists: (p) => set.has(p), isElf: (p) => set.has(p) && !notElf.includes(p), dirs: ['/usr/lib/x86_64-linux-gnu', '/usr/local/lib'] };
}
const JE = '/usr/local/lib/libjemalloc.so.2';
const TC = '/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4';

describe('cli/allocator: planAllocator (EMBEDRANK_ALLOCATOR)', () => {
  it('auto (unset, empty or "auto") preloads jemalloc where it is found, and nothing where it is not', () => {
    for (const v of [undefined, '', 'auto', ' AUTO ']) {
      expect(planAllocator({ EMBEDRANK_ALLOCATOR: v }, host([JE, TC])).preload, String(v)).to.equal(JE);
      expect(planAllocator({ EMBEDRANK_ALLOCATOR: v }, host([TC])).preload, String(v)).to.equal(undefined);
    }
    // The first directory that has it wins.
    expect(planAllocator({}, host(['/usr/lib/x86_64-linux-gnu/libjemalloc.so.2', JE])).preload).to.equal('/usr/lib/x86_64-linux-gnu/libjemalloc.so.2');
  });

  it("auto leaves a user's own preloaded allocator alone, and does nothing off Linux", () => {
    const plan = planAllocator({ LD_PRELOAD: '/opt/x/libfoo.so:/opt/tc/libtcmalloc.so.4' }, host([JE]));
    expect(plan.preload).to.equal(undefined);
    expect(plan.reason).to.match(/libtcmalloc/);
    expect(planAllocator({ LD_PRELOAD: '/opt/x/libfoo.so' }, host([JE])).preload, 'another preload is no allocator').to.equal(JE);
    expect(planAllocator({}, host([JE], 'darwin')).preload).to.equal(undefined);
  });

  it('system preloads nothing; a name preloads that library; a path preloads that file', () => {
    expect(planAllocator({ EMBEDRANK_ALLOCATOR: 'system' }, host([JE])).preload).to.equal(undefined);
    expect(planAllocator({ EMBEDRANK_ALLOCATOR: 'tcmalloc' }, host([JE, TC])).preload).to.equal(TC);
    expect(planAllocator({ EMBEDRANK_ALLOCATOR: 'JEMALLOC' }, host([JE])).preload).to.equal(JE);
    expect(planAllocator({ EMBEDRANK_ALLOCATOR: '/opt/My/libjemalloc.so' }, host(['/opt/My/libjemalloc.so'])).preload).to.equal('/opt/My/libjemalloc.so');
  });

  it('refuses, before anything runs, an unknown value, a missing library or path, and a preload off Linux', () => {
    expect(() => planAllocator({ EMBEDRANK_ALLOCATOR: 'glibc' }, host([JE]))).to.throw(/EMBEDRANK_ALLOCATOR=glibc is not one of auto, system, jemalloc, tcmalloc, mimalloc or a library's path/);
    expect(() => planAllocator({ EMBEDRANK_ALLOCATOR: 'mimalloc' }, host([JE]))).to.throw(/libmimalloc\.so\.2 is not in .*apt install libmimalloc2\.0.*EMBEDRANK_ALLOCATOR=system/);
    expect(() => planAllocator({ EMBEDRANK_ALLOCATOR: '/nope/libjemalloc.so.2' }, host([JE]))).to.throw(/\/nope\/libjemalloc\.so\.2: no such file/);
    expect(() => planAllocator({ EMBEDRANK_ALLOCATOR: 'jemalloc' }, host([JE], 'darwin'))).to.throw(/needs Linux \(LD_PRELOAD\); this is darwin/);
    // What ld.so would ignore with a warning (and the run would silently stay on glibc):
    expect(() => planAllocator({ EMBEDRANK_ALLOCATOR: '/etc/passwd' }, host(['/etc/passwd'], 'linux', ['/etc/passwd']))).to.throw(/not a shared library \(no ELF header\)/);
    expect(() => planAllocator({ EMBEDRANK_ALLOCATOR: '/tmp/my libs/libjemalloc.so.2' }, host(['/tmp/my libs/libjemalloc.so.2']))).to.throw(/a space or a colon/);
    expect(() => planAllocator({ EMBEDRANK_ALLOCATOR: '/a:/b/libjemalloc.so.2' }, host(['/a:/b/libjemalloc.so.2']))).to.throw(/a space or a colon/);
  });

  it('a library LD_PRELOAD already has is not preloaded again; another allocator there with an explicit request is refused', () => {
    expect(planAllocator({ EMBEDRANK_ALLOCATOR: 'jemalloc', LD_PRELOAD: JE }, host([JE])).preload).to.equal(undefined);
    expect(planAllocator({ EMBEDRANK_ALLOCATOR: JE, LD_PRELOAD: `/opt/x.so:${JE}` }, host([JE])).preload).to.equal(undefined);
    expect(() => planAllocator({ EMBEDRANK_ALLOCATOR: 'jemalloc', LD_PRELOAD: TC }, host([JE, TC]))).to.throw(/LD_PRELOAD already preloads .*libtcmalloc_minimal\.so\.4; two allocators/);
  });

  it('the library names are the ones Debian installs, and the real search covers the multiarch directories', () => {
    expect(ALLOCATOR_LIBRARIES).to.deep.equal({ jemalloc: 'libjemalloc.so.2', tcmalloc: 'libtcmalloc_minimal.so.4', mimalloc: 'libmimalloc.so.2' });
    expect(LIBRARY_DIRS).to.include.members(['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/local/lib']);
  });
});

describe('cli/allocator: what children of a relaunched process see', () => {
  it("userPreload removes only the relaunch's library; the benches' baselines get the user's LD_PRELOAD back and no marker", () => {
    const env = { LD_PRELOAD: `${JE}:/opt/user/libx.so`, [PRELOADED_VAR]: JE, PATH: '/bin' };
    expect(userPreload(env)).to.equal('/opt/user/libx.so');
    expect(userPreload({ LD_PRELOAD: JE, [PRELOADED_VAR]: JE })).to.equal(undefined);
    expect(userPreload({ LD_PRELOAD: '/opt/user/libx.so' }), 'nothing was added').to.equal('/opt/user/libx.so');
    const b = baselineEnv(env);
    expect(b.LD_PRELOAD).to.equal('/opt/user/libx.so');
    expect(b).to.not.have.property(PRELOADED_VAR);
    const bare = baselineEnv({ LD_PRELOAD: JE, [PRELOADED_VAR]: JE });
    expect(bare).to.not.have.property('LD_PRELOAD');
    expect(env.LD_PRELOAD, "the caller's environment is left alone").to.equal(`${JE}:/opt/user/libx.so`);
  });

  it('allocatorLabel names the preloaded library, else glibc malloc', () => {
    expect(allocatorLabel({ [PRELOADED_VAR]: JE })).to.equal('libjemalloc.so.2');
    expect(allocatorLabel({ LD_PRELOAD: TC })).to.equal('libtcmalloc_minimal.so.4');
    expect(allocatorLabel({})).to.equal('glibc malloc');
  });
});

describe('cli/allocator: relaunchWithAllocator in a real process (Linux)', function () {
  this.timeout(30_000);
  // A library every Linux node already maps, so preloading it changes nothing but is checkable.
  const LIBM = ['/lib/x86_64-linux-gnu/libm.so.6', '/usr/lib/x86_64-linux-gnu/libm.so.6', '/lib/aarch64-linux-gnu/libm.so.6', '/usr/lib64/libm.so.6'].find((p) => existsSync(p));
  const realAllocator = LIBRARY_DIRS.map((d) => join(d, ALLOCATOR_LIBRARIES.jemalloc)).find((p) => existsSync(p));
  const dir = mkdtempSync(join(tmpdir(), 'embedrank-alloc-'));
  const probe = join(dir, 'probe.mjs');
  // Relaunches itself, then (in the child) reports what it runs with and exits with the code asked.
  writeFileSync(
    probe,
    `import { readFileSync } from 'node:fs';
     import { relaunchWithAllocator } from ${JSON.stringify('file://' + join(process.cwd(), 'dist/src/cli/allocator.js'))};
     if (!relaunchWithAllocator()) {
       // 'count': counts the SIGTERMs that reach it for a second (handler first, then the report).
       let n = 0;
       if (process.argv[2] === 'count') process.on('SIGTERM', () => n++);
       const lib = process.env.${PRELOADED_VAR};
       console.log(JSON.stringify({ pid: process.pid, preload: process.env.LD_PRELOAD ?? null, marker: lib ?? null, mapped: lib ? readFileSync('/proc/self/maps', 'utf8').includes(lib) : false, args: process.argv.slice(2) }));
       if (process.argv[2] === 'wait') setTimeout(() => {}, 20000);
       else if (process.argv[2] === 'count') setTimeout(() => console.log(JSON.stringify({ sigterms: n })), 1000);
       else process.exitCode = Number(process.argv[2] ?? 0);
     }`,
  );
  const env = (alloc: string, extra: NodeJS.ProcessEnv = {}) => {
    const e: NodeJS.ProcessEnv = { ...process.env, EMBEDRANK_ALLOCATOR: alloc, ...extra };
    delete e[PRELOADED_VAR];
    return e;
  };

  before(function () {
    if (process.platform !== 'linux' || !LIBM || !existsSync('/proc/self/maps')) this.skip();
  });

  it('runs the work once, in a child with the library first in LD_PRELOAD and the marker set, and exits with its status', () => {
    const r = spawnSync(process.execPath, [probe, '3', 'x y'], { encoding: 'utf8', env: env(LIBM!, { LD_PRELOAD: '' }) });
    const lines = r.stdout.trim().split('\n');
    expect(lines, 'one report: the parent does not run the work too').to.have.length(1);
    const got = JSON.parse(lines[0]);
    expect(got).to.include({ preload: LIBM, marker: LIBM, mapped: true });
    expect(got.args).to.deep.equal(['3', 'x y']);
    expect(got.pid).to.not.equal(r.pid);
    expect(r.status).to.equal(3);
  });

  it("keeps the user's LD_PRELOAD after its own library; EMBEDRANK_ALLOCATOR=system runs in place", () => {
    const r = spawnSync(process.execPath, [probe, '0'], { encoding: 'utf8', env: env(LIBM!, { LD_PRELOAD: '/nonexistent/libuser.so' }) });
    expect(JSON.parse(r.stdout.trim()).preload).to.equal(`${LIBM}:/nonexistent/libuser.so`);
    const s = spawnSync(process.execPath, [probe, '0'], { encoding: 'utf8', env: env('system') });
    const got = JSON.parse(s.stdout.trim());
    expect(got).to.include({ marker: null, pid: s.pid });
  });

  it('a bad EMBEDRANK_ALLOCATOR stops the bin with a usage error before anything runs', () => {
    const r = spawnSync(process.execPath, [join(process.cwd(), 'dist/src/cli/launch.cjs'), '--version'], { encoding: 'utf8', env: env('hoard') });
    expect(r.status).to.equal(2);
    expect(r.stderr).to.match(/embedrank: EMBEDRANK_ALLOCATOR=hoard is not one of/);
    expect(r.stdout).to.equal('');
  });

  it('passes SIGTERM on to the child and dies of it too', async () => {
    const p = spawn(process.execPath, [probe, 'wait'], { env: env(LIBM!), stdio: ['ignore', 'pipe', 'inherit'] });
    const child = await new Promise<number>((resolve) => p.stdout.once('data', (d: Buffer) => resolve(JSON.parse(d.toString()).pid)));
    p.kill('SIGTERM');
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => p.once('exit', (c, s) => resolve([c, s])));
    expect(signal).to.equal('SIGTERM');
    expect(code).to.equal(null);
    expect(() => process.kill(child, 0), 'the relaunched child is gone').to.throw();
  });

  it('a signal to the whole process group reaches the child once (through the parent), not twice', async () => {
    // detached: the probe's parent leads a group of its own, as a shell job or a service would.
    const p = spawn(process.execPath, [probe, 'count'], { env: env(LIBM!), stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise<void>((resolve) => p.stdout.once('data', () => resolve()));
    process.kill(-p.pid!, 'SIGTERM');
    const code = await new Promise<number | null>((resolve) => p.once('exit', (c) => resolve(c)));
    const lines = out.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines[1], out).to.deep.equal({ sigterms: 1 });
    expect(code).to.equal(0);
  });

  it('passes SIGINT on too (not on a terminal here)', async () => {
    const p = spawn(process.execPath, [probe, 'wait'], { env: env(LIBM!), stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => p.stdout.once('data', () => resolve()));
    p.kill('SIGINT');
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => p.once('exit', (_c, s) => resolve(s)));
    expect(signal).to.equal('SIGINT');
  });

  it('with jemalloc installed, the bin runs on it (checked in /proc/self/maps of the relaunched process)', function () {
    if (!realAllocator) this.skip(); // CI installs libjemalloc2 (.ci/run); a machine without it runs on glibc
    const r = spawnSync(process.execPath, [probe, '0'], { encoding: 'utf8', env: env('auto', { LD_PRELOAD: '' }) });
    expect(JSON.parse(r.stdout.trim())).to.include({ marker: realAllocator, mapped: true });
  });
});
