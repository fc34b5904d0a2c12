// bench/storm: a whole rack powered on at once (issue 22). N simulated
// network-boot clients (bench/storm/client.c: BIOS PXE ROM + PXELINUX, UEFI
// EDK2 + syslinux.efi, iPXE over HTTP, each with its own MAC and leased
// address) start within one second against each server in turn, on the same
// files and the same veth between two namespaces:
//   rackboot                                   its DHCP, TFTP and HTTP boot
//   dnsmasq (DHCP + TFTP) + Apache             for the HTTP clients
//   Kea (DHCP) + tftpd-hpa (TFTP) + Apache
// Per server and N: seconds from the first power-on until every client has
// its last byte, p50/p99 per client, retransmissions, failures (a client that
// gave up after its firmware's schedule), server CPU seconds, peak RSS, and
// the aggregate bytes/s against what the veth carries (iperf3, same run).
// Bars: N = 1,000 every client boots on rackboot and it is >= 1.5x the faster
// reference; rackboot's RSS at the largest N under 2x its RSS at the smallest.
//
//   node dist/bench/storm.js [--clients 100,500,1000] [--mix 60,30,10] [--servers rackboot,dnsmasq,kea]
//        [--spread-ms 1000] [--kernel-bytes 14190528] [--initrd-bytes 4404019] [--iperf-seconds 3]
//        [--max-seconds 600] [--profile] [--rackboot-max-transfers N] [--keep] [--verbose]
// --mix is percent BIOS,UEFI,HTTP (100,0,0: all BIOS). Root; Debian packages
// dnsmasq, kea-dhcp4-server, tftpd-hpa, apache2, iperf3, and a C compiler.
// Figures in docs/benchmarks.md: node dist/bench/storm.js --clients 100,500,1000
// bench:smoke args: --clients 20 --kernel-bytes 1048576 --initrd-bytes 524288 --iperf-seconds 1
// bench:smoke needs: root cc dnsmasq kea-dhcp4 in.tftpd apache2 iperf3 ss
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { NetLab } from '../test/helpers/netns.js';
import { printResult } from './lib/result.js';
import { figures, makeClients, NET, parseReport, writeClientInput, type Kind, type StormClient, type StormFigures } from './storm/clients.js';
import { NamespaceSampler, netnsOf, peakRss, vethThroughput } from './storm/measure.js';
import { summarizeProfile } from './storm/profile.js';
import { dnsmasqServer, keaServer, rackbootServer, tftpOutcomes, writeReferenceFiles, type BootFiles, type StormServer } from './storm/servers.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '100,500,1000' },
    mix: { type: 'string', default: '60,30,10' },
    servers: { type: 'string', default: 'rackboot,dnsmasq,kea' },
    'spread-ms': { type: 'string', default: '1000' },
    'kernel-bytes': { type: 'string', default: '14190528' },
    'initrd-bytes': { type: 'string', default: '4404019' },
    'iperf-seconds': { type: 'string', default: '3' },
    'max-seconds': { type: 'string', default: '600' },
    'rackboot-max-transfers': { type: 'string' },
    profile: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
  },
});

const SIZES = values.clients!.split(',').map(Number);
const MIXV = values.mix!.split(',').map(Number);
const SERVERS = values.servers!.split(',') as Array<StormServer['name']>;
const SPREAD_MS = Number(values['spread-ms']);
const MAX_SECONDS = Number(values['max-seconds']);
const MiB = 1 << 20;
const usage = (m: string) => {
  console.error(`bench/storm: ${m}`);
  process.exit(2);
};
if (SIZES.some((n) => !Number.isInteger(n) || n < 1 || n > 10000)) usage(`--clients '${values.clients}': whole numbers from 1 to 10,000`);
if (MIXV.length !== 3 || MIXV.some((x) => !(x >= 0)) || MIXV.every((x) => x === 0)) usage(`--mix '${values.mix}': three percentages, BIOS,UEFI,HTTP`);
for (const s of SERVERS) if (!['rackboot', 'dnsmasq', 'kea'].includes(s)) usage(`--servers: unknown '${s}' (rackboot, dnsmasq, kea)`);
const MIX: Record<Kind, number> = { bios: MIXV[0]!, uefi: MIXV[1]!, http: MIXV[2]! };
if (process.getuid?.() !== 0) usage('needs root (network namespaces, DHCP frames from many MACs)');
const needs = ['cc', 'ss', 'iperf3', ...(SERVERS.includes('dnsmasq') ? ['dnsmasq'] : []), ...(SERVERS.includes('kea') ? ['kea-dhcp4', 'in.tftpd'] : [])];
if (MIX.http && SERVERS.some((s) => s !== 'rackboot')) needs.push('apache2');
for (const cmd of needs) if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) usage(`needs '${cmd}' (Debian: build-essential, iproute2, iperf3, dnsmasq, kea-dhcp4-server, tftpd-hpa, apache2)`);

