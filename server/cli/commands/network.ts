// `rackboot network list|show`: the networks of the server's config (read
// only: they change in the config file), through the REST API.
import type { Command } from 'commander';
import { ApiClient, addApiOptions, type ApiOptions } from '../client.js';
import type { networkView } from '../../api/routes/networks.js';
import { jsonOption, printJson } from '../options.js';
import { table } from '../table.js';

type NetworkView = ReturnType<typeof networkView>;

export function registerNetwork(program: Command): void {
  const network = program.command('network').description("the networks the server serves (from its config; through the REST API)");

  addApiOptions(jsonOption(network.command('list').description('list networks: address, server, router and ranges'))).action(async (o: ApiOptions & { json?: boolean }) => {
    const list = await ApiClient.from(o).request<NetworkView[]>('GET', '/networks');
    if (o.json) return printJson(list);
    const rows = [['NAME', 'INTERFACE', 'CIDR', 'SERVER', 'ROUTER', 'STATIC RANGE', 'DYNAMIC RANGE', 'DNS', 'DOMAIN']];
    for (const n of list) {
      rows.push([n.name, n.interface ?? '-', n.cidr, n.serverAddress, n.router ?? '-', n.staticRange ?? '-', n.dynamicRange ?? '-', n.dns.join(',') || '-', n.domain]);
    }
    console.log(table(rows));
  });

  addApiOptions(network.command('show <name>').description('one network as JSON')).action(async (name: string, o: ApiOptions) => {
    printJson(await ApiClient.from(o).request<NetworkView>('GET', `/networks/${encodeURIComponent(name)}`));
  });
}
