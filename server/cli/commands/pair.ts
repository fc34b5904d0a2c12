// `rackboot pair status` and `rackboot pair switchover`: the two disk
// nodes of a pair, through the REST API of either (GET /pair, POST
// /pair/switchover).
import type { Command } from 'commander';
import { ApiClient, addApiOptions, type ApiOptions } from '../client.js';
import type { PairStatus } from '../../pair/status.js';
import { table } from '../table.js';

interface SwitchoverOut {
  from: string;
  to: string;
  totalMs: number;
  withoutMasterMs: number;
}

export function formatPairStatus(s: PairStatus): string {
  const out: string[] = [];
  out.push(`${s.node}: ${s.role} since ${s.since} (keepalived ${s.vrrp.state}, priority ${s.priority}; ${s.answersDhcp ? 'answers DHCP' : 'answers no DHCP'})`);
  out.push(`peer: ${s.peer.name} at ${s.peer.apiUrl} (${s.peer.addresses.join(', ')})`);
  const rows = [['  FLOATING', 'INTERFACE', 'HERE', 'WHAT']];
  for (const f of s.floating) rows.push([`  ${f.address}`, f.interface, f.here ? 'yes' : 'no', f.role]);
  out.push(table(rows));
  const d = s.database;
  const pos = d.position ? `, at ${d.position}` : '';
  out.push(`database: ${d.mode}, ${d.state}${d.timeline !== null ? ` on timeline ${d.timeline}` : ''}${pos}${d.detail ? ` (${d.detail})` : ''}`);
  if (d.synchronous !== null) out.push(`  commits wait for: ${d.synchronous || 'nobody (no standby streams)'}`);
  for (const r of d.replication) out.push(`  standby ${r.name} at ${r.address}: ${r.state}, ${r.sync}, replay lag ${r.replayLagBytes} bytes`);
  if (d.receiver) out.push(`  following ${d.receiver.sender || '?'}: ${d.receiver.status}`);
  if (s.conntrack) out.push(`conntrackd: ${s.conntrack.internal} connections of this node's own, ${s.conntrack.kernel} in the kernel table`);
  out.push(`lacks here: ${s.lacks.here.join(', ') || 'nothing'}; the peer lacks: ${s.lacks.peer.join(', ') || 'nothing'}`);
  if (s.lastSwitchover) {
    const w = s.lastSwitchover;
    out.push(`last switchover: ${w.from} -> ${w.to} at ${w.at}, ${w.totalMs} ms (no master for ${w.withoutMasterMs} ms)`);
  }
  return out.join('\n');
}

export function registerPair(program: Command): void {
  const pair = program.command('pair').description('two disk nodes, one taking over from the other (through the REST API of either)');

  addApiOptions(pair.command('status').description("this node's role, keepalived's state, the floating addresses, the database's replication, what either node lacks").option('--json', 'JSON output')).action(
    async (o: ApiOptions & { json?: boolean }) => {
      const s = await ApiClient.from(o).request<PairStatus>('GET', '/pair?fresh=true');
      console.log(o.json ? JSON.stringify(s, null, 2) : formatPairStatus(s));
    },
  );

  addApiOptions(pair.command('switchover').description('planned handover: the master gives the floating addresses and the primary database to the backup').option('--json', 'JSON output')).action(
    async (o: ApiOptions & { json?: boolean }) => {
      const r = await ApiClient.from(o).request<SwitchoverOut>('POST', '/pair/switchover');
      console.log(o.json ? JSON.stringify(r) : `handed over from ${r.from} to ${r.to} in ${r.totalMs} ms (no master for ${r.withoutMasterMs} ms)`);
    },
  );
}
