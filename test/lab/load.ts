// The web clients in the outside namespace: wrk for the WebBench-style load
// (requests/s, bytes/s) and the probe for what each answer was and which
// blade gave it.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from './rackboot.js';
import type { ProbeRecord } from './probe.js';
import type { DhcpProbeRecord } from './dhcp-probe.js';
import { run } from '../helpers/netns.js';

export interface ProbeSummary {
  requests: number;
  ok: number;
  failed: number;
  byBlade: Record<string, number>;
  /** Distinct bodies among the successful answers (1 = every answer was the same page). */
  bodies: Record<string, number>;
  errors: Record<string, number>;
  seconds: number;
  /** Latency of the successful answers, ms. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Summary of the records whose request started in [from, to) (epoch ms). */
export function summarize(records: ProbeRecord[], from = 0, to = Infinity): ProbeSummary {
  const sel = records.filter((r) => r.at >= from && r.at < to);
  const s: ProbeSummary = { requests: sel.length, ok: 0, failed: 0, byBlade: {}, bodies: {}, errors: {}, seconds: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 };
  const lat = sel.filter((r) => r.ok).map((r) => r.ms).sort((a, b) => a - b);
  if (lat.length) {
    s.p50Ms = lat[Math.floor(lat.length * 0.5)]!;
    s.p99Ms = lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))]!;
    s.maxMs = lat[lat.length - 1]!;
  }
  for (const r of sel) {
    if (r.ok) {
      s.ok++;
      s.byBlade[r.blade ?? '?'] = (s.byBlade[r.blade ?? '?'] ?? 0) + 1;
      s.bodies[r.sha] = (s.bodies[r.sha] ?? 0) + 1;
    } else {
      s.failed++;
      const e = r.error ?? `HTTP ${r.status}`;
      s.errors[e] = (s.errors[e] ?? 0) + 1;
    }
  }
  if (sel.length) s.seconds = (sel[sel.length - 1]!.t - sel[0]!.t) / 1000;
  return s;
}

export interface ProbeRun {
  records: ProbeRecord[];
  done: Promise<ProbeRecord[]>;
  stop(): void;
}

/** Starts the probe in the outside namespace; records stream in as answers come. */
export function startProbe(outsideNs: string, url: string, o: { seconds: number; concurrency?: number; pauseMs?: number; timeoutMs?: number; onRecord?: (r: ProbeRecord) => void }): ProbeRun {
  const script = join(REPO, 'dist', 'test', 'lab', 'probe.js');
  const child = spawn('ip', ['netns', 'exec', outsideNs, process.execPath, script, url, String(o.seconds), String(o.concurrency ?? 4), String(o.pauseMs ?? 0), String(o.timeoutMs ?? 5000)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const records: ProbeRecord[] = [];
  let tail = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    const lines = (tail + d.toString()).split('\n');
    tail = lines.pop() ?? '';
    for (const l of lines) {
      if (!l.trim()) continue;
      const r = JSON.parse(l) as ProbeRecord;
      records.push(r);
      o.onRecord?.(r);
    }
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<ProbeRecord[]>((resolve, reject) => {
    const guard = setTimeout(() => child.kill('SIGKILL'), (o.seconds + 30) * 1000);
    child.on('close', (code) => {
      clearTimeout(guard);
      if (code !== 0 && code !== null) reject(new Error(`probe exited ${code}: ${stderr.trim()}`));
      else resolve(records);
    });
  });
  return { records, done, stop: () => child.kill('SIGTERM') };
}

export interface WrkResult {
  requests: number;
  seconds: number;
  requestsPerSec: number;
  bytesPerSec: number;
  latencyAvgMs: number;
  latencyP99Ms: number | null;
  errors: { connect: number; read: number; write: number; timeout: number; non2xx: number };
  raw: string;
}

function parseUnit(v: string, unit: string | undefined, table: Record<string, number>): number {
  return Number(v) * (table[unit ?? ''] ?? 1);
}

const BYTES: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 };
const MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** Parses wrk's report (wrk 4.x text output). */
export function parseWrk(out: string): WrkResult {
  const num = (re: RegExp) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : 0;
  };
  const reqs = /(\d+) requests in ([\d.]+)(us|ms|s|m),/.exec(out);
  if (!reqs) throw new Error(`cannot read wrk's output:\n${out}`);
  const transfer = /Transfer\/sec:\s+([\d.]+)(B|KB|MB|GB)/.exec(out);
  const lat = /Latency\s+([\d.]+)(us|ms|s|m)/.exec(out);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s|m)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requests: Number(reqs[1]),
    seconds: parseUnit(reqs[2]!, reqs[3], MS) / 1000,
    requestsPerSec: num(/Requests\/sec:\s+([\d.]+)/),
    bytesPerSec: transfer ? parseUnit(transfer[1]!, transfer[2], BYTES) : 0,
    latencyAvgMs: lat ? parseUnit(lat[1]!, lat[2], MS) : 0,
    latencyP99Ms: p99 ? parseUnit(p99[1]!, p99[2], MS) : null,
    errors: {
      connect: sock ? Number(sock[1]) : 0,
      read: sock ? Number(sock[2]) : 0,
      write: sock ? Number(sock[3]) : 0,
      timeout: sock ? Number(sock[4]) : 0,
      non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
    },
    raw: out,
  };
}

