// bench/httpboot: rackboot's HTTP boot route against Apache httpd (the web
// server Debian ships, serving the same files) in the same run, over the
// loopback device of a network namespace the bench makes.
//
//   node dist/bench/httpboot.js [--runs 5] [--seconds 8] [--only K1,K50,S] [--profile]
// --profile runs rackboot under `node --cpu-prof` and prints its main
// thread's top functions over the run (with --only K50: the K50 case alone).
// Figures in docs/benchmarks.md: node dist/bench/httpboot.js --runs 5 --seconds 5
// bench:smoke args: --runs 1 --seconds 1
// bench:smoke needs: root curl wrk apache2
//
// Scenarios (medians of --runs; the servers alternate inside each run):
//   K1   one 64 MiB kernel download with curl, time to last byte
//   K50  50 concurrent connections downloading a 16 MiB RAM disk (wrk), MiB/s
//   S    iPXE scripts: wrk with 50 connections on /boot/ipxe/<mac>, which
//        rackboot renders from the template on every request (registry
//        lookups included) while Apache sends a static file of the same
//        bytes: requests/s
// rackboot serves the kernel and RAM disk from tftp.root through the boot hub
// and /boot/<node>/..., exactly the path a blade's iPXE takes.
//
// The clients ask as the node would, from blade1's own address: a node's
// boot config carries its report token and goes only to that node's
// addresses (images.overlayClients: node, the default). The bench makes a
// namespace whose loopback device holds 10.0.0.11 (blade1's address) and runs
// both servers, curl and wrk in it; a connection to 10.0.0.11 there leaves
// from 10.0.0.11. This keeps the default policy (and its check) on the
// measured path and keeps loopback's speed, as in the earlier figures; the
// other way, images.overlayClients: any, would measure a server configured
// unlike a default one. Needs root (the namespace).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { NetLab } from '../test/helpers/netns.js';
import { printResult } from './lib/result.js';
import { summarizeProfile } from './storm/profile.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '8' },
    only: { type: 'string', default: 'K1,K50,S' },
    profile: { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const SECONDS = Number(values.seconds);
const ONLY = new Set(values.only!.split(','));
for (const c of ONLY) if (!['K1', 'K50', 'S'].includes(c)) throw new Error(`--only: unknown case '${c}' (K1, K50, S)`);
const CLI = new URL('../server/cli/main.js', import.meta.url).pathname;
const MiB = 1 << 20;
const MAC = '52:54:00:00:0a:01';
/** blade1's address: on the namespace's loopback, where the servers listen and the clients ask from. */
const NODE_ADDRESS = '10.0.0.11';

if (process.getuid?.() !== 0) {
  console.error('bench/httpboot needs root (a network namespace whose loopback holds the node\'s address)');
  process.exit(2);
}
for (const cmd of ['curl', 'wrk', 'apache2']) {
  if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) {
    console.error(`bench/httpboot needs '${cmd}' (Debian packages curl, wrk, apache2)`);
    process.exit(2);
  }
}

const lab = new NetLab('rbhb');
/** The namespace the servers and clients run in (made in main). */
let ns = '';
/** A command line run inside the namespace. */
const inNs = (cmd: string, args: string[]): [string, string[]] => ['ip', ['netns', 'exec', ns, cmd, ...args]];
/** curl in the namespace, its body as bytes. */
const curl = (args: string[]) => spawnSync(...inNs('curl', args), { maxBuffer: 128 * MiB });

const port = () => 20000 + Math.floor(Math.random() * 20000);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function waitHttp(url: string, child: ChildProcess, what: string): Promise<void> {
  for (let i = 0; i < 150; i++) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode})`);
    const r = curl(['-s', '-o', '/dev/null', '-w', '%{http_code}', url]);
    if (r.stdout.toString() === '200') return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not answer ${url}`);
}

/** A client in the namespace, to completion; its output and wall time. */
function run(cmd: string, args: string[]): Promise<{ out: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = spawn(...inNs(cmd, args), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (out += d.toString()));
    c.on('close', (code) => (code === 0 ? resolve({ out, ms: performance.now() - t0 }) : reject(new Error(`${cmd} ${args.join(' ')}: ${out}`))));
  });
}

