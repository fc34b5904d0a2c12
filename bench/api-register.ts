// bench/api-register: register N nodes (default 10,000) through the REST API,
// one POST per node over keep-alive connections, against a `rackboot serve`
// child process with a fresh SQLite file. Bar (issue 2): under 20 s on 2 cores.
// --store postgres: the server on PostgreSQL too (a cluster the bench
// starts, durable defaults, a fresh database per run), taking turns with
// SQLite in each run, and the ratio. Bar (issue 19): the same 20 s.
// --concurrency takes a list (1,8): each is measured in the same run.
//   node dist/bench/api-register.js [--nodes 10000] [--concurrency 1[,8...]] [--runs 3] [--store sqlite|postgres] [--pg-fsync on|off]
// Figures in docs/benchmarks.md: node dist/bench/api-register.js --nodes 10000 --runs 3 --concurrency 1,8 [--store postgres]
// bench:smoke args: --nodes 20 --runs 1
// bench:smoke args+postgres: --store postgres --nodes 40 --runs 1 --concurrency 1,8
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { printResult } from './lib/result.js';
import { benchCluster, databaseCpuSeconds, type PgCluster } from './lib/pg.js';

const { values } = parseArgs({
  options: { nodes: { type: 'string', default: '10000' }, concurrency: { type: 'string', default: '1' }, runs: { type: 'string', default: '3' }, store: { type: 'string', default: 'sqlite' }, 'pg-fsync': { type: 'string', default: 'on' } },
});
if (values.store !== 'sqlite' && values.store !== 'postgres') throw new Error('--store must be sqlite or postgres');
const pg: PgCluster | undefined = values.store === 'postgres' ? benchCluster(values['pg-fsync'] !== 'off') : undefined;
const N = Number(values.nodes);
const CONCURRENCY = values.concurrency.split(',').map(Number);
if (CONCURRENCY.some((c) => !Number.isInteger(c) || c < 1)) throw new Error('--concurrency: a list of whole numbers from 1');
type Store = 'sqlite' | 'postgres';
/** With --store postgres, SQLite takes turns with it: the ratio in one run. */
const STORES: Store[] = pg ? ['postgres', 'sqlite'] : ['sqlite'];
const CLI = new URL('../server/cli/main.js', import.meta.url).pathname;

/** utime + stime of a process, seconds. */
function cpuOf(pid: number | undefined): number {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

async function startServer(dir: string, store: Store): Promise<{ url: string; token: string; pid: number | undefined; stop: () => Promise<void> }> {
  const cfg = join(dir, 'bench.yaml');
  writeFileSync(
    cfg,
    `dataDir: ${dir}/var\napi: { listen: "127.0.0.1:0", token: bench-token }\n` +
      `dhcp: { enabled: false }\ntftp: { enabled: false }\nnfs: { backend: none }\n` +
      (store === 'postgres' ? `store: { driver: postgres, url: "${await pg!.createDatabase('register')}" }\nserver: { name: bench }\n` : '') +
      `networks:\n  - { name: a, cidr: 10.16.0.0/16, serverAddress: 10.16.0.1, staticRange: 10.16.0.10-10.16.255.250 }\n` +
      `  - { name: b, cidr: 10.17.0.0/16, serverAddress: 10.17.0.1, staticRange: 10.17.0.10-10.17.255.250 }\n`,
  );
  const child = spawn(process.execPath, [CLI, 'serve', '--config', cfg], {
    env: { PATH: process.env.PATH, RACKBOOT_LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('server did not start: ' + out)), 20_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) (clearTimeout(t), resolve(m[1]!));
    });
  });
  return {
    url,
    token: 'bench-token',
    pid: child.pid,
    stop: () => new Promise((r) => (child.once('exit', () => r()), child.kill('SIGTERM'))),
  };
}

