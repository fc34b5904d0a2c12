// GET /api/v1/pair: this node's role, keepalived's state, which floating
// addresses are here, the database's state and replication, conntrackd,
// what either node lacks, the last switchover. The peer reads it too.
import { Type, type Static } from '@sinclair/typebox';
import { formatIpv4, type Ipv4 } from '../net/ipv4.js';
import type { DbStatus } from './database.js';
import type { PairNode } from './node.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const PairStatusOut = Type.Object(
  {
    enabled: Type.Boolean(),
    node: Type.String(),
    role: Type.String({ description: 'starting, master, backup, fault, handing-over or stopped' }),
    since: Type.String(),
    answersDhcp: Type.Boolean(),
    priority: Type.Integer(),
    vrrp: Type.Object({
      state: Type.String({ description: "keepalived's: init, backup, master, fault, stop" }),
      since: Type.String(),
      pid: Nullable(Type.Integer()),
      advertIntervalMs: Type.Integer(),
      instances: Type.Array(Type.Object({ name: Type.String(), interface: Type.String(), virtualRouterId: Type.Integer(), peer: Type.String(), own: Nullable(Type.String()) })),
    }),
    floating: Type.Array(Type.Object({ address: Type.String(), interface: Type.String(), role: Type.String(), here: Type.Boolean() })),
    peer: Type.Object({
      name: Type.String(),
      apiUrl: Type.String(),
      addresses: Type.Array(Type.String()),
    }),
    database: Type.Object({
      mode: Type.String(),
      state: Type.String(),
      detail: Nullable(Type.String()),
      timeline: Nullable(Type.Integer()),
      position: Nullable(Type.String()),
      synchronous: Nullable(Type.String({ description: 'on a primary: the standby commits wait for (empty: none)' })),
      replication: Type.Array(Type.Object({ name: Type.String(), address: Type.String(), state: Type.String(), sync: Type.String(), replayLagBytes: Type.Number() })),
      receiver: Nullable(Type.Object({ status: Type.String(), sender: Type.String() })),
    }),
    conntrack: Nullable(Type.Object({ internal: Type.Integer(), kernel: Type.Integer() })),
    lacks: Type.Object(
      {
        here: Type.Array(Type.String()),
        peer: Type.Array(Type.String()),
      },
      { description: 'images and content releases one node has and the other lacks ("image web-blade 3f9a...", "export www release 2026...")' },
    ),
    lastSwitchover: Nullable(Type.Object({ at: Type.String(), from: Type.String(), to: Type.String(), totalMs: Type.Integer(), withoutMasterMs: Type.Integer() })),
  },
  { $id: 'Pair' },
);
export type PairStatus = Static<typeof PairStatusOut>;

const iso = (ms: number) => new Date(ms).toISOString();

export function renderPairStatus(
  n: PairNode,
  x: { database: DbStatus; conntrack: { internal: number; kernel: number } | null; held: (a: Ipv4) => boolean; lacks?: { here: string[]; peer: string[] } },
): PairStatus {
  const p = n.pair;
  return {
    enabled: true,
    node: p.self,
    role: n.role,
    since: iso(n.since),
    answersDhcp: n.answersDhcp,
    priority: p.priority,
    vrrp: {
      state: n.vrrp?.state ?? 'init',
      since: iso(n.vrrp?.since ?? n.since),
      pid: n.vrrp?.pid ?? null,
      advertIntervalMs: p.advertMs,
      instances: p.links.map((l) => ({ name: l.name, interface: l.interface, virtualRouterId: l.virtualRouterId, peer: formatIpv4(l.peer), own: n.own.has(l.interface) ? formatIpv4(n.own.get(l.interface)!) : null })),
    },
    floating: p.floating.map((f) => ({ address: `${formatIpv4(f.address)}/${f.prefix}`, interface: f.interface, role: f.role, here: x.held(f.address) })),
    peer: { name: p.peerName, apiUrl: n.peer?.base ?? '', addresses: p.peerAddresses.map(formatIpv4) },
    database: { ...x.database },
    conntrack: x.conntrack,
    lacks: x.lacks ?? { here: [], peer: [] },
    lastSwitchover: n.lastSwitchover ? { ...n.lastSwitchover, at: iso(n.lastSwitchover.at) } : null,
  };
}