/**
 * CPU seconds a server has used: the process and its live children (Apache's
 * workers), with the children it reaped. On a shared 2-core machine the
 * throughput moves with the other load; CPU per byte does much less.
 */
function serverCpu(pid: number): number {
  const stat = (p: string) => {
    try {
      const f = readFileSync(`/proc/${p}/stat`, 'utf8');
      return f.slice(f.lastIndexOf(')') + 2).split(' ');
    } catch {
      return undefined;
    }
  };
  let ticks = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const f = stat(d);
    if (!f) continue;
    // state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    if (Number(d) === pid) ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    else if (Number(f[1]) === pid) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / 100;
}

/** CPU seconds of a process's main thread (its first task: the event loop for Node). */
function mainThreadCpu(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
    const v = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(v[11]) + Number(v[12])) / 100;
  } catch {
    return NaN;
  }
}

/** wrk's summary: requests/s and transfer/s (MiB/s). */
function parseWrk(out: string): { rps: number; mibps: number; errors: string | null } {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const t = /Transfer\/sec:\s+([\d.]+)(\w+)/.exec(out);
  const unit = { B: 1 / MiB, KB: 1 / 1024, MB: 1, GB: 1024 }[t?.[2] ?? 'MB'] ?? 1;
  const errors = /Non-2xx or 3xx responses: \d+/.exec(out)?.[0] ?? null;
  const socket = /Socket errors: .*/.exec(out)?.[0];
  if (socket) console.log(`  (wrk: ${socket})`);
  return { rps, mibps: Number(t?.[1] ?? NaN) * unit, errors };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'rackboot-bench-httpboot-'));
  try {
    ns = lab.addNs('boot');
    lab.execSync(ns, 'ip', ['addr', 'add', `${NODE_ADDRESS}/32`, 'dev', 'lo']);
    const root = join(dir, 'tftpboot');
    const www = join(dir, 'www');
    mkdirSync(join(root, 'boot', 'blade1'), { recursive: true });
    mkdirSync(join(www, 'boot', 'blade1'), { recursive: true });
    const kernel = randomBytes(64 * MiB);
    const initrd = randomBytes(16 * MiB);
    for (const base of [root, www]) {
      writeFileSync(join(base, 'boot', 'blade1', 'kernel'), kernel);
      writeFileSync(join(base, 'boot', 'blade1', 'initrd'), initrd);
    }

    const rbPort = port();
    const cfg = join(dir, 'rackboot.yaml');
    writeFileSync(
      cfg,
      [
        `dataDir: ${dir}/var`,
        `api: { listen: "${NODE_ADDRESS}:${rbPort}", token: bench-token }`,
        'networks: [ { name: inside, cidr: 10.0.0.0/24, serverAddress: 10.0.0.1, staticRange: 10.0.0.10-10.0.0.199 } ]',
        'dhcp: { enabled: false }',
        `tftp: { enabled: false, root: ${root} }`,
        'nfs: { enabled: false }',
        'images: { enabled: false }',
        'director: { enabled: false }',
        'groups: [ { name: web, loader: ipxe, image: web-blade } ]',
        `nodes: [ { name: blade1, group: web, interfaces: [ { name: eth0, mac: "${MAC}", network: inside, ipv4: 10.0.0.11 } ] } ]`,
      ].join('\n') + '\n',
    );
    const profileDir = join(dir, 'profile');
    const rb = lab.spawn(ns, process.execPath, [...(values.profile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []), CLI, 'serve', '--config', cfg], { env: { PATH: process.env.PATH, RACKBOOT_LOG: 'warn', RACKBOOT_LOG_FORMAT: 'json' }, stdio: ['ignore', 'ignore', 'inherit'] });
    const rbBase = `http://${NODE_ADDRESS}:${rbPort}`;
    await waitHttp(`${rbBase}/healthz`, rb, 'rackboot');

    // Apache serves the same bytes; the iPXE script as rackboot renders it, as a static file.
    const script = curl(['-s', `${rbBase}/boot/ipxe/${MAC}`]).stdout;
    if (!script.toString().startsWith('#!ipxe')) throw new Error(`rackboot's iPXE script: ${script.toString()}`);
    mkdirSync(join(www, 'boot', 'ipxe'), { recursive: true });
    writeFileSync(join(www, 'boot', 'ipxe', MAC), script);
    const apPort = port();
    const mods = '/usr/lib/apache2/modules';
    writeFileSync(
      join(dir, 'apache2.conf'),
      [
        `ServerRoot ${dir}`,
        `PidFile ${dir}/apache2.pid`,
        `ErrorLog ${dir}/apache-error.log`,
        `Listen ${NODE_ADDRESS}:${apPort}`,
        `LoadModule mpm_event_module ${mods}/mod_mpm_event.so`,
        `LoadModule authz_core_module ${mods}/mod_authz_core.so`,
        'User www-data',
        'Group www-data',
        'ServerName localhost',
        `DocumentRoot ${www}`,
        `<Directory ${www}>\n  Require all granted\n</Directory>`,
        'EnableSendfile On',
        'KeepAlive On',
        'MaxKeepAliveRequests 0',
        'StartServers 2',
        'ServerLimit 4',
        'ThreadsPerChild 64',
        'MaxRequestWorkers 256',
      ].join('\n') + '\n',
    );
    spawnSync('chmod', ['-R', 'a+rX', www, dir]);
    const ap = lab.spawn(ns, 'apache2', ['-f', join(dir, 'apache2.conf'), '-DFOREGROUND'], { stdio: ['ignore', 'ignore', 'inherit'] });
    const apBase = `http://${NODE_ADDRESS}:${apPort}`;
    await waitHttp(`${apBase}/boot/ipxe/${MAC}`, ap, 'apache2');

    // Both send the right bytes.
    for (const base of [rbBase, apBase]) {
      const got = curl(['-s', `${base}/boot/blade1/kernel`]).stdout;
      if (sha(got) !== sha(kernel)) throw new Error(`${base}: kernel differs`);
    }

    const servers = [
      { name: 'rackboot', base: rbBase, pid: rb.pid! },
      { name: 'apache2', base: apBase, pid: ap.pid! },
    ];
    const results: Record<string, Record<string, number[]>> = { rackboot: { K1: [], K50: [], K50cpu: [], S: [] }, apache2: { K1: [], K50: [], K50cpu: [], S: [] } };
    /** When rackboot was under K50 (the profile's clock), for --profile. */
    const k50Windows: Array<[number, number]> = [];
    const wrk = (url: string) => run('wrk', ['-t', '2', '-c', '50', '-d', `${SECONDS}s`, '--timeout', '30s', url]);
    for (let r = 0; r < RUNS; r++) {
      const order = r % 2 ? [...servers].reverse() : servers;
      for (const s of order) {
        const said: string[] = [];
        if (ONLY.has('K1')) {
          const k1 = await run('curl', ['-s', '-o', '/dev/null', `${s.base}/boot/blade1/kernel`]);
          results[s.name]!.K1!.push(k1.ms);
          said.push(`K1 ${(k1.ms / 1000).toFixed(3)} s`);
        }
        if (ONLY.has('K50')) {
          const cpu0 = serverCpu(s.pid);
          const main0 = mainThreadCpu(s.pid);
          const from = Number(process.hrtime.bigint() / 1000n);
          const k50run = await wrk(`${s.base}/boot/blade1/initrd`);
          if (s.name === 'rackboot') k50Windows.push([from, Number(process.hrtime.bigint() / 1000n)]);
          const k50cpu = serverCpu(s.pid) - cpu0;
          const k50main = mainThreadCpu(s.pid) - main0;
          const k50 = parseWrk(k50run.out);
          if (k50.errors) throw new Error(`${s.name} K50: ${k50.errors}`);
          results[s.name]!.K50!.push(k50.mibps);
          // Server CPU seconds per GiB sent (wrk's MiB/s over its wall time).
          const gib = (k50.mibps * (k50run.ms / 1000)) / 1024;
          results[s.name]!.K50cpu!.push(gib > 0 ? k50cpu / gib : NaN);
          // rackboot's main thread (requests) against its sending threads; Apache's is its parent process.
          const requests = s.name === 'rackboot' ? `, main thread ${k50main.toFixed(2)} s, ${((k50main * 1000) / (k50.rps * (k50run.ms / 1000))).toFixed(2)} ms a request` : '';
          said.push(`K50 ${k50.mibps.toFixed(0)} MiB/s (server CPU ${k50cpu.toFixed(2)} s, ${(k50cpu / gib).toFixed(2)} s/GiB${requests})`);
        }
        if (ONLY.has('S')) {
          const sc = parseWrk((await wrk(`${s.base}/boot/ipxe/${MAC}`)).out);
          if (sc.errors) throw new Error(`${s.name} S: ${sc.errors}`);
          results[s.name]!.S!.push(sc.rps);
          said.push(`S ${sc.rps.toFixed(0)} req/s`);
        }
        console.log(`run ${r + 1} ${s.name}: ${said.join(', ')}`);
      }
    }
    const m = (s: string, k: string) => median(results[s]![k]!);
    const ratios: string[] = [];
    console.log(`\nmedians of ${RUNS} runs`);
    if (ONLY.has('K1')) {
      const k1 = m('apache2', 'K1') / m('rackboot', 'K1');
      ratios.push(`K1 ${k1.toFixed(2)}x`);
      console.log(`K1  64 MiB kernel, one curl:        rackboot ${(m('rackboot', 'K1') / 1000).toFixed(3)} s (${((64 * 1000) / m('rackboot', 'K1')).toFixed(0)} MiB/s), apache2 ${(m('apache2', 'K1') / 1000).toFixed(3)} s; ratio ${k1.toFixed(2)}x`);
    }
    if (ONLY.has('K50')) {
      const k50 = m('rackboot', 'K50') / m('apache2', 'K50');
      const k50cpu = m('apache2', 'K50cpu') / m('rackboot', 'K50cpu');
      ratios.push(`K50 ${k50.toFixed(2)}x (CPU per GiB ${k50cpu.toFixed(2)}x)`);
      console.log(`K50 16 MiB RAM disk, 50 conns:      rackboot ${m('rackboot', 'K50').toFixed(0)} MiB/s, apache2 ${m('apache2', 'K50').toFixed(0)} MiB/s; ratio ${k50.toFixed(2)}x`);
      console.log(`K50 server CPU per GiB sent:        rackboot ${m('rackboot', 'K50cpu').toFixed(2)} s, apache2 ${m('apache2', 'K50cpu').toFixed(2)} s; ratio ${k50cpu.toFixed(2)}x`);
    }
    if (ONLY.has('S')) {
      const sRatio = m('rackboot', 'S') / m('apache2', 'S');
      ratios.push(`S ${sRatio.toFixed(2)}x (rendered against static)`);
      console.log(`S   iPXE script, 50 conns:          rackboot ${m('rackboot', 'S').toFixed(0)} req/s (rendered), apache2 ${m('apache2', 'S').toFixed(0)} req/s (static); ratio ${sRatio.toFixed(2)}x`);
    }
    console.log('(ratio above 1.0: rackboot faster)');
    const apErrors = readFileSync(join(dir, 'apache-error.log'), 'utf8').split('\n').filter((l) => /error|emerg/i.test(l)).slice(0, 3);
    if (apErrors.length) console.log(apErrors.join('\n'));
    if (values.profile) {
      // SIGINT: node writes the --cpu-prof profile on a clean exit.
      const gone = new Promise((r) => rb.once('exit', r));
      rb.kill('SIGINT');
      const t = setTimeout(() => rb.kill('SIGKILL'), 30_000);
      await gone;
      clearTimeout(t);
      console.log(summarizeProfile(profileDir).join('\n'));
      if (k50Windows.length) console.log(`during K50 only:\n${summarizeProfile(profileDir, 40, k50Windows).join('\n')}`);
      const kept = join(tmpdir(), `rackboot-httpboot-profile-${process.pid}`);
      spawnSync('cp', ['-r', profileDir, kept]);
      console.log(`profile kept in ${kept}`);
    }
    printResult('httpboot', `rackboot/apache2 ${ratios.join(', ')}, medians of ${RUNS} runs`);
  } finally {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