function post(agent: Agent, url: URL, token: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: '/api/v1/nodes',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${token}` },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function mac(prefix: number, i: number): string {
  return [0x52, 0x54, prefix, (i >> 16) & 255, (i >> 8) & 255, i & 255].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** CPU per registration of the last run, µs: the server process's and the database's (a shared machine's load leaves these nearly alone). */
const cpu = { server: 0, db: 0 };

async function once(store: Store, C: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'rb-bench-api-'));
  const srv = await startServer(dir, store);
  const agent = new Agent({ keepAlive: true, maxSockets: C });
  const url = new URL(srv.url);
  let next = 0;
  let failed = 0;
  const onPg = store === 'postgres';
  const [s0, d0] = [cpuOf(srv.pid), onPg ? databaseCpuSeconds(pg!) : 0];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (next < N) {
        const i = next++;
        const body = JSON.stringify({
          name: `node${i}`,
          interfaces: [
            { name: 'eth0', mac: mac(0x10, i), network: 'a' },
            { name: 'eth1', mac: mac(0x11, i), network: 'b' },
          ],
        });
        if ((await post(agent, url, srv.token, body)) !== 201) failed++;
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  cpu.server = ((cpuOf(srv.pid) - s0) * 1e6) / N;
  cpu.db = onPg ? ((databaseCpuSeconds(pg!) - d0) * 1e6) / N : 0;
  agent.destroy();
  const check = await fetch(`${srv.url}/api/v1/nodes`, { headers: { authorization: `Bearer ${srv.token}` } });
  const count = ((await check.json()) as unknown[]).length;
  await srv.stop();
  rmSync(dir, { recursive: true, force: true });
  if (failed || count !== N) throw new Error(`${failed} request(s) failed; registry holds ${count} of ${N}`);
  return secs;
}

/** Seconds of each run, by "store concurrency". */
const runs = new Map<string, number[]>();
const key = (store: Store, c: number) => `${store} ${c}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
try {
  for (let r = 0; r < Number(values.runs); r++) {
    for (const C of CONCURRENCY) {
      // Which store goes first alternates, so neither always meets the other's leftovers.
      for (const store of r % 2 ? [...STORES].reverse() : STORES) {
        const s = await once(store, C);
        (runs.get(key(store, C)) ?? runs.set(key(store, C), []).get(key(store, C))!).push(s);
        console.log(
          `run ${r + 1}: ${N} nodes (2 interfaces each) in ${s.toFixed(2)} s = ${(N / s).toFixed(0)} registrations/s (store ${store}${store === 'postgres' ? `, fsync ${values['pg-fsync']}` : ''}, concurrency ${C}); ` +
            `CPU per registration: server ${cpu.server.toFixed(0)} µs${store === 'postgres' ? `, database ${cpu.db.toFixed(0)} µs` : ''}`,
        );
      }
    }
  }
} finally {
  pg?.destroy();
}
const bar = (m: number) => (N === 10_000 ? `bar 20 s ${m < 20 ? 'met' : 'NOT met'}` : 'bar is for 10,000');
const parts: string[] = [];
for (const C of CONCURRENCY) {
  for (const store of STORES) {
    const m = median(runs.get(key(store, C))!);
    console.log(`median: ${m.toFixed(2)} s for ${N} nodes, store ${store}, concurrency ${C} (${(N / m).toFixed(0)} registrations/s); ${bar(m)}`);
    parts.push(`${store} c${C} ${m.toFixed(2)} s (${bar(m)})`);
  }
  if (pg) {
    const ratio = median(runs.get(key('postgres', C))!) / median(runs.get(key('sqlite', C))!);
    console.log(`ratio postgres/sqlite time at concurrency ${C}: ${ratio.toFixed(2)}`);
    parts.push(`postgres/sqlite c${C} ${ratio.toFixed(2)}x the time`);
  }
}
printResult('api-register', `median of ${Number(values.runs)} runs, ${N} nodes: ${parts.join(', ')}; no reference implementation`);
