// What to answer, decided without I/O: a typed request, the network it came
// for, the registered client (if the MAC is known there) and a read-only view
// of the leases -> a reply to send and a lease change to make. RFC 2131 4.3.
import { cidrContains, formatIpv4, type Ipv4Range } from '../net/ipv4.js';
import type { ResolvedNetwork } from '../config/networks.js';
import type { Loader } from '../store/types.js';
import { DEFAULT_LOADER } from '../boot/loaders.js';
import { classify, type BootStage, type Classified } from './asker.js';
import { chooseBoot, type BootChoice, type BootContext } from './bootfile.js';
import { BOOTREPLY, type DhcpPacket, type EncodeFit } from './codec.js';
import { isFree, ownerKey, type LeaseView } from './leases.js';
import { ARCH, ipList, MSG, OPT, PXE_DISCOVERY_CONTROL, PXE_DISCOVERY_USE_BOOTFILE, text, u32 } from './options.js';
import type { DhcpRequest } from './request.js';

/** A network as the policy needs it: the resolved config plus what the DHCP section adds. */
export interface PolicyNetwork {
  net: ResolvedNetwork;
  name: string;
  server: number;
  mask: number;
  broadcast: number;
  router: number | undefined;
  dns: number[];
  ntp: number[];
  domain: string;
  mtu: number | undefined;
  leaseMs: number;
  dynamicRange: Ipv4Range | undefined;
  /** Base URL of rackboot's HTTP server from this network; undefined when /boot is not served over HTTP. */
  httpBase: string | undefined;
  /** Unknown machines' network-boot firmware gets the default loader. */
  bootUnknown: boolean;
  /** `server` as text (named in boot files: the Secure Boot HTTP image). */
  serverAddress: string;
  /** Precomputed option values (they do not change per packet). */
  values: { serverId: Buffer; mask: Buffer; broadcast: Buffer; router?: Buffer; dns?: Buffer; ntp?: Buffer; domain: Buffer; mtu?: Buffer; serverText: Buffer };
}

/** A registered interface, as the registry index holds it. */
export interface KnownClient {
  node: string;
  iface: string;
  mac: string;
  network: string;
  ip: number;
  loader: Loader;
}

export interface PolicyInput {
  req: DhcpRequest;
  net: PolicyNetwork;
  /** The MAC's registered interface on this network. */
  known: KnownClient | undefined;
  /** The MAC's registered interface when it is on another network than this request's (then `known` is undefined). */
  elsewhere?: KnownClient | undefined;
  leases: LeaseView;
  now: number;
  /** How long an offer holds its address. */
  offerMs: number;
  /** False when the bound on pending offers is reached: no new dynamic offers, and no dynamic bind without a record. */
  mayOffer: boolean;
  /** What the server remembers of this MAC's boot (which loader its firmware got), to tell a loader's DHCP from the OS's. */
  stage?: BootStage | undefined;
  /** dhcp.secureBoot and which loader files are here (absent: none of the first, all of the second). */
  loaders?: Omit<BootContext, 'httpBase'>;
}

export type LeaseChange =
  | { op: 'offer'; ip: number; expiresAt: number; owner: string; dynamic: boolean }
  /** unrecorded: the server had no offer or lease of this client at ip (it counts against the pending-offer bound). */
  | { op: 'bind'; ip: number; expiresAt: number; owner: string; dynamic: boolean; unrecorded: boolean }
  | { op: 'release'; ip: number }
  | { op: 'decline'; ip: number }
  /** The client took another server's offer: free ours. */
  | { op: 'drop-offer'; owner: string };

export type Outcome = 'offer' | 'ack' | 'nak' | 'ignored' | 'released' | 'declined';

export interface Decision {
  outcome: Outcome;
  /** Why (ignored, nak) or what (request state), for the event and the log. */
  reason: string;
  reply: DhcpPacket | undefined;
  /** How the reply must fit this client (encode's second argument); set with `reply`. */
  fit?: EncodeFit;
  lease: LeaseChange | undefined;
  boot: BootChoice | undefined;
  /** The address handed out or acted on. */
  ip: number | undefined;
  /** Who asked: firmware PXE or HTTP boot, iPXE, a loader, the OS (set for every request that was read). */
  who?: Classified;
}

const REQUIRED = [OPT.MESSAGE_TYPE, OPT.SERVER_ID, OPT.SUBNET_SELECTION, OPT.RELAY_AGENT];

/** The policy's input once the asker is known. */
type Input = PolicyInput & { who: Classified };

