// The dhcp part of loading a config (and of `rackboot config check`): lease
// and offer times in range, relays, relay interfaces and each network's
// DHCP keys. Run with the other checks (main/config-checks.ts).
import { relayIssues } from '../config/sources.js';
import { parseDuration } from '../config/types.js';
import type { DhcpConfig } from './config.js';

/**
 * Lease times in seconds: at least a minute (0 would give lease, T1 and T2 of
 * 0, a client renewing without pause), at most 0xfffffffe (option 51 is a
 * 32-bit count of seconds, and 0xffffffff means "infinite").
 */
export const LEASE_MIN_S = 60;
export const LEASE_MAX_S = 0xfffffffe;
/** How long an offer may hold an address: long enough for a slow PXE ROM's REQUEST, short enough that a flood's offers lapse. */
export const OFFER_MIN_S = 1;
export const OFFER_MAX_S = 600;

function durationIssue(path: string, v: string | number, minS: number, maxS: number, what: string): { path: string; message: string } | undefined {
  const s = parseDuration(v) / 1000;
  if (s >= minS && s <= maxS) return undefined;
  return { path, message: `${what} ${JSON.stringify(v)} is ${s < minS ? 'shorter' : 'longer'} than the ${s < minS ? 'minimum' : 'maximum'} ${s < minS ? minS : maxS} s (allowed: ${minS} to ${maxS} s)` };
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** Cross-checks for the dhcp section (run with the other CONFIG_CHECKS). */
export function dhcpConfigIssues(c: { config: { dhcp: DhcpConfig } }): Array<{ path: string; message: string }> {
  const issues: Array<{ path: string; message: string }> = [];
  const add = (i: { path: string; message: string } | undefined) => i && issues.push(i);
  add(durationIssue('dhcp.leaseTime', c.config.dhcp.leaseTime, LEASE_MIN_S, LEASE_MAX_S, 'lease time'));
  add(durationIssue('dhcp.offerTimeout', c.config.dhcp.offerTimeout, OFFER_MIN_S, OFFER_MAX_S, 'offer timeout'));
  issues.push(...relayIssues(c.config.dhcp.relays));
  c.config.dhcp.relayInterfaces.forEach((name, i) => {
    if (!/^[^/\s]{1,15}$/.test(name) || name === '.' || name === '..') {
      issues.push({ path: `dhcp.relayInterfaces[${i}]`, message: `'${name}' is not an interface name` });
    }
  });
  return issues;
}

/**
 * The keys of one network entry the DHCP server reads (run with the other
 * NETWORK_CHECKS, on each entry that passed the schema); `at` is its key
 * path, "networks[1]".
 */
export function dhcpNetworkIssues(n: { ntp?: string[]; leaseTime?: string | number }, at: string): Array<{ path: string; message: string }> {
  const issues: Array<{ path: string; message: string }> = [];
  const lease = n.leaseTime !== undefined ? durationIssue(`${at}.leaseTime`, n.leaseTime, LEASE_MIN_S, LEASE_MAX_S, 'lease time') : undefined;
  if (lease) issues.push(lease);
  (n.ntp ?? []).forEach((t, j) => {
    if (!IPV4.test(t)) issues.push({ path: `${at}.ntp[${j}]`, message: `'${t}' is not an IPv4 address` });
  });
  return issues;
}
