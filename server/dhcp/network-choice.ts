// Which network a request is for, from where it came (relay, subnet
// selection, a unicast renewal, the interface) and who sent it. Pure: the
// server asks with the request and the socket it arrived on.
import { httpBase } from '../boot/loaders.js';
import type { LoadedConfig } from '../config/loaded.js';
import { cidrContains, parseIpv4 } from '../net/ipv4.js';
import { policyNetwork, type KnownClient, type PolicyNetwork } from './policy.js';
import type { ServedSocket } from './replies.js';
import type { DhcpRequest } from './request.js';

/** The configured networks as the policy needs them. */
export function servedNetworks(cfg: LoadedConfig): PolicyNetwork[] {
  const dhcp = cfg.resolved.dhcp;
  const { leaseMs } = dhcp;
  return cfg.networks.map((n) => {
    const ntp = (n.config.ntp ?? []).map((t) => parseIpv4(t)).filter((x): x is number => x !== undefined);
    // No HTTP URLs where /boot is not served over HTTP (templates.httpBoot false).
    const http = cfg.config.templates.httpBoot ? httpBase(cfg, n) : undefined;
    return policyNetwork(n, cfg.config.cluster.domain, leaseMs, ntp, http, dhcp.bootUnknown && !dhcp.discovery);
  });
}

export class NetworkChooser {
  private readonly byName = new Map<string, PolicyNetwork>();

  constructor(readonly all: readonly PolicyNetwork[]) {
    for (const n of all) this.byName.set(n.name, n);
  }

  named(name: string): PolicyNetwork | undefined {
    return this.byName.get(name);
  }

  /** The network a request is for, or undefined (then it is not ours to answer). */
  forRequest(req: DhcpRequest, s: Pick<ServedSocket, 'kind' | 'networks'>, known: KnownClient | undefined): PolicyNetwork | undefined {
    const p = req.packet;
    if (p.giaddr) return this.containing(req.subnetSelection ?? p.giaddr);
    if (req.subnetSelection !== undefined) {
      // RFC 3011 from a client without a relay: honoured among the networks this request can be
      // for (this interface's, or the relayed network of a unicast renewal), else not answered (the
      // client discards a reply without option 118, and no other interface's network is chosen).
      const sel = req.subnetSelection;
      const own = s.kind === 'network' ? s.networks.find((n) => cidrContains(n.net.cidr, sel)) : undefined;
      if (own) return own;
      const viaRelay = p.ciaddr ? this.containing(p.ciaddr) : undefined;
      return viaRelay && !viaRelay.net.config.interface && cidrContains(viaRelay.net.cidr, sel) ? viaRelay : undefined;
    }
    if (p.ciaddr) {
      // A client renewing by unicast from a network reached through relays.
      const n = this.containing(p.ciaddr);
      if (n && !n.net.config.interface) return n;
    }
    if (s.kind !== 'network') return undefined;
    if (s.networks.length === 1) return s.networks[0];
    // Several networks on one interface: the client's registered one, else the one its address is in.
    if (known) {
      const k = s.networks.find((n) => n.name === known.network);
      if (k) return k;
    }
    const addr = p.ciaddr || req.requestedIp;
    if (addr) {
      const n = s.networks.find((x) => cidrContains(x.net.cidr, addr));
      if (n) return n;
    }
    return s.networks.find((n) => n.dynamicRange) ?? s.networks[0];
  }

  private containing(ip: number): PolicyNetwork | undefined {
    for (const n of this.all) if (cidrContains(n.net.cidr, ip)) return n;
    return undefined;
  }
}
