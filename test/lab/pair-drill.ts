// `npm run lab -- --pair --drill-server`: the pair's failure drill (issue
// 20). Under web load through the VIP and DHCP clients on the blade
// network, disk-a (the master) dies outright: its links down and every
// process in its namespace SIGKILLed, a pulled plug. Recorded: when the VIP
// answers again and which requests failed (by kind) before and after;
// whether downloads established before the kill completed (conntrackd);
// when each blade's NFS content answers again (the web-blade image mounts
// the floating address again); a blade powered on during the outage boots
// from disk-b; every acknowledged lease is in disk-b's database and no
// address went to two clients; disk-a returns as a standby and
// `rackboot pair switchover` moves the service back, with the failed
// requests counted.
import { run } from '../helpers/netns.js';
import { dhcpGap, doubleLeases, runWrk, startDhcpProbe, startProbe, summarize, type ProbeSummary, type WrkResult } from './load.js';
import type { ProbeRecord } from './probe.js';
import type { DhcpProbeRecord } from './dhcp-probe.js';
import { until } from '../helpers/wait.js';
import { BIG_FILE, PairLab, VIP_URL, type PairLabOptions } from './pair-lab.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Downloads through the VIP established before the kill; each takes about DOWNLOAD_S at its capped rate. */
const DOWNLOADS = 3;
const DOWNLOAD_S = 30;
const DHCP_CLIENTS = 20;

export interface Failures {
  requests: number;
  failed: number;
  /** reset, timeout, refused, http NNN, or the error's code. */
  byKind: Record<string, number>;
  /** The failed requests' starts, ms after `from` (the first 100), and the blade that answered, if one did. */
  starts: Array<{ ms: number; kind: string; blade: string | null }>;
}

export interface PairBoot {
  name: string;
  upAfter: number;
  poolAfter: number;
}

export interface PairDrillResult {
  id: string;
  blades: number;
  boots: PairBoot[];
  load?: { wrk: WrkResult; spread: ProbeSummary };
  takeover?: {
    /** disk-b's keepalived master, seconds after the plug was pulled. */
    masterAfterS: number;
    /** The first answer through the VIP after the kill (its end), seconds after it. */
    vipBackS: number | undefined;
    dhcpBackS: number | undefined;
    before: Failures;
    /** Requests started from the kill until the VIP answered again. */
    window: Failures;
    /** Requests started after that, until the probe stopped. */
    after: Failures;
    /** Per blade: its content mounted again (its report), and its first answer through the VIP after the kill. */
    nfs: Array<{ blade: string; remountedAfterS: number | undefined; servesAgainAfterS: number | undefined }>;
    connections: { established: number; survived: number; errors: string[] };
  };
  outageBoot?: PairBoot & { dhcpFrom: string[]; content: unknown };
  leases?: { acked: number; kept: number; lost: Array<{ mac: string; ip: string; now: string | undefined }>; doubles: Array<{ ip: string; macs: string[] }> };
  rejoin?: { standbyAfterS: number; role: string; receiver: string | undefined; how: string };
  switchover?: { from: string; to: string; totalMs: number; withoutMasterMs: number; web: Failures; longestDhcpGapMs: number; remounts: number; remountS?: number[] };
  seconds: number;
}

/** A failed request's kind: reset, timeout, refused, an HTTP status, or the error's code. */
export function failureKind(r: Pick<ProbeRecord, 'ok' | 'error' | 'status'>): string {
  const e = r.error ?? '';
  if (/ECONNRESET|EPIPE|socket hang up/.test(e)) return 'reset';
  if (/^timeout|ETIMEDOUT/.test(e)) return 'timeout';
  if (/ECONNREFUSED/.test(e)) return 'refused';
  return e || `http ${r.status}`;
}

/** Requests started in [from, to); failures timed from `origin` (default: from). */
export function failures(records: readonly ProbeRecord[], from = 0, to = Infinity, origin = from): Failures {
  const sel = records.filter((r) => r.at >= from && r.at < to);
  const byKind: Record<string, number> = {};
  const bad = sel.filter((r) => !r.ok);
  for (const r of bad) byKind[failureKind(r)] = (byKind[failureKind(r)] ?? 0) + 1;
  const starts = bad.slice(0, 100).map((r) => ({ ms: r.at - origin, kind: failureKind(r), blade: r.blade }));
  return { requests: sel.length, failed: bad.length, byKind, starts };
}

