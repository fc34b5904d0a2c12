// A node's state read off its boot timeline, one event at a time. Pure (no
// DOM, no Node): the server derives the rack snapshot with it and the
// browser advances the same snapshot with each live event, so both always
// agree on what a tile says.

export const STATES = ['unknown', 'off', 'dhcp', 'loader', 'kernel', 'initrd', 'ready', 'pool', 'failed'] as const;
export type NodeState = (typeof STATES)[number];

export const STATE_LABEL: Record<NodeState, string> = {
  unknown: 'unknown',
  off: 'off',
  dhcp: 'DHCP',
  loader: 'loader',
  kernel: 'kernel',
  initrd: 'RAM disk',
  ready: 'ready',
  pool: 'in the pool',
  failed: 'failed',
};

/** What the browser and the server need of an event (the API's event view). */
export interface BootEvent {
  ts: number;
  kind: string;
  mac: string | null;
  detail: Record<string, unknown>;
}

/** Steps of one boot, in the order a blade goes through them. */
export const STEPS = ['dhcp', 'loader', 'config', 'kernel', 'initrd', 'nfs', 'ready'] as const;
export type Step = (typeof STEPS)[number];

export const STEP_LABEL: Record<Step, string> = {
  dhcp: 'DHCP',
  loader: 'loader',
  config: 'config',
  kernel: 'kernel',
  initrd: 'RAM disk',
  nfs: 'NFS and web server',
  ready: 'ready → pool',
};

export interface NodeBoot {
  state: NodeState;
  /** When the node entered `state` (epoch ms), null before any event. */
  since: number | null;
  /** The newest event's time and kind. */
  last: number | null;
  lastKind: string | null;
  /** Why it failed (or left the pool). */
  reason: string | null;
  /** When the current (or last) boot started: its first firmware DHCP. */
  bootStart: number | null;
  /** What its last "ready" report said it runs. */
  booted: { image: string | null; version: string | null; docroot: string | null } | null;
}

export const EMPTY_BOOT: NodeBoot = { state: 'unknown', since: null, last: null, lastKind: null, reason: null, bootStart: null, booted: null };

const str = (v: unknown): string | null => (typeof v === 'string' && v ? v : null);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** A DHCP exchange of network-boot firmware (PXE ROM, iPXE, UEFI), not of an OS's client. */
function fromFirmware(d: Record<string, unknown>): boolean {
  return d.firmware !== undefined || d.arch !== undefined || d.ipxe === true || /^(PXEClient|HTTPClient)/.test(str(d.vendorClass) ?? '');
}

/**
 * A TFTP transfer that timed out on its last ACK still delivered the file
 * (PXELINUX jumps to the kernel before acknowledging the last block): it
 * counts as sent, not as a failure.
 */
function sentWhole(d: Record<string, unknown>): boolean {
  const bytes = num(d.bytes);
  const size = num(d.size);
  const blk = num(d.blksize) ?? 512;
  return d.outcome === 'timeout' && bytes !== undefined && size !== undefined && bytes + blk >= size;
}

const FILE_KIND: Record<string, Step | undefined> = { loader: 'loader', config: 'config', kernel: 'kernel', initrd: 'initrd' };

/** What one event is on the boot path; undefined for events that say nothing about it. */
export type Classified =
  | { type: 'dhcp'; firmware: boolean; renewal: boolean }
  | { type: 'step'; step: Step; start: number; end: number }
  | { type: 'failed'; reason: string }
  | { type: 'ready'; detail: Record<string, unknown> }
  | { type: 'content'; docroot: string }
  | { type: 'pool' }
  | { type: 'left-pool'; reason: string }
  | { type: 'off' };

