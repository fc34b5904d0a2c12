// System preparation for LVS-NAT: IPv4 forwarding on, the VIPs on their
// outside interfaces and the NAT-router address on the inside one (iproute2).
// Undone on stop, but only what rackboot itself changed: an address that was
// already there stays, forwarding that was already on stays on.
// (2.2 kernels also needed ip_always_defrag; conntrack defragments by itself.)
import type { Logger } from '../log.js';
import { formatIpv4 } from '../net/ipv4.js';
import type { CommandRunner } from './exec.js';
import type { ResolvedDirector } from './model.js';

export interface WantedAddress {
  address: string;
  prefix: number;
  interface: string;
  /** What it is for, for messages: "the VIP of service web". */
  role: string;
}

interface AddrInfo {
  family?: string;
  local?: string;
  prefixlen?: number;
}

export function wantedAddresses(d: ResolvedDirector): WantedAddress[] {
  const out: WantedAddress[] = [];
  const seen = new Set<string>();
  const add = (w: WantedAddress) => {
    const k = `${w.interface}/${w.address}`;
    if (!seen.has(k)) (seen.add(k), out.push(w));
  };
  if (d.natRouter) add({ address: formatIpv4(d.natRouter.address), prefix: d.natRouter.prefix, interface: d.natRouter.interface, role: 'the NAT router address' });
  for (const s of d.services) add({ address: formatIpv4(s.vip), prefix: s.vipPrefix, interface: s.interface, role: `the VIP of service ${s.name}` });
  return out;
}

export class SystemPrep {
  private added: WantedAddress[] = [];
  private forwardWas: string | undefined;

  constructor(private readonly runner: CommandRunner, private readonly log: Logger) {}

  /**
   * Throws a one-line error naming the interface or command that failed.
   * `floating`: addresses a pair's keepalived moves between the nodes; they are not added here.
   */
  async up(d: ResolvedDirector, floating: ReadonlySet<string> = new Set()): Promise<void> {
    const fwd = (await this.runner.must('sysctl', ['-n', 'net.ipv4.ip_forward'])).trim();
    if (fwd !== '1') {
      await this.runner.must('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
      this.forwardWas = fwd;
      this.log.info('director: net.ipv4.ip_forward set to 1');
    }
    for (const w of wantedAddresses(d)) {
      if (floating.has(w.address)) {
        this.log.info(`director: ${w.address}/${w.prefix} (${w.role}) floats between the pair's nodes: keepalived adds it on the master`);
        continue;
      }
      const r = await this.runner.run('ip', ['-j', '-4', 'addr', 'show', 'dev', w.interface]);
      if (r.code !== 0) throw new Error(`interface '${w.interface}' for ${w.role} does not exist here: ${r.stderr.trim()}`);
      let infos: AddrInfo[] = [];
      try {
        const parsed = JSON.parse(r.stdout || '[]') as Array<{ addr_info?: AddrInfo[] }>;
        infos = parsed.flatMap((x) => x.addr_info ?? []);
      } catch {
        throw new Error(`could not read the addresses of '${w.interface}' (ip -j output was not JSON)`);
      }
      if (infos.some((a) => a.local === w.address)) continue;
      await this.runner.must('ip', ['addr', 'add', `${w.address}/${w.prefix}`, 'dev', w.interface]);
      this.added.push(w);
      this.log.info(`director: added ${w.address}/${w.prefix} to ${w.interface} (${w.role})`);
    }
  }

  async down(): Promise<void> {
    for (const w of this.added.reverse()) {
      const r = await this.runner.run('ip', ['addr', 'del', `${w.address}/${w.prefix}`, 'dev', w.interface]);
      if (r.code === 0) this.log.info(`director: removed ${w.address}/${w.prefix} from ${w.interface}`);
      else this.log.warn(`director: could not remove ${w.address}/${w.prefix} from ${w.interface}: ${r.stderr.trim()}`);
    }
    this.added = [];
    if (this.forwardWas !== undefined) {
      await this.runner.run('sysctl', ['-q', '-w', `net.ipv4.ip_forward=${this.forwardWas}`]);
      this.forwardWas = undefined;
    }
  }
}
