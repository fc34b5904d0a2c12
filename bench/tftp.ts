// bench/tftp: rackboot's TFTP server against tftpd-hpa (in.tftpd) on the same
// files, with the same clients, in the same run, on loopback. Bars (issue 4):
//   A. one 64 MiB transfer, blksize 1468, windowsize 1: rackboot >= 1.0x tftpd-hpa
//   B. the same with windowsize 16 (atftp): rackboot >= 2.0x tftpd-hpa's best
//   C. 100 concurrent 16 MiB transfers, aggregate: rackboot >= 1.0x tftpd-hpa
//      (atftp, blksize 1468, windowsize 1: like for like; also printed with
//      windowsize 16, which tftpd-hpa ignores, as what rackboot gives clients that ask)
//   L. (no bar) 5% loss each way in a namespace pair (root): a 128 KiB file at
//      blksize 512 with tftp-hpa and atftp
// Each figure is the median of --runs runs; the servers alternate within a run.
//   node dist/bench/tftp.js [--runs 5] [--concurrent 100] [--only A,B,C1,C16,L] [--mib 64] [--loss-kib 128]
// --mib sets the single transfer's size (the concurrent ones are a quarter of
// it), --loss-kib the file of L.
// Figures in docs/benchmarks.md: node dist/bench/tftp.js --runs 5 --only A,B,C
// bench:smoke args: --runs 1 --concurrent 4 --mib 4 --loss-kib 16
// bench:smoke needs: root in.tftpd atftp curl tftp nft
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { printResult } from './lib/result.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    concurrent: { type: 'string', default: '100' },
    only: { type: 'string', default: 'A,B,C,L' },
    mib: { type: 'string', default: '64' },
    'loss-kib': { type: 'string', default: '128' },
    json: { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const CONC = Number(values.concurrent);
const ONLY = new Set(values.only!.split(','));
const CLI = new URL('../server/cli/main.js', import.meta.url).pathname;
const MiB = 1 << 20;
/** The single transfer's size in MiB (files f64 and f16: 64 and 16 MiB unless --mib says otherwise). */
const BIG = Number(values.mib);
const SMALL = BIG / 4;
const LOSS_KIB = Number(values['loss-kib']);
if (!(BIG >= 1 && Number.isInteger(BIG) && BIG % 4 === 0)) {
  console.error(`--mib '${values.mib}': a whole multiple of 4 MiB`);
  process.exit(2);
}

function need(cmd: string): void {
  if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) {
    console.error(`bench/tftp needs '${cmd}' (Debian packages tftpd-hpa, atftp, curl)`);
    process.exit(2);
  }
}

function freePort(): number {
  return 20000 + Math.floor(Math.random() * 20000);
}

interface Server {
  name: string;
  port: number;
  child: ChildProcess;
  cpu(): number;
}

/** Busy CPU seconds of the whole machine (all cores), from /proc/stat. */
function machineCpu(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy = all but idle and iowait
  return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) / 100;
}

/** CPU seconds (user+system) a process and its reaped children used, from /proc. */
function procCpu(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
    // utime stime cutime cstime are fields 14-17 (1-based) -> 11..14 after the ')' split
    const ticks = Number(parts[11]) + Number(parts[12]) + Number(parts[13]) + Number(parts[14]);
    return ticks / 100;
  } catch {
    return 0;
  }
}