export function classify(e: BootEvent): Classified | undefined {
  const { kind: k, detail: d } = e;
  if (k === 'dhcp.offer' || k === 'dhcp.ack') {
    const renewal = k === 'dhcp.ack' && (d.reason === 'renewing' || d.reason === 'rebinding');
    return { type: 'dhcp', firmware: fromFirmware(d), renewal };
  }
  if (k === 'tftp.transfer' || (k === 'tftp.failed' && sentWhole(d)) || k === 'http.get') {
    if (k === 'http.get' && num(d.status) !== undefined && (d.status as number) >= 400) return undefined;
    const step = FILE_KIND[str(d.kind) ?? ''];
    if (!step) return undefined;
    const took = num(d.durationMs) ?? num(d.ms) ?? 0;
    return { type: 'step', step, start: e.ts - took, end: e.ts };
  }
  if (k === 'render') return { type: 'step', step: 'config', start: e.ts, end: e.ts };
  if (k === 'waiting-content') return { type: 'step', step: 'nfs', start: e.ts, end: e.ts };
  if (k === 'ready') return { type: 'ready', detail: d };
  // The blade's web server followed its content to another release.
  if (k === 'content' && str(d.docroot)) return { type: 'content', docroot: str(d.docroot)! };
  if (k === 'director.up') return { type: 'pool' };
  if (k === 'director.down') return { type: 'left-pool', reason: `left the pool of ${str(d.service) ?? 'its service'}: ${str(d.check) ?? 'check failed'}` };
  if (k === 'tftp.failed') return { type: 'failed', reason: `TFTP ${str(d.file) ?? ''}: ${str(d.reason) ?? str(d.outcome) ?? 'failed'}`.replace(/\s+/g, ' ') };
  if (k === 'tftp.refused' || k === 'http.refused') return { type: 'failed', reason: `${k === 'tftp.refused' ? 'TFTP' : 'HTTP'} refused ${str(d.file) ?? str(d.path) ?? ''}: ${str(d.message) ?? `belongs to ${str(d.for) ?? 'another node'}`}` };
  if (k === 'render.error') return { type: 'failed', reason: `boot config: ${str(d.message) ?? 'does not render'}` };
  if (k === 'web-exited') return { type: 'failed', reason: `web server ${str(d.web) ?? ''} exited (${String(d.code ?? '?')})`.replace(/\s+/g, ' ') };
  if (/^power\./.test(k)) {
    const st = str(d.state) ?? str(d.to) ?? k.slice('power.'.length);
    return /(^|[.-])off$/.test(st) ? { type: 'off' } : undefined;
  }
  // Reports of the blade's own (POST /nodes/{name}/events) that say something broke.
  if (!/^(dhcp|tftp|http|render|director|nfs|images)\./.test(k) && /(^|[.-])(fail|failed|error|panic)($|[.-])/.test(k)) {
    return { type: 'failed', reason: str(d.message) ?? str(d.reason) ?? k };
  }
  return undefined;
}

const STEP_STATE: Record<Step, NodeState> = { dhcp: 'dhcp', loader: 'loader', config: 'loader', kernel: 'kernel', initrd: 'initrd', nfs: 'initrd', ready: 'ready' };
/** States in the middle of a boot: an OS's DHCP client there is the RAM disk's. */
const BOOTING: ReadonlySet<NodeState> = new Set(['loader', 'kernel', 'initrd']);

/** The node after one more event (events come oldest first). */
export function advance(b: NodeBoot, e: BootEvent): NodeBoot {
  const c = classify(e);
  const seen = { ...b, last: e.ts, lastKind: e.kind };
  if (!c) return seen;
  const to = (state: NodeState, reason: string | null = null, extra: Partial<NodeBoot> = {}): NodeBoot => ({
    ...seen,
    state,
    since: state === b.state ? (b.since ?? e.ts) : e.ts,
    reason,
    ...extra,
  });
  switch (c.type) {
    case 'dhcp':
      if (c.renewal) return seen;
      if (c.firmware) return b.state === 'dhcp' || b.state === 'loader' ? to('dhcp', null, { bootStart: b.bootStart ?? e.ts }) : to('dhcp', null, { bootStart: e.ts });
      // An OS's DHCP client: a new boot only for a node not known to be up.
      if (b.state === 'unknown' || b.state === 'off') return to('dhcp', null, { bootStart: e.ts });
      return seen;
    case 'step': {
      // Waiting for NFS content only means something while the RAM disk boots.
      if (c.step === 'nfs' && !BOOTING.has(b.state)) return seen;
      // A step without a DHCP exchange before it (a fetch by hand, a lost event) starts a boot of its own.
      const inBoot = b.state === 'dhcp' || BOOTING.has(b.state);
      return to(STEP_STATE[c.step], null, { bootStart: inBoot ? (b.bootStart ?? e.ts) : e.ts });
    }
    case 'ready':
      return to('ready', null, {
        booted: { image: str(c.detail.image), version: str(c.detail.version), docroot: str(c.detail.docroot) },
      });
    case 'content':
      return { ...seen, booted: { image: b.booted?.image ?? null, version: b.booted?.version ?? null, docroot: c.docroot } };
    case 'pool':
      return to('pool');
    case 'left-pool':
      // A node that is rebooting fails its checks: the boot says more than the check.
      return b.state === 'ready' || b.state === 'pool' || b.state === 'failed' ? to('failed', c.reason) : { ...seen, reason: c.reason };
    case 'failed':
      return to('failed', c.reason);
    case 'off':
      return to('off');
  }
}

