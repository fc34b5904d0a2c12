// A real rackboot server for tests: real Fastify on a loopback port, real
// SQLite file in a temporary data directory.
import { resolveConfig } from '../../server/config/load.js';
import { silentLogger, createLogger, type Logger } from '../../server/log.js';
import { RackbootServer, type ServerOptions } from '../../server/main/server.js';
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
    ...raw,
  };
  const { log: given, ...serverOpts } = opts;
  const log = given ?? (process.env.TEST_LOG ? createLogger(process.env.TEST_LOG) : silentLogger());
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
