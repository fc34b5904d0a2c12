// A blade's boot timeline: the events rackboot recorded for the node
// (GET /api/v1/nodes/{name}/events) merged with what the blade's own console
// said, on one clock (milliseconds since power-on), each step with its
// duration. Pure: events in, rows out.
import type { SerialEvent, SerialMilestone } from './serial.js';

export interface EventView {
  id: number;
  node: string | null;
  mac: string | null;
  ts: number;
  time?: string;
  kind: string;
  detail: Record<string, unknown>;
}

/**
 * Files rackboot's TFTP sent whole. PXELINUX's ACK of the last block of a
 * file sometimes never reaches the server (the blade has already jumped to
 * the kernel); rackboot then records tftp.failed "timeout" with every block
 * sent, although the blade has the file. Counted as sent here; a real
 * failure leaves blocks unsent (and the blade does not boot).
 */
export function tftpSent(events: ReadonlyArray<Pick<EventView, 'kind' | 'detail'>>): string[] {
  return events
    .filter((e) => e.kind === 'tftp.transfer' || (e.kind === 'tftp.failed' && e.detail.outcome === 'timeout' && Number(e.detail.bytes) + Number(e.detail.blksize) >= Number(e.detail.size)))
    .map((e) => String(e.detail.file).replace(/^\/+/, ''));
}

export type Phase = 'power' | 'dhcp' | 'loader' | 'config' | 'kernel' | 'initrd' | 'linux' | 'nfs' | 'web' | 'ready' | 'pool' | 'out' | 'other';

export interface TimelineRow {
  /** ms since power-on when the step ended (a transfer: its last ACK). */
  at: number;
  /** How long the step itself took, when known (a transfer's duration), ms. */
  took?: number;
  phase: Phase;
  what: string;
  source: 'rackboot' | 'console';
}

const LOADER_FILES = /(^|\/)(pxelinux\.0|lpxelinux\.0|ldlinux\.c32|ldlinux\.e64|syslinux\.efi|undionly\.kpxe|ipxe\.efi|snponly\.efi|grubx64\.efi|core\.0|bpbatch\.P)$/;
const CONFIG_FILES = /pxelinux\.cfg\/|^\/?boot\/ipxe\/|grub\.cfg|\.ipxe$|\.bpb$/;

