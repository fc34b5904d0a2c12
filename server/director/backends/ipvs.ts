// ipvs backend: the kernel's IP Virtual Server, as the paper's piranha drove it.
// The table is read with `ipvsadm -Sn`, diffed against the desired state, and
// the difference applied in one `ipvsadm -R` run. Real servers are NAT
// (masquerading, -m). rackboot's nanny decides the pool. Only the virtual
// services in rackboot's config are touched; others in the table stay.
import type { Logger } from '../../log.js';
import { formatIpv4 } from '../../net/ipv4.js';
import type { DesiredService, DesiredState } from '../desired.js';
import type { CommandRunner } from '../exec.js';
import { countConnections, type ConnectionCounts } from '../connections.js';
import type { ApplyResult, DirectorBackend } from './types.js';

export interface IpvsServiceLine {
  /** "-t 192.168.1.100:80" */
  id: string;
  scheduler: string;
  persistence: number | undefined;
}

export interface IpvsTable {
  services: Map<string, IpvsServiceLine>;
  /** service id -> real "ip:port" -> weight */
  reals: Map<string, Map<string, number>>;
}

function serviceId(s: DesiredService): string {
  return `${s.protocol === 'udp' ? '-u' : '-t'} ${formatIpv4(s.vip)}:${s.port}`;
}

/** The desired state in `ipvsadm -S -n` form (what `rackboot director rules` prints for ipvs). */
export function renderIpvsadm(state: DesiredState): string {
  const lines: string[] = [];
  for (const s of state.services) {
    const id = serviceId(s);
    lines.push(`-A ${id} -s ${s.scheduler}${s.persistenceSec !== undefined ? ` -p ${s.persistenceSec}` : ''}`);
    for (const r of s.servers) lines.push(`-a ${id} -r ${formatIpv4(r.address)}:${r.port} -m -w ${r.weight}`);
  }
  return lines.join('\n') + (lines.length ? '\n' : '');
}

/** Parse `ipvsadm -S -n` output (or renderIpvsadm's). Unknown lines are skipped. */
export function parseIpvsadm(text: string): IpvsTable {
  const services = new Map<string, IpvsServiceLine>();
  const reals = new Map<string, Map<string, number>>();
  for (const raw of text.split('\n')) {
    const w = raw.trim().split(/\s+/);
    if (w.length < 3) continue;
    const id = `${w[1]} ${w[2]}`;
    if (!['-t', '-u', '-f', '--sctp-service'].includes(w[1]!)) continue;
    const opt = (flag: string) => {
      const i = w.indexOf(flag);
      return i >= 0 ? w[i + 1] : undefined;
    };
    if (w[0] === '-A') {
      // ipvsadm's own default: -p without a value is 300 s.
      const persistence = w.includes('-p') ? Number(opt('-p')) || 300 : undefined;
      services.set(id, { id, scheduler: opt('-s') ?? 'wlc', persistence });
      if (!reals.has(id)) reals.set(id, new Map());
    } else if (w[0] === '-a') {
      const r = opt('-r');
      if (!r) continue;
      if (!reals.has(id)) reals.set(id, new Map());
      reals.get(id)!.set(r, Number(opt('-w') ?? 1));
    }
  }
  return { services, reals };
}

/** The ipvsadm commands (for `ipvsadm -R`) that turn `current` into `state`, touching only the services in `state`. */
export function diffIpvs(current: IpvsTable, state: DesiredState): string[] {
  const cmds: string[] = [];
  for (const s of state.services) {
    const id = serviceId(s);
    const sched = `-s ${s.scheduler}${s.persistenceSec !== undefined ? ` -p ${s.persistenceSec}` : ''}`;
    const have = current.services.get(id);
    let haveReals = current.reals.get(id) ?? new Map<string, number>();
    if (!have) cmds.push(`-A ${id} ${sched}`);
    else if (have.scheduler !== s.scheduler || have.persistence !== s.persistenceSec) {
      if (have.persistence !== undefined && s.persistenceSec === undefined) {
        // -E cannot drop persistence: recreate the service with its servers.
        cmds.push(`-D ${id}`, `-A ${id} ${sched}`);
        haveReals = new Map();
      } else cmds.push(`-E ${id} ${sched}`);
    }
    const want = new Map(s.servers.map((r) => [`${formatIpv4(r.address)}:${r.port}`, r.weight]));
    for (const [r] of haveReals) if (!want.has(r)) cmds.push(`-d ${id} -r ${r}`);
    for (const [r, weight] of want) {
      const w = haveReals.get(r);
      if (w === undefined) cmds.push(`-a ${id} -r ${r} -m -w ${weight}`);
      else if (w !== weight) cmds.push(`-e ${id} -r ${r} -m -w ${weight}`);
    }
  }
  return cmds;
}

export class IpvsBackend implements DirectorBackend {
  readonly name = 'ipvs' as const;
  readonly checksHealth = false;
  private owned: string[] = [];

  constructor(private readonly runner: CommandRunner, private readonly log: Logger) {}

  async preflight(): Promise<void> {
    if (!(await this.runner.has('ipvsadm'))) throw new Error("the ipvs backend needs the 'ipvsadm' command (Debian package ipvsadm)");
    const r = await this.runner.run('ipvsadm', ['-Sn']);
    if (r.code !== 0) {
      throw new Error(`the ipvs backend needs a kernel with IPVS (modprobe ip_vs): ${r.stderr.trim().split('\n')[0]}; on a kernel without it use backend nftables`);
    }
  }

  render(state: DesiredState): string {
    return renderIpvsadm(state);
  }

  async apply(state: DesiredState): Promise<ApplyResult> {
    const current = parseIpvsadm(await this.runner.must('ipvsadm', ['-Sn']));
    const cmds = diffIpvs(current, state);
    this.owned = state.services.map(serviceId);
    if (!cmds.length) return { changed: false, summary: 'unchanged' };
    await this.runner.must('ipvsadm', ['-R'], { input: cmds.join('\n') + '\n' });
    return { changed: true, summary: cmds.join('; ') };
  }

  connections(state: DesiredState): Promise<ConnectionCounts> {
    return countConnections('ipvs', this.runner, state);
  }

  async stop(keep: boolean): Promise<void> {
    if (keep) return;
    const cmds = this.owned.map((id) => `-D ${id}`);
    this.owned = [];
    if (!cmds.length) return;
    const r = await this.runner.run('ipvsadm', ['-R'], { input: cmds.join('\n') + '\n' });
    if (r.code !== 0) this.log.warn(`director: could not remove the virtual services: ${r.stderr.trim()}`);
  }
}
