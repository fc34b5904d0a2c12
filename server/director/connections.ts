// Connection counts per real server, as the engines keep them: IPVS counts
// them itself (ipvsadm -Ln: ActiveConn, InActConn); the nftables backend has
// only the kernel's connection tracking, whose entries for a virtual
// service name the real server as the reply's source. Parsers are pure.
import { formatIpv4 } from '../net/ipv4.js';
import type { DesiredState } from './desired.js';
import type { CommandRunner } from './exec.js';

export interface ConnectionCount {
  /** ESTABLISHED (TCP), or every flow of a UDP service. */
  active: number;
  /** Handshakes, closing and TIME_WAIT entries. */
  inactive: number;
}

/** Service name -> "address:port" of a real server -> counts. A service missing: the engine could not say. */
export type ConnectionCounts = Map<string, Map<string, ConnectionCount>>;

const bump = (m: Map<string, ConnectionCount>, key: string, active: boolean) => {
  const c = m.get(key) ?? { active: 0, inactive: 0 };
  if (active) c.active++;
  else c.inactive++;
  m.set(key, c);
};

/** `conntrack -L` lines of one service: each entry's reply source is the real server it went to. */
export function parseConntrack(text: string): Map<string, ConnectionCount> {
  const out = new Map<string, ConnectionCount>();
  for (const line of text.split('\n')) {
    const src = [...line.matchAll(/\bsrc=(\S+)/g)].map((m) => m[1]);
    const sport = [...line.matchAll(/\bsport=(\d+)/g)].map((m) => m[1]);
    if (src.length < 2 || sport.length < 2) continue;
    // tcp 6 431999 ESTABLISHED src=... : the state is the token after the timeout; UDP lines have none.
    const state = /^\s*tcp\s+\d+\s+\d+\s+([A-Z_]+)\s/.exec(line)?.[1];
    const udp = /^\s*udp\s/.test(line);
    bump(out, `${src[1]}:${sport[1]}`, udp || state === 'ESTABLISHED');
  }
  return out;
}

/** `ipvsadm -Ln` (numeric): services by "vip:port/proto", each real server's ActiveConn and InActConn. */
export function parseIpvsadmList(text: string): Map<string, Map<string, ConnectionCount>> {
  const out = new Map<string, Map<string, ConnectionCount>>();
  let current: Map<string, ConnectionCount> | undefined;
  for (const line of text.split('\n')) {
    const svc = /^(TCP|UDP)\s+(\S+)/.exec(line);
    if (svc) {
      current = new Map();
      out.set(`${svc[2]}/${svc[1]!.toLowerCase()}`, current);
      continue;
    }
    const rs = /^\s+->\s+(\d+\.\d+\.\d+\.\d+:\d+)\s+\S+\s+\d+\s+(\d+)\s+(\d+)/.exec(line);
    if (rs && current) current.set(rs[1]!, { active: Number(rs[2]), inactive: Number(rs[3]) });
  }
  return out;
}

/** Counts for every service of the state the engine holds; a tool that fails leaves its service out. */
export async function countConnections(engine: 'conntrack' | 'ipvs', runner: CommandRunner, state: DesiredState): Promise<ConnectionCounts> {
  const out: ConnectionCounts = new Map();
  if (engine === 'ipvs') {
    const r = await runner.run('ipvsadm', ['-Ln']);
    if (r.code !== 0) return out;
    const table = parseIpvsadmList(r.stdout);
    for (const s of state.services) {
      const t = table.get(`${formatIpv4(s.vip)}:${s.port}/${s.protocol}`);
      if (t) out.set(s.name, t);
    }
    return out;
  }
  for (const s of state.services) {
    const r = await runner.run('conntrack', ['-L', '-p', s.protocol, '--orig-dst', formatIpv4(s.vip), '--orig-port-dst', String(s.port)]);
    if (r.code === 0) out.set(s.name, parseConntrack(r.stdout));
  }
  return out;
}