const lab = new NetLab('rbst');
const work = mkdtempSync(join(tmpdir(), 'rackboot-bench-storm-'));
// tftpd-hpa (nobody) and Apache (www-data) read the references' files under it.
chmodSync(work, 0o755);
const CLIENT_SRC = new URL('../../bench/storm/client.c', import.meta.url).pathname;

/** The neighbour table is one for all namespaces; a rack needs more than its 1,024 entries. Raised for the run, put back after. */
const NEIGH = '/proc/sys/net/ipv4/neigh/default/gc_thresh';
const neighBefore: Record<string, string> = {};
function raiseNeighbourTable(n: number): void {
  const want = { 1: Math.max(1024, n), 2: Math.max(4096, 4 * n), 3: Math.max(8192, 8 * n) };
  for (const [k, v] of Object.entries(want)) {
    const cur = readFileSync(NEIGH + k, 'utf8').trim();
    if (Number(cur) >= v) continue;
    neighBefore[k] = cur;
    writeFileSync(NEIGH + k, String(v));
  }
}
function restoreNeighbourTable(): void {
  for (const [k, v] of Object.entries(neighBefore)) writeFileSync(NEIGH + k, v);
}

interface Run {
  server: StormServer['name'];
  n: number;
  f: StormFigures;
  serverCpu: number;
  machineCpu: number;
  clientCpu: number;
  clientWall: number;
  peakRssSum: number;
  /** rackboot: VmHWM of its process. */
  peakRss: number;
  peakProcesses: number;
  veth: number;
  clientDrops: number;
}

/** Udp receive-buffer drops in a namespace. */
function rcvbufErrors(ns: string): number {
  const rows = lab.execSync(ns, 'cat', ['/proc/net/snmp']).stdout.split('\n').filter((l) => l.startsWith('Udp:'));
  if (rows.length < 2) return 0;
  const keys = rows[0]!.split(/\s+/);
  return Number(rows[1]!.split(/\s+/)[keys.indexOf('RcvbufErrors')] ?? 0);
}

async function runClients(cli: string, bin: string, input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn('ip', ['netns', 'exec', cli, bin, input], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let lastLine = 0;
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n').filter(Boolean)) {
        // Progress every 2 s; show one line in five, and every other message.
        if (!line.includes(' leased, ') || ++lastLine % 5 === 1) console.log(`    ${line}`);
      }
    });
    const timer = setTimeout(() => c.kill('SIGKILL'), (MAX_SECONDS + 60) * 1000);
    c.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`storm client exited ${code}`));
    });
  });
}

/** What a server left behind in its namespace (tftpd-hpa's transfer processes): ours, killed by pid. */
function killLeftovers(ns: string, keep: number): void {
  for (const pid of spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split(/\s+/).filter(Boolean)) {
    if (Number(pid) !== keep) spawnSync('kill', ['-9', pid]);
  }
}

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '-');

function line(r: Run): string {
  const f = r.f;
  const rt = f.retransmissions;
  const span = Number.isFinite(f.allBooted) ? f.allBooted : f.lastBooted;
  const rate = f.bytes / span;
  return (
    `${r.server.padEnd(8)} N=${r.n}: ${f.ok}/${f.n} booted, ${f.failed} failed; all booted ${f1(f.allBooted)} s` +
    ` (p50 ${f1(f.p50)} s, p99 ${f1(f.p99)} s per client; DHCP p50 ${f1(f.dhcpP50)} s);` +
    ` retransmissions DHCP ${rt.dhcp}, TFTP ${rt.tftp} (+${rt.tftpDup} dup ACKs), HTTP ${rt.http};` +
    ` server CPU ${f1(r.serverCpu)} s, peak RSS ${(r.peakRssSum / MiB).toFixed(0)} MiB${r.peakRss ? ` (process ${(r.peakRss / MiB).toFixed(0)} MiB)` : ''}, ${r.peakProcesses} processes;` +
    ` ${(rate / MiB).toFixed(0)} MiB/s = ${((rate / r.veth) * 100).toFixed(1)}% of the veth;` +
    ` client CPU ${f1(r.clientCpu)} s of ${f1(r.clientWall)} s, machine CPU ${f1(r.machineCpu)} s, client receive drops ${r.clientDrops}`
  );
}