function fileOf(e: EventView): string | undefined {
  const d = e.detail;
  for (const k of ['file', 'path', 'url']) if (typeof d[k] === 'string') return d[k] as string;
  return undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function size(bytes: number | undefined): string {
  if (bytes === undefined) return '';
  if (bytes >= 1024 * 1024) return ` ${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  if (bytes >= 1024) return ` ${(bytes / 1024).toFixed(1)} KiB`;
  return ` ${bytes} B`;
}

/** What one rackboot event means on the boot timeline; undefined for events that are noise there. */
export function describeEvent(e: EventView, macNames: Map<string, string> = new Map()): Omit<TimelineRow, 'at' | 'source'> | undefined {
  const k = e.kind;
  const d = e.detail;
  const iface = e.mac ? (macNames.get(e.mac.toLowerCase()) ?? e.mac) : undefined;
  if (/^dhcp\./.test(k)) {
    // Only the exchanges that give an address count as steps; discovers/offers are noise here.
    if (!/ack|bound|lease/i.test(k)) return undefined;
    const ip = typeof d.ipv4 === 'string' ? d.ipv4 : typeof d.address === 'string' ? d.address : typeof d.yiaddr === 'string' ? d.yiaddr : '';
    const vc = typeof d.vendorClass === 'string' ? d.vendorClass : '';
    const who = askerLabel(d.client, vc, d.ipxe === true);
    return { phase: 'dhcp', what: `DHCP ${iface ?? ''} ${ip}${who}`.replace(/\s+/g, ' ').trim() };
  }
  if (/^(tftp|http)\.(transfer|served|file|boot|get)$/.test(k) || k === 'boot.file') {
    const file = fileOf(e) ?? '?';
    const proto = k.startsWith('http') || d.protocol === 'http' ? 'HTTP' : 'TFTP';
    const bytes = num(d.bytes) ?? num(d.size);
    const took = num(d.durationMs) ?? num(d.ms);
    const how = proto === 'TFTP' && num(d.blksize) ? `, blksize ${d.blksize}${num(d.windowsize) && (d.windowsize as number) > 1 ? ` window ${d.windowsize}` : ''}` : '';
    const fkind = typeof d.kind === 'string' ? d.kind : '';
    const phase: Phase = LOADER_FILES.test(file) || fkind === 'loader'
      ? 'loader'
      : CONFIG_FILES.test(file) || fkind === 'config' || fkind === 'script'
        ? 'config'
        : /kernel|vmlinuz/.test(file) || fkind === 'kernel'
          ? 'kernel'
          : /initrd|ramdisk|\.img$|\.cpio/.test(file) || fkind === 'initrd'
            ? 'initrd'
            : 'other';
    return { phase, what: `${proto} ${file}${size(bytes)}${how}`, took };
  }
  if (k === 'http.head') return undefined;
  if (k === 'ra.sent') return { phase: 'dhcp', what: `IPv6 router advertisement to ${iface ?? e.mac ?? '?'} (answering its router solicitation)` };
  if (k === 'tftp.probe') return { phase: 'loader', what: `TFTP size probe ${fileOf(e) ?? ''}`.trim() };
  if (/^(tftp|http)\.(failed|refused|not-found)/.test(k)) {
    return { phase: 'other', what: `${k} ${fileOf(e) ?? ''}${typeof d.reason === 'string' ? ` (${d.reason})` : ''}`.trim() };
  }
  if (/^render/.test(k)) return { phase: 'config', what: `rendered ${String(d.loader ?? d.template ?? '')}`.trim() };
  if (k === 'network') return { phase: 'linux', what: `blade: network up ${String(d.addresses ?? '')}`.trim() };
  if (k === 'waiting-content') return { phase: 'nfs', what: 'blade: waiting for the NFS content' };
  if (k === 'ready') return { phase: 'ready', what: `ready: ${String(d.web ?? 'web')} serving ${String(d.content ?? '')} content`.replace(/\s+/g, ' ') };
  if (/^director\./.test(k)) {
    const state = k.slice('director.'.length);
    if (/^(up|in|added|pool|healthy)/.test(state)) return { phase: 'pool', what: `in the pool of ${String(d.service ?? 'the VIP')}` };
    if (/^(down|out|removed|failed)/.test(state)) {
      const why = typeof d.check === 'string' && d.check ? d.check : typeof d.reason === 'string' ? d.reason : '';
      return { phase: 'out', what: `not in the pool of ${String(d.service ?? 'the VIP')}${why ? ` (check: ${why})` : ''}` };
    }
    return { phase: 'other', what: k };
  }
  if (k === 'power.requested') {
    return { phase: 'power', what: `power ${String(d.action)} requested${d.bootdev ? ` (next boot ${String(d.bootdev)})` : ''} from ${String(d.bmc ?? 'no BMC')}${d.via ? ` via ${String(d.via)}` : ''}` };
  }
  if (k === 'power.ok') return { phase: 'power', what: `BMC: power ${String(d.action)} done`, took: num(d.ms) };
  if (k === 'power.failed') return { phase: 'other', what: `BMC: power ${String(d.action)} FAILED: ${String(d.error ?? '')}` };
  if (k === 'web-exited') return { phase: 'other', what: `blade: web server exited (${String(d.code ?? '?')})` };
  return { phase: 'other', what: k };
}

/** Who asked, from the DHCP event's client (rackboot's classification), else its classes. */
function askerLabel(client: unknown, vc: string, ipxe: boolean): string {
  const byClient: Record<string, string> = { 'pxe-firmware': 'PXE firmware', 'http-firmware': 'UEFI HTTP boot', ipxe: 'iPXE', syslinux: 'syslinux.efi', grub: 'GRUB', os: /^udhcp/.test(vc) ? 'Linux udhcpc' : 'OS' };
  if (typeof client === 'string' && byClient[client]) return ` (${byClient[client]})`;
  return ipxe ? ' (NIC boot ROM)' : /^udhcp/.test(vc) ? ' (Linux udhcpc)' : /^PXEClient/.test(vc) ? ' (PXE)' : vc ? ` (${vc})` : '';
}

const CONSOLE_LABEL: Partial<Record<SerialMilestone, string>> = {
  firmware: 'console: firmware (SeaBIOS)',
  rom: 'console: network boot starts (iPXE ROM, or UEFI PXE / HTTP boot)',
  dhcp: 'console: network boot has its address (iPXE: and its IPv6 router wait is over)',
  loader: 'console: boot loader runs',
  kernel: 'console: kernel loaded',
  initrd: 'console: RAM disk loaded',
  linux: 'console: kernel starts',
  init: 'console: /init runs',
  panic: 'console: KERNEL PANIC',
};

const CONSOLE_PHASE: Record<SerialMilestone, Phase> = {
  firmware: 'power',
  rom: 'power',
  dhcp: 'dhcp',
  loader: 'loader',
  kernel: 'kernel',
  initrd: 'initrd',
  linux: 'linux',
  init: 'linux',
  panic: 'other',
};

/** Extra console lines worth a row (the blade's init says what it did). */
export const CONSOLE_NOTES: Array<[RegExp, Phase]> = [
  [/rackboot: mounted /, 'nfs'],
  [/rackboot: \S+ serving /, 'web'],
  [/rackboot: reported ready/, 'ready'],
  [/^rblab: (eth\d .*|up)$/, 'linux'],
  [/secureboot: Secure boot enabled/, 'linux'],
];

export function buildTimeline(o: {
  poweredOnAt: number;
  events: EventView[];
  serial: SerialEvent[];
  notes?: Array<{ t: number; line: string }>;
  macNames?: Map<string, string>;
  /** Ignore rackboot events before this time (an earlier boot of the same node). */
  since?: number;
}): TimelineRow[] {
  const rows: TimelineRow[] = [];
  const since = o.since ?? o.poweredOnAt;
  for (const e of o.events) {
    if (e.ts < since - 1000) continue;
    const d = describeEvent(e, o.macNames);
    if (!d) continue;
    // The pool's state before the power-on (a new node's first failed check) is not a step of this boot.
    if (e.ts < since && d.phase === 'out') continue;
    rows.push({ ...d, at: e.ts - o.poweredOnAt, source: 'rackboot' });
  }
  for (const s of o.serial) rows.push({ at: s.t * 1000, phase: CONSOLE_PHASE[s.milestone], what: CONSOLE_LABEL[s.milestone] ?? s.milestone, source: 'console' });
  for (const n of o.notes ?? []) {
    const hit = CONSOLE_NOTES.find(([re]) => re.test(n.line));
    if (hit) rows.push({ at: n.t * 1000, phase: hit[1], what: `console: ${n.line.trim()}`, source: 'console' });
  }
  rows.sort((a, b) => a.at - b.at);
  return foldMisses(rows);
}

/** PXELINUX asks for up to a dozen config names before the one that exists: one row for the misses. */
function foldMisses(rows: TimelineRow[]): TimelineRow[] {
  const out: TimelineRow[] = [];
  let run: string[] = [];
  let last: TimelineRow | undefined;
  const flush = () => {
    if (!run.length || !last) return;
    out.push({ ...last, phase: 'config', what: run.length === 1 ? `not found: ${run[0]}` : `not found: ${run.length} names (${run[0]} ... ${run[run.length - 1]})` });
    run = [];
  };
  for (const r of rows) {
    const m = /^(?:tftp|http)\.not-found (.*)$/.exec(r.what);
    if (m) {
      run.push(m[1]!);
      last = r;
      continue;
    }
    flush();
    out.push(r);
  }
  flush();
  return out;
}

/** When each phase was first reached (ms since power-on): the summary the tests and benchmarks use. */
export function phaseTimes(rows: TimelineRow[]): Partial<Record<Phase, number>> {
  const out: Partial<Record<Phase, number>> = {};
  for (const r of rows) if (out[r.phase] === undefined) out[r.phase] = r.at;
  return out;
}

export function formatTimeline(name: string, rows: TimelineRow[]): string {
  const head = ['', 'at', 'step', 'took', ''];
  const body: string[][] = [];
  let prev = 0;
  for (const r of rows) {
    body.push([
      `  ${r.phase}`,
      `${(r.at / 1000).toFixed(2)} s`,
      `+${(Math.max(0, r.at - prev) / 1000).toFixed(2)} s`,
      r.took !== undefined ? `${(r.took / 1000).toFixed(2)} s` : '',
      r.what,
    ]);
    prev = Math.max(prev, r.at);
  }
  const all = [head, ...body];
  const widths = head.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  const lines = all.map((row) =>
    row
      .map((c, i) => (i === 1 || i === 2 || i === 3 ? c.padStart(widths[i]!) : i === row.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
  return `${name}\n${lines.join('\n')}`;
}

export interface LoadView {
  wrk: { requests: number; seconds: number; requestsPerSec: number; bytesPerSec: number; latencyAvgMs: number; latencyP99Ms: number | null; errors: Record<string, number> };
  spread: { requests: number; ok: number; failed: number; byBlade: Record<string, number>; bodies: Record<string, number>; errors: Record<string, number> };
}

/** The load test's figures and how the answers spread over the blades. */
export function formatLoad(l: LoadView): string {
  const w = l.wrk;
  const errs = Object.entries(w.errors).filter(([, n]) => n > 0);
  const lines = [
    `load through the VIP (wrk, ${w.seconds.toFixed(1)} s): ${w.requests} requests, ${w.requestsPerSec.toFixed(0)} requests/s, ${(w.bytesPerSec / 1024).toFixed(1)} KiB/s, latency avg ${w.latencyAvgMs.toFixed(1)} ms${w.latencyP99Ms !== null ? `, p99 ${w.latencyP99Ms.toFixed(1)} ms` : ''}${errs.length ? `, errors ${errs.map(([k, n]) => `${k} ${n}`).join(', ')}` : ', no errors'}`,
    `answers checked (probe, one connection each): ${l.spread.ok}/${l.spread.requests} ok, ${Object.keys(l.spread.bodies).length} distinct page(s)`,
  ];
  const total = Object.values(l.spread.byBlade).reduce((a, b) => a + b, 0) || 1;
  for (const [blade, n] of Object.entries(l.spread.byBlade).sort()) lines.push(`  ${blade.padEnd(10)} ${String(n).padStart(6)}  ${((100 * n) / total).toFixed(1)}%`);
  for (const [e, n] of Object.entries(l.spread.errors)) lines.push(`  failed: ${e} x${n}`);
  return lines.join('\n');
}

interface SpreadView {
  p50Ms?: number;
  p99Ms?: number;
  maxMs?: number;
  requests: number;
  ok: number;
  failed: number;
  byBlade: Record<string, number>;
  errors: Record<string, number>;
}

const spreadLine = (s: SpreadView) =>
  `${s.ok}/${s.requests} ok` +
  (Object.keys(s.byBlade).length ? ` (${Object.entries(s.byBlade).sort().map(([b, n]) => `${b} ${n}`).join(', ')})` : '') +
  (s.failed ? `; failed: ${Object.entries(s.errors).map(([e, n]) => `${e} x${n}`).join(', ')}` : '') +
  (s.maxMs ? `; latency p50 ${s.p50Ms} ms, p99 ${s.p99Ms} ms, max ${s.maxMs} ms` : '');

export function formatDrill(d: {
  blade: string;
  detectionMs: number;
  dropAt?: number;
  appliedAt?: number;
  beforeKill: SpreadView;
  window: SpreadView;
  afterDrop: SpreadView;
  afterReturn: SpreadView;
  failures?: Array<{ sinceKillMs: number; error: string; ms: number }>;
  reboot: { upAfter: number; poolAfter?: number; rows: TimelineRow[] };
  cut?: 'bmc' | 'kill';
}): string {
  // The first ones say when failures began; a drill with no blade left to serve can fail thousands.
  const all = d.failures ?? [];
  const fails = all.slice(0, 20).map((x) => `${(x.sinceKillMs / 1000).toFixed(2)} s ${x.error}`);
  if (all.length > 20) fails.push(`... and ${all.length - 20} more, the last at ${(all[all.length - 1]!.sinceKillMs / 1000).toFixed(2)} s`);
  const how = d.cut === 'bmc' ? 'powered off through its BMC (rackboot API)' : 'VM killed';
  return [
    `failure drill on ${d.blade}: ${how} under load; the director dropped it after ${(d.detectionMs / 1000).toFixed(2)} s` +
      (d.appliedAt !== undefined && d.dropAt !== undefined ? `, its rules without it ${((d.appliedAt - d.dropAt) / 1000).toFixed(2)} s later` : ''),
    `  before the kill:            ${spreadLine(d.beforeKill)}`,
    `  kill -> drop applied:       ${spreadLine(d.window)}`,
    `  after the drop:             ${spreadLine(d.afterDrop)}`,
    `  powered on again: up after ${d.reboot.upAfter.toFixed(2)} s, in the pool after ${(d.reboot.poolAfter ?? NaN).toFixed(2)} s`,
    `  after its return:           ${spreadLine(d.afterReturn)}`,
    ...(fails.length ? [`  failed requests (start relative to the kill): ${fails.join('; ')}`] : []),
  ].join('\n');
}
