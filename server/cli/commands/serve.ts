import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import type { LoadedConfig } from '../../config/loaded.js';
import { loadConfigFile, resolveConfig } from '../../main/config.js';
import { createLogger, logSettings } from '../../log.js';
import { RackbootServer } from '../../main/server.js';
import { noteProcessStopping } from '../../shutdown.js';

export function loadConfigOption(file: string | undefined): LoadedConfig {
  const f = file ?? process.env.RACKBOOT_CONFIG;
  if (f) return loadConfigFile(f);
  if (existsSync('/etc/rackboot/rackboot.yaml')) return loadConfigFile('/etc/rackboot/rackboot.yaml');
  return resolveConfig({}, null);
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the server: DHCP, TFTP, HTTP boot, API, NFS exports, director')
    .option('-c, --config <file>', 'config file (env RACKBOOT_CONFIG; default /etc/rackboot/rackboot.yaml, else built-in defaults)')
    .action(async (opts: { config?: string }) => {
      const cfg = loadConfigOption(opts.config);
      const log = createLogger(logSettings(cfg.config.log));
      log.info(`rackboot: config ${cfg.file ?? '(built-in defaults)'}, data in ${cfg.paths.dataDir}`);
      const server = new RackbootServer(cfg, log);
      let stopping = false;
      const stop = async (sig: string) => {
        if (stopping) return;
        stopping = true;
        // First: children die of the same Ctrl-C before their supervisors are stopped; they must not be restarted.
        noteProcessStopping();
        log.info(`rackboot: ${sig}, stopping`);
        const force = setTimeout(() => process.exit(1), 10_000);
        force.unref();
        await server.stop();
        process.exit(0);
      };
      process.on('SIGINT', () => void stop('SIGINT'));
      process.on('SIGTERM', () => void stop('SIGTERM'));
      await server.start();
    });
}
