// An LVS-NAT lab in network namespaces, shared by the director tests and
// bench/director:
//
//   client ns            director ns                         real-server ns (xN)
//   c0 192.168.100.2 --- out0 192.168.100.1 (+ VIP .100)
//                        brin 10.0.0.1 (+ NAT router .254) --- eth0 10.0.0.1N, default via 10.0.0.254
//
// rackboot runs as a child process inside the director namespace, so every
// nft/ip/sysctl it runs and every health check it makes stays in the lab.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import YAML from 'yaml';
import { NetLab } from '../../helpers/netns.js';
import { makeTempDir, removeTempDir } from '../../helpers/tmp.js';

export const VIP = '192.168.100.100';
export const NAT_ROUTER = '10.0.0.254';
export const TOKEN = 'director-lab-token';

export interface RealServer {
  name: string;
  ns: string;
  address: string;
  mac: string;
  dir: string;
  proc: ChildProcess | undefined;
}

export class DirectorLab {
  readonly lab = new NetLab('rbd');
  readonly tmp = makeTempDir('rackboot-director-');
  client!: string;
  director!: string;
  servers: RealServer[] = [];
  server: ChildProcess | undefined;
  serverLog = '';
  readonly apiPort = 18080;

  /** Build the namespaces and links; real servers get addresses 10.0.0.11, .12, ... */
  build(count: number, opts: { router?: string } = {}): void {
    const { lab } = this;
    this.client = lab.addNs('cl');
    this.director = lab.addNs('dir');
    // A new namespace copies the host's IPv4 conf/all, ip_forward with it (a
    // Docker host has 1): start from the kernel's default, as a fresh director
    // would, so "forwarding restored on stop" means the same on any host.
    lab.execSync(this.director, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=0']);
    lab.veth({ ns: this.client, name: 'c0', addr: '192.168.100.2/24' }, { ns: this.director, name: 'out0', addr: '192.168.100.1/24' });
    lab.bridge(this.director, 'brin', '10.0.0.1/24');
    for (let i = 1; i <= count; i++) {
      const ns = lab.addNs(`rs${i}`);
      const address = `10.0.0.${10 + i}`;
      const mac = `52:54:00:00:0d:${i.toString(16).padStart(2, '0')}`;
      lab.veth({ ns, name: 'eth0', addr: `${address}/24`, mac }, { ns: this.director, name: `p${i}` });
      lab.enslave(this.director, `p${i}`, 'brin');
      // The paper's setup tip: the real server's default gateway is the NAT router.
      lab.execSync(ns, 'ip', ['route', 'add', 'default', 'via', opts.router ?? NAT_ROUTER]);
      const dir = join(this.tmp, `www${i}`);
      this.servers.push({ name: `rs${i}`, ns, address, mac, dir, proc: undefined });
    }
  }

  /** busybox httpd answering "/" with its own name and "/health" with "ok". */
  startHttp(rs: RealServer): void {
    rmSync(rs.dir, { recursive: true, force: true });
    mkdirSync(rs.dir, { recursive: true });
    writeFileSync(join(rs.dir, 'index.html'), `${rs.name}\n`);
    writeFileSync(join(rs.dir, 'health'), 'ok\n');
    rs.proc = this.lab.spawn(rs.ns, 'busybox', ['httpd', '-f', '-p', '0.0.0.0:80', '-h', rs.dir]);
  }

  /** nginx (one worker, no access log) answering "/" with the server's name: a fast real server for benchmarks. */
  startNginx(rs: RealServer, bin: string): void {
    rmSync(rs.dir, { recursive: true, force: true });
    mkdirSync(rs.dir, { recursive: true });
    const conf = join(rs.dir, 'nginx.conf');
    writeFileSync(
      conf,
      [
        'worker_processes 1;',
        'daemon off;',
        `pid ${rs.dir}/nginx.pid;`,
        'error_log stderr error;',
        'events { worker_connections 4096; }',
        'http {',
        '  access_log off;',
        `  client_body_temp_path ${rs.dir}/t1; proxy_temp_path ${rs.dir}/t2; fastcgi_temp_path ${rs.dir}/t3; uwsgi_temp_path ${rs.dir}/t4; scgi_temp_path ${rs.dir}/t5;`,
        '  keepalive_requests 1000000;',
        '  server {',
        '    listen 80 reuseport backlog=4096;',
        `    location / { default_type text/plain; return 200 "${rs.name}\\n"; }`,
        '    location = /health { default_type text/plain; return 200 "ok\\n"; }',
        '  }',
        '}',
      ].join('\n'),
    );
    // No pipes: nginx's workers would keep them open after the master is killed, and nothing would see the close.
    rs.proc = this.lab.spawn(rs.ns, bin, ['-p', rs.dir, '-c', conf, '-e', 'stderr'], { stdio: 'ignore' });
  }

  async stopHttp(rs: RealServer): Promise<void> {
    const p = rs.proc;
    rs.proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    // SIGTERM: nginx's master takes its workers down with it; busybox httpd just exits.
    p.kill('SIGTERM');
    await gone;
  }

  config(director: Record<string, unknown>, nodes: Array<{ rs: RealServer; vars?: Record<string, unknown> }>): Record<string, unknown> {
    return {
      cluster: { name: 'lab', domain: 'lab.local' },
      dataDir: join(this.tmp, 'var'),
      api: { listen: `127.0.0.1:${this.apiPort}`, token: TOKEN },
      log: { level: 'info' },
      networks: [{ name: 'inside', interface: 'brin', cidr: '10.0.0.0/24', serverAddress: '10.0.0.1', router: NAT_ROUTER, staticRange: '10.0.0.10-10.0.0.199' }],
      dhcp: { enabled: false },
      tftp: { enabled: false },
      nfs: { backend: 'none' },
      groups: [{ name: 'web' }],
      nodes: nodes.map(({ rs, vars }) => ({
        name: rs.name,
        group: 'web',
        ...(vars ? { vars } : {}),
        interfaces: [{ name: 'eth0', mac: rs.mac, network: 'inside', ipv4: rs.address }],
      })),
      director,
    };
  }

  /** Start `rackboot serve` inside the director namespace and wait for its API. */
  async startServer(config: Record<string, unknown>, cli: string): Promise<void> {
    const file = join(this.tmp, 'rackboot.yaml');
    writeFileSync(file, YAML.stringify(config));
    this.serverLog = '';
    const child = this.lab.spawn(this.director, process.execPath, [cli, 'serve', '--config', file], {
      env: { ...process.env, RACKBOOT_LOG_FORMAT: 'json', RACKBOOT_API_TOKEN: '' },
    });
    child.stdout?.on('data', (d: Buffer) => (this.serverLog += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.serverLog += d.toString()));
    this.server = child;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`rackboot exited (${child.exitCode}):\n${this.serverLog}`);
      const r = await this.lab.exec(this.director, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${this.apiPort}/healthz`], { timeoutMs: 5000 });
      if (r.stdout === '200' || r.stdout === '503') return;
      await sleep(100);
    }
    throw new Error(`rackboot's API did not come up:\n${this.serverLog}`);
  }

  async stopServer(): Promise<number | null> {
    const child = this.server;
    this.server = undefined;
    if (!child || child.exitCode !== null) return child?.exitCode ?? null;
    const done = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
    child.kill('SIGTERM');
    return done;
  }

  /** An API call made from inside the director namespace. */
  async api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const args = ['-s', '-X', method, '-H', `authorization: Bearer ${TOKEN}`, '-w', '\n%{http_code}'];
    if (body !== undefined) args.push('-H', 'content-type: application/json', '--data-binary', JSON.stringify(body));
    const r = await this.lab.exec(this.director, 'curl', [...args, `http://127.0.0.1:${this.apiPort}/api/v1${path}`], { timeoutMs: 10_000 });
    const i = r.stdout.lastIndexOf('\n');
    const text = r.stdout.slice(0, i);
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* text */
    }
    return { status: Number(r.stdout.slice(i + 1)), body: parsed as T };
  }

  /** `n` sequential requests to the VIP from the client namespace, each on a new connection. */
  async requests(n: number, port = 80, timeoutMs = 3000): Promise<Requests> {
    const script = join(this.tmp, 'client.mjs');
    writeFileSync(script, CLIENT);
    const r = await this.lab.exec(this.client, process.execPath, [script, `http://${VIP}:${port}/`, String(n), String(timeoutMs)], { timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`client failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as Requests;
  }

  async cleanup(): Promise<void> {
    await this.stopServer().catch(() => undefined);
    await this.lab.cleanup();
    removeTempDir(this.tmp);
  }
}

/** What the client saw: answers per server, and each failure with when its TCP connection was established (null: never). */
export type Requests = { counts: Record<string, number>; failed: Array<{ error: string; connectedAt: number | null }> };

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll until fn returns a value (not undefined) or the deadline passes. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

const CLIENT = `
import http from 'node:http';
const [url, n, timeout] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4] || 3000)];
const once = () => new Promise((resolve) => {
  let connectedAt = null;
  const req = http.get(url, { agent: false, timeout }, (res) => {
    let body = '';
    res.on('data', (d) => (body += d));
    res.on('end', () => resolve(res.statusCode === 200 ? { ok: true, body: body.trim() } : { ok: false, body: 'status ' + res.statusCode, connectedAt }));
  });
  req.on('socket', (s) => s.once('connect', () => (connectedAt = Date.now())));
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => resolve({ ok: false, body: e.code || e.message, connectedAt }));
});
const counts = {};
const failed = [];
for (let i = 0; i < n; i++) {
  const r = await once();
  if (r.ok) counts[r.body] = (counts[r.body] || 0) + 1;
  else failed.push({ error: r.body, connectedAt: r.connectedAt });
}
console.log(JSON.stringify({ counts, failed }));
`;
