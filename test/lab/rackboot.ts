// rackboot as the lab's director: its config file, the `rackboot serve`
// process in the director namespace (a child the lab owns and stops by pid),
// and the API client that reaches it through a Unix socket.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { LabApi } from './api.js';
import { run, type ExecResult } from '../helpers/netns.js';
import { ADDR } from './topology.js';

/** The repository root (dist/test/lab/ -> ../../..). */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const RACKBOOT_MAIN = join(REPO, 'dist', 'server', 'cli', 'main.js');
export const API_PORT = 8080;

export interface RackbootLabConfig {
  workDir: string;
  token: string;
  /** Sections this run turns off (e.g. dhcp when the reference's dnsmasq hands out addresses). */
  disable?: Array<'dhcp' | 'tftp' | 'nfs' | 'director'>;
  /** dhcp keys: router advertisements (default on), Secure Boot (default off). */
  dhcp?: { routerAdvertisements?: boolean; secureBoot?: boolean };
  /** Health-check timing of the director's web service. */
  check?: { interval: string; timeout: string; retries: number; reentry: string };
  logLevel?: string;
}

export function rackbootConfig(o: RackbootLabConfig): Record<string, unknown> {
  const off = new Set(o.disable ?? []);
  const dataDir = join(o.workDir, 'rackboot');
  const content = join(dataDir, 'content');
  return {
    cluster: { name: 'cgws', domain: 'cluster.local', vars: {} },
    dataDir,
    api: { listen: `0.0.0.0:${API_PORT}`, token: o.token },
    // rackboot.log is for a person (tail -f, the failure messages point at it): readable lines, not JSON.
    log: { level: o.logLevel ?? 'info', format: 'pretty' },
    networks: [
      {
        name: 'inside',
        interface: 'eth1',
        cidr: ADDR.inside.cidr,
        serverAddress: ADDR.inside.server,
        router: ADDR.inside.router,
        staticRange: `${ADDR.inside.prefix}10-${ADDR.inside.prefix}199`,
      },
      {
        name: 'inside2',
        interface: 'eth2',
        cidr: ADDR.inside2.cidr,
        serverAddress: ADDR.inside2.server,
        staticRange: `${ADDR.inside2.prefix}10-${ADDR.inside2.prefix}199`,
      },
    ],
    dhcp: { enabled: !off.has('dhcp'), ...(o.dhcp ?? {}) },
    tftp: { enabled: !off.has('tftp'), root: join(o.workDir, 'tftpboot') },
    nfs: off.has('nfs')
      ? { enabled: false }
      : {
          backend: 'ganesha',
          contentRoots: [content],
          exports: [{ name: 'www', path: join(content, 'www'), networks: ['inside'], access: 'ro', layout: 'releases' }],
        },
    director: {
      enabled: !off.has('director'),
      backend: 'nftables',
      natRouter: { interface: 'eth1', address: `${ADDR.inside.router}/24` },
      services: [
        {
          name: 'web',
          vip: `${ADDR.vip}/24`,
          interface: 'eth0',
          port: 80,
          scheduler: 'rr',
          realServers: { group: 'web', network: 'inside', port: 80 },
          check: { path: '/', expect: 200, ...(o.check ?? { interval: '1s', timeout: '1s', retries: 2, reentry: '2s' }) },
        },
      ],
    },
  };
}

export class RackbootDirector {
  readonly token = randomBytes(16).toString('hex');
  readonly configFile: string;
  readonly socketPath: string;
  readonly api: LabApi;
  private server: ChildProcess | undefined;
  private proxy: ChildProcess | undefined;
  private exited: string | undefined;

  constructor(readonly o: { directorNs: string; workDir: string; config?: Omit<RackbootLabConfig, 'workDir' | 'token'> }) {
    this.configFile = join(o.workDir, 'rackboot.yaml');
    this.socketPath = join(o.workDir, 'api.sock');
    this.api = new LabApi(this.socketPath, this.token);
  }

  get logFile(): string {
    return join(this.o.workDir, 'rackboot.log');
  }

  get pid(): number | undefined {
    return this.server?.pid;
  }

  writeConfig(): Record<string, unknown> {
    const cfg = rackbootConfig({ ...(this.o.config ?? {}), workDir: this.o.workDir, token: this.token });
    mkdirSync(join(this.o.workDir, 'tftpboot'), { recursive: true });
    writeFileSync(this.configFile, stringify(cfg));
    return cfg;
  }

  /** Starts `rackboot serve` in the director namespace and waits until its API answers. */
  async start(timeoutMs = 60_000): Promise<void> {
    this.writeConfig();
    const log = createWriteStream(this.logFile, { flags: 'a' });
    const server = spawn('ip', ['netns', 'exec', this.o.directorNs, process.execPath, RACKBOOT_MAIN, 'serve', '--config', this.configFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: this.o.workDir,
      env: { ...process.env, RACKBOOT_API_TOKEN: this.token },
    });
    this.server = server;
    server.stdout!.pipe(log);
    server.stderr!.pipe(log);
    server.on('exit', (code, sig) => (this.exited = `exit ${code ?? sig}`));

    const proxy = spawn('ip', ['netns', 'exec', this.o.directorNs, process.execPath, join(REPO, 'dist', 'test', 'lab', 'nsproxy.js'), this.socketPath, `127.0.0.1:${API_PORT}`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.proxy = proxy;
    await new Promise<void>((res, rej) => {
      proxy.stdout!.once('data', () => res());
      proxy.once('exit', (c) => rej(new Error(`the lab's API proxy exited (${c})`)));
    });

    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exited) throw new Error(`rackboot serve stopped at start (${this.exited}); see ${this.logFile}`);
      try {
        const r = await this.api.raw('GET', '/healthz');
        if (r.status === 200) return;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) throw new Error(`rackboot's API did not answer within ${timeoutMs / 1000} s; see ${this.logFile}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Runs the rackboot CLI in the director namespace against this server's API. */
  cli(args: string[], timeoutMs = 120_000): Promise<ExecResult> {
    return run('ip', ['netns', 'exec', this.o.directorNs, process.execPath, RACKBOOT_MAIN, ...args, '--api', `http://127.0.0.1:${API_PORT}`, '--token', this.token], {
      timeoutMs,
      cwd: this.o.workDir,
    });
  }

  /** SIGTERM (rackboot stops ganesha, removes the VIP and its rules), SIGKILL after 15 s. */
  async stop(): Promise<void> {
    for (const c of [this.server, this.proxy]) {
      if (!c || c.exitCode !== null || c.signalCode !== null) continue;
      const closed = new Promise((r) => c.once('close', r));
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 15_000);
      await closed;
      clearTimeout(t);
    }
  }
}
