// Where rackboot's listening sockets go by default: the addresses of the
// networks it serves (and loopback), not every address of the machine. With
// a wildcard, TFTP and the API also answered on the director's outside
// address; now the outside is reached only when the config names it.
import { formatIpv4 } from '../net/ipv4.js';
import type { ResolvedNetwork } from './networks.js';

/** The word for "the served networks' addresses" in api.listen (served:8080) and tftp.address. */
export const SERVED = 'served';

/** Loopback first (the CLI's default), then each network's serverAddress, once each. */
export function servedAddresses(networks: readonly ResolvedNetwork[], opts: { loopback: boolean }): string[] {
  const out = opts.loopback ? ['127.0.0.1'] : [];
  for (const n of networks) out.push(formatIpv4(n.server));
  return [...new Set(out)];
}
