import type { Command } from 'commander';
import { loadConfigOption } from './serve.js';
import { configExports } from '../../nfs/model.js';
import type { LoadedConfig } from '../../config/load.js';
import { redactUrl } from '../../store/url.js';

/** Which store, never with a password. */
function storeSummary(cfg: LoadedConfig): string {
  return cfg.config.store.driver === 'postgres' ? `store postgres ${redactUrl(cfg.databaseUrl ?? '')}` : `store sqlite ${cfg.paths.dbFile}`;
}

/** The exports part of the summary: with NFS off they are checked but nothing serves them, so say so. */
function exportsSummary(cfg: LoadedConfig): string {
  const n = configExports(cfg).length;
  return cfg.config.nfs.enabled ? `${n} export(s)` : `${n} export(s) not served (nfs.enabled: false)`;
}

export function registerConfig(program: Command): void {
  const config = program.command('config').description('config file tools');
  config
    .command('check')
    .description('validate a config file and report every problem with its key path')
    .option('-c, --config <file>', 'config file (env RACKBOOT_CONFIG)')
    .action((opts: { config?: string }) => {
      const cfg = loadConfigOption(opts.config);
      const c = cfg.config;
      console.log(
        `${cfg.file ?? 'built-in defaults'}: ok: cluster '${c.cluster.name}', ${cfg.networks.length} network(s), ` +
          `${c.groups.length} seed group(s), ${c.nodes.length} seed node(s), ${exportsSummary(cfg)}, ${c.director.services.length} virtual service(s); ` +
          `server '${cfg.serverName}', ${storeSummary(cfg)}`,
      );
    });
}
