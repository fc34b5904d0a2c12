// rackboot power on|off|cycle|reset|soft|status NODE... [--group G] [--pxe]
// [--stagger 2s]: through the REST API, a row per node printed as its result
// arrives (the API streams them); exit 1 when any node failed.
// rackboot power reprovision NODE [--rebuild].
import type { Command } from 'commander';
import { ApiClient, addApiOptions, type ApiOptions } from '../client.js';
import type { PowerResult } from '../../power/controller.js';

const ACTIONS = ['on', 'off', 'cycle', 'reset', 'soft', 'status'] as const;

interface PowerCliOptions extends ApiOptions {
  group?: string;
  pxe?: boolean;
  disk?: boolean;
  persistent?: boolean;
  stagger?: string;
  json?: boolean;
}

/** One result as a row: columns padded to the node names' width (known from the stream's first line). */
export function powerRow(r: PowerResult, nameWidth: number): string {
  const what = r.ok ? (r.state ?? 'done') : `FAILED (${r.kind ?? 'error'})`;
  const detail = r.ok ? `${r.bmc ?? ''} ${r.via ? `via ${r.via}` : ''}`.trim() : (r.error ?? '');
  return [r.node.padEnd(nameWidth), r.action.padEnd(6), what.padEnd(18), `${r.ms} ms`.padStart(8), ` ${detail}`].join('  ').trimEnd();
}

export function registerPower(program: Command): void {
  const power = program.command('power').description("power nodes on, off, cycle, reset or soft off, or read their state, through their BMCs (through the REST API)");

  for (const action of ACTIONS) {
    addApiOptions(
      power
        .command(`${action} [nodes...]`)
        .description(action === 'status' ? 'read the power state of nodes from their BMCs' : `${action === 'soft' ? 'ask the OS to shut down (ACPI)' : `power ${action}`} the nodes named, or a group's`)
        .option('-g, --group <group>', "every node of this group (besides those named)")
        .option('--pxe', 'network boot next (sets the BMC boot device first)')
        .option('--disk', 'boot from disk next')
        .option('--persistent', 'keep the boot device for every boot, not only the next')
        .option('--stagger <duration>', 'pause between nodes for on, cycle and reset (e.g. 2s; default: power.stagger)')
        .option('--json', 'one JSON line per node instead of a row'),
    ).action(async (nodes: string[], o: PowerCliOptions) => {
      if (!nodes.length && !o.group) throw new Error(`power ${action}: name nodes or give --group`);
      if (o.pxe && o.disk) throw new Error('--pxe and --disk: give one');
      const bootdev = o.pxe ? 'pxe' : o.disk ? 'disk' : undefined;
      if (action === 'status' && (bootdev || o.persistent)) throw new Error('power status reads only: --pxe, --disk and --persistent go with an action');
      const stagger = o.stagger === undefined ? undefined : /^\d+(\.\d+)?$/.test(o.stagger) ? Number(o.stagger) : o.stagger;
      const body = {
        action,
        ...(nodes.length ? { nodes } : {}),
        ...(o.group ? { group: o.group } : {}),
        ...(bootdev ? { bootdev } : {}),
        ...(o.persistent ? { persistent: true } : {}),
        ...(stagger !== undefined ? { stagger } : {}),
      };
      let width = 4;
      let failed = 0;
      let summary: Record<string, unknown> | undefined;
      await ApiClient.from(o).stream('POST', '/power', body, (line) => {
        if (Array.isArray(line.nodes)) {
          width = Math.max(4, ...line.nodes.map((n) => String(n).length));
          if (!o.json) console.log(['NODE'.padEnd(width), 'ACTION', 'RESULT'.padEnd(18), 'TIME'.padStart(8), ' BMC / ERROR'].join('  '));
        } else if (line.done) summary = line;
        else {
          const r = line as unknown as PowerResult;
          if (!r.ok) failed++;
          console.log(o.json ? JSON.stringify(r) : powerRow(r, width));
        }
      });
      if (summary?.error) throw new Error(String(summary.error));
      if (failed) {
        if (!o.json) console.error(`rackboot: ${failed} node(s) failed`);
        process.exitCode = 1;
      }
    });
  }

  addApiOptions(
    power
      .command('reprovision <node>')
      .description('network-boot a node again: PXE as its next boot device, then a power cycle')
      .option('--rebuild', "rebuild the node's image first and wait for the build"),
  ).action(async (node: string, o: ApiOptions & { rebuild?: boolean }) => {
    const r = await ApiClient.from(o).request<{ build: { image: string; version: string | null } | null; power: PowerResult }>(
      'POST',
      `/nodes/${encodeURIComponent(node)}/reprovision`,
      o.rebuild ? { rebuild: true } : {},
    );
    if (r.build) console.log(`built ${r.build.image} ${r.build.version ?? ''}`.trim());
    console.log(`${node}: next boot pxe, power cycled through ${r.power.bmc} (${r.power.ms} ms)`);
  });
}
