// bench/nfs: what an export change and a content sync cost the blades.
//
// 1. Outage of an export change. A libnfs client reads www in a loop while
//    exports are added and removed. rackboot applies each change to the
//    ganesha it supervises with SIGHUP (reload in place). The reference is
//    the fallback the issue allows: restart ganesha with the new config
//    (Graceless, so no grace period), run beside it from the same script on
//    a second server namespace. Reported: the longest gap between two
//    successful reads around each change, median over the changes, and the
//    reads that failed.
// 2. Content sync time: `rackboot content sync` (a new CLI process: tar on
//    its side, HTTP upload, unpack as a new release, flush it to disk,
//    switch `current`, prune) and `content sync --local` (the server runs
//    `cp -a`) against `cp -a` of the same tree (a plain copy: not atomic,
//    nothing flushed) and `cp -a` + `sync -f` (the same copy on disk), for
//    each --files size (8 KiB files in 20 directories). Where the time goes:
//    the CLI process's start (`rackboot content --help`: node, commander,
//    tar), node-tar packing the tree (what the CLI does while it uploads,
//    timed in this process), and the server's own parts as the sync answers
//    them (write, flush, switch, prune).
//
//   node dist/bench/nfs.js [--changes 5] [--files 20,2000] [--runs 5] [--only outage,sync]
// Figures in docs/benchmarks.md: node dist/bench/nfs.js --only sync --files 20,2000,20000 --runs 5
//   (the export-change table: node dist/bench/nfs.js --only outage --changes 7)
// bench:smoke args: --changes 1 --files 20 --runs 1
// bench:smoke needs: root ganesha.nfsd nfs-cat
// Needs root, ganesha.nfsd and nfs-cat (see LAB.md); everything runs in
// namespaces it creates and removes.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { NetLab, run } from '../test/helpers/netns.js';
import { startTestServer } from '../test/helpers/server.js';
import { nfsService } from '../server/nfs/service.js';
import { waitForLine, logSize } from '../server/nfs/log-watch.js';
import { Releases } from '../server/nfs/content.js';
import { c as tarCreate } from 'tar';
import { printResult } from './lib/result.js';

const { values } = parseArgs({
  options: { changes: { type: 'string', default: '5' }, files: { type: 'string', default: '20,2000' }, runs: { type: 'string', default: '5' }, only: { type: 'string', default: 'outage,sync' } },
});
const CHANGES = Number(values.changes);
const SIZES = values.files!.split(',').map(Number);
const RUNS = Number(values.runs);
const ONLY = new Set(values.only!.split(','));
for (const n of SIZES) {
  if (!Number.isInteger(n) || n < 20) {
    console.error(`--files '${values.files}': whole numbers of files, at least 20 each (one per directory)`);
    process.exit(2);
  }
}
const CLI = new URL('../server/cli/main.js', import.meta.url).pathname;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Read in a loop from a shell in the client namespace (its own process, so
 * the timing does not depend on this process's event loop). Each read
 * prints "ok|fail <epoch ms>".
 */
function reader(lab: NetLab, ns: string, server: string, path: string) {
  const url = `nfs://${server}${path}?version=4`;
  const child = lab.spawn(ns, 'sh', ['-c', `while :; do if nfs-cat '${url}' >/dev/null 2>&1; then echo ok $(date +%s%3N); else echo fail $(date +%s%3N); fi; done`]);
  const ok: number[] = [];
  const fail: number[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines) {
      const [what, t] = l.split(' ');
      (what === 'ok' ? ok : fail).push(Number(t));
    }
  });
  return {
    failedIn: (t0: number, t1: number) => fail.filter((t) => t >= t0 && t <= t1).length,
    /** Longest time between two successful reads that overlaps [t0, t1]. */
    gapAround(t0: number, t1: number): number {
      let gap = 0;
      for (let i = 1; i < ok.length; i++) if (ok[i]! >= t0 && ok[i - 1]! <= t1) gap = Math.max(gap, ok[i]! - ok[i - 1]!);
      return gap;
    },
    /** Median time between successful reads when nothing changes. */
    baseline(t0: number, t1: number): number {
      const gaps: number[] = [];
      for (let i = 1; i < ok.length; i++) if (ok[i - 1]! >= t0 && ok[i]! <= t1) gaps.push(ok[i]! - ok[i - 1]!);
      return gaps.length ? median(gaps) : NaN;
    },
    stop() {
      child.kill('SIGKILL');
    },
  };
}

