import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { ApiClient, addApiOptions, type ApiOptions } from '../client.js';
import type { NodeRecord } from '../../store/types.js';
import { parseDuration } from '../../config/types.js';
import { collect, jsonOption, parseVars, printJson, setOptions, setPatch, varsCell, type SetOptions } from '../options.js';
import { table } from '../table.js';
import { formatEvents, lastBootStart, type EventRow } from '../timeline.js';

const enc = encodeURIComponent;

/** "eth0,52:54:00:00:00:01,inside[,10.0.0.11]" */
export function parseIfaceArg(text: string): { name: string; mac: string; network: string; ipv4?: string } {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.length < 3 || parts.length > 4 || parts.some((p) => !p)) {
    throw new Error(`--iface '${text}': expected NAME,MAC,NETWORK[,IPV4]`);
  }
  const [name, mac, network, ipv4] = parts as [string, string, string, string | undefined];
  return ipv4 ? { name, mac, network, ipv4 } : { name, mac, network };
}

/** `--since`: a duration ago (10m) or a time; epoch ms for the API. */
export function sinceMs(text: string, now = Date.now()): number {
  if (/^\d+(\.\d+)?(ms|s|m|h|d)$/.test(text)) return Math.max(0, Math.round(now - parseDuration(text)));
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new Error(`--since '${text}': a duration ago (10m, 2h, 1d) or a date and time (2024-05-01T10:00)`);
  return t;
}

/** One line for a node after a change: what it has of its own. */
function describeNode(n: NodeRecord): string {
  const own = [`group ${n.group ?? '-'}`, `image ${n.image ?? '-'}`, `loader ${n.loader ?? '-'}`, `vars ${varsCell(n.vars)}`].join(', ');
  return `${n.name}: ${own}; ${n.interfaces.map((i) => `${i.name} ${i.mac} ${i.network} ${i.ipv4}`).join('; ')}`;
}

export function registerNode(program: Command): void {
  const node = program.command('node').description('register, change, list, show and remove nodes; their boot timelines (through the REST API)');

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
      const vars = parseVars(o.var);
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

  addApiOptions(jsonOption(node.command('list').description('list nodes').option('-g, --group <group>', 'only this group'))).action(
    async (o: ApiOptions & { group?: string; json?: boolean }) => {
      const nodes = await ApiClient.from(o).request<NodeRecord[]>('GET', `/nodes${o.group ? `?group=${enc(o.group)}` : ''}`);
      if (o.json) return printJson(nodes);
      const rows = [['NAME', 'GROUP', 'INTERFACES']];
      for (const n of nodes) rows.push([n.name, n.group ?? '-', n.interfaces.map((i) => `${i.name}=${i.ipv4}(${i.mac})`).join(' ')]);
      console.log(table(rows));
    },
  );

  addApiOptions(
    setOptions(
      node
        .command('set <name>')
        .description('change a node: fields not given keep their value; --iface replaces the interface list (a re-listed interface without IPV4 keeps its address)')
        .option('-g, --group <group>', 'group')
        .option('--no-group', 'in no group'),
      'its group',
    ).option('-i, --iface <NAME,MAC,NETWORK[,IPV4]>', 'an interface of the new list (repeatable)', collect, []),
  ).action(async (name: string, o: ApiOptions & SetOptions & { group?: string | false; iface: string[] }) => {
    const client = ApiClient.from(o);
    const path = `/nodes/${enc(name)}`;
    const patch = await setPatch(o, async () => (await client.request<NodeRecord>('GET', path)).vars);
    if (o.group !== undefined) patch.group = o.group === false ? null : o.group;
    if (o.iface.length) patch.interfaces = o.iface.map(parseIfaceArg);
    if (!Object.keys(patch).length) throw new Error(`node set ${name}: nothing to change (give --group, --image, --loader, --var, --unset-var or --iface)`);
    const n = await client.request<NodeRecord>('PATCH', path, patch);
    console.log(describeNode(n));
  });

  addApiOptions(
    jsonOption(
      node
        .command('events <name>')
        .description("the node's boot timeline, oldest first: time since the previous event and since the boot began, the boot step, what each event says")
        .option('--boot', 'only the last boot (from its first DHCP)')
        .option('--since <when>', 'only events after this: a duration ago (10m, 2h, 1d) or a time (2024-05-01T10:00)')
        .option('-k, --kind <kind>', 'only events of this kind (e.g. ready, tftp.transfer)')
        .option('-n, --limit <n>', 'the newest N events (default 1000)'),
    ),
  ).action(async (name: string, o: ApiOptions & { boot?: boolean; since?: string; kind?: string; limit?: string; json?: boolean }) => {
    const client = ApiClient.from(o);
    const q = new URLSearchParams();
    if (o.since !== undefined) q.set('since', String(sinceMs(o.since)));
    if (o.kind) q.set('kind', o.kind);
    if (o.limit !== undefined) q.set('limit', o.limit);
    const [n, all] = await Promise.all([
      client.request<NodeRecord>('GET', `/nodes/${enc(name)}`),
      client.request<EventRow[]>('GET', `/nodes/${enc(name)}/events${q.size ? `?${q}` : ''}`),
    ]);
    const events = o.boot ? all.slice(lastBootStart(all)) : all;
    if (o.json) return printJson(events);
    console.log(formatEvents(name, events, new Map(n.interfaces.map((i) => [i.mac, i.name]))));
  });

  addApiOptions(node.command('show <name>').description('show one node as JSON (with its effective loader, image, vars and BMC)')).action(async (name: string, o: ApiOptions) => {
    printJson(await ApiClient.from(o).request<NodeRecord>('GET', `/nodes/${enc(name)}`));
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
