// `rackboot node events`: a node's timeline as a table a person reads. Each
// row is one event with the time since the previous one and since the start
// of the boot it belongs to, the boot step it is (read by the same rules as
// the dashboard's, web/shared/boot-state.ts) and what it says, in words.
// Pure: events in, text out.
import { advance, classify, EMPTY_BOOT, lastBootStart, STATE_LABEL, type BootEvent, type NodeBoot } from '../../web/shared/boot-state.js';

// `node events --boot` cuts where the dashboard's rules say the last boot began.
export { lastBootStart };
import { table } from './table.js';

/** An event as GET /nodes/{name}/events answers it. */
export interface EventRow extends BootEvent {
  id: number;
  node: string | null;
  time: string;
}

const str = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const join = (...parts: string[]) => parts.filter(Boolean).join(' ');

export function bytes(n: unknown): string {
  const b = num(n);
  if (b === undefined) return '';
  if (b >= 1048576) return `${(b / 1048576).toFixed(1)} MiB`;
  if (b >= 1024) return `${(b / 1024).toFixed(1)} KiB`;
  return `${b} B`;
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 3 : ms < 100_000 ? 2 : 1)} s`;
}

/** Scalar detail fields as key=value, for kinds without words of their own. */
function plain(d: Record<string, unknown>): string {
  return Object.entries(d)
    .filter(([, v]) => v !== null && typeof v !== 'object')
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
}

/** What one event says, in a line. */
export function eventText(e: BootEvent): string {
  const d = e.detail;
  const k = e.kind;
  if (k.startsWith('dhcp.')) {
    const who = d.ipxe === true ? 'iPXE' : str(d.firmware) || str(d.vendorClass);
    const boot = d.bootFile ? `boot file ${str(d.bootFile)}` : d.bootProblem ? `no boot file: ${str(d.bootProblem)}` : '';
    return join(str(d.request), str(d.address) && `-> ${str(d.address)}`, who && `(${who})`, boot, d.address ? '' : str(d.reason));
  }
  if (k === 'tftp.transfer' || k === 'tftp.failed') {
    const sent = k === 'tftp.failed' ? `${bytes(d.bytes)} of ${bytes(d.size)} (${str(d.reason) || str(d.outcome)})` : bytes(d.bytes);
    return join(str(d.file), sent, d.blksize ? `blksize ${str(d.blksize)}` : '', num(d.windowsize) !== undefined && (d.windowsize as number) > 1 ? `window ${str(d.windowsize)}` : '');
  }
  if (k === 'tftp.refused' || k === 'tftp.not-found') return join(str(d.file), str(d.message));
  if (k === 'http.get' || k === 'http.head') return join(str(d.path), str(d.status), bytes(d.bytes), d.range ? `range ${str(d.range)}` : '');
  if (k === 'http.refused') return `${str(d.path)}: the file of ${str(d.for)}`;
  if (k === 'render') return join(str(d.loader), str(d.template), d.origin ? `(${str(d.origin)})` : '', str(d.protocol) && `over ${str(d.protocol)}`);
  if (k === 'render.error') return str(d.message);
  if (k.startsWith('power.')) return join(str(d.action), d.bootdev ? `next boot ${str(d.bootdev)}` : '', str(d.state), str(d.bmc) && `via ${str(d.bmc)}`, str(d.error));
  if (k.startsWith('director.')) return join(str(d.service), str(d.address), str(d.check) || str(d.reason));
  if (k === 'ready') return join(str(d.image), str(d.version), str(d.docroot) && `docroot ${str(d.docroot)}`);
  return plain(d);
}

/** The boot step an event is, as the dashboard reads it ('' for events that say nothing about the boot). */
function stepOf(e: BootEvent): string {
  const c = classify(e);
  if (!c) return '';
  switch (c.type) {
    case 'dhcp':
      return c.renewal ? 'renew' : 'dhcp';
    case 'step':
      return c.step;
    case 'left-pool':
      return 'out';
    case 'failed':
      return 'FAILED';
    case 'content':
      return 'content';
    default:
      return c.type;
  }
}

const clock = (ts: number) => {
  const t = new Date(ts);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(t.getHours())}:${p(t.getMinutes())}:${p(t.getSeconds())}.${p(t.getMilliseconds(), 3)}`;
};
const day = (ts: number) => new Date(ts).toDateString();

/**
 * The table: TIME (local), +PREV (since the row before), BOOT (since the
 * boot's first DHCP), TOOK (a transfer's own time), STEP, EVENT, IFACE and
 * what it says; then where the node stands. `ifaces`: MAC -> interface name.
 */
export function formatEvents(name: string, events: readonly EventRow[], ifaces: ReadonlyMap<string, string> = new Map()): string {
  if (!events.length) return `${name}: no events`;
  const rows = [['TIME', '+PREV', 'BOOT', 'TOOK', 'STEP', 'EVENT', 'IFACE', 'DETAIL']];
  let b: NodeBoot = EMPTY_BOOT;
  let prev: number | undefined;
  const first = events[0]!.ts;
  const last = events[events.length - 1]!.ts;
  for (const e of events) {
    b = advance(b, e);
    const took = num(e.detail.durationMs) ?? num(e.detail.ms);
    rows.push([
      day(e.ts) === day(first) ? clock(e.ts) : `${new Date(e.ts).toISOString().slice(0, 10)} ${clock(e.ts)}`,
      prev === undefined ? '' : `+${seconds(e.ts - prev)}`,
      b.bootStart === null ? '' : seconds(e.ts - b.bootStart),
      took === undefined ? '' : seconds(took),
      stepOf(e),
      e.kind,
      e.mac ? (ifaces.get(e.mac) ?? e.mac) : '-',
      eventText(e),
    ]);
    prev = e.ts;
  }
  const head = `${name}: ${events.length} event(s), ${new Date(first).toDateString()} ${clock(first)} to ${clock(last)} (${seconds(last - first)})`;
  const since = b.since === null ? '' : ` since ${clock(b.since)}`;
  const reason = b.reason ? `: ${b.reason}` : '';
  const boot = b.bootStart !== null && (b.state === 'ready' || b.state === 'pool') && b.since !== null ? `, ${seconds(b.since - b.bootStart)} after its boot began` : '';
  return `${head}\n${table(rows)}\nstate: ${STATE_LABEL[b.state]}${since}${boot}${reason}`;
}