async function main(): Promise<void> {
  const bin = join(work, 'storm-client');
  const cc = spawnSync('cc', ['-O2', '-Wall', '-Wno-format-truncation', '-o', bin, CLIENT_SRC], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cc ${CLIENT_SRC}: ${cc.stderr}`);
  const srv = lab.addNs('srv');
  const cli = lab.addNs('cli');
  lab.veth({ ns: srv, name: 'eth1', addr: `${NET.server}/${NET.prefix}` }, { ns: cli, name: 'eth0' });
  // The clients own many MACs: frames to any of them reach the client side.
  lab.execSync(cli, 'ip', ['link', 'set', 'eth0', 'promisc', 'on']);
  raiseNeighbourTable(Math.max(...SIZES));
  // The server namespace's identity, read from a process that lives in it (the sampler finds the servers by it).
  const holder = lab.spawn(srv, 'sleep', ['100000'], { stdio: 'ignore' });
  let nsInode: string | undefined;
  for (let i = 0; i < 50 && !nsInode; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const id = netnsOf(holder.pid!);
    if (id && id !== netnsOf(process.pid)) nsInode = id;
  }
  if (!nsInode) throw new Error('cannot read the server namespace');

  const files: BootFiles = { kernel: join(work, 'vmlinuz'), initrd: join(work, 'initrd.img'), cmdline: 'console=ttyS0,115200 quiet' };
  writeFileSync(files.kernel, randomBytes(Number(values['kernel-bytes'])));
  writeFileSync(files.initrd, randomBytes(Number(values['initrd-bytes'])));
  const profileDir = values.profile ? join(work, 'profile') : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });

  console.log(
    `bench/storm: ${availableParallelism()} cores; N = ${SIZES.join(', ')}; mix BIOS ${MIX.bios}%, UEFI ${MIX.uefi}%, HTTP ${MIX.http}%; ` +
      `starting within ${SPREAD_MS} ms; kernel ${values['kernel-bytes']} B, RAM disk ${values['initrd-bytes']} B; servers ${SERVERS.join(', ')}`,
  );
  const runs: Run[] = [];
  let cpuMethodSaid = false;
  for (const [si, n] of SIZES.entries()) {
    const clients = makeClients(n, MIX);
    const input = join(work, `clients-${n}.txt`);
    writeClientInput(input, clients, { iface: 'eth0', spreadMs: SPREAD_MS, seed: 1000 + n, maxSeconds: MAX_SECONDS });
    const ref = writeReferenceFiles(join(work, 'ref'), files, clients);
    lab.execSync(cli, 'ip', ['addr', 'add', `${NET.iperfClient}/${NET.prefix}`, 'dev', 'eth0']);
    const veth = await vethThroughput(lab, srv, cli, { server: NET.server, client: NET.iperfClient, seconds: Number(values['iperf-seconds']) });
    console.log(`\nN = ${n} (${clients.filter((c) => c.kind === 'bios').length} BIOS, ${clients.filter((c) => c.kind === 'uefi').length} UEFI, ${clients.filter((c) => c.kind === 'http').length} HTTP): the veth carries ${(veth / MiB).toFixed(0)} MiB/s (iperf3, TCP)`);
    // The servers take turns, starting with a different one for each N.
    const order = SERVERS.map((_, k) => SERVERS[(k + si) % SERVERS.length]!);
    for (const name of order) {
      const maxTransfers = values['rackboot-max-transfers'] ? Number(values['rackboot-max-transfers']) : undefined;
      const profile = profileDir && n === Math.max(...SIZES) ? profileDir : undefined;
      const server =
        name === 'rackboot'
          ? rackbootServer(lab, srv, work, files, { ...(maxTransfers ? { maxTransfers } : {}), ...(profile ? { profileDir: profile } : {}), ...(values.verbose ? { logLevel: 'debug' } : {}) })
          : name === 'dnsmasq'
            ? dnsmasqServer(lab, srv, work, ref)
            : keaServer(lab, srv, work, ref);
      lab.execSync(cli, 'ip', ['addr', 'flush', 'dev', 'eth0']);
      lab.execSync(cli, 'ip', ['neigh', 'flush', 'all']);
      lab.execSync(srv, 'ip', ['neigh', 'flush', 'all']);
      await server.start(clients as StormClient[]);
      const drops0 = rcvbufErrors(cli);
      const sampler = new NamespaceSampler(nsInode);
      sampler.start();
      let out: string;
      let cost: ReturnType<NamespaceSampler['stop']>;
      let hwm = 0;
      try {
        console.log(`  ${server.label}: ${n} clients`);
        out = await runClients(cli, bin, input);
      } finally {
        cost = sampler.stop();
        if (name === 'rackboot') hwm = peakRss(server.mainPid()!);
        await server.stop();
        killLeftovers(srv, holder.pid!);
        sampler.close();
      }
      const report = parseReport(out);
      if (values.verbose) {
        if (name === 'rackboot') for (const l of tftpOutcomes(server.logFile())) console.log(`    rackboot tftp: ${l}`);
        for (const k of ['bios', 'uefi', 'http'] as const) {
          const r = report.results.find((x) => x.kind === k && x.ok) ?? report.results.find((x) => x.kind === k);
          if (r) console.log(`    a ${k} client: DHCP ${f2(r.dhcp - r.on)} s, then ${r.files.map((x) => `${x.name} (${x.bytes} B, ${x.ms.toFixed(0)} ms)`).join(', ')}${r.fail ? `; ${r.fail}` : ''}`);
        }
      }
      const run: Run = {
        server: name,
        n,
        f: figures(report.results),
        serverCpu: cost.serverCpu,
        machineCpu: cost.machineCpu,
        clientCpu: report.summary.cpuUser + report.summary.cpuSys,
        clientWall: report.summary.wall,
        peakRssSum: sampler.peakRssSum,
        peakRss: hwm,
        peakProcesses: sampler.peakProcesses,
        veth,
        clientDrops: rcvbufErrors(cli) - drops0,
      };
      runs.push(run);
      if (!cpuMethodSaid) console.log(`  (server CPU: ${sampler.method}; peak RSS: the sum over its processes, sampled every second)`);
      cpuMethodSaid = true;
      console.log(`  ${line(run)}`);
      for (const [why, k] of run.f.failures) console.log(`    failed: ${k} x ${why}`);
      for (const [k, v] of Object.entries(run.f.byKind)) console.log(`    ${k}: ${v.n} booted, p50 ${f1(v.p50)} s, p99 ${f1(v.p99)} s`);
      if (profile && name === 'rackboot') for (const l of summarizeProfile(profile)) console.log(`    ${l}`);
    }
  }

  // The verdicts.
  console.log('\nsummary (time until all N have their last byte; ratio = the faster reference / rackboot, above 1.0 rackboot is faster):');
  const ratios: string[] = [];
  for (const n of SIZES) {
    const at = (s: string) => runs.find((r) => r.n === n && r.server === s);
    const rb = at('rackboot');
    const refs = runs.filter((r) => r.n === n && r.server !== 'rackboot');
    const done = refs.filter((r) => Number.isFinite(r.f.allBooted));
    const best = done.sort((a, b) => a.f.allBooted - b.f.allBooted)[0];
    const ratio = rb && best && Number.isFinite(rb.f.allBooted) ? best.f.allBooted / rb.f.allBooted : NaN;
    const parts = [rb, ...refs].filter((r): r is Run => !!r).map((r) => `${r.server} ${f1(r.f.allBooted)} s${r.f.failed ? ` (${r.f.failed} failed)` : ''}`);
    console.log(`  N=${n}: ${parts.join(', ')}; ratio ${f2(ratio)}x${best ? ` (against ${best.server})` : refs.length ? ' (no reference booted every client)' : ''}`);
    ratios.push(`N=${n} ${rb ? `rackboot ${f1(rb.f.allBooted)} s${rb.f.failed ? ` ${rb.f.failed} failed` : ''}` : ''}${best ? ` ${best.server} ${f1(best.f.allBooted)} s ${f2(ratio)}x` : ''}`);
  }
  const rbRuns = runs.filter((r) => r.server === 'rackboot').sort((a, b) => a.n - b.n);
  let rssLine = '';
  if (rbRuns.length >= 2) {
    const lo = rbRuns[0]!;
    const hi = rbRuns[rbRuns.length - 1]!;
    const k = hi.peakRss / lo.peakRss;
    rssLine = `rackboot peak RSS ${(lo.peakRss / MiB).toFixed(0)} MiB at N=${lo.n}, ${(hi.peakRss / MiB).toFixed(0)} MiB at N=${hi.n} (${f2(k)}x, bar < 2x: ${k < 2 ? 'met' : 'missed'})`;
    console.log(`  ${rssLine}`);
  }
  const biggest = Math.max(...SIZES);
  const rbBig = rbRuns.find((r) => r.n === biggest);
  if (rbBig && biggest >= 1000) console.log(`  N=${biggest}: rackboot ${rbBig.f.failed ? `${rbBig.f.failed} clients failed (bar: none)` : 'booted every client (bar: met)'}`);
  printResult('storm', `${ratios.join('; ')}${rssLine ? `; ${rssLine}` : ''}; mix ${MIXV.join('/')}`);
}

try {
  await main();
} finally {
  await lab.cleanup();
  restoreNeighbourTable();
  if (values.keep) console.log(`work directory kept: ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