function ignore(reason: string, lease?: LeaseChange): Decision {
  return { outcome: 'ignored', reason, reply: undefined, lease, boot: undefined, ip: undefined };
}

export function decide(input: PolicyInput): Decision {
  const { req } = input;
  const who = classify({ arch: req.arch, isIpxe: req.isIpxe, vendorClass: req.vendorClass, macNum: req.macNum, xid: req.packet.xid }, input.stage, input.now);
  const dec = decideFor({ ...input, who });
  return dec.reply ? { ...dec, who, fit: { maxSize: req.maxSize, required: REQUIRED } } : { ...dec, who };
}

function decideFor(input: Input): Decision {
  const { req, net, known } = input;
  const p = req.packet;
  if (input.elsewhere) return registeredElsewhere(input, input.elsewhere);
  switch (req.type) {
    case undefined:
      return ignore('plain BOOTP request (no option 53): not served');
    case MSG.DISCOVER:
      return discover(input);
    case MSG.REQUEST:
      return request(input);
    case MSG.DECLINE: {
      if (req.serverId !== undefined && req.serverId !== net.server) return ignore('decline addressed to another server');
      const ip = req.requestedIp;
      if (ip === undefined) return ignore('decline without option 50');
      if (!holds(input, ip)) return ignore(`decline of ${formatIpv4(ip)}, which is not this client's`);
      return { outcome: 'declined', reason: `client found ${formatIpv4(ip)} in use`, reply: undefined, lease: { op: 'decline', ip }, boot: undefined, ip };
    }
    case MSG.RELEASE: {
      if (req.serverId !== undefined && req.serverId !== net.server) return ignore('release addressed to another server');
      const ip = p.ciaddr;
      if (!ip || !holds(input, ip)) return ignore(`release of ${formatIpv4(ip)}, which is not this client's`);
      return { outcome: 'released', reason: 'client released its address', reply: undefined, lease: { op: 'release', ip }, boot: undefined, ip };
    }
    case MSG.INFORM: {
      if (!known && !net.dynamicRange) return ignore('unknown MAC on a network without a dynamic range');
      const boot = bootFor(input);
      return {
        outcome: 'ack',
        reason: 'inform',
        reply: reply(input, MSG.ACK, 0, p.ciaddr, boot, false),
        lease: undefined,
        boot,
        ip: p.ciaddr,
      };
    }
    default:
      return ignore(`message type ${req.type} is not one a client sends to a server`);
  }
}

/** The client holds ip on this network: its registered address, or one leased to it (also before it was registered). */
function holds({ req, net, known, leases }: Input, ip: number): boolean {
  if (known?.ip === ip) return true;
  const l = leases.get(net.name, ip);
  return l !== undefined && (l.owner === ownerKey(req.mac, req.clientId) || l.mac === req.mac);
}

function discover(input: Input): Decision {
  const { req, net, known, leases, now } = input;
  if (known) {
    const l = leases.get(net.name, known.ip);
    if (l?.state === 'declined') return ignore(`registered address ${formatIpv4(known.ip)} was declined (in use by another host); clear the lease to offer it again`);
    return offer(input, known.ip, { op: 'offer', ip: known.ip, expiresAt: now + input.offerMs, owner: req.mac, dynamic: false });
  }
  if (!net.dynamicRange) return ignore('unknown MAC (not registered on this network, and it has no dynamic range)');
  const owner = ownerKey(req.mac, req.clientId);
  const own = leases.ofOwner(net.name, owner);
  if (!input.mayOffer && !(own && own.state !== 'declined')) return ignore('too many pending offers');
  const ip = leases.pick(net.name, net.dynamicRange, owner, req.requestedIp, now);
  if (ip === undefined) return ignore(`dynamic range of '${net.name}' is exhausted`);
  // An address already bound to this client keeps its lease end; the offer is only the reply.
  return offer(input, ip, { op: 'offer', ip, expiresAt: now + input.offerMs, owner, dynamic: true });
}

/**
 * A registered client boots its node's loader; an operating system's own
 * DHCP client gets a plain lease (no boot file: it would not use one, and the
 * event then says what was handed out). A loader's own DHCP (syslinux.efi)
 * gets its firmware's answer again (options 209/210 with it). An unknown
 * machine (leased from a dynamic range) whose firmware boots from the
 * network (PXE or HTTP boot, or iPXE) gets the default loader with no
 * per-MAC config named: the loader walks to its default config, which is the
 * discovery image when built, else local boot.
 */
