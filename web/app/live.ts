// The rack as the browser holds it: the snapshot of GET /api/v1/rack, kept
// current by the event stream. Events are applied in batches, once per
// animation frame, so a boot storm of thousands of events a second costs
// one render per frame, not one per event.
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { advance } from '../shared/boot-state.js';
import { noteUnknown, type LiveEvent, type NodeChange, type RackRow, type RackSnapshot, type UnknownMac } from '../shared/rack.js';

type Listener = () => void;

const APPLY_MS = 100;
export type Connection = 'connecting' | 'live' | 'reconnecting';

class Live {
  rows = new Map<string, RackRow>();
  unknown = new Map<string, UnknownMac>();
  /** Server clock minus this one, so "12 s ago" is right on a machine whose clock is off. */
  skew = 0;
  loaded = false;
  loadError: string | undefined;
  connection: Connection = 'connecting';
  /** Bumped at every change: what components compare. */
  version = 0;
  /** Bumped when nodes come, go or change in the registry (not when their state changes): the rack's list depends on it. */
  membership = 0;
  private readonly listeners = new Set<Listener>();
  /** Per node: the tiles showing it, told when its row changes, so a boot storm re-renders only their tiles. */
  private readonly rowListeners = new Map<string, Set<Listener>>();
  private changedRows = new Set<string>();
  private readonly eventListeners = new Set<(e: LiveEvent) => void>();
  private readonly imageListeners = new Set<(image: { name: string; current: string | null }) => void>();
  private pending: Array<{ type: 'event'; e: LiveEvent } | { type: 'node'; c: NodeChange }> = [];
  private scheduled = false;
  private lastApply = -Infinity;
  private syncing = false;
  private source: EventSource | undefined;
  private wasOpen = false;

  now(): number {
    return Date.now() + this.skew;
  }

  /**
   * (Re)load the snapshot. Live events wait meanwhile; those the snapshot
   * already holds (older than its time) are dropped, the rest applied on top.
   */
  async load(): Promise<void> {
    this.syncing = true;
    try {
      const snap = await api<RackSnapshot>('GET', '/rack');
      this.skew = snap.serverTime - Date.now();
      this.rows = new Map(snap.rows.map((r) => [r.name, r]));
      // Oldest first, as noteUnknown keeps it.
      this.unknown = new Map(snap.unknown.slice().reverse().map((u) => [u.mac, u]));
      this.pending = this.pending.filter((p) => p.type === 'node' || p.e.ts >= snap.serverTime);
      this.loaded = true;
      this.membership++;
      for (const name of this.rowListeners.keys()) this.changedRows.add(name);
      this.loadError = undefined;
    } catch (e) {
      this.loadError = (e as Error).message;
    }
    this.syncing = false;
    if (this.pending.length) this.schedule();
    this.changed();
  }

  connect(): void {
    const es = new EventSource('/api/v1/events/stream');
    this.source = es;
    es.addEventListener('event', (m) => this.queue({ type: 'event', e: JSON.parse((m as MessageEvent<string>).data) as LiveEvent }));
    es.addEventListener('node', (m) => this.queue({ type: 'node', c: JSON.parse((m as MessageEvent<string>).data) as NodeChange }));
    es.addEventListener('image', (m) => {
      const img = JSON.parse((m as MessageEvent<string>).data) as { name: string; current: string | null };
      for (const [name, r] of this.rows) if (r.image === img.name) this.setRow({ ...r, imageCurrent: img.current });
      for (const l of this.imageListeners) l(img);
      this.changed();
    });
    es.addEventListener('hello', (m) => {
      this.skew = (JSON.parse((m as MessageEvent<string>).data) as { serverTime: number }).serverTime - Date.now();
    });
    es.onopen = () => {
      this.connection = 'live';
      // Events sent while the stream was down are lost: start again from a snapshot.
      if (this.wasOpen) void this.load();
      this.wasOpen = true;
      this.changed();
    };
    es.onerror = () => {
      this.connection = 'reconnecting';
      this.changed();
    };
  }

  close(): void {
    this.source?.close();
  }

  private queue(item: Live['pending'][number]): void {
    this.pending.push(item);
    this.schedule();
  }

  /**
   * Apply in the next animation frame, at most every APPLY_MS: each update
   * has a fixed cost (style, paint, compositing) whatever it changes, and a
   * tenth of a second is still live to an operator.
   */
  private schedule(): void {
    if (this.scheduled || this.syncing) return;
    this.scheduled = true;
    const wait = Math.max(0, this.lastApply + APPLY_MS - performance.now());
    setTimeout(() => {
      // A hidden tab gets no animation frames: apply at once there.
      if (document.hidden) this.applyPending();
      else requestAnimationFrame(() => this.applyPending());
    }, wait);
  }

  private applyPending(): void {
    this.scheduled = false;
    this.lastApply = performance.now();
    const batch = this.pending;
    this.pending = [];
    for (const item of batch) {
      if (item.type === 'node') {
        const c = item.c;
        if (c.op === 'delete') {
          this.rows.delete(c.name);
          this.membership++;
        } else {
          // A registry change may move the node between groups or networks: the filtered list is redone.
          this.membership++;
          this.setRow(c.row);
          for (const i of c.row.interfaces) this.unknown.delete(i.mac);
        }
        continue;
      }
      const e = item.e;
      if (e.node !== null) {
        const row = this.rows.get(e.node);
        if (row) this.setRow({ ...row, boot: advance(row.boot, e) });
      } else noteUnknown(this.unknown, e);
      for (const l of this.eventListeners) l(e);
    }
    this.changed();
  }

  private setRow(row: RackRow): void {
    this.rows.set(row.name, row);
    this.changedRows.add(row.name);
  }

  private changed(): void {
    this.version++;
    for (const l of this.listeners) l();
    const rows = this.changedRows;
    this.changedRows = new Set();
    for (const name of rows) for (const l of this.rowListeners.get(name) ?? []) l();
  }

  /** Told when this node's row changes. */
  onRow(name: string, l: Listener): () => void {
    let set = this.rowListeners.get(name);
    if (!set) this.rowListeners.set(name, (set = new Set()));
    set.add(l);
    return () => {
      set.delete(l);
      if (!set.size) this.rowListeners.delete(name);
    };
  }

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => void this.listeners.delete(l);
  }

  onEvent(l: (e: LiveEvent) => void): () => void {
    this.eventListeners.add(l);
    return () => void this.eventListeners.delete(l);
  }

  onImage(l: (image: { name: string; current: string | null }) => void): () => void {
    this.imageListeners.add(l);
    return () => void this.imageListeners.delete(l);
  }
}

export const live = new Live();

/** Re-render when the rack changes; returns its version. */
export function useLive(): number {
  const [v, setV] = useState(live.version);
  useEffect(() => live.subscribe(() => setV(live.version)), []);
  return v;
}

/** A clock that ticks every `ms` (server time), for "12 s ago". */
export function useNow(ms = 5000): number {
  const [now, setNow] = useState(live.now());
  useEffect(() => {
    const t = setInterval(() => setNow(live.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}
