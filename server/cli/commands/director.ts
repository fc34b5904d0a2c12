import type { Command } from 'commander';
import { ApiClient, addApiOptions, type ApiOptions } from '../client.js';
import type { directorView } from '../../director/routes.js';
import { jsonOption, printJson } from '../options.js';
import { table } from '../table.js';

type View = ReturnType<typeof directorView>;

function ago(iso: string | null): string {
  if (!iso) return '-';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

export function formatDirectorStatus(v: View): string {
  const out: string[] = [];
  const nat = v.natRouter ? `, NAT router ${v.natRouter.address} on ${v.natRouter.interface}` : '';
  out.push(`director: ${v.backend} backend${nat}`);
  if (v.lastApply) out.push(`last apply: ${v.lastApply.ok ? 'ok' : `FAILED: ${v.lastApply.error}`} (${ago(v.lastApply.at)} ago)`);
  for (const s of v.services) {
    out.push('', `${s.name}: ${s.vip} port ${s.port}/${s.protocol} on ${s.interface}, ${s.scheduler}${s.persistence ? `, persistence ${s.persistence}s` : ''}; ${s.pool} of ${s.realServers.length} in the pool`);
    const rows = [['  SERVER', 'ADDRESS', 'WEIGHT', 'STATE', 'SINCE', 'LAST CHECK']];
    for (const r of s.realServers) {
      rows.push([
        `  ${r.name}`,
        r.address ? `${r.address}:${r.port}` : '-',
        String(r.weight),
        r.inPool ? `${r.state} (in pool)` : r.state,
        ago(r.since),
        r.reason ?? r.lastCheck?.detail ?? '-',
      ]);
    }
    out.push(table(rows));
  }
  return out.join('\n');
}

export function registerDirector(program: Command): void {
  const director = program.command('director').description('the LVS-NAT director: pool status and rules (through the REST API)');

  addApiOptions(jsonOption(director.command('status').description('virtual services, real servers and their health'))).action(
    async (o: ApiOptions & { json?: boolean }) => {
      const v = await ApiClient.from(o).request<View>('GET', '/director');
      if (o.json) return printJson(v);
      console.log(formatDirectorStatus(v));
    },
  );

  addApiOptions(
    director
      .command('rules')
      .description("the current pool as rules: ipvsadm-save lines (ipvs), the nft ruleset (nftables) or keepalived.conf; default the backend's")
      .option('-f, --format <format>', 'ipvsadm | nft | keepalived'),
  ).action(async (o: ApiOptions & { format?: string }) => {
    if (o.format && !['ipvsadm', 'nft', 'keepalived'].includes(o.format)) throw new Error(`--format '${o.format}': expected ipvsadm, nft or keepalived`);
    // The rules are plain text; the client hands non-JSON bodies back as they are.
    const text = await ApiClient.from(o).request<string | undefined>('GET', `/director/rules${o.format ? `?format=${o.format}` : ''}`);
    process.stdout.write(typeof text === 'string' ? text : '');
  });
}
