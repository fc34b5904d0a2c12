// bench/storm: what a server costs during a storm, read from /proc for every
// process in its namespace (the servers are the only processes there), the
// whole machine's busy CPU, and what the veth carries (iperf3).
import { mkdirSync, readFileSync, readdirSync, readlinkSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NetLab } from '../../test/helpers/netns.js';

const CLK_TCK = 100;
const PAGE = 4096;

interface ProcStat {
  /** utime + stime + cutime + cstime, seconds: reaped children (tftpd-hpa's per transfer) count in their parent. */
  cpu: number;
  rssBytes: number;
}

function procStat(pid: number): ProcStat | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // Fields after the command: state(0) ... utime(11) stime(12) cutime(13) cstime(14) ... rss(21)
    return { cpu: (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / CLK_TCK, rssBytes: Number(f[21]) * PAGE };
  } catch {
    return undefined;
  }
}

/** The peak resident set (VmHWM) of one process, bytes. */
export function peakRss(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Busy CPU seconds of the whole machine (all cores), from /proc/stat. */
export function machineCpu(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) / CLK_TCK;
}

/** Current pids in a namespace without running a command (cheap enough to sample): by /proc/PID/ns/net inode. */
export function pidsByNetns(nsInode: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readLinkSafe(`/proc/${d}/ns/net`) === nsInode) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}

function readLinkSafe(p: string): string | undefined {
  try {
    return readlinkSync(p);
  } catch {
    return undefined;
  }
}

/** The net namespace link of a process ("net:[4026532...]"). */
export function netnsOf(pid: number): string | undefined {
  return readLinkSafe(`/proc/${pid}/ns/net`);
}

/**
 * CPU time of a set of processes and every process they start, exited ones
 * included, from a cgroup of our own: tftpd-hpa ignores SIGCHLD, so its
 * per-transfer processes are reaped by the kernel and their CPU reaches no
 * parent's cutime. cgroup v1's cpuacct (accounting only, no limits), else v2's
 * cpu.stat; made beside our own cgroup and removed after.
 */
export class CpuGroup {
  private constructor(private readonly dir: string, private readonly parent: string, private readonly v2: boolean) {}

  static open(name: string): CpuGroup | undefined {
    const own = readFileSync('/proc/self/cgroup', 'utf8').split('\n');
    const v1 = own.find((l) => /^\d+:[^:]*\bcpuacct\b[^:]*:/.test(l));
    const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' '));
    try {
      if (v1) {
        const m = mounts.find((f) => f[2] === 'cgroup' && /(^|,)cpuacct(,|$)/.test(f[3] ?? ''));
        if (!m) return undefined;
        const parent = join(m[1]!, v1.split(':')[2]!);
        const dir = join(parent, name);
        mkdirSync(dir);
        return new CpuGroup(dir, parent, false);
      }
      const m = mounts.find((f) => f[2] === 'cgroup2');
      const path = own.find((l) => l.startsWith('0::'))?.slice(3);
      if (!m || path === undefined) return undefined;
      const parent = join(m[1]!, path);
      const dir = join(parent, name);
      mkdirSync(dir);
      return new CpuGroup(dir, parent, true);
    } catch {
      return undefined;
    }
  }

  add(pid: number): void {
    try {
      writeFileSync(join(this.dir, 'cgroup.procs'), String(pid));
    } catch {
      /* gone already */
    }
  }

  /** CPU seconds used by the group's processes since they joined it. */
  seconds(): number {
    if (!this.v2) return Number(readFileSync(join(this.dir, 'cpuacct.usage'), 'utf8')) / 1e9;
    const m = /usage_usec (\d+)/.exec(readFileSync(join(this.dir, 'cpu.stat'), 'utf8'));
    return m ? Number(m[1]) / 1e6 : 0;
  }

  /** Move what is left back and remove the group. */
  close(): void {
    try {
      for (const pid of readFileSync(join(this.dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
        try {
          writeFileSync(join(this.parent, 'cgroup.procs'), pid);
        } catch {
          /* gone */
        }
      }
      rmdirSync(this.dir);
    } catch {
      /* best effort */
    }
  }
}

/**
 * Samples the processes of a namespace every `periodMs`: the sum of their
 * resident sets (shared pages counted in every process: an upper bound for
 * the forking servers) at its peak, and their CPU from start to stop.
 */
export class NamespaceSampler {
  private timer: NodeJS.Timeout | undefined;
  private cpu0 = 0;
  private machine0 = 0;
  private t0 = 0;
  peakRssSum = 0;
  peakProcesses = 0;

  private group: CpuGroup | undefined;
  /** How the server CPU was measured, for the report. */
  method = '';

  constructor(private readonly nsInode: string, private readonly periodMs = 1000) {}

  private cpuNow(): number {
    if (this.group) return this.group.seconds();
    let cpu = 0;
    for (const pid of pidsByNetns(this.nsInode)) cpu += procStat(pid)?.cpu ?? 0;
    return cpu;
  }

  private sample(): void {
    const pids = pidsByNetns(this.nsInode);
    let rss = 0;
    for (const pid of pids) rss += procStat(pid)?.rssBytes ?? 0;
    this.peakRssSum = Math.max(this.peakRssSum, rss);
    this.peakProcesses = Math.max(this.peakProcesses, pids.length);
  }

  start(): void {
    this.group = CpuGroup.open(`rackboot-storm-${process.pid}-${Date.now()}`);
    if (this.group) for (const pid of pidsByNetns(this.nsInode)) this.group.add(pid);
    this.method = this.group ? 'a cgroup of the servers and every process they start' : "the servers' processes in /proc (processes reaped unaccounted are missed)";
    this.cpu0 = this.cpuNow();
    this.machine0 = machineCpu();
    this.t0 = performance.now();
    this.sample();
    this.timer = setInterval(() => this.sample(), this.periodMs);
  }

  /** CPU seconds of the namespace's processes, the machine's busy CPU seconds, and the wall time since start(). */
  stop(): { serverCpu: number; machineCpu: number; wall: number } {
    clearInterval(this.timer);
    this.sample();
    return { serverCpu: this.cpuNow() - this.cpu0, machineCpu: machineCpu() - this.machine0, wall: (performance.now() - this.t0) / 1000 };
  }

  /** After the servers stopped: remove the cgroup. */
  close(): void {
    this.group?.close();
    this.group = undefined;
  }
}

/** TCP throughput of the veth between the namespaces (iperf3, `seconds` long), bytes/s. */
export async function vethThroughput(lab: NetLab, srv: string, cli: string, o: { server: string; client: string; seconds: number }): Promise<number> {
  const port = String(5201 + Math.floor(Math.random() * 1000));
  const server = lab.spawn(srv, 'iperf3', ['-s', '-1', '-B', o.server, '-p', port], { stdio: ['ignore', 'ignore', 'ignore'] });
  try {
    for (let i = 0; i < 50; i++) {
      const ss = lab.execSync(srv, 'ss', ['-ltn'], { check: false });
      if (ss.stdout.includes(`${o.server}:${port}`)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const r = await lab.exec(cli, 'iperf3', ['-c', o.server, '-B', o.client, '-p', port, '-t', String(o.seconds), '-J'], { timeoutMs: (o.seconds + 20) * 1000 });
    if (r.code !== 0) throw new Error(`iperf3: ${r.stderr || r.stdout.slice(0, 300)}`);
    const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
    return j.end.sum_received.bits_per_second / 8;
  } finally {
    if (server.exitCode === null) server.kill('SIGKILL');
  }
}