function refConf(dir: string, withExtra: boolean): string {
  const exp = (id: number, path: string, pseudo: string) =>
    `EXPORT { Export_Id = ${id}; Path = "${path}"; Pseudo = "${pseudo}"; Access_Type = None; Squash = root_squash; FSAL { Name = VFS; } CLIENT { Clients = 10.0.2.0/24; Access_Type = RO; } }\n`;
  return (
    `NFS_CORE_PARAM { Bind_addr = 0.0.0.0; Protocols = 4; Enable_UDP = false; Enable_NLM = false; Enable_RQUOTA = false; }\n` +
    `NFSV4 { Graceless = true; RecoveryRoot = "${dir}/state"; }\nEXPORT_DEFAULTS { Protocols = 4; Transports = TCP; }\n` +
    exp(1, `${dir}/www`, '/www') +
    (withExtra ? exp(2, `${dir}/extra`, '/extra') : '')
  );
}

async function startRef(ns: string, dir: string, withExtra: boolean): Promise<ChildProcess> {
  writeFileSync(join(dir, 'ganesha.conf'), refConf(dir, withExtra));
  const from = await logSize(join(dir, 'ganesha.log'));
  const child = spawn('ip', ['netns', 'exec', ns, 'ganesha.nfsd', '-F', '-f', join(dir, 'ganesha.conf'), '-L', join(dir, 'ganesha.log'), '-p', join(dir, 'ganesha.pid')], { stdio: 'ignore' });
  await waitForLine(join(dir, 'ganesha.log'), from, (l) => /NFS SERVER INITIALIZED/.test(l), { timeoutMs: 20_000 });
  return child;
}

async function stopRef(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await gone;
}