/** wrk from the outside namespace through the VIP. */
export async function runWrk(outsideNs: string, url: string, o: { seconds: number; threads?: number; connections?: number }): Promise<WrkResult> {
  const r = await run('ip', ['netns', 'exec', outsideNs, 'wrk', `-t${o.threads ?? 2}`, `-c${o.connections ?? 16}`, `-d${o.seconds}s`, '--timeout', '2s', '--latency', url], {
    timeoutMs: (o.seconds + 30) * 1000,
  });
  if (r.code !== 0) throw new Error(`wrk failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return parseWrk(r.stdout);
}

/** The DHCP clients of dhcp-probe.ts in a namespace; ACKs stream in as they come. */
export function startDhcpProbe(ns: string, o: { seconds: number; clients: number; everyMs: number; macPrefix: string }): { records: DhcpProbeRecord[]; done: Promise<DhcpProbeRecord[]>; stop(): void } {
  const script = join(REPO, 'dist', 'test', 'lab', 'dhcp-probe.js');
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, script, String(o.seconds), String(o.clients), String(o.everyMs), o.macPrefix], { stdio: ['ignore', 'pipe', 'pipe'] });
  const records: DhcpProbeRecord[] = [];
  let tail = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    const lines = (tail + d.toString()).split('\n');
    tail = lines.pop() ?? '';
    for (const l of lines) if (l.trim()) records.push(JSON.parse(l) as DhcpProbeRecord);
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<DhcpProbeRecord[]>((resolve, reject) => {
    const guard = setTimeout(() => child.kill('SIGKILL'), (o.seconds + 30) * 1000);
    child.on('close', (code) => {
      clearTimeout(guard);
      if (code !== 0 && code !== null) reject(new Error(`dhcp-probe exited ${code}: ${stderr.trim()}`));
      else resolve(records);
    });
  });
  return { records, done, stop: () => child.kill('SIGTERM') };
}

/** Seconds from `at` (a primary's death) until the first ACK after it; undefined when none came. */
export function dhcpGap(records: readonly DhcpProbeRecord[], at: number): number | undefined {
  const first = records.filter((r) => r.type === 'ack' && r.at > at).sort((a, b) => a.at - b.at)[0];
  return first ? (first.at - at) / 1000 : undefined;
}

/** Addresses acknowledged to two MACs at once (each MAC keeps its address; a second holder is a double lease). */
export function doubleLeases(records: readonly DhcpProbeRecord[]): Array<{ ip: string; macs: string[] }> {
  const holders = new Map<string, Set<string>>();
  for (const r of records) if (r.type === 'ack') holders.set(r.ip, (holders.get(r.ip) ?? new Set()).add(r.mac));
  return [...holders].filter(([, m]) => m.size > 1).map(([ip, m]) => ({ ip, macs: [...m] }));
}