async function startRackboot(
  dir: string,
  root: string,
  at: { host: string; ns?: string } = { host: '127.0.0.1' },
  variant: { name: string; tftp: string } = { name: 'rackboot', tftp: '' },
): Promise<Server> {
  const port = at.ns ? 69 : freePort();
  const cfg = join(dir, `${variant.name}.yaml`);
  writeFileSync(
    cfg,
    `dataDir: ${dir}/var-${variant.name}\napi: { listen: "127.0.0.1:0", token: bench-token }\ndhcp: { enabled: false }\nnfs: { backend: none }\n` +
      // TFTP answers only the served networks (and loopback): the namespace clients' network is one.
      (at.ns ? `networks: [ { name: bench, cidr: 10.99.0.0/24, serverAddress: ${at.host} } ]\n` : '') +
      `tftp: { address: ${at.host}, port: ${port}, root: ${root}, maxBlksize: 1468, maxWindowsize: 64, maxTransfers: 1024, clientRate: 100000, clientBurst: 100000${variant.tftp} }\n`,
  );
  const [cmd, args] = at.ns ? ['ip', ['netns', 'exec', at.ns, process.execPath, CLI, 'serve', '--config', cfg]] : [process.execPath, [CLI, 'serve', '--config', cfg]];
  const child = spawn(cmd, args, {
    // info: the line saying which data path serves transfers is read below.
    env: { PATH: process.env.PATH, RACKBOOT_LOG_FORMAT: 'json', RACKBOOT_LOG: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('rackboot did not start: ' + out)), 30_000);
    const check = async () => {
      // Ready when the TFTP port answers (a request for a missing file gets ERROR 1).
      const r = await runClient('atftp', port, 'no-such-file', '/dev/null', {}, at).catch(() => undefined);
      if (r && /rror|not found/i.test(r.stderr + r.stdout)) (clearTimeout(t), resolve());
      else setTimeout(() => void check(), 200);
    };
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => reject(new Error(`rackboot exited (${code}): ${out}`)));
    void check();
  });
  const path = /data path (\w+)/.exec(out)?.[1] ?? 'unknown';
  console.log(`${variant.name}: TFTP data path ${path}`);
  return { name: variant.name, port, child, cpu: () => procCpu(child.pid) };
}

async function startHpa(root: string, at: { host: string; ns?: string } = { host: '127.0.0.1' }): Promise<Server> {
  const port = at.ns ? 6969 : freePort();
  const a = ['in.tftpd', '-L', '-s', root, '-a', `${at.host}:${port}`];
  const child = at.ns ? spawn('ip', ['netns', 'exec', at.ns, ...a], { stdio: ['ignore', 'inherit', 'inherit'] }) : spawn(a[0]!, a.slice(1), { stdio: ['ignore', 'inherit', 'inherit'] });
  await new Promise((r) => setTimeout(r, 300));
  if (child.exitCode !== null) throw new Error('in.tftpd did not start');
  return { name: 'tftpd-hpa', port, child, cpu: () => procCpu(child.pid) };
}

function runClient(
  client: 'atftp' | 'curl' | 'tftp',
  port: number,
  remote: string,
  local: string,
  o: { blksize?: number; windowsize?: number },
  at: { host: string; ns?: string } = { host: '127.0.0.1' },
): Promise<{ code: number | null; ms: number; stdout: string; stderr: string }> {
  const host = at.host;
  const args =
    client === 'atftp'
      ? [
          ...(o.blksize ? ['--option', `blksize ${o.blksize}`] : []),
          ...(o.windowsize ? ['--option', `windowsize ${o.windowsize}`] : []),
          '-g',
          '-r',
          remote,
          '-l',
          local,
          host,
          String(port),
        ]
      : client === 'tftp'
        ? ['-m', 'binary', host, String(port), '-c', 'get', remote, local]
        : ['-sS', ...(o.blksize ? ['--tftp-blksize', String(o.blksize)] : []), '-o', local, `tftp://${host}:${port}/${remote}`];
  const [cmd, full] = at.ns ? ['ip', ['netns', 'exec', at.ns, client, ...args]] : [client, args];
  const t0 = performance.now();
  return new Promise((resolve) => {
    const c = spawn(cmd, full, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d));
    c.stderr.on('data', (d: Buffer) => (stderr += d));
    c.on('close', (code) => resolve({ code, ms: performance.now() - t0, stdout, stderr }));
  });
}

function sh(cmd: string, args: string[], input?: string): void {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
}

