import { Type, type Static } from '@sinclair/typebox';
import { Duration, parseDuration, Port, Section } from '../config/types.js';

export const DhcpConfigSchema = Section(
  {
    enabled: Type.Boolean({ default: true }),
    /** Server port; replies to relays go to giaddr on this port too (relays listen where servers do). */
    port: Port,
    /** Register unknown MACs that get a dynamic lease as discovered nodes. */
    discovery: Type.Boolean({ default: false }),
    /**
     * Hand an unknown machine's network-boot firmware (PXE, iPXE, UEFI HTTP)
     * leased from a dynamic range the default loader, so it boots the default
     * config (the discovery image when built, else local boot). Not done with
     * `discovery` on (the machine is registered at its first lease), nor for
     * firmware rackboot has no loader for. false: plain leases, e.g. where
     * another PXE server boots unknown machines.
     */
    bootUnknown: Type.Boolean({ default: true }),
    /**
     * UEFI machines have Secure Boot on: they boot through Debian's signed
     * shim and GRUB (packages shim-signed, grub-efi-amd64-signed), whatever
     * their node's loader, to the node's GRUB config; the kernel must be
     * signed by Debian too. UEFI HTTP boot then gets no boot file (that GRUB
     * has no http module). BIOS machines are not affected.
     */
    secureBoot: Type.Boolean({ default: false }),
    /**
     * Answer IPv6 router solicitations on the networks' interfaces with a
     * router advertisement that announces no prefix and no default router
     * (router lifetime 0), so iPXE's IPv6 set-up ends at once instead of
     * waiting out its solicitations (about 16 s a boot). Hosts that use IPv6
     * from another router are not affected. Needs the native addon.
     */
    routerAdvertisements: Type.Boolean({ default: true }),
    /** Lease time when the network gives none. */
    leaseTime: Duration,
    /**
     * Server interfaces, besides the networks' own, on which relayed requests
     * (giaddr set) are accepted, e.g. the link towards routers that relay for
     * racks behind them. Never list an interface facing an untrusted LAN.
     */
    relayInterfaces: Type.Array(Type.String({ minLength: 1, maxLength: 15 })),
    /**
     * Relays whose requests are answered, besides those with a source address
     * in a configured network: addresses or networks (10.9.0.1, 10.9.0.0/16).
     * A relayed request from any other source is dropped (and counted).
     */
    relays: Type.Array(Type.String()),
    /** How long an offered address stays reserved for the client's REQUEST. */
    offerTimeout: Duration,
    /** Bound on addresses held by outstanding offers to unknown MACs (flood protection). */
    maxPendingOffers: Type.Integer({ minimum: 1 }),
    /**
     * Share of each dynamic range outstanding offers may hold (0..1), so a
     * flood of random MACs leaves the rest of the pool to machines that
     * complete their exchange; a MAC asking again after going unanswered may
     * take an offer beyond it.
     */
    maxOfferShare: Type.Number({ exclusiveMinimum: 0, maximum: 1 }),
    /**
     * Replies per second to unknown MACs, all together (token bucket), and as
     * many again to unknown MACs asking again after going unanswered. A
     * flood of requests from random MACs passes any per-MAC limit; this
     * bounds what it costs. Registered MACs and clients finishing an exchange
     * they started (an offer or lease on record) are not counted. 0: unknown
     * MACs are not answered.
     */
    unknownReplyRate: Type.Integer({ minimum: 0 }),
    /** Packets per second one MAC may send before it is ignored (token bucket). */
    macRate: Type.Number({ exclusiveMinimum: 0 }),
    /** Burst a MAC may send at once. */
    macBurst: Type.Integer({ minimum: 1 }),
    /** Socket receive buffer in bytes: absorbs bursts (needs CAP_NET_ADMIN beyond net.core.rmem_max). 0: kernel default. */
    receiveBuffer: Type.Integer({ minimum: 0 }),
    /**
     * How datagrams are read and sent. batch: recvmmsg/sendmmsg through the
     * addon built with the TFTP pump (an error at start when it was not built);
     * node: Node's dgram, a system call and a JavaScript call per datagram;
     * auto (default): batch when built.
     */
    io: Type.Union([Type.Literal('auto'), Type.Literal('batch'), Type.Literal('node')]),
    /**
     * Events per second recorded for packets from unknown MACs (node null).
     * Registered nodes' packets are always recorded; beyond this rate unknown
     * MACs' are counted (rackboot_dhcp_events_suppressed_total) and summed up
     * in one dhcp.unknown-suppressed event per 10 s, so a flood of random MACs
     * cannot fill the event store. 0: none.
     */
    unknownEventRate: Type.Integer({ minimum: 0 }),
    /**
     * Lease writes kept in memory while the store is unavailable (PostgreSQL
     * down), written when it is back; their ACKs are sent. Beyond this many,
     * requests get no ACK (counted and logged). 0: none kept, no ACK without the store.
     */
    outageQueue: Type.Integer({ minimum: 0 }),
  },
  { default: {} },
);
export type DhcpConfig = Static<typeof DhcpConfigSchema>;

/** The dhcp section with its durations in ms. */
export interface ResolvedDhcp extends DhcpConfig {
  /** dhcp.leaseTime: the lease time of a network that gives none. */
  leaseMs: number;
  offerMs: number;
}

export function resolveDhcp(d: DhcpConfig): ResolvedDhcp {
  return { ...d, leaseMs: parseDuration(d.leaseTime), offerMs: parseDuration(d.offerTimeout) };
}

declare module '../config/loaded.js' {
  interface Config {
    dhcp: DhcpConfig;
  }
  interface ResolvedSections {
    dhcp: ResolvedDhcp;
  }
}
export const DHCP_DEFAULTS: DhcpConfig = {
  enabled: true,
  port: 67,
  discovery: false,
  bootUnknown: true,
  secureBoot: false,
  routerAdvertisements: true,
  leaseTime: '1h',
  relayInterfaces: [],
  relays: [],
  offerTimeout: '10s',
  maxPendingOffers: 10_000,
  maxOfferShare: 0.5,
  unknownReplyRate: 200,
  macRate: 5,
  macBurst: 20,
  receiveBuffer: 4 * 1024 * 1024,
  io: 'auto',
  unknownEventRate: 100,
  outageQueue: 100_000,
};