/** The longest stretch without a DHCP ACK among `acks`, ms. */
function longestGap(acks: readonly DhcpProbeRecord[]): number {
  const at = acks.filter((x) => x.type === 'ack').map((x) => x.at).sort((x, y) => x - y);
  return at.reduce((m, x, i) => (i ? Math.max(m, x - at[i - 1]!) : m), 0);
}

/** Web and DHCP clients running at once; stop() ends both and gives their records. */
function clients(lab: PairLab, tag: string) {
  const web = startProbe(lab.p.ns.client, VIP_URL, { seconds: 600, concurrency: 2, pauseMs: 20, timeoutMs: 10_000 });
  const dhcp = startDhcpProbe(lab.p.ns.dev, { seconds: 600, clients: DHCP_CLIENTS, everyMs: 1000, macPrefix: `02:00:00:${tag}` });
  return {
    web,
    dhcp,
    answered: (n: number, since = 0) => web.records.filter((x) => x.ok && x.at > since).length >= n && dhcp.records.filter((x) => x.type === 'ack' && x.at > since).length >= n,
    stop: async () => {
      web.stop();
      dhcp.stop();
      return { records: await web.done, acks: await dhcp.done };
    },
  };
}

export class PairDrill {
  readonly r: PairDrillResult;
  private readonly t0 = Date.now();
  private acked = new Map<string, string>();

  constructor(readonly lab: PairLab) {
    this.r = { id: lab.id, blades: lab.blades.length, boots: [], seconds: 0 };
  }

  private log(l: string): void {
    this.lab.opts.log(`drill: ${l}`);
  }

  async bootAll(): Promise<void> {
    this.r.boots = (await Promise.all(this.lab.blades.map((b) => this.lab.boot(b.name, 'a')))).map(({ name, upAfter, poolAfter }) => ({ name, upAfter, poolAfter }));
  }

  async load(seconds: number): Promise<void> {
    this.lab.opts.log(`load: ${seconds} s of wrk through ${VIP_URL}`);
    const p = startProbe(this.lab.p.ns.client, VIP_URL, { seconds, concurrency: 2 });
    const wrk = await runWrk(this.lab.p.ns.client, VIP_URL, { seconds, threads: 2, connections: 16 });
    this.r.load = { wrk, spread: summarize(await p.done) };
  }

  /** Downloads through the VIP at a capped rate; each resolves with curl's outcome. */
  private downloads(): Array<Promise<{ ok: boolean; error: string }>> {
    const rate = Math.floor(BIG_FILE.bytes / DOWNLOAD_S);
    return Array.from({ length: DOWNLOADS }, () =>
      run('ip', ['netns', 'exec', this.lab.p.ns.client, 'curl', '-sS', '-o', '/dev/null', '-w', '%{size_download}', '--limit-rate', String(rate), '--speed-limit', '1', '--speed-time', '10', `${VIP_URL}${BIG_FILE.name}`], { timeoutMs: (DOWNLOAD_S + 90) * 1000 }).then((d) => ({
        ok: d.code === 0 && Number(d.stdout) === BIG_FILE.bytes,
        error: d.code === 0 ? `${d.stdout} bytes` : d.stderr.trim() || `exit ${d.code}`,
      })),
    );
  }