function bootFor({ req, known, net, who, loaders }: Input): BootChoice | undefined {
  // The OS, and GRUB's own DHCP (it needs only an address).
  if (who.asker === 'os' || who.asker === 'grub') return undefined;
  const client = who.asker === 'syslinux' ? { arch: ARCH.EFI_X64, isIpxe: false, vendorClass: undefined } : req;
  const ctx: BootContext = { ...loaders, httpBase: net.httpBase, server: net.serverAddress };
  if (known) return chooseBoot(client, known, ctx);
  if (!net.bootUnknown) return undefined;
  const boot = chooseBoot(client, { mac: req.mac, loader: DEFAULT_LOADER }, ctx);
  // No loader for this firmware: a plain lease, so another PXE server on the LAN can still boot it
  // (options 60/43 without a file would look like a complete PXE offer).
  return boot.file ? { ...boot, pxelinux: undefined } : undefined;
}

function offer(input: Input, ip: number, lease: LeaseChange): Decision {
  const boot = bootFor(input);
  return { outcome: 'offer', reason: 'discover', reply: reply(input, MSG.OFFER, ip, 0, boot, true), lease, boot, ip };
}

type RequestState = 'selecting' | 'init-reboot' | 'renewing';

/** RFC 2131 4.3.2: the client's state, told by server id, requested address and ciaddr; and the address it wants. */
function requestState(req: DhcpRequest): { state: RequestState; want: number } | string {
  const p = req.packet;
  if (req.serverId !== undefined) {
    const want = req.requestedIp ?? p.ciaddr;
    return want ? { state: 'selecting', want } : 'selecting request without option 50';
  }
  if (req.requestedIp !== undefined && !p.ciaddr) return { state: 'init-reboot', want: req.requestedIp };
  if (p.ciaddr) return { state: 'renewing', want: p.ciaddr };
  return 'request without server id, requested address or ciaddr';
}

function nakDecision(input: Input, state: RequestState, why: string, ip: number): Decision {
  return { outcome: 'nak', reason: `${state}: ${why}`, reply: nakReply(input, why), lease: undefined, boot: undefined, ip };
}

/**
 * A MAC registered on another network than the one this request is for. A
 * DISCOVER is ignored (another network's server may answer it). A REQUEST
 * for an address that is not on this network is NAKed (RFC 2131 4.3.2: the
 * client is on the wrong network; it moved, or was cabled to another port),
 * so it falls back to INIT instead of keeping an address that cannot work here.
 */
function registeredElsewhere(input: Input, e: KnownClient): Decision {
  const { req, net } = input;
  const why = `${e.node}/${e.iface} is registered on network '${e.network}', but this request came for '${net.name}'`;
  if (req.type === MSG.REQUEST && req.serverId === undefined) {
    const st = requestState(req);
    if (typeof st !== 'string' && !cidrContains(net.net.cidr, st.want)) {
      return nakDecision(input, st.state, `${formatIpv4(st.want)} is not on network '${net.name}' (${net.net.config.cidr}); ${why}`, st.want);
    }
  }
  return ignore(why);
}