export function replay(events: readonly BootEvent[], from: NodeBoot = EMPTY_BOOT): NodeBoot {
  let b = from;
  for (const e of events) b = advance(b, e);
  return b;
}

/** The release id a blade's docroot names (`.../releases/<id>`), if it names one. */
export function releaseOf(docroot: string | null | undefined): string | null {
  const m = /\/releases\/([^/]+)\/?$/.exec(docroot ?? '');
  return m ? m[1]! : null;
}

export interface StepBar {
  step: Step;
  /** ms from the boot's start. */
  start: number;
  duration: number;
}

/** Index of the first event of the last boot: where a replay last saw a new bootStart (0 when there is none). */
export function lastBootStart(events: readonly BootEvent[]): number {
  let b = EMPTY_BOOT;
  let from = 0;
  events.forEach((e, i) => {
    const next = advance(b, e);
    if (next.bootStart !== null && next.bootStart !== b.bootStart) from = i;
    b = next;
  });
  return from;
}

/**
 * The last boot as bars on one time axis (ms from its first DHCP event):
 * DHCP until the firmware's address, each transfer's own time, NFS and the
 * web server from the RAM disk's arrival to "ready", then ready to the pool.
 */
export function bootBars(events: readonly BootEvent[]): { start: number | null; bars: StepBar[] } {
  if (replay(events).bootStart === null) return { start: null, bars: [] };
  const from = lastBootStart(events);
  const t0 = events[from]!.ts;
  const span = new Map<Step, { start: number; end: number }>();
  const widen = (step: Step, start: number, end: number) => {
    const s = span.get(step);
    span.set(step, s ? { start: Math.min(s.start, start), end: Math.max(s.end, end) } : { start, end });
  };
  let readyAt: number | undefined;
  let poolAt: number | undefined;
  for (const e of events.slice(from)) {
    const c = classify(e);
    if (!c) continue;
    if (c.type === 'dhcp' && !c.renewal && !span.has('loader') && !span.has('config')) widen('dhcp', e.ts, e.ts);
    else if (c.type === 'step' && c.step !== 'nfs') widen(c.step, c.start, c.end);
    else if (c.type === 'step') widen('nfs', c.start, c.end);
    else if (c.type === 'ready' && readyAt === undefined) readyAt = e.ts;
    else if (c.type === 'pool' && readyAt !== undefined && poolAt === undefined) poolAt = e.ts;
  }
  // From the RAM disk's arrival (or the first NFS wait) to "ready": Linux starts, mounts the content, starts the web server.
  const after = span.get('initrd')?.end ?? span.get('kernel')?.end;
  if (readyAt !== undefined && after !== undefined) widen('nfs', Math.min(after, span.get('nfs')?.start ?? after), readyAt);
  if (readyAt !== undefined) span.set('ready', { start: readyAt, end: poolAt ?? readyAt });
  const bars = STEPS.filter((s) => span.has(s)).map((step) => {
    const s = span.get(step)!;
    return { step, start: Math.max(0, s.start - t0), duration: Math.max(0, s.end - s.start) };
  });
  return { start: t0, bars };
}
