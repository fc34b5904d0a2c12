import type { Command } from 'commander';
import { loadConfigOption } from './serve.js';
import { configExports } from '../../nfs/model.js';

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
          `${c.groups.length} seed group(s), ${c.nodes.length} seed node(s), ${configExports(cfg).length} export(s), ${c.director.services.length} virtual service(s)`,
      );
    });
}
