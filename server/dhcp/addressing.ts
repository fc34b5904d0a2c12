// Where a reply goes (RFC 2131 4.1), decided without I/O.
//
// Node cannot add an ARP entry, so a reply to a client without an address
// and without the broadcast flag cannot be unicast to yiaddr at chaddr the
// way a C server does it with SIOCSARP or a raw socket. rackboot broadcasts
// it instead, which 4.1 allows ("If unicasting is not possible, the message
// MAY be sent as an IP broadcast"): the socket is bound to the network's
// interface (SO_BINDTOIFINDEX), so the broadcast leaves only by that
// interface, and clients accept broadcast replies whatever their flag.
import { MSG } from './options.js';

export const CLIENT_PORT = 68;
export const BROADCAST = 0xffffffff;

export interface Destination {
  address: number;
  port: number;
  /** Why this destination, for the event. */
  via: 'relay' | 'ciaddr' | 'broadcast';
}

/**
 * @param relayPort port relays listen on (the server port)
 * @param mayBroadcast false on a socket that is not a network's own interface (relay-facing):
 *   it never broadcasts, so a client there without giaddr/ciaddr gets nothing
 */
export function replyDestination(
  req: { giaddr: number; ciaddr: number; flags: number },
  replyType: number,
  relayPort: number,
  mayBroadcast: boolean,
): Destination | undefined {
  if (req.giaddr) return { address: req.giaddr, port: relayPort, via: 'relay' };
  // A NAK is broadcast: the client's address is what is wrong (4.1).
  if (replyType === MSG.NAK && mayBroadcast) return { address: BROADCAST, port: CLIENT_PORT, via: 'broadcast' };
  if (req.ciaddr) return { address: req.ciaddr, port: CLIENT_PORT, via: 'ciaddr' };
  if (!mayBroadcast) return undefined;
  // Broadcast flag set, or clear and unicast to yiaddr impossible without an ARP entry: broadcast.
  return { address: BROADCAST, port: CLIENT_PORT, via: 'broadcast' };
}