/** 5% loss each way: rackboot and tftpd-hpa in one namespace, the clients in another. */
async function lossScenario(dir: string, root: string, results: Record<string, unknown>): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('\nL skipped: needs root (network namespaces)');
    return;
  }
  const id = `rbb${process.pid % 100000}`;
  const [srv, cli] = [`${id}-srv`, `${id}-cli`];
  const servers: Server[] = [];
  try {
    sh('ip', ['netns', 'add', srv]);
    sh('ip', ['netns', 'add', cli]);
    sh('ip', ['link', 'add', `${id}a`, 'type', 'veth', 'peer', 'name', `${id}b`]);
    sh('ip', ['link', 'set', `${id}a`, 'netns', srv]);
    sh('ip', ['link', 'set', `${id}b`, 'netns', cli]);
    sh('ip', ['-n', srv, 'addr', 'add', '10.99.0.1/24', 'dev', `${id}a`]);
    sh('ip', ['-n', cli, 'addr', 'add', '10.99.0.2/24', 'dev', `${id}b`]);
    for (const [ns, l] of [[srv, `${id}a`], [cli, `${id}b`]] as const) {
      sh('ip', ['-n', ns, 'link', 'set', l, 'up']);
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      // On input: dropping in an output hook would fail the sender's sendto() instead.
      sh('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], 'table inet loss {\n chain in {\n  type filter hook input priority 0;\n  meta l4proto udp numgen random mod 100 < 5 drop\n }\n}\n');
    }
    writeFileSync(join(root, 'f128k'), randomBytes(LOSS_KIB * 1024));
    const want = await sha(join(root, 'f128k'));
    const at = { host: '10.99.0.1', ns: srv };
    mkdirSync(join(dir, 'ns'));
    servers.push(await startRackboot(join(dir, 'ns'), root, at), await startHpa(root, at));
    const times: Record<string, number[]> = {};
    for (let run = 0; run < RUNS; run++) {
      for (const s of run % 2 ? [...servers].reverse() : servers) {
        for (const client of ['tftp', 'atftp'] as const) {
          const out = join(dir, `loss-${s.name}-${client}`);
          const r = await runClient(client, s.port, 'f128k', out, {}, { host: '10.99.0.1', ns: cli });
          const ok = r.code === 0 && (await sha(out)) === want;
          (times[`${s.name} ${client === 'tftp' ? 'tftp-hpa' : client}`] ??= []).push(ok ? r.ms : NaN);
          rmSync(out, { force: true });
        }
      }
    }
    console.log(`\n5% loss each way (namespaces), ${LOSS_KIB} KiB at blksize 512, median of ${RUNS} (NaN: a failed transfer)`);
    for (const k of Object.keys(times)) console.log(`  ${k.padEnd(22)} ${fmt(median(times[k]!))}   runs: ${times[k]!.map((x) => (x / 1000).toFixed(2)).join(' ')}`);
    for (const c of ['tftp-hpa', 'atftp']) {
      const ratio = median(times[`tftpd-hpa ${c}`]!) / median(times[`rackboot ${c}`]!);
      console.log(`  L  ${c}: rackboot/tftpd-hpa = ${ratio.toFixed(2)}x   (no bar)`);
      results[`L_${c}`] = ratio;
    }
  } finally {
    for (const s of servers) s.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    for (const ns of [srv, cli]) {
      const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split(/\s+/).filter(Boolean);
      for (const pid of pids) spawnSync('kill', ['-9', pid]);
      spawnSync('ip', ['netns', 'del', ns]);
    }
  }
}

