// `rackboot render NODE LOADER` (exactly what the node gets) and
// `rackboot templates check|list|discovery`, through the REST API.
import type { Command } from 'commander';
import { ApiClient, ApiRequestError, addApiOptions, type ApiOptions } from '../client.js';
import type { CheckReport } from '../../render/renderer.js';
import { jsonOption, printJson } from '../options.js';

/** GET a text route as is (render output is not JSON). */
async function getText(client: ApiClient, path: string): Promise<string> {
  // The render route answers text; ApiClient parses JSON when it can, so ask for the JSON form and print its body.
  const sep = path.includes('?') ? '&' : '?';
  const r = await client.request<{ body: string }>('GET', `${path}${sep}format=json`);
  return r.body;
}

export function registerRender(program: Command): void {
  addApiOptions(
    program
      .command('render <node> <loader>')
      .description('print the boot config NODE gets from LOADER (pxelinux, ipxe, grub, bpbatch), rendered as for a boot')
      .option('-i, --iface <name|mac>', 'the interface being booted (default: the first)'),
  ).action(async (node: string, loader: string, o: ApiOptions & { iface?: string }) => {
    const q = o.iface ? `?iface=${encodeURIComponent(o.iface)}` : '';
    process.stdout.write(await getText(ApiClient.from(o), `/nodes/${encodeURIComponent(node)}/render/${encodeURIComponent(loader)}${q}`));
  });

  const templates = program.command('templates').description('boot-config templates: check, list, preview the default config');

  addApiOptions(
    templates
      .command('check')
      .description('render every template for every node; report every error with node, template and line (exit 1 on any); note nodes whose image has no build yet')
      .option('--json', 'JSON output'),
  ).action(async (o: ApiOptions & { json?: boolean }) => {
    const r = await ApiClient.from(o).request<CheckReport>('GET', '/templates/check');
    if (o.json) console.log(JSON.stringify(r, null, 2));
    else {
      for (const e of r.errors) console.log(e.message);
      for (const n of r.notes) console.log(`note: ${n.message}`);
      const overrides = r.templates.filter((t) => t.origin === 'operator').length;
      const notes = r.notes.length ? `, ${r.notes.length} note(s)` : '';
      console.log(
        `${r.ok ? 'ok' : `${r.errors.length} error(s)`}${notes}: ${r.renders} render(s) of ${r.templates.length} template(s) (${overrides} operator override(s)) for ${r.nodes} node(s) in ${r.ms} ms`,
      );
    }
    if (!r.ok) throw new ApiRequestError(0, 'template_error', `templates check found ${r.errors.length} error(s)`);
  });

  addApiOptions(jsonOption(templates.command('list').description('templates and partials in use, and whether the operator directory overrides them'))).action(
    async (o: ApiOptions & { json?: boolean }) => {
      const list = await ApiClient.from(o).request<Array<{ name: string; origin: string; file: string }>>('GET', '/templates');
      if (o.json) return printJson(list);
      const w = Math.max(...list.map((t) => t.name.length), 4);
      for (const t of list) console.log(`${t.name.padEnd(w)}  ${t.origin.padEnd(8)}  ${t.file}`);
    },
  );

  addApiOptions(
    templates
      .command('discovery <loader>')
      .description('print the default config a machine not in the registry gets from LOADER')
      .option('--mac <mac>', 'as if this MAC asked')
      .option('--address <ipv4>', 'as if this address asked'),
  ).action(async (loader: string, o: ApiOptions & { mac?: string; address?: string }) => {
    const q = new URLSearchParams({ ...(o.mac ? { mac: o.mac } : {}), ...(o.address ? { address: o.address } : {}) }).toString();
    process.stdout.write(await getText(ApiClient.from(o), `/templates/discovery/${encodeURIComponent(loader)}${q ? `?${q}` : ''}`));
  });
}
