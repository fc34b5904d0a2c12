// Router advertisements on the boot networks' interfaces (dhcp.routerAdvertisements,
// on by default): one responder per interface DHCP serves. Without the native
// addon it says so once at start and rackboot goes on without it.
import { readFileSync } from 'node:fs';
import { readIfindex } from '../net/udp-device.js';
import { declareService, type Service } from '../service.js';
import { icmp6Unavailable, loadIcmp6, RaResponder } from './responder.js';

/** This machine's IPv6 addresses (hex), from /proc/net/if_inet6, read again at most once a second. */
function ownAddresses(): (address: Buffer) => boolean {
  let at = 0;
  let set = new Set<string>();
  return (address) => {
    const now = Date.now();
    if (now - at > 1000) {
      at = now;
      try {
        set = new Set(readFileSync('/proc/net/if_inet6', 'utf8').split('\n').map((l) => l.split(/\s+/)[0]!).filter(Boolean));
      } catch {
        set = new Set();
      }
    }
    return set.has(address.toString('hex'));
  };
}

function interfaceMac(iface: string): string | undefined {
  try {
    const mac = readFileSync(`/sys/class/net/${iface}/address`, 'utf8').trim().toLowerCase();
    return /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac) ? mac : undefined;
  } catch {
    return undefined;
  }
}

/** Why a raw ICMPv6 socket could not be opened, in operator's words. */
function openHint(iface: string, e: NodeJS.ErrnoException): string {
  if (e.code === 'EPERM') return ' (needs root or CAP_NET_RAW: see docs/operations.md)';
  try {
    if (readFileSync(`/proc/sys/net/ipv6/conf/${iface}/disable_ipv6`, 'utf8').trim() === '1') return ` (IPv6 is off on ${iface}: sysctl net.ipv6.conf.${iface}.disable_ipv6=0)`;
  } catch {
    return ` (IPv6 is off here: no /proc/sys/net/ipv6/conf/${iface})`;
  }
  return '';
}

export const raService = declareService({ name: 'ra', title: 'router advertisements', enable: 'dhcp.routerAdvertisements: true' }, (ctx) => {
  const d = ctx.cfg.config.dhcp;
  if (!d.enabled || !d.routerAdvertisements) return undefined;
  const ifaces = [...new Set(ctx.cfg.networks.map((n) => n.config.interface).filter((i): i is string => !!i))];
  if (!ifaces.length) return undefined;
  const log = ctx.log;
  const responders: RaResponder[] = [];
  let unavailable: string | undefined;
  return {
    name: 'ra',
    async start() {
      const addon = loadIcmp6();
      if (!addon) {
        unavailable = `the icmp6 addon is not built (${icmp6Unavailable()})`;
        log.warn(`ra: not answering IPv6 router solicitations: ${unavailable}; iPXE then waits ~16 s for IPv6 on every boot (run npm ci with a C compiler, or set dhcp.routerAdvertisements: false to silence this)`);
        return;
      }
      const own = ownAddresses();
      for (const iface of ifaces) {
        const ifindex = readIfindex(iface);
        if (ifindex === undefined) {
          log.warn(`ra: interface ${iface} does not exist here: no router advertisements on it`);
          continue;
        }
        const r = new RaResponder({
          iface,
          ifindex,
          mac: interfaceMac(iface),
          ownAddress: own,
          addon,
          log,
          answered: ({ mac, from }) => {
            // On the machine's timeline when its solicitation named a registered MAC (iPXE's does).
            if (!mac) return;
            void ctx.store.findByMac(mac).then(
              (hit) => ctx.events.record({ node: hit?.node.name ?? null, mac, kind: 'ra.sent', detail: { interface: iface, to: from } }),
              () => undefined,
            );
          },
        });
        try {
          r.start();
          responders.push(r);
        } catch (e) {
          log.warn(`ra: cannot answer IPv6 router solicitations on ${iface}: ${(e as Error).message}${openHint(iface, e as NodeJS.ErrnoException)}`);
        }
      }
      if (responders.length) log.info(`ra: answering IPv6 router solicitations on ${responders.map((r) => r.detail.split(':')[0]).join(', ')} (no prefix, router lifetime 0: hosts learn nothing, iPXE stops waiting)`);
    },
    async stop() {
      for (const r of responders.splice(0)) r.stop();
    },
    health() {
      if (unavailable) return { ok: true, detail: `off: ${unavailable}` };
      return { ok: true, detail: responders.map((r) => r.detail).join('; ') || 'no interface' };
    },
  } satisfies Service;
});