async function sha(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const fmt = (ms: number) => `${(ms / 1000).toFixed(3)} s`;
const mbps = (bytes: number, ms: number) => `${(bytes / MiB / (ms / 1000)).toFixed(0)} MiB/s`;

async function main(): Promise<void> {
  for (const c of ['in.tftpd', 'atftp', 'curl', ...(ONLY.has('L') ? ['tftp', 'ip', 'nft'] : [])]) need(c);
  const dir = mkdtempSync(join(tmpdir(), 'rackboot-bench-tftp-'));
  const root = join(dir, 'root');
  spawnSync('mkdir', ['-p', root]);
  const f64 = randomBytes(BIG * MiB);
  writeFileSync(join(root, 'f64'), f64);
  writeFileSync(join(root, 'f16'), f64.subarray(0, SMALL * MiB));
  const sums = { f64: createHash('sha256').update(f64).digest('hex'), f16: createHash('sha256').update(f64.subarray(0, SMALL * MiB)).digest('hex') };
  const servers: Server[] = [];
  const results: Record<string, unknown> = { cores: availableParallelism(), loadavg: loadavg()[0], runs: RUNS, concurrent: CONC };
  try {
    servers.push(await startRackboot(dir, root), await startHpa(root));
    const [rb, hpa] = servers as [Server, Server];
    // A without busy polling too: how much of A is the polling (a core's time per transfer).
    const quiet = ONLY.has('A') ? await startRackboot(dir, root, undefined, { name: 'rackboot-nopoll', tftp: ', busyPoll: false' }) : undefined;
    if (quiet) servers.push(quiet);
    // Correctness first: what both send is the file.
    for (const s of servers) {
      for (const [client, o] of [['atftp', { blksize: 1468, windowsize: 16 }], ['curl', { blksize: 1468 }]] as const) {
        const out = join(dir, `check-${s.name}-${client}`);
        const r = await runClient(client, s.port, 'f16', out, o);
        if (r.code !== 0 || (await sha(out)) !== sums.f16) throw new Error(`${s.name} with ${client}: wrong content (${r.stderr})`);
        rmSync(out);
      }
    }
    const single = async (s: Server, client: 'atftp' | 'curl', o: { blksize?: number; windowsize?: number }) => {
      const r = await runClient(client, s.port, 'f64', '/dev/null', o);
      if (r.code !== 0) throw new Error(`${s.name} ${client} ${JSON.stringify(o)}: ${r.stderr}`);
      return r.ms;
    };
    const times: Record<string, number[]> = {};
    const add = (k: string, ms: number) => (times[k] ??= []).push(ms);
    if (ONLY.has('A') || ONLY.has('B')) {
      for (let run = 0; run < RUNS; run++) {
        const order = run % 2 ? [hpa, rb] : [rb, hpa];
        for (const s of order) {
          add(`${s.name} atftp ws1`, await single(s, 'atftp', { blksize: 1468 }));
          add(`${s.name} curl ws1`, await single(s, 'curl', { blksize: 1468 }));
          add(`${s.name} atftp ws16`, await single(s, 'atftp', { blksize: 1468, windowsize: 16 }));
        }
        if (quiet) {
          add(`${quiet.name} atftp ws1`, await single(quiet, 'atftp', { blksize: 1468 }));
          add(`${quiet.name} curl ws1`, await single(quiet, 'curl', { blksize: 1468 }));
        }
      }
      const med = (k: string) => median(times[k]!);
      console.log(`\nsingle ${BIG} MiB transfer, blksize 1468, loopback, median of ${RUNS} (${availableParallelism()} cores)`);
      for (const k of Object.keys(times)) console.log(`  ${k.padEnd(26)} ${fmt(med(k))}  ${mbps(BIG * MiB, med(k))}   runs: ${times[k]!.map((x) => (x / 1000).toFixed(3)).join(' ')}`);
      const a1 = med('tftpd-hpa atftp ws1') / med('rackboot atftp ws1');
      const a2 = med('tftpd-hpa curl ws1') / med('rackboot curl ws1');
      const hpaBest = Math.min(med('tftpd-hpa atftp ws1'), med('tftpd-hpa curl ws1'), med('tftpd-hpa atftp ws16'));
      const b = hpaBest / med('rackboot atftp ws16');
      console.log(`  A  windowsize 1:  rackboot/tftpd-hpa = ${a1.toFixed(2)}x (atftp), ${a2.toFixed(2)}x (curl)   bar >= 1.0x`);
      if (quiet) {
        const q1 = med('tftpd-hpa atftp ws1') / med('rackboot-nopoll atftp ws1');
        const q2 = med('tftpd-hpa curl ws1') / med('rackboot-nopoll curl ws1');
        console.log(`     with tftp.busyPoll false: ${q1.toFixed(2)}x (atftp), ${q2.toFixed(2)}x (curl)`);
        Object.assign(results, { A_nopoll_atftp: q1, A_nopoll_curl: q2 });
      }
      console.log(`  B  windowsize 16: rackboot vs tftpd-hpa's best (${fmt(hpaBest)}) = ${b.toFixed(2)}x   bar >= 2.0x`);
      Object.assign(results, { single: Object.fromEntries(Object.keys(times).map((k) => [k, med(k)])), A_atftp: a1, A_curl: a2, B: b });
    }
    if (ONLY.has('C') || ONLY.has('C1') || ONLY.has('C16')) {
      for (const windowsize of [1, 16].filter((w) => ONLY.has('C') || ONLY.has(`C${w}`))) {
        let again = 0;
        const agg: Record<string, number[]> = {};
        const cpu: Record<string, number[]> = {};
        const machine: Record<string, number[]> = {};
        for (let run = 0; run < RUNS; run++) {
          const order = run % 2 ? [hpa, rb] : [rb, hpa];
          for (const s of order) {
            const c0 = s.cpu();
            const m0 = machineCpu();
            const t0 = performance.now();
            const one = async () => {
              const o = { blksize: 1468, windowsize: windowsize > 1 ? windowsize : undefined };
              const r = await runClient('atftp', s.port, 'f16', '/dev/null', o);
              // atftp aborts on an OACK sent again (its ACK 0 came too late, e.g. the client
              // was not scheduled for a second): counted, and that client starts over.
              if (r.code !== 0 && /unexpected OACK/.test(r.stderr)) return (again++, runClient('atftp', s.port, 'f16', '/dev/null', o));
              return r;
            };
            const rs = await Promise.all(Array.from({ length: CONC }, one));
            const ms = performance.now() - t0;
            const bad = rs.filter((r) => r.code !== 0);
            if (bad.length) throw new Error(`${s.name}: ${bad.length} of ${CONC} concurrent transfers failed: ${bad[0]!.stderr}`);
            (agg[s.name] ??= []).push(ms);
            (cpu[s.name] ??= []).push(s.cpu() - c0);
            (machine[s.name] ??= []).push(machineCpu() - m0);
          }
        }
        console.log(`\n${CONC} concurrent ${SMALL} MiB transfers (atftp, blksize 1468, windowsize ${windowsize}), median of ${RUNS}`);
        for (const k of Object.keys(agg)) {
          const m = median(agg[k]!);
          // tftpd-hpa's transfer processes are not its children in /proc's accounting: only the machine's CPU compares.
          const own = k === 'rackboot' ? `server CPU ${median(cpu[k]!).toFixed(2)} s, ` : '';
          const extra = `  ${own}machine CPU ${median(machine[k]!).toFixed(2)} s`;
          console.log(`  ${k.padEnd(10)} ${fmt(m)}  aggregate ${mbps(CONC * SMALL * MiB, m)}${extra}   runs: ${agg[k]!.map((x) => (x / 1000).toFixed(2)).join(' ')}`);
        }
        const c = median(agg['tftpd-hpa']!) / median(agg['rackboot']!);
        if (again) console.log(`  (${again} client(s) aborted on a resent OACK and were started again)`);
        console.log(`  C${windowsize > 1 ? ` (windowsize ${windowsize}, not the bar)` : ''}  aggregate rackboot/tftpd-hpa = ${c.toFixed(2)}x${windowsize > 1 ? '' : '   bar >= 1.0x'}`);
        Object.assign(results, { [`concurrent_ws${windowsize}`]: Object.fromEntries(Object.keys(agg).map((k) => [k, median(agg[k]!)])), [`C_ws${windowsize}`]: c });
      }
    }
    if (ONLY.has('L')) await lossScenario(dir, root, results);
    // rackboot against tftpd-hpa for each scenario run (above 1.0 rackboot is faster).
    const x = (k: string) => (typeof results[k] === 'number' ? `${(results[k] as number).toFixed(2)}x` : undefined);
    const parts = [
      ['A (atftp/curl)', [x('A_atftp'), x('A_curl')].filter(Boolean).join('/')],
      ['A without busy polling', [x('A_nopoll_atftp'), x('A_nopoll_curl')].filter(Boolean).join('/')],
      ['B', x('B')],
      [`C (${CONC} at once)`, x('C_ws1')],
      ['C windowsize 16', x('C_ws16')],
      ['L 5% loss (tftp-hpa/atftp)', [x('L_tftp-hpa'), x('L_atftp')].filter(Boolean).join('/')],
    ].filter(([, v]) => v);
    console.log('');
    printResult('tftp', `rackboot/tftpd-hpa ${parts.map(([k, v]) => `${k} ${v}`).join(', ')}; ${BIG} MiB single, medians of ${RUNS} runs`);
    if (values.json) console.log(JSON.stringify(results));
  } finally {
    for (const s of servers) s.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
