// What GET /api/v1/rack and GET /api/v1/events/stream carry: shared by the
// server that sends them and the browser that reads them. Pure.
import type { BootEvent, NodeBoot } from './boot-state.js';

export interface RackInterface {
  name: string;
  mac: string;
  network: string;
  ipv4: string;
}

/** One node as the rack view shows it. */
export interface RackRow {
  name: string;
  group: string | null;
  discovered: boolean;
  interfaces: RackInterface[];
  /** After inheritance (cluster < group < node). */
  loader: string;
  image: string | null;
  /** The image's current version: what the node gets at its next boot. */
  imageCurrent: string | null;
  boot: NodeBoot;
}

/** A MAC that asked for something but belongs to no node: a machine waiting to be registered. */
export interface UnknownMac {
  mac: string;
  firstSeen: number;
  lastSeen: number;
  lastKind: string;
  network: string | null;
  address: string | null;
  vendorClass: string | null;
  arch: number | null;
  count: number;
}

export interface RackSnapshot {
  serverTime: number;
  rows: RackRow[];
  unknown: UnknownMac[];
}

/** A live event as the stream sends it (the API's event view without its id). */
export interface LiveEvent extends BootEvent {
  node: string | null;
  time: string;
}

export type NodeChange = { op: 'upsert'; row: RackRow } | { op: 'delete'; name: string };

/** How many unknown MACs are remembered (the oldest go first). */
export const UNKNOWN_LIMIT = 1000;

/** The unknown-MAC table after one more event of a MAC no node owns; changes `table` in place. */
export function noteUnknown(table: Map<string, UnknownMac>, e: LiveEvent): void {
  if (e.node !== null || !e.mac) return;
  const d = e.detail;
  const s = (v: unknown) => (typeof v === 'string' && v ? v : null);
  const had = table.get(e.mac);
  const row: UnknownMac = {
    mac: e.mac,
    firstSeen: had?.firstSeen ?? e.ts,
    lastSeen: e.ts,
    lastKind: e.kind,
    network: s(d.network) ?? had?.network ?? null,
    address: s(d.address) ?? had?.address ?? null,
    vendorClass: s(d.vendorClass) ?? had?.vendorClass ?? null,
    arch: typeof d.arch === 'number' ? d.arch : (had?.arch ?? null),
    count: (had?.count ?? 0) + 1,
  };
  // Re-inserted so the map's order is least recently seen first.
  table.delete(e.mac);
  table.set(e.mac, row);
  while (table.size > UNKNOWN_LIMIT) table.delete(table.keys().next().value!);
}