  /** The pulled plug under load, and what disk-b does about it. */
  async takeover(): Promise<void> {
    const { lab } = this;
    const c = clients(lab, '03');
    let killAt = 0;
    let pullAt = 0;
    let dl: Array<Promise<{ ok: boolean; error: string }>> = [];
    let masterAfterS = NaN;
    let out: Awaited<ReturnType<typeof c.stop>>;
    try {
      this.log(`probing ${VIP_URL} from outside (2 connections), ${DHCP_CLIENTS} DHCP clients on the blade network`);
      await until('the VIP and DHCP answer before the kill', async () => (c.answered(DHCP_CLIENTS) ? true : undefined), 90_000);
      this.log(`${DOWNLOADS} downloads of ${BIG_FILE.name} through the VIP (about ${DOWNLOAD_S} s each), then disk-a's plug is pulled`);
      dl = this.downloads();
      await sleep(3000);
      // A request started while the links go down still counts in the window (its SYN is retransmitted to disk-b).
      pullAt = Date.now();
      killAt = await lab.p.kill('a');
      this.log('disk-a: links down, every process in its namespace SIGKILLed');
      const b = await until('disk-b master with a primary database', async () => {
        const s = await lab.status('b');
        return s.role === 'master' && s.database.state === 'primary' ? s : undefined;
      }, 60_000, 50);
      masterAfterS = (Date.parse(b.since) - killAt) / 1000;
      this.log(`disk-b is master ${masterAfterS.toFixed(2)} s after the kill, its database promoted; waiting for every blade to answer through the VIP`);
      const names = lab.blades.map((x) => x.name);
      await until('every blade answers again through the VIP', async () => (names.every((n) => c.web.records.some((x) => x.ok && x.at > killAt && x.blade === n)) ? true : undefined), 120_000, 250).catch((e: Error) => this.log(e.message));
      await until('40 answers and ACKs after the kill', async () => (c.answered(40, killAt) ? true : undefined), 90_000);
    } finally {
      out = await c.stop();
    }
    const { records, acks } = out;
    const ends = await Promise.all(dl);
    this.log(`downloads: ${ends.map((d) => (d.ok ? 'completed' : d.error)).join('; ')}`);
    const firstOk = records.filter((x) => x.ok && x.at > killAt).sort((x, y) => x.at + x.ms - (y.at + y.ms))[0];
    const backAt = firstOk ? firstOk.at + firstOk.ms : Infinity;
    const evB = await Promise.all(lab.blades.map((x) => lab.events('b', x.name)));
    const nfs = lab.blades.map((x, i) => {
      const re = evB[i]!.find((e) => e.kind === 'content-remounted' && e.ts >= killAt);
      const ans = records.filter((y) => y.ok && y.at > killAt && y.blade === x.name).sort((p, q) => p.at - q.at)[0];
      return { blade: x.name, remountedAfterS: re ? (re.ts - killAt) / 1000 : undefined, servesAgainAfterS: ans ? (ans.at + ans.ms - killAt) / 1000 : undefined };
    });
    // A request in flight when the plug is pulled (started before, answered after) is the takeover's, not the set-up's.
    const inFlight = (r: ProbeRecord) => r.at < pullAt && r.at + r.ms >= pullAt;
    const settled = records.map((r) => (inFlight(r) ? { ...r, at: pullAt } : r));
    const t = {
      masterAfterS,
      vipBackS: firstOk ? (backAt - killAt) / 1000 : undefined,
      dhcpBackS: dhcpGap(acks, killAt),
      before: failures(settled, 0, pullAt, pullAt),
      window: failures(settled, pullAt, backAt),
      after: failures(records, backAt),
      nfs,
      connections: { established: ends.length, survived: ends.filter((d) => d.ok).length, errors: ends.filter((d) => !d.ok).map((d) => d.error) },
    };
    this.r.takeover = t;
    this.log(`the VIP answered again ${t.vipBackS?.toFixed(2) ?? '-'} s after the kill, DHCP ${t.dhcpBackS?.toFixed(2) ?? '-'} s; failed: ${t.window.failed} in the window, ${t.after.failed} after`);
    for (const a of acks) if (a.type === 'ack') this.acked.set(a.mac, a.ip);
    const doubles = doubleLeases(acks);
    const leases = await lab.nodes.b.api.call<Array<{ ipv4: string; mac: string; state: string }>>('GET', '/leases?network=inside');
    const held = new Map(leases.filter((l) => l.state === 'bound').map((l) => [l.mac, l.ipv4]));
    const lost = [...this.acked].filter(([mac, ip]) => held.get(mac) !== ip).map(([mac, ip]) => ({ mac, ip, now: held.get(mac) }));
    // The blades' own leases (both NICs) are acknowledged leases too.
    for (const b of lab.blades) for (const [i, mac] of b.macs.entries()) if (i === 0 && held.get(mac) !== b.ipv4[0]) lost.push({ mac, ip: b.ipv4[0], now: held.get(mac) });
    this.r.leases = { acked: this.acked.size + lab.blades.length, kept: this.acked.size + lab.blades.length - lost.length, lost, doubles };
    this.log(`leases: ${this.r.leases.kept}/${this.r.leases.acked} acknowledged leases in disk-b's database, ${doubles.length} address(es) given twice`);
  }

  /** The last blade's plug pulled and powered on again while disk-a is dead: it must boot from disk-b. */
  async outageBoot(): Promise<void> {
    const { lab } = this;
    const vm = lab.vms[lab.vms.length - 1]!;
    this.log(`${vm.name}: plug pulled, powered on again while disk-a is down`);
    await vm.kill();
    const b = await lab.boot(vm.name, 'b');
    const dhcpFrom = [...new Set(b.events.filter((e) => e.kind === 'dhcp.ack' && e.ts >= vm.poweredOnAt).map((e) => String((e as { server?: string }).server ?? '?')))];
    const ready = b.events.find((e) => e.kind === 'ready' && e.ts >= vm.poweredOnAt);
    this.r.outageBoot = { name: b.name, upAfter: b.upAfter, poolAfter: b.poolAfter, dhcpFrom, content: ready?.detail.content };
    this.log(`${vm.name} booted from disk-b: up after ${b.upAfter.toFixed(1)} s, in the pool after ${b.poolAfter.toFixed(1)} s`);
  }

