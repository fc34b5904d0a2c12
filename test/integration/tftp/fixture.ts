// A rackboot server with TFTP and the generated-content test provider, for
// tests that run it inside a network namespace (`ip netns exec NS node
// fixture.js CONFIG.json`). Prints READY <tftp addresses> once listening;
// stops on SIGTERM.
import { readFileSync } from 'node:fs';
import { resolveConfig } from '../../../server/main/config.js';
import { createLogger, silentLogger, type LogLevel } from '../../../server/log.js';
import { RackbootServer } from '../../../server/main/server.js';
import { tftpService, type TftpService } from '../../../server/tftp/service.js';
import { testProviderFactory } from '../../helpers/tftp.js';

const raw = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Record<string, unknown>;
const log = process.env.TEST_LOG ? createLogger({ level: process.env.TEST_LOG as LogLevel, format: process.stdout.isTTY ? 'pretty' : 'json' }) : silentLogger();
const server = new RackbootServer(resolveConfig(raw, null, {}), log, { factories: [testProviderFactory, tftpService] });
await server.start();
const tftp = server.services.find((s) => s.name === 'tftp') as TftpService | undefined;
if (!tftp || server.failed.size) {
  console.log(`FAILED ${[...server.failed.values()].join('; ')}`);
  process.exit(1);
}
console.log(`READY ${tftp.bound.map((b) => `${b.address}:${b.port}`).join(' ')} ${server.apiUrl}`);
process.on('SIGTERM', () => void server.stop().then(() => process.exit(0)));
