// A real rackboot server for tests: real Fastify on a loopback port, real
// SQLite file in a temporary data directory. RACKBOOT_TEST_STORE=postgres:
// a fresh database of the run's shared PostgreSQL cluster instead, for a
// test whose config names no store (the API, power and UI suites run on
// both drivers that way).
import { resolveConfig } from '../../server/main/config.js';
import { silentLogger, createLogger, type Logger, type LogLevel } from '../../server/log.js';
import { RackbootServer, type ServerOptions } from '../../server/main/server.js';
import { sharedCluster } from './postgres.js';
import { makeTempDir, removeTempDir } from './tmp.js';

export const TEST_NETWORKS = [
  { name: 'inside', cidr: '10.0.0.0/24', serverAddress: '10.0.0.1', router: '10.0.0.254', dns: ['10.0.0.1'], staticRange: '10.0.0.10-10.0.0.199', dynamicRange: '10.0.0.200-10.0.0.250' },
  { name: 'inside2', cidr: '10.0.1.0/24', serverAddress: '10.0.1.1', staticRange: '10.0.1.10-10.0.1.199' },
];

export interface TestServer {
  server: RackbootServer;
  url: string;
  token: string;
  dataDir: string;
  api<T = unknown>(method: string, path: string, body?: unknown, token?: string | null): Promise<{ status: number; body: T }>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** `log`: where the server logs (default: nowhere, or TEST_LOG's level on stdout). */
export async function startTestServer(raw: Record<string, unknown> = {}, opts: ServerOptions & { dataDir?: string; log?: Logger } = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? makeTempDir('rackboot-test-');
  const token = 'test-token-' + Math.random().toString(36).slice(2);
  const config = {
    dataDir,
    api: { listen: '127.0.0.1:0', token },
    networks: TEST_NETWORKS,
    dhcp: { enabled: false },
    tftp: { enabled: false },
    ...(await testStore(raw)),
    ...raw,
  };
  const { log: given, ...serverOpts } = opts;
  const log = given ?? (process.env.TEST_LOG ? createLogger({ level: process.env.TEST_LOG as LogLevel, format: process.stdout.isTTY ? 'pretty' : 'json' }) : silentLogger());
  const make = () => new RackbootServer(resolveConfig(config, null, {}), log, { factories: [], ...serverOpts });
  const ts: TestServer = {
    server: make(),
    url: '',
    token,
    dataDir,
    async api<T>(method: string, path: string, body?: unknown, tok: string | null = token) {
      const res = await fetch(ts.url + path, {
        method,
        headers: { ...(tok ? { authorization: `Bearer ${tok}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        /* not JSON */
      }
      return { status: res.status, body: parsed as T };
    },
    async restart() {
      await ts.server.stop();
      ts.server = make();
      await ts.server.start();
      ts.url = ts.server.apiUrl;
    },
    async stop() {
      await ts.server.stop();
      if (!opts.dataDir) removeTempDir(dataDir);
    },
  };
  await ts.server.start();
  ts.url = ts.server.apiUrl;
  return ts;
}

/** The store section RACKBOOT_TEST_STORE asks for (none: the config's own, SQLite by default). */
async function testStore(raw: Record<string, unknown>): Promise<Record<string, unknown>> {
  const driver = process.env.RACKBOOT_TEST_STORE ?? 'sqlite';
  if (driver === 'sqlite' || raw.store !== undefined) return {};
  if (driver !== 'postgres') throw new Error(`RACKBOOT_TEST_STORE must be sqlite or postgres, not '${driver}'`);
  const url = await (await sharedCluster()).createDatabase('ts');
  return { store: { driver: 'postgres', url, poolSize: 4 } };
}
