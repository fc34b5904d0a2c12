// `rackboot group list|show|add|set|delete`: node groups (the loader, image,
// variables and BMC defaults their nodes inherit), through the REST API. A
// group's BMC is set with `rackboot node bmc --group NAME`.
import type { Command } from 'commander';
import { ApiClient, addApiOptions, type ApiOptions } from '../client.js';
import type { NodeRecord } from '../../store/types.js';
import { collect, jsonOption, parseVars, printJson, setOptions, setPatch, varsCell, type SetOptions } from '../options.js';
import { table } from '../table.js';

/** A group as the API answers it. */
interface GroupView {
  name: string;
  loader: string | null;
  image: string | null;
  vars: Record<string, unknown>;
  bmc: { type?: string; address?: string; port?: number; username?: string; passwordSet: boolean } | null;
  createdAt: string;
  updatedAt: string;
}

const enc = encodeURIComponent;

function bmcCell(b: GroupView['bmc']): string {
  if (!b) return '-';
  const who = b.username ? `${b.username}@` : '';
  return `${b.type ?? '?'} ${who}${b.address ?? '(per node)'}${b.port ? `:${b.port}` : ''}${b.passwordSet ? '' : ' (no password)'}`;
}

/** Node names by group, for the NODES column and `show`. */
async function nodesByGroup(client: ApiClient): Promise<Map<string, string[]>> {
  const by = new Map<string, string[]>();
  for (const n of await client.request<NodeRecord[]>('GET', '/nodes')) if (n.group) by.set(n.group, [...(by.get(n.group) ?? []), n.name]);
  return by;
}

export function formatGroup(g: GroupView, nodes: readonly string[]): string {
  return [
    `group ${g.name}: loader ${g.loader ?? '- (pxelinux)'}, image ${g.image ?? '-'}`,
    `vars: ${varsCell(g.vars)}`,
    `bmc: ${bmcCell(g.bmc)}`,
    `nodes (${nodes.length}): ${nodes.join(', ') || '-'}`,
  ].join('\n');
}

export function registerGroup(program: Command): void {
  const group = program.command('group').description('node groups: the loader, image, variables and BMC their nodes inherit (through the REST API)');

  addApiOptions(jsonOption(group.command('list').description('list groups with their node counts'))).action(async (o: ApiOptions & { json?: boolean }) => {
    const client = ApiClient.from(o);
    const list = await client.request<GroupView[]>('GET', '/groups');
    if (o.json) return printJson(list);
    const nodes = await nodesByGroup(client);
    const rows = [['NAME', 'LOADER', 'IMAGE', 'NODES', 'BMC', 'VARS']];
    for (const g of list) rows.push([g.name, g.loader ?? '-', g.image ?? '-', String(nodes.get(g.name)?.length ?? 0), bmcCell(g.bmc), varsCell(g.vars)]);
    console.log(table(rows));
  });

  addApiOptions(jsonOption(group.command('show <name>').description('one group and its nodes'))).action(async (name: string, o: ApiOptions & { json?: boolean }) => {
    const client = ApiClient.from(o);
    const g = await client.request<GroupView>('GET', `/groups/${enc(name)}`);
    if (o.json) return printJson(g);
    const nodes = await client.request<NodeRecord[]>('GET', `/nodes?group=${enc(name)}`);
    console.log(formatGroup(g, nodes.map((n) => n.name)));
  });

  addApiOptions(
    group
      .command('add <name>')
      .description('create a group')
      .option('--image <image>', 'image its nodes boot')
      .option('--loader <loader>', 'pxelinux | ipxe | grub | bpbatch')
      .option('--var <key=value>', 'a template variable (repeatable)', collect, []),
  ).action(async (name: string, o: ApiOptions & { image?: string; loader?: string; var: string[] }) => {
    const body = { name, ...(o.image ? { image: o.image } : {}), ...(o.loader ? { loader: o.loader } : {}), ...(o.var.length ? { vars: parseVars(o.var) } : {}) };
    const g = await ApiClient.from(o).request<GroupView>('POST', '/groups', body);
    console.log(`created group ${g.name}: loader ${g.loader ?? '-'}, image ${g.image ?? '-'}, vars ${varsCell(g.vars)}`);
  });

  addApiOptions(setOptions(group.command('set <name>').description("change a group (fields not given keep their value); its nodes follow at their next boot"), 'the cluster')).action(
    async (name: string, o: ApiOptions & SetOptions) => {
      const client = ApiClient.from(o);
      const path = `/groups/${enc(name)}`;
      const patch = await setPatch(o, async () => (await client.request<GroupView>('GET', path)).vars);
      if (!Object.keys(patch).length) throw new Error(`group set ${name}: nothing to change (give --image, --loader, --var or --unset-var)`);
      const g = await client.request<GroupView>('PATCH', path, patch);
      console.log(`group ${g.name}: loader ${g.loader ?? '-'}, image ${g.image ?? '-'}, vars ${varsCell(g.vars)}`);
    },
  );

  addApiOptions(group.command('delete <name>').alias('rm').description('delete a group (refused while nodes are in it)')).action(async (name: string, o: ApiOptions) => {
    await ApiClient.from(o).request('DELETE', `/groups/${enc(name)}`);
    console.log(`deleted group ${name}`);
  });
}
