import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { ApiClient, addApiOptions, type ApiOptions } from '../client.js';
import type { NodeRecord } from '../../store/types.js';
import { table } from '../table.js';

function collect(value: string, prev: string[]): string[] {
  return [...prev, value];
}

/** "eth0,52:54:00:00:00:01,inside[,10.0.0.11]" */
export function parseIfaceArg(text: string): { name: string; mac: string; network: string; ipv4?: string } {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.length < 3 || parts.length > 4 || parts.some((p) => !p)) {
    throw new Error(`--iface '${text}': expected NAME,MAC,NETWORK[,IPV4]`);
  }
  const [name, mac, network, ipv4] = parts as [string, string, string, string | undefined];
  return ipv4 ? { name, mac, network, ipv4 } : { name, mac, network };
}

export function registerNode(program: Command): void {
  const node = program.command('node').description('register, list, show and remove nodes (through the REST API)');

  addApiOptions(
    node
      .command('add <name>')
      .description('register a node; repeat --iface for each interface')
      .option('-i, --iface <NAME,MAC,NETWORK[,IPV4]>', 'an interface (address omitted: next free in the static range)', collect, [])
      .option('-g, --group <group>', 'group')
      .option('--image <image>', 'image')
      .option('--loader <loader>', 'pxelinux | ipxe | grub | bpbatch')
      .option('--var <key=value>', 'a template variable (repeatable)', collect, [])
      .option('--json <file>', "the whole node body as JSON ('-' for stdin)"),
  ).action(async (name: string, o: ApiOptions & { iface: string[]; group?: string; image?: string; loader?: string; var: string[]; json?: string }) => {
    let body: Record<string, unknown>;
    if (o.json) {
      body = JSON.parse(readFileSync(o.json === '-' ? 0 : o.json, 'utf8')) as Record<string, unknown>;
      body.name ??= name;
    } else {
      const vars: Record<string, string> = {};
      for (const kv of o.var) {
        const i = kv.indexOf('=');
        if (i < 1) throw new Error(`--var '${kv}': expected KEY=VALUE`);
        vars[kv.slice(0, i)] = kv.slice(i + 1);
      }
      body = {
        name,
        interfaces: o.iface.map(parseIfaceArg),
        ...(o.group ? { group: o.group } : {}),
        ...(o.image ? { image: o.image } : {}),
        ...(o.loader ? { loader: o.loader } : {}),
        ...(o.var.length ? { vars } : {}),
      };
    }
    const created = await ApiClient.from(o).request<NodeRecord>('POST', '/nodes', body);
    console.log(`registered ${created.name}: ` + created.interfaces.map((i) => `${i.name} ${i.mac} ${i.network} ${i.ipv4}`).join('; '));
  });

  addApiOptions(node.command('list').description('list nodes').option('-g, --group <group>', 'only this group').option('--json', 'JSON output')).action(
    async (o: ApiOptions & { group?: string; json?: boolean }) => {
      const nodes = await ApiClient.from(o).request<NodeRecord[]>('GET', `/nodes${o.group ? `?group=${encodeURIComponent(o.group)}` : ''}`);
      if (o.json) return console.log(JSON.stringify(nodes, null, 2));
      const rows = [['NAME', 'GROUP', 'INTERFACES']];
      for (const n of nodes) rows.push([n.name, n.group ?? '-', n.interfaces.map((i) => `${i.name}=${i.ipv4}(${i.mac})`).join(' ')]);
      console.log(table(rows));
    },
  );

  addApiOptions(node.command('show <name>').description('show one node as JSON')).action(async (name: string, o: ApiOptions) => {
    const n = await ApiClient.from(o).request<NodeRecord>('GET', `/nodes/${encodeURIComponent(name)}`);
    console.log(JSON.stringify(n, null, 2));
  });

  addApiOptions(node.command('rm <name>').description('remove a node')).action(async (name: string, o: ApiOptions) => {
    await ApiClient.from(o).request('DELETE', `/nodes/${encodeURIComponent(name)}`);
    console.log(`removed ${name}`);
  });
}
