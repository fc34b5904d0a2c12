// A decoded BOOTREQUEST read into the typed fields the policy decides on.
// Pure. A malformed optional option is treated as absent and noted, so one bad
// option does not cost a client its address; a malformed message type is an
// error.
import { err, ok, type Result } from '../result.js';
import { BOOTREQUEST, DEFAULT_MAX_MESSAGE, type DhcpPacket } from './codec.js';
import { OPT } from './options.js';

export interface DhcpRequest {
  packet: DhcpPacket;
  /** Option 53; undefined for plain BOOTP. */
  type: number | undefined;
  /** Canonical lower-case aa:bb:.. text of chaddr (Ethernet). */
  mac: string;
  /** chaddr as a 48-bit number: a cheap map key. */
  macNum: number;
  /** Option 61 as lower-case hex. */
  clientId: string | undefined;
  requestedIp: number | undefined;
  serverId: number | undefined;
  paramList: Uint8Array | undefined;
  /** Largest reply the client accepts (DHCP message bytes). */
  maxSize: number;
  vendorClass: string | undefined;
  /** The client runs iPXE (user class "iPXE" or option 175 present). */
  isIpxe: boolean;
  /** Option 93 (first entry), undefined when absent. */
  arch: number | undefined;
  hostname: string | undefined;
  /** Option 97 raw, echoed back. */
  uuid: Buffer | undefined;
  /** Option 82 raw, echoed back to the relay. */
  relayInfo: Buffer | undefined;
  /** Option 118. */
  subnetSelection: number | undefined;
  /** Options that were present but malformed, by code. */
  malformed: number[];
}


const HEX = '0123456789abcdef';

function hexOf(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX[b[i]! >> 4]! + HEX[b[i]! & 15]!;
  return s;
}

function macText(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += (i ? ':' : '') + HEX[b[i]! >> 4]! + HEX[b[i]! & 15]!;
  return s;
}

/** 6 bytes -> number (exact: 2^48 < 2^53). */
export function macNumber(b: Uint8Array, off = 0): number {
  return ((b[off]! * 256 + b[off + 1]!) * 65536 + (b[off + 2]! * 256 + b[off + 3]!)) * 65536 + b[off + 4]! * 256 + b[off + 5]!;
}

/** Canonical MAC text -> number. */
export function macTextToNumber(mac: string): number {
  return parseInt(mac.replaceAll(':', ''), 16);
}

function ip4(v: Buffer | undefined, code: number, malformed: number[]): number | undefined {
  if (!v) return undefined;
  if (v.length !== 4) {
    malformed.push(code);
    return undefined;
  }
  return v.readUInt32BE(0);
}

/** Printable text of an option (control characters replaced), bounded. */
function printable(v: Buffer, max = 255): string {
  return v.toString('latin1', 0, Math.min(v.length, max)).replace(/[\x00-\x1f\x7f-\xff]/g, '?');
}

export function readRequest(p: DhcpPacket): Result<DhcpRequest> {
  if (p.op !== BOOTREQUEST) return err('not a BOOTREQUEST');
  if (p.htype !== 1 || p.hlen !== 6) return err(`hardware type ${p.htype}/length ${p.hlen} is not Ethernet (1/6)`);
  const o = p.options;
  const malformed: number[] = [];
  let type: number | undefined;
  const mt = o.get(OPT.MESSAGE_TYPE);
  if (mt) {
    if (mt.length !== 1 || mt[0]! < 1 || mt[0]! > 18) return err(`option 53 (message type) is malformed`);
    type = mt[0]!;
  }
  let maxSize = DEFAULT_MAX_MESSAGE;
  const ms = o.get(OPT.MAX_SIZE);
  if (ms) {
    if (ms.length === 2) maxSize = Math.max(DEFAULT_MAX_MESSAGE, ms.readUInt16BE(0) - 28);
    else malformed.push(OPT.MAX_SIZE);
  }
  let arch: number | undefined;
  const a = o.get(OPT.CLIENT_ARCH);
  if (a) {
    if (a.length >= 2 && a.length % 2 === 0) arch = a.readUInt16BE(0);
    else malformed.push(OPT.CLIENT_ARCH);
  }
  const uc = o.get(OPT.USER_CLASS);
  const isIpxe = o.has(OPT.IPXE_ENCAP) || uc?.includes('iPXE', 0, 'latin1') === true;
  const vc = o.get(OPT.VENDOR_CLASS);
  const cid = o.get(OPT.CLIENT_ID);
  const hn = o.get(OPT.HOSTNAME);
  const uuid = o.get(OPT.UUID);
  return ok({
      packet: p,
      type,
      mac: macText(p.chaddr),
      macNum: macNumber(p.chaddr),
      clientId: cid && cid.length > 0 ? hexOf(cid) : undefined,
      requestedIp: ip4(o.get(OPT.REQUESTED_IP), OPT.REQUESTED_IP, malformed),
      serverId: ip4(o.get(OPT.SERVER_ID), OPT.SERVER_ID, malformed),
      paramList: o.get(OPT.PARAM_LIST),
      maxSize,
      vendorClass: vc ? printable(vc) : undefined,
      isIpxe,
      arch,
      hostname: hn?.length ? printable(hn, 63) : undefined,
      uuid: uuid && uuid.length === 17 ? uuid : undefined,
      relayInfo: o.get(OPT.RELAY_AGENT),
      subnetSelection: ip4(o.get(OPT.SUBNET_SELECTION), OPT.SUBNET_SELECTION, malformed),
      malformed,
  });
}
