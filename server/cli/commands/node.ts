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

  addApiOptions(
    node
      .command('bmc <name>')
      .description("set a node's BMC (fields not given keep their value; with --group, NAME is a group and these are its nodes' defaults)")
      .option('--group', 'NAME is a group')
      .option('--type <type>', 'ipmi | redfish')
      .option('--address <host>', "the BMC's address")
      .option('--port <port>', 'default 623 (ipmi), 443 (redfish)')
      .option('--username <user>', 'BMC user')
      .option('--password-stdin', 'read the password from standard input (never give it on the command line)')
      .option('--password-file <file>', 'a file on the server holding the password, read at each use')
      .option('--cipher-suite <n>', 'IPMI RMCP+ cipher suite')
      .option('--ca-file <file>', 'Redfish: PEM CA bundle on the server that signs the BMC certificate')
      .option('--insecure', 'Redfish: accept any certificate')
      .option('--clear', 'remove the BMC'),
  ).action(async (name: string, o: ApiOptions & Record<string, string | boolean | undefined>) => {
    const path = `/${o.group ? 'groups' : 'nodes'}/${encodeURIComponent(name)}`;
    const client = ApiClient.from(o);
    let bmc: Record<string, unknown> | null = null;
    if (!o.clear) {
      const current = (await client.request<{ bmc: Record<string, unknown> | null }>('GET', path)).bmc ?? {};
      const { passwordSet: _set, ...kept } = current;
      bmc = { ...kept };
      const num = (v: unknown, what: string) => {
        const n = Number(v);
        if (!Number.isInteger(n)) throw new Error(`--${what} '${String(v)}': a whole number`);
        return n;
      };
      if (o.type) bmc.type = o.type;
      if (o.address) bmc.address = o.address;
      if (o.port) bmc.port = num(o.port, 'port');
      if (o.username !== undefined) bmc.username = o.username;
      if (o.passwordStdin && o.passwordFile) throw new Error('--password-stdin and --password-file: give one');
      if (o.passwordStdin) {
        bmc.password = readFileSync(0, 'utf8').replace(/\r?\n$/, '');
        delete bmc.passwordFile;
      }
      if (o.passwordFile) bmc.passwordFile = o.passwordFile;
      if (o.cipherSuite) bmc.ipmi = { ...(bmc.ipmi as object | undefined), cipherSuite: num(o.cipherSuite, 'cipher-suite') };
      if (o.caFile || o.insecure) bmc.redfish = { ...(bmc.redfish as object | undefined), ...(o.caFile ? { caFile: o.caFile } : {}), ...(o.insecure ? { insecure: true } : {}) };
    }
    const saved = await client.request<{ bmc: Record<string, unknown> | null }>('PATCH', path, { bmc });
    console.log(saved.bmc ? `${name}: bmc ${JSON.stringify(saved.bmc)}` : `${name}: no bmc`);
  });
}
