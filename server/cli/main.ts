#!/usr/bin/env node
// The `rackboot` command. Errors a user can act on print as one line and exit 1.
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/errors.js';
import { ServiceStartError } from '../service.js';
import { VERSION } from '../version.js';
import { ApiRequestError } from './client.js';
import { registersFor } from './commands/index.js';

const program = new Command('rackboot').version(VERSION).description('diskless cluster provisioning: DHCP, TFTP/HTTP boot, images, NFS, LVS-NAT director');
program.showHelpAfterError();
program.exitOverride();
for (const register of await registersFor(process.argv.slice(2))) register(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  if (err instanceof ConfigError || err instanceof ServiceStartError || err instanceof ApiRequestError) {
    console.error(`rackboot: ${err.message}`);
  } else {
    console.error(`rackboot: ${(err as Error)?.message ?? String(err)}`);
    if (process.env.RACKBOOT_DEBUG) console.error(err);
  }
  process.exit(1);
}