  /** disk-a's plug back in: rackboot started again, it must follow disk-b as a standby. */
  async rejoin(): Promise<void> {
    const { lab } = this;
    this.log('disk-a returns: links up, rackboot started again');
    const at = Date.now();
    lab.p.revive('a');
    await lab.nodes.a.start(180_000);
    const a = await until('disk-a streams from disk-b', async () => {
      const s = await lab.status('a');
      return s.database.receiver?.status === 'streaming' ? s : undefined;
    }, 120_000, 250);
    await until('disk-b waits for disk-a', async () => ((await lab.status('b')).database.synchronous === 'disk-a' ? true : undefined), 30_000);
    const text = lab.nodes.a.logText();
    const how = /rewound to the peer's timeline/.test(text) ? 'pg_rewind' : /taking a fresh copy/.test(text) ? 'fresh base backup' : 'unknown';
    this.r.rejoin = { standbyAfterS: (Date.now() - at) / 1000, role: a.role, receiver: a.database.receiver?.status, how };
    this.log(`disk-a is ${a.role}, its database streams from disk-b (${how}), ${this.r.rejoin.standbyAfterS.toFixed(1)} s after its start`);
  }

  /** `rackboot pair switchover` on disk-a (the backup): the service moves back under the same load. */
  async switchover(): Promise<void> {
    const { lab } = this;
    const c = clients(lab, '03');
    let r: { from: string; to: string; totalMs: number; withoutMasterMs: number } | undefined;
    let at = 0;
    let out: Awaited<ReturnType<typeof c.stop>>;
    try {
      await until('the VIP and DHCP answer before the switchover', async () => (c.answered(DHCP_CLIENTS) ? true : undefined), 90_000);
      this.log('rackboot pair switchover (asked on disk-a, the backup)');
      at = Date.now();
      r = JSON.parse(await lab.cli('a', ['pair', 'switchover', '--json'])) as typeof r;
      await until('disk-b streams from disk-a', async () => ((await lab.status('b')).database.receiver?.status === 'streaming' ? true : undefined), 90_000);
      const done = Date.now();
      await until('every blade and DHCP answer after the switchover', async () => (c.answered(20, done) && lab.blades.every((b) => c.web.records.some((x) => x.ok && x.at > done && x.blade === b.name)) ? true : undefined), 90_000);
    } finally {
      out = await c.stop();
    }
    const { records, acks } = out;
    const evA = await Promise.all(lab.blades.map((x) => lab.events('a', x.name)));
    // Per remount: seconds from the blade's content-lost report to its content-remounted one.
    const remountS = evA.flatMap((ev) => {
      const lost = ev.filter((e) => e.kind === 'content-lost' && e.ts >= at);
      return ev.filter((e) => e.kind === 'content-remounted' && e.ts >= at).map((e) => (e.ts - (lost.filter((l) => l.ts <= e.ts).pop()?.ts ?? e.ts)) / 1000);
    });
    const remounts = remountS.length;
    this.r.switchover = { from: r!.from, to: r!.to, totalMs: r!.totalMs, withoutMasterMs: r!.withoutMasterMs, web: failures(records, 0, Infinity, at), longestDhcpGapMs: longestGap(acks), remounts, remountS };
    this.log(`switchover ${r!.from} -> ${r!.to} in ${r!.totalMs} ms (${r!.withoutMasterMs} ms without a master): ${this.r.switchover.web.failed}/${this.r.switchover.web.requests} requests failed`);
  }

  finish(): PairDrillResult {
    this.r.seconds = (Date.now() - this.t0) / 1000;
    return this.r;
  }
}

/** The whole `npm run lab -- --pair [--drill-server]`: the pair, the blades, load, and with `drill` the server drill. */
export async function runPairDrill(opts: PairLabOptions & { loadSeconds: number; drill: boolean }, onResult?: (r: PairDrillResult) => void): Promise<PairDrillResult> {
  const lab = await PairLab.start(opts);
  try {
    const d = new PairDrill(lab);
    await d.bootAll();
    if (opts.loadSeconds > 0) await d.load(opts.loadSeconds);
    if (opts.drill) {
      await d.takeover();
      await d.outageBoot();
      await d.rejoin();
      await d.switchover();
    }
    lab.succeeded();
    const r = d.finish();
    onResult?.(r);
    return r;
  } finally {
    await lab.close();
  }
}