/** The export-change figures; their summary for the result line. */
async function outage(): Promise<string> {
  const lab = new NetLab('rbbn');
  const tmp = mkdtempSync(join(tmpdir(), 'rb-bench-nfs-'));
  let ref: ChildProcess | undefined;
  const s = await (async () => {
    const srv = lab.addNs('srv');
    const refNs = lab.addNs('ref');
    const cli = lab.addNs('cli');
    lab.veth({ ns: srv, name: 'in0', addr: '10.0.0.1/24' }, { ns: cli, name: 'eth0', addr: '10.0.0.11/24' });
    lab.veth({ ns: refNs, name: 'in0', addr: '10.0.2.1/24' }, { ns: cli, name: 'eth1', addr: '10.0.2.11/24' });
    mkdirSync(join(tmp, 'content', 'extra'), { recursive: true });
    mkdirSync(join(tmp, 'ref', 'www'), { recursive: true });
    mkdirSync(join(tmp, 'ref', 'extra'), { recursive: true });
    mkdirSync(join(tmp, 'ref', 'state'), { recursive: true });
    writeFileSync(join(tmp, 'ref', 'www', 'index.html'), 'ref\n');
    const server = await startTestServer(
      { dataDir: join(tmp, 'data'), nfs: { backend: 'ganesha', contentRoots: [join(tmp, 'content')], ganesha: { netns: srv } } },
      { factories: [nfsService], dataDir: join(tmp, 'data') },
    );
    return { server, srv, refNs, cli };
  })();
  try {
    const site = join(tmp, 'site');
    mkdirSync(site);
    writeFileSync(join(site, 'index.html'), 'rackboot\n');
    // The server runs in this process: the CLI must be awaited, not run synchronously.
    const up = await run(process.execPath, [CLI, 'content', 'sync', site, 'www', '--api', s.server.url, '--token', s.server.token]);
    if (up.code !== 0) throw new Error(up.stderr);

    // rackboot: add and remove an export through the API (SIGHUP reloads).
    const rb = reader(lab, s.cli, '10.0.0.1', '/www/current/index.html');
    const b0 = Date.now();
    await sleep(1000);
    const rbBase = rb.baseline(b0, Date.now());
    const rbGaps: number[] = [];
    let rbFailed = 0;
    for (let i = 0; i < CHANGES; i++) {
      const t0 = Date.now();
      const add = await s.server.api('POST', '/api/v1/exports', { name: 'extra', path: join(tmp, 'content', 'extra'), networks: ['inside'], layout: 'plain' });
      const del = await s.server.api('DELETE', '/api/v1/exports/extra');
      if (add.status !== 201 || del.status !== 204) throw new Error(`API: ${add.status} ${JSON.stringify(add.body)} / ${del.status}`);
      await sleep(300);
      rbGaps.push(rb.gapAround(t0, Date.now() - 300));
      rbFailed += rb.failedIn(t0, Date.now());
    }
    rb.stop();

    // Reference: restart ganesha with the changed config for each change.
    ref = await startRef(s.refNs, join(tmp, 'ref'), false);
    const rr = reader(lab, s.cli, '10.0.2.1', '/www/index.html');
    const r0 = Date.now();
    await sleep(1000);
    const refBase = rr.baseline(r0, Date.now());
    const refGaps: number[] = [];
    let refFailed = 0;
    for (let i = 0; i < CHANGES; i++) {
      const t0 = Date.now();
      for (const extra of [true, false]) {
        await stopRef(ref);
        ref = await startRef(s.refNs, join(tmp, 'ref'), extra);
      }
      await sleep(300);
      refGaps.push(rr.gapAround(t0, Date.now() - 300));
      refFailed += rr.failedIn(t0, Date.now());
    }
    rr.stop();
    const a = median(rbGaps);
    const b = median(refGaps);
    console.log(`export change (add + remove), ${CHANGES} changes each, ${availableParallelism()} cores:`);
    console.log(`  rackboot (SIGHUP reload): longest read gap per change ${rbGaps.map((g) => g.toFixed(0)).join(', ')} ms; median ${a.toFixed(0)} ms (idle: ${rbBase.toFixed(0)} ms between reads); failed reads ${rbFailed}`);
    console.log(`  reference (restart ganesha, Graceless): ${refGaps.map((g) => g.toFixed(0)).join(', ')} ms; median ${b.toFixed(0)} ms (idle: ${refBase.toFixed(0)} ms); failed reads ${refFailed}`);
    console.log(`  ratio rackboot/reference: ${(a / b).toFixed(3)} (lower is better)`);
    return `export change: longest read gap ${a.toFixed(0)} ms (reload) vs ${b.toFixed(0)} ms (restart), ${(a / b).toFixed(2)}x, failed reads ${rbFailed} vs ${refFailed}`;
  } finally {
    if (ref) await stopRef(ref);
    await s.server.stop();
    await lab.cleanup();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** "server: write 700 ms, flush 40 ms, switch 3 ms, prune 60 ms" from the CLI's line. */
function serverParts(out: string): Record<string, number> {
  const m = /server: write (\d+) ms, flush (\d+) ms, switch (\d+) ms, prune (\d+) ms/.exec(out);
  if (!m) throw new Error(`no server timings in the CLI's answer: ${out}`);
  return { write: Number(m[1]), flush: Number(m[2]), switch: Number(m[3]), prune: Number(m[4]) };
}

/** Wall time of a command, ms; throws on a non-zero exit. */
async function timed(cmd: string, args: string[]): Promise<{ ms: number; out: string }> {
  const t0 = performance.now();
  // A copy of 20,000 files can take minutes on a busy shared disk.
  const r = await run(cmd, args, { timeoutMs: 30 * 60_000 });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return { ms: performance.now() - t0, out: r.stdout };
}

/** node-tar packing the tree into nothing, as the CLI does while it uploads. */
async function packMs(dir: string): Promise<number> {
  const t0 = performance.now();
  for await (const _ of tarCreate({ cwd: dir, portable: true }, ['.'])) void _;
  return performance.now() - t0;
}

/** Content syncs of a FILES-file site; their summary for the result line. */
async function syncSpeed(files: number): Promise<string> {
  const tmp = mkdtempSync(join(tmpdir(), 'rb-bench-sync-'));
  const s = await startTestServer(
    { dataDir: join(tmp, 'data'), nfs: { backend: 'none', contentRoots: [join(tmp, 'content')], localSyncRoots: [tmp], keepReleases: 1, releaseGraceSeconds: 0 } },
    { factories: [nfsService], dataDir: join(tmp, 'data') },
  );
  try {
    const src = join(tmp, 'site');
    const chunk = Buffer.alloc(8192, 'x');
    for (let i = 0; i < files; i++) {
      const d = join(src, `d${i % 20}`);
      if (i < 20) mkdirSync(d, { recursive: true });
      writeFileSync(join(d, `f${i}.html`), chunk);
    }
    const mb = (files * 8192) / 1e6;
    const api = ['--api', s.url, '--token', s.token];
    const t: Record<string, number[]> = {};
    const add = (k: string, ms: number) => (t[k] ??= []).push(ms);
    for (let r = 0; r < RUNS; r++) {
      add('start', (await timed(process.execPath, [CLI, 'content', '--help'])).ms);
      add('pack', await packMs(src));
      // The server deletes a pruned release after it answers: timed apart, so the next step does not share the disk with it.
      const deleted = async () => {
        const t0 = performance.now();
        await Releases.settled();
        return performance.now() - t0;
      };
      const up = await timed(process.execPath, [CLI, 'content', 'sync', src, 'www', ...api]);
      add('upload', up.ms);
      for (const [k, v] of Object.entries(serverParts(up.out))) add(`upload ${k}`, v);
      add('upload deleted', await deleted());
      const lo = await timed(process.execPath, [CLI, 'content', 'sync', '--local', src, 'www', ...api]);
      add('local', lo.ms);
      for (const [k, v] of Object.entries(serverParts(lo.out))) add(`local ${k}`, v);
      add('local deleted', await deleted());
      mkdirSync(join(tmp, 'cp'), { recursive: true });
      const dest = join(tmp, 'cp', `r${r}`);
      add('cp', (await timed('cp', ['-a', src, dest])).ms);
      rmSync(dest, { recursive: true, force: true });
      const t0 = performance.now();
      await timed('cp', ['-a', src, dest]);
      await timed('sync', ['-f', dest]);
      add('cp+sync', performance.now() - t0);
      rmSync(dest, { recursive: true, force: true });
    }
    const m = (k: string) => median(t[k]!);
    const runs = (k: string) => `${t[k]!.map((x) => x.toFixed(0)).join(', ')} ms; median ${m(k).toFixed(0)} ms`;
    const parts = (k: string) => ['write', 'flush', 'switch', 'prune'].map((p) => `${p} ${m(`${k} ${p}`).toFixed(0)}`).join(', ') + `; after the answer, deleting the pruned release ${m(`${k} deleted`).toFixed(0)}`;
    console.log(`\ncontent sync of ${files} files (${mb.toFixed(1)} MB), ${RUNS} runs each, ${availableParallelism()} cores:`);
    console.log(`  rackboot content sync (CLI process, tar, HTTP upload, unpack, flush, switch, prune): ${runs('upload')}`);
    console.log(`    server's part (medians, ms): ${parts('upload')}`);
    console.log(`  rackboot content sync --local (CLI process, server cp -a, flush, switch, prune): ${runs('local')}`);
    console.log(`    server's part (medians, ms): ${parts('local')}`);
    console.log(`  CLI process start (rackboot content --help): ${runs('start')}`);
    console.log(`  node-tar packing the tree (in this process; the CLI does it while uploading): ${runs('pack')}`);
    console.log(`  reference cp -a (not atomic, nothing flushed): ${runs('cp')}`);
    console.log(`  reference cp -a + sync -f (the copy on disk): ${runs('cp+sync')}`);
    const ratio = (k: string, ref: string) => (m(k) / m(ref)).toFixed(1);
    console.log(`  ratio rackboot/cp -a: upload ${ratio('upload', 'cp')}, --local ${ratio('local', 'cp')}; rackboot/(cp -a + sync -f): upload ${ratio('upload', 'cp+sync')}, --local ${ratio('local', 'cp+sync')}`);
    return `${files} files: upload ${m('upload').toFixed(0)} ms, --local ${m('local').toFixed(0)} ms, cp -a ${m('cp').toFixed(0)} ms (${ratio('upload', 'cp')}x / ${ratio('local', 'cp')}x), cp -a + sync ${m('cp+sync').toFixed(0)} ms (${ratio('upload', 'cp+sync')}x / ${ratio('local', 'cp+sync')}x)`;
  } finally {
    await s.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

const summary: string[] = [];
if (ONLY.has('outage')) summary.push(await outage());
if (ONLY.has('sync')) for (const n of SIZES) summary.push(await syncSpeed(n));
printResult('nfs', `${summary.join('; ')}; medians of ${RUNS} runs`);