function request(input: Input): Decision {
  const { req, net, known, leases, now } = input;
  const p = req.packet;
  // Never disturb a LAN rackboot does not own: before any NAK, an unknown MAC where there is no dynamic range is not ours.
  if (!known && !net.dynamicRange) return ignore('unknown MAC (not registered on this network, and it has no dynamic range)');
  const st = requestState(req);
  if (typeof st === 'string') return ignore(st);
  const { state, want } = st;
  if (state === 'selecting' && req.serverId !== net.server) return ignore('client chose another server', { op: 'drop-offer', owner: ownerKey(req.mac, req.clientId) });
  const nak = (why: string) => nakDecision(input, state, why, want);
  const ack = (ip: number, owner: string, dynamic: boolean, unrecorded: boolean) => {
    const boot = bootFor(input);
    return {
      outcome: 'ack' as const,
      reason: state,
      reply: reply(input, MSG.ACK, ip, state === 'renewing' ? p.ciaddr : 0, boot, true),
      lease: { op: 'bind' as const, ip, expiresAt: now + net.leaseMs, owner, dynamic, unrecorded },
      boot,
      ip,
    };
  };
  if (!cidrContains(net.net.cidr, want)) return nak(`${formatIpv4(want)} is not on network '${net.name}' (${net.net.config.cidr})`);
  if (known) {
    if (want !== known.ip) return nak(`${formatIpv4(want)} is not the address registered for ${known.node}/${known.iface} (${formatIpv4(known.ip)})`);
    if (leases.get(net.name, want)?.state === 'declined') return nak(`${formatIpv4(want)} was declined (in use by another host)`);
    return ack(want, req.mac, false, false);
  }
  const range = net.dynamicRange!;
  const owner = ownerKey(req.mac, req.clientId);
  const own = leases.ofOwner(net.name, owner);
  const at = leases.get(net.name, want);
  const mine = at !== undefined && at.owner === owner;
  // RFC 2131 4.3.2: INIT-REBOOT from a client the server has no record of: MUST remain silent
  // (it may hold a lease from another server; a NAK or an ACK would both be wrong).
  if (state === 'init-reboot' && !own && !mine) return ignore(`init-reboot: no record of this client, so no answer for ${formatIpv4(want)}`);
  const inRange = want >= range.start && want <= range.end;
  if (mine && at.state !== 'declined' && inRange) return ack(want, owner, true, false);
  if (at?.state === 'declined') return nak(`${formatIpv4(want)} was declined (in use by another host)`);
  if (at && !mine && !isFree(at, now)) return nak(`${formatIpv4(want)} is leased to another client`);
  if (!inRange) return nak(`${formatIpv4(want)} is outside the dynamic range of '${net.name}'`);
  // A record of this client, for another address: its notion of its address is wrong (SHOULD NAK).
  if (state === 'init-reboot' && own) return nak(`this client's lease is for ${formatIpv4(own.ip)}, not ${formatIpv4(want)}`);
  if (own && own.ip !== want && own.state !== 'declined' && own.state !== 'offered' && !isFree(own, now)) {
    return nak(`this client holds ${formatIpv4(own.ip)}, not ${formatIpv4(want)}`);
  }
  // No offer or lease of this client at this address (an offer that lapsed or was lost with a restart,
  // a lease the server lost, or a forged REQUEST): the same bound as offers, so a flood of REQUESTs
  // from random MACs cannot take the range (or, with discovery, register nodes) faster than offers could.
  if (!input.mayOffer) return ignore('too many pending offers');
  return ack(want, owner, true, true);
}

/** Options in reply order: 53 and 54 first, then what the client asked for in its order, then the rest. */
function reply(input: Input, type: number, yiaddr: number, ciaddr: number, boot: BootChoice | undefined, withLease: boolean): DhcpPacket {
  const { req, net, known } = input;
  const v = net.values;
  const p = req.packet;
  const have = new Map<number, Buffer>();
  if (withLease) {
    const secs = Math.floor(net.leaseMs / 1000);
    have.set(OPT.LEASE_TIME, u32(secs));
    have.set(OPT.RENEWAL_T1, u32(Math.floor(secs / 2)));
    have.set(OPT.REBINDING_T2, u32(Math.floor((secs * 7) / 8)));
  }
  have.set(OPT.SUBNET_MASK, v.mask);
  if (v.router) have.set(OPT.ROUTER, v.router);
  if (v.dns) have.set(OPT.DNS, v.dns);
  have.set(OPT.DOMAIN, v.domain);
  if (known) have.set(OPT.HOSTNAME, text(known.node));
  have.set(OPT.BROADCAST, v.broadcast);
  if (v.mtu) have.set(OPT.MTU, v.mtu);
  if (v.ntp) have.set(OPT.NTP, v.ntp);
  let file = '';
  const asked = req.paramList;
  const askedFor = (code: number) => asked?.includes(code) === true;
  if (boot) {
    if (boot.vendorClass) have.set(OPT.VENDOR_CLASS, text(boot.vendorClass));
    if (boot.vendorClass === 'PXEClient') have.set(OPT.VENDOR_SPECIFIC, Buffer.from([PXE_DISCOVERY_CONTROL, 1, PXE_DISCOVERY_USE_BOOTFILE, OPT.END]));
    if (boot.file !== undefined) {
      const fits = Buffer.byteLength(boot.file) <= 127;
      if (fits) file = boot.file;
      // Option 67 when asked, or when the name does not fit the file field, or for HTTP boot (firmware reads it there).
      if (!fits || boot.http || askedFor(OPT.BOOTFILE)) have.set(OPT.BOOTFILE, text(boot.file));
      if (askedFor(OPT.TFTP_SERVER)) have.set(OPT.TFTP_SERVER, v.serverText);
      if (askedFor(OPT.TFTP_SERVER_ADDRESS)) have.set(OPT.TFTP_SERVER_ADDRESS, v.serverId);
    }
    if (boot.pxelinux) {
      have.set(OPT.PXELINUX_CONFIG_FILE, text(boot.pxelinux.configFile));
      have.set(OPT.PXELINUX_PATH_PREFIX, text(boot.pxelinux.pathPrefix));
    }
    if (boot.bpbatch) have.set(OPT.BPBATCH, text(boot.bpbatch));
  }
  if (req.uuid) have.set(OPT.UUID, req.uuid);

  // A Map keeps insertion order: the wire order.
  const options = new Map<number, Buffer>([
    [OPT.MESSAGE_TYPE, Buffer.from([type])],
    [OPT.SERVER_ID, v.serverId],
  ]);
  if (asked) {
    for (let i = 0; i < asked.length; i++) {
      const code = asked[i]!;
      const val = have.get(code);
      if (val) {
        options.set(code, val);
        have.delete(code);
      }
    }
  }
  for (const [code, val] of have) options.set(code, val);
  echoed(req, options);
  return {
    op: BOOTREPLY,
    htype: p.htype,
    hlen: p.hlen,
    hops: 0,
    xid: p.xid,
    secs: 0,
    // Only the broadcast bit: the other 15 are reserved and MUST be zero (RFC 2131 2).
    flags: p.flags & 0x8000,
    ciaddr,
    yiaddr,
    siaddr: net.server,
    giaddr: p.giaddr,
    chaddr: p.chaddr,
    sname: '',
    file,
    options,
  };
}

