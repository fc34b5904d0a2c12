// `rackboot lease list` and `rackboot lease clear`: the DHCP lease table
// through the API (clear frees a declined address so it is offered again).
import type { Command } from 'commander';
import { ApiClient, addApiOptions, type ApiOptions } from '../client.js';
import { jsonOption, printJson } from '../options.js';
import { table } from '../table.js';

interface LeaseView {
  network: string;
  ipv4: string;
  mac: string;
  state: string;
  expiresAt: string;
  node: string | null;
  hostname: string | null;
}

export function registerLease(program: Command): void {
  const lease = program.command('lease').description('DHCP leases: list, clear (through the REST API)');

  addApiOptions(
    jsonOption(
      lease
        .command('list')
        .description('list leases')
        .option('-n, --network <network>', 'only this network')
        .option('-s, --state <state>', 'offered | bound | released | declined | expired')
        .option('-m, --mac <mac>', 'only this MAC (any form: 52:54:00:00:0a:01, 5254.0000.0a01, ...)'),
    ),
  ).action(async (o: ApiOptions & { network?: string; state?: string; mac?: string; json?: boolean }) => {
    const q = new URLSearchParams();
    if (o.network) q.set('network', o.network);
    if (o.state) q.set('state', o.state);
    if (o.mac) q.set('mac', o.mac);
    const leases = await ApiClient.from(o).request<LeaseView[]>('GET', `/leases${q.size ? `?${q}` : ''}`);
    if (o.json) return printJson(leases);
    const rows = [['NETWORK', 'ADDRESS', 'MAC', 'STATE', 'NODE', 'EXPIRES']];
    for (const l of leases) rows.push([l.network, l.ipv4, l.mac, l.state, l.node ?? l.hostname ?? '-', l.expiresAt]);
    console.log(table(rows));
  });

  addApiOptions(lease.command('clear <network> <ipv4>').description('forget a lease, e.g. a declined address an operator has checked')).action(
    async (network: string, ipv4: string, o: ApiOptions) => {
      await ApiClient.from(o).request('DELETE', `/leases/${encodeURIComponent(network)}/${encodeURIComponent(ipv4)}`);
      console.log(`cleared the lease of ${ipv4} on ${network}`);
    },
  );
}
