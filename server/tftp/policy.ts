// What the server does with a datagram that reaches the TFTP port, before any
// file is looked up. Pure: bytes in, decision out (unit-tested with hostile
// input).
import { decode, ERR } from './codec.js';
import { confineName } from '../boot/names.js';

export type ListenerDecision =
  | { kind: 'ignore'; reason: string }
  | { kind: 'error'; code: number; message: string; /** a refusal the operator should see (hostile names) */ refusal: boolean; filename?: string }
  | { kind: 'read'; filename: string; path: string; mode: 'octet' | 'netascii'; options: Array<[string, string]> };

export function decideRequest(buf: Buffer): ListenerDecision {
  const d = decode(buf);
  if (!d.ok) return { kind: 'error', code: ERR.ILLEGAL_OP, message: `malformed request: ${d.error}`, refusal: false };
  const p = d.value;
  switch (p.op) {
    case 'WRQ':
      return { kind: 'error', code: ERR.ACCESS, message: 'this server is read-only: write requests are refused', refusal: true, filename: p.filename };
    case 'ERROR':
      // Never answer an ERROR with an ERROR: two servers could bounce them forever.
      return { kind: 'ignore', reason: `ERROR ${p.code} '${p.message}' sent to the request port` };
    case 'ACK':
      // tftp-hpa's client acknowledges an ERROR, and the ERROR for a failed request leaves from
      // this port: answering that ACK would only add a second log line and a packet nobody reads.
      return { kind: 'ignore', reason: `ACK ${p.block} sent to the request port (a client acknowledging an ERROR)` };
    case 'RRQ':
      break;
    default:
      return { kind: 'error', code: ERR.ILLEGAL_OP, message: `${p.op} packet sent to the request port (expected a read request)`, refusal: false };
  }
  if (p.mode !== 'octet' && p.mode !== 'netascii') {
    return { kind: 'error', code: ERR.ILLEGAL_OP, message: `transfer mode '${p.mode}' is not supported (use octet or netascii)`, refusal: false, filename: p.filename };
  }
  const name = confineName(p.filename);
  if (!name.ok) {
    return {
      kind: 'error',
      code: name.code,
      message: name.code === ERR.ACCESS ? `access violation: ${name.reason}` : `file not found: ${name.reason}`,
      refusal: name.code === ERR.ACCESS,
      filename: p.filename,
    };
  }
  return { kind: 'read', filename: p.filename, path: name.path, mode: p.mode, options: p.options };
}