/**
 * Options every reply copies from the request: 118 (RFC 3011: an identical copy to any client
 * that sent it; the server honours it, see DhcpServer.networkFor) and 82 last (RFC 3046 2.2: in
 * all replies, also with giaddr 0, where a snooping switch inserted it and strips it again).
 */
function echoed(req: DhcpRequest, options: Map<number, Buffer>): void {
  const sel = req.subnetSelection !== undefined ? req.packet.options.get(OPT.SUBNET_SELECTION) : undefined;
  if (sel) options.set(OPT.SUBNET_SELECTION, sel);
  if (req.relayInfo) options.set(OPT.RELAY_AGENT, req.relayInfo);
}

function nakReply({ req, net }: Input, why: string): DhcpPacket {
  const p = req.packet;
  const options = new Map<number, Buffer>([
    [OPT.MESSAGE_TYPE, Buffer.from([MSG.NAK])],
    [OPT.SERVER_ID, net.values.serverId],
    [OPT.MESSAGE, text(why.slice(0, 255))],
  ]);
  echoed(req, options);
  return {
    op: BOOTREPLY,
    htype: p.htype,
    hlen: p.hlen,
    hops: 0,
    xid: p.xid,
    secs: 0,
    // RFC 2131 4.3.2: a NAK through a relay asks it to broadcast (the client may have no usable address).
    flags: p.giaddr ? 0x8000 : p.flags & 0x8000,
    ciaddr: 0,
    yiaddr: 0,
    siaddr: 0,
    giaddr: p.giaddr,
    chaddr: p.chaddr,
    sname: '',
    file: '',
    options,
  };
}

/**
 * Precompute a network's option values.
 * @param bootUnknown unknown machines' network-boot firmware gets the default loader (dhcp.bootUnknown, off with dhcp.discovery)
 */
export function policyNetwork(net: ResolvedNetwork, clusterDomain: string, defaultLeaseMs: number, ntp: number[], httpBase: string | undefined, bootUnknown = false): PolicyNetwork {
  const domain = net.config.domain ?? clusterDomain;
  return {
    net,
    name: net.name,
    server: net.server,
    mask: net.cidr.mask,
    broadcast: net.cidr.broadcast,
    router: net.router,
    dns: net.dns,
    ntp,
    domain,
    mtu: net.config.mtu,
    leaseMs: net.leaseMs ?? defaultLeaseMs,
    dynamicRange: net.dynamicRange,
    httpBase,
    bootUnknown,
    serverAddress: formatIpv4(net.server),
    values: {
      serverId: u32(net.server),
      mask: u32(net.cidr.mask),
      broadcast: u32(net.cidr.broadcast),
      router: net.router !== undefined ? u32(net.router) : undefined,
      dns: net.dns.length ? ipList(net.dns) : undefined,
      ntp: ntp.length ? ipList(ntp) : undefined,
      domain: text(domain),
      mtu: net.config.mtu !== undefined ? Buffer.from([net.config.mtu >> 8, net.config.mtu & 255]) : undefined,
      serverText: text(formatIpv4(net.server)),
    },
  };
}
