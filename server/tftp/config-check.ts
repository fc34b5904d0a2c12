// The tftp part of loading a config (and of `rackboot config check`).
import { SERVED } from '../config/bind.js';
import { isIpv4 } from '../net/ipv4.js';
import type { TftpConfig } from './config.js';

/** Cross-checks of the tftp section (run with the other CONFIG_CHECKS). */
export function tftpConfigIssues(c: { config: { tftp: TftpConfig } }): Array<{ path: string; message: string }> {
  const a = c.config.tftp.address;
  if (a === SERVED || isIpv4(a)) return [];
  return [{ path: 'tftp.address', message: `'${a}' is not '${SERVED}' (the served networks' addresses), 0.0.0.0 or an IPv4 address` }];
}
