// conntrackd.conf for the pair: NAT connection state of the director (the
// DNAT of each client connection to its blade) sent to the peer, so that a
// connection established through the VIP still has its mapping on the node
// that takes over.
//
// - FTFW (reliable, acknowledged) over unicast UDP on one link.
// - DisableExternalCache On: the backup writes what it receives straight
//   into its kernel table, so there is nothing to commit at a takeover and no
//   moment in which a packet of an established connection meets a node
//   without its entry (a commit from notify_master leaves one).
// - Only traffic through the director is synced: connections to or from
//   either node's own addresses and to the floating service addresses (NFS,
//   TFTP, the API: they end on the node itself) are ignored.
import { formatIpv4, type Ipv4 } from '../net/ipv4.js';

export interface ConntrackdRenderInput {
  interface: string;
  own: Ipv4;
  peer: Ipv4;
  port: number;
  /** Where the control socket, lock and log go. */
  dir: string;
  /** Addresses whose connections are not synced. */
  ignore: Ipv4[];
  /** Sync UDP flows too (a UDP virtual service). */
  udp: boolean;
}

export const conntrackdPaths = (dir: string) => ({
  socket: `${dir}/conntrackd.ctl`,
  lock: `${dir}/conntrackd.lock`,
  log: `${dir}/conntrackd.log`,
});

export function renderConntrackd(i: ConntrackdRenderInput): string {
  const p = conntrackdPaths(i.dir);
  const ignore = [...new Set(['127.0.0.1', ...i.ignore.map(formatIpv4)])];
  return [
    '# conntrackd.conf of rackboot\'s pair: rewritten at every start, do not edit',
    'Sync {',
    '\tMode FTFW {',
    '\t\tDisableExternalCache On',
    '\t}',
    '\tUDP {',
    `\t\tIPv4_address ${formatIpv4(i.own)}`,
    `\t\tIPv4_Destination_Address ${formatIpv4(i.peer)}`,
    `\t\tPort ${i.port}`,
    `\t\tInterface ${i.interface}`,
    '\t\tSndSocketBuffer 1249280',
    '\t\tRcvSocketBuffer 1249280',
    '\t\tChecksum on',
    '\t}',
    '}',
    'General {',
    '\tHashSize 32768',
    '\tHashLimit 131072',
    '\tSyslog off',
    `\tLogFile ${p.log}`,
    `\tLockFile ${p.lock}`,
    '\tUNIX {',
    `\t\tPath ${p.socket}`,
    '\t}',
    '\tNetlinkBufferSize 2097152',
    '\tNetlinkBufferSizeMaxGrowth 8388608',
    '\tFilter From Kernelspace {',
    '\t\tProtocol Accept {',
    '\t\t\tTCP',
    ...(i.udp ? ['\t\t\tUDP'] : []),
    '\t\t}',
    '\t\tAddress Ignore {',
    ...ignore.map((a) => `\t\t\tIPv4_address ${a}`),
    '\t\t}',
    '\t}',
    '}',
    '',
  ].join('\n');
}
