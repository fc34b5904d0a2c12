import type { Command } from 'commander';
import { loadConfigOption } from './serve.js';
import { configExports } from '../../nfs/model.js';
import type { LoadedConfig } from '../../config/loaded.js';
import { ConfigError } from '../../config/errors.js';
import { logEnvIssues } from '../../log.js';
import { configLoaderNotes } from '../../boot/loader-report.js';
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
      // The env overrides of log.level and log.format are part of what `serve` would run with: report them beside the file's problems.
      const env = logEnvIssues();
      let cfg: LoadedConfig;
      try {
        cfg = loadConfigOption(opts.config);
      } catch (e) {
        throw e instanceof ConfigError && env.length ? new ConfigError(e.file, [...e.issues, ...env]) : e;
      }
      if (env.length) throw new ConfigError(cfg.file, env);
      const c = cfg.config;
      console.log(
        `${cfg.file ?? 'built-in defaults'}: ok: cluster '${c.cluster.name}', ${cfg.networks.length} network(s), ` +
          `${c.groups.length} seed group(s), ${c.nodes.length} seed node(s), ${exportsSummary(cfg)}, ${c.director.services.length} virtual service(s); ` +
          `server '${cfg.serverName}', ${storeSummary(cfg)}`,
      );
      // Boot loaders: missing files and machines a loader cannot start (not config errors: exit 0).
      for (const line of configLoaderNotes(cfg)) console.log(`note: ${line}`);
    });
}
