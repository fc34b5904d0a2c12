// bench/storm: who boots (kinds, MACs, UUIDs, addresses), the input file of
// the C client (bench/storm/client.c), and what its report says.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';

export type Kind = 'bios' | 'uefi' | 'http';
export const KINDS: readonly Kind[] = ['bios', 'uefi', 'http'];

export interface StormClient {
  i: number;
  kind: Kind;
  mac: string;
  uuid: string;
  /** The address the servers reserve for it (rackboot's node, dnsmasq's dhcp-host, Kea's reservation). */
  ipv4: string;
  node: string;
}

/** The network every server serves; clients are 10.10.1.1 up. */
export const NET = { cidr: '10.10.0.0/16', server: '10.10.0.1', mask: '255.255.0.0', prefix: 16, iperfClient: '10.10.0.2' };

export function clientAddress(i: number): string {
  return `10.10.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
}

/**
 * N clients in the mix (percent of BIOS, UEFI, HTTP), interleaved so that
 * each kind starts spread over the second like the others (client i's kind
 * by largest remainder).
 */
export function makeClients(n: number, mix: Record<Kind, number>): StormClient[] {
  const total = KINDS.reduce((a, k) => a + mix[k], 0);
  const want = Object.fromEntries(KINDS.map((k) => [k, (mix[k] / total) * n])) as Record<Kind, number>;
  const have: Record<Kind, number> = { bios: 0, uefi: 0, http: 0 };
  const out: StormClient[] = [];
  for (let i = 0; i < n; i++) {
    // The kind furthest behind its share of the first i+1 clients.
    let best: Kind = 'bios';
    let gap = -Infinity;
    for (const k of KINDS) {
      const g = (want[k] * (i + 1)) / n - have[k];
      if (want[k] > 0 && g > gap) [best, gap] = [k, g];
    }
    have[best]++;
    const mac = `52:54:${(0x10 + Math.floor(i / 65536)).toString(16)}:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}:01`;
    out.push({ i, kind: best, mac, uuid: randomBytes(16).toString('hex'), ipv4: clientAddress(i), node: `blade${i + 1}` });
  }
  return out;
}

export function writeClientInput(file: string, clients: readonly StormClient[], o: { iface: string; spreadMs: number; seed: number; maxSeconds: number }): void {
  const lines = [`iface ${o.iface}`, `spread-ms ${o.spreadMs}`, `seed ${o.seed}`, `max-seconds ${o.maxSeconds}`];
  for (const c of clients) lines.push(`client ${c.kind} ${c.mac} ${c.uuid}`);
  writeFileSync(file, lines.join('\n') + '\n');
}

export interface ClientResult {
  i: number;
  kind: Kind;
  mac: string;
  ip: string;
  ok: boolean;
  /** Seconds since the client process started: powered on, leased, last byte (or gave up). */
  on: number;
  dhcp: number;
  end: number;
  bytes: number;
  dhcpRetx: number;
  tftpRetx: number;
  tftpDup: number;
  httpRetries: number;
  fail: string | null;
  files: Array<{ name: string; ms: number; bytes: number }>;
}

export interface ClientSummary {
  clients: number;
  wall: number;
  cpuUser: number;
  cpuSys: number;
  maxRssKb: number;
  truncated: number;
  stray: number;
  netlinkErrors: number;
}

export function parseReport(text: string): { results: ClientResult[]; summary: ClientSummary } {
  const results: ClientResult[] = [];
  let summary: ClientSummary | undefined;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const o = JSON.parse(line) as ClientResult | { summary: ClientSummary };
    if ('summary' in o) summary = o.summary;
    else results.push(o);
  }
  if (!summary) throw new Error('the storm client printed no summary (did it crash?)');
  return { results, summary };
}

export function percentile(xs: readonly number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export interface StormFigures {
  n: number;
  ok: number;
  failed: number;
  /** The most common reasons, with counts. */
  failures: Array<[string, number]>;
  /** First power-on to the last client's last byte (all booted), seconds; NaN when some failed. */
  allBooted: number;
  /** First power-on to the last byte of the last client that booted. */
  lastBooted: number;
  p50: number;
  p99: number;
  /** Median per kind, seconds. */
  byKind: Partial<Record<Kind, { n: number; p50: number; p99: number }>>;
  dhcpP50: number;
  retransmissions: { dhcp: number; tftp: number; tftpDup: number; http: number };
  bytes: number;
}

export function figures(results: readonly ClientResult[]): StormFigures {
  const ok = results.filter((r) => r.ok);
  const first = Math.min(...results.map((r) => r.on));
  const last = ok.length ? Math.max(...ok.map((r) => r.end)) : NaN;
  const dur = (r: ClientResult) => r.end - r.on;
  const reasons = new Map<string, number>();
  for (const r of results) if (!r.ok) {
    // The reason without MACs, node names and numbers: failures of one kind group together. The file's
    // name stays (which step failed), and a client that never got DATA 1 (block 0: its request went
    // unanswered) is told apart from one that stopped mid-file.
    const key = (r.fail ?? 'unknown')
      .replace(/([0-9a-f]{2}[-:]){5,}[0-9a-f]{2}/gi, 'MAC')
      .replace(/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}/gi, 'UUID')
      .replace(/\(block 0\)/, '(no DATA 1 yet)')
      .replace(/\bblade\d+\//g, 'NODE/')
      .replace(/(block|after) \d+/g, '$1 N');
    reasons.set(key, (reasons.get(key) ?? 0) + 1);
  }
  const byKind: StormFigures['byKind'] = {};
  for (const k of KINDS) {
    const d = ok.filter((r) => r.kind === k).map(dur);
    if (d.length) byKind[k] = { n: d.length, p50: percentile(d, 50), p99: percentile(d, 99) };
  }
  const sum = (f: (r: ClientResult) => number) => results.reduce((a, r) => a + f(r), 0);
  return {
    n: results.length,
    ok: ok.length,
    failed: results.length - ok.length,
    failures: [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 6),
    allBooted: ok.length === results.length ? last - first : NaN,
    lastBooted: last - first,
    p50: percentile(ok.map(dur), 50),
    p99: percentile(ok.map(dur), 99),
    byKind,
    dhcpP50: percentile(results.filter((r) => r.dhcp > 0).map((r) => r.dhcp - r.on), 50),
    retransmissions: { dhcp: sum((r) => r.dhcpRetx), tftp: sum((r) => r.tftpRetx), tftpDup: sum((r) => r.tftpDup), http: sum((r) => r.httpRetries) },
    bytes: sum((r) => r.bytes),
  };
}
