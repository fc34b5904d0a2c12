// The paper's network, in namespaces on this machine:
//
//   outside ns            director ns                 fabric ns
//   eth0 192.168.1.10 --- eth0 192.168.1.1 (+VIP)
//                         eth1 10.0.0.1  (+NAT router) --- br0 --- tap b<i>e0 -- blade<i> eth0
//                         eth2 10.0.1.1  ------------------ br1 --- tap b<i>e1 -- blade<i> eth1
//
// The bridges and the blades' tap devices live in a "fabric" namespace that
// plays the rack's switches; QEMU runs there too (`ip netns exec fabric`),
// because a process opens /dev/net/tun for a tap of its own namespace.
// Every link is created straight inside its namespace, so nothing of the lab
// ever appears in the root namespace, and deleting the namespaces removes it
// all.
import { NetLab, sh } from '../helpers/netns.js';
import { LAB_PREFIX } from './state.js';

export interface BladeAddr {
  name: string;
  index: number;
  macs: [string, string];
  ipv4: [string, string];
  taps: [string, string];
}

export const ADDR = {
  outsideCidr: '192.168.1.0/24',
  client: '192.168.1.10',
  directorOutside: '192.168.1.1',
  vip: '192.168.1.100',
  inside: { cidr: '10.0.0.0/24', server: '10.0.0.1', router: '10.0.0.254', prefix: '10.0.0.' },
  inside2: { cidr: '10.0.1.0/24', server: '10.0.1.1', prefix: '10.0.1.' },
  firstBladeHost: 11,
} as const;

const hex = (n: number) => n.toString(16).padStart(2, '0');

export function bladeAddr(index: number): BladeAddr {
  const n = index + 1;
  return {
    name: `blade${n}`,
    index,
    macs: [`52:54:00:00:0a:${hex(n)}`, `52:54:00:00:0b:${hex(n)}`],
    ipv4: [`${ADDR.inside.prefix}${ADDR.firstBladeHost + index}`, `${ADDR.inside2.prefix}${ADDR.firstBladeHost + index}`],
    taps: [`b${n}e0`, `b${n}e1`],
  };
}

export class LabTopology {
  readonly net: NetLab;
  readonly outside: string;
  readonly director: string;
  readonly fabric: string;
  readonly blades: BladeAddr[];

  private constructor(net: NetLab, blades: number) {
    this.net = net;
    this.outside = net.ns('outside');
    this.director = net.ns('director');
    this.fabric = net.ns('fabric');
    this.blades = Array.from({ length: blades }, (_, i) => bladeAddr(i));
  }

  get id(): string {
    return this.net.id;
  }

  /** Names of the namespaces this topology makes (for the run's claim, before they exist). */
  get namespaces(): string[] {
    return [this.outside, this.director, this.fabric];
  }

  static plan(blades: number): LabTopology {
    return new LabTopology(new NetLab(LAB_PREFIX), blades);
  }

  build(): void {
    const { net } = this;
    net.addNs('outside');
    net.addNs('director');
    net.addNs('fabric');
    // No IPv6 chatter from the lab's own ends (the blades' firmware still sends its own).
    for (const ns of this.namespaces) {
      sh('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'], { check: false });
    }
    this.veth(this.outside, 'eth0', this.director, 'eth0');
    this.addr(this.outside, 'eth0', `${ADDR.client}/24`);
    this.addr(this.director, 'eth0', `${ADDR.directorOutside}/24`);

    net.bridge(this.fabric, 'br0');
    net.bridge(this.fabric, 'br1');
    this.veth(this.director, 'eth1', this.fabric, 'up0');
    this.veth(this.director, 'eth2', this.fabric, 'up1');
    this.addr(this.director, 'eth1', `${ADDR.inside.server}/24`);
    this.addr(this.director, 'eth2', `${ADDR.inside2.server}/24`);
    net.enslave(this.fabric, 'up0', 'br0');
    net.enslave(this.fabric, 'up1', 'br1');
    // IPv6 on the director's blade-facing links only: rackboot answers the blades' router
    // solicitations there from a link-local address (no duplicate-address wait, no solicitations of its own).
    for (const dev of ['eth1', 'eth2']) {
      const k = (key: string, v: number) => `net.ipv6.conf.${dev}.${key}=${v}`;
      sh('ip', ['netns', 'exec', this.director, 'sysctl', '-q', '-w', k('accept_dad', 0), k('router_solicitations', 0), k('accept_ra', 0), k('disable_ipv6', 0)], { check: false });
    }
    for (const b of this.blades) this.addTaps(b);
  }

  /** A blade's two tap devices on the two bridges (QEMU attaches to them by name). */
  addTaps(b: BladeAddr): void {
    for (const [i, tap] of b.taps.entries()) {
      if (sh('ip', ['-n', this.fabric, 'link', 'show', tap], { check: false }).code === 0) continue;
      sh('ip', ['-n', this.fabric, 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
      sh('ip', ['-n', this.fabric, 'link', 'set', tap, 'master', i === 0 ? 'br0' : 'br1']);
      sh('ip', ['-n', this.fabric, 'link', 'set', tap, 'up']);
    }
  }

  /** A veth pair created with both ends already in their namespaces. */
  private veth(nsA: string, nameA: string, nsB: string, nameB: string): void {
    sh('ip', ['-n', nsA, 'link', 'add', nameA, 'type', 'veth', 'peer', 'name', nameB, 'netns', nsB]);
    sh('ip', ['-n', nsA, 'link', 'set', nameA, 'up']);
    sh('ip', ['-n', nsB, 'link', 'set', nameB, 'up']);
  }

  private addr(ns: string, dev: string, cidr: string): void {
    sh('ip', ['-n', ns, 'addr', 'add', cidr, 'dev', dev]);
  }

  async destroy(): Promise<void> {
    await this.net.cleanup();
  }
}
