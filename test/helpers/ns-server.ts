// `rackboot serve` as a child process inside a network namespace, for tests
// and benches that need the real process (SIGKILL, separate CPU) rather than
// an in-process server: config written to a work directory, API reached
// through a Unix-socket proxy running in the namespace (test/lab/nsproxy), so
// nothing is added to the root namespace. Stopped by pid only.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { LabApi } from '../lab/api.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const RACKBOOT_MAIN = join(REPO, 'dist', 'server', 'cli', 'main.js');
const NSPROXY = join(REPO, 'dist', 'test', 'lab', 'nsproxy.js');

export class NsRackboot {
  readonly token: string;
  readonly configFile: string;
  readonly logFile: string;
  readonly dataDir: string;
  readonly api: LabApi;
  private server: ChildProcess | undefined;
  private proxy: ChildProcess | undefined;
  private exited: string | undefined;
  private readonly port: number;
  private readonly listen: string;

  /**
   * @param config rackboot config; `dataDir` and `api` are filled in (API on 127.0.0.1 in the namespace)
   */
  /** `listen`: the API's address in the namespace (default 127.0.0.1; a pair's nodes call each other on theirs); `token`: the API token (a pair's nodes share one). */
  constructor(readonly ns: string, readonly workDir: string, private readonly config: Record<string, unknown>, opts: { apiPort?: number; listen?: string; token?: string } = {}) {
    this.token = opts.token ?? randomBytes(16).toString('hex');
    this.listen = opts.listen ?? '127.0.0.1';
    mkdirSync(workDir, { recursive: true });
    this.configFile = join(workDir, 'rackboot.json');
    this.logFile = join(workDir, 'rackboot.log');
    this.dataDir = join(workDir, 'data');
    this.port = opts.apiPort ?? 8080;
    this.api = new LabApi(join(workDir, 'api.sock'), this.token);
  }

  get pid(): number | undefined {
    return this.server?.pid;
  }

  /** Start (or restart, same data directory) and wait until the API answers. */
  async start(timeoutMs = 30_000): Promise<void> {
    // JSON is YAML: the loader reads it as is.
    writeFileSync(this.configFile, JSON.stringify({ dataDir: this.dataDir, ...this.config, api: { listen: `${this.listen}:${this.port}`, token: this.token } }, null, 2));
    const log = createWriteStream(this.logFile, { flags: 'a' });
    this.exited = undefined;
    const server = spawn('ip', ['netns', 'exec', this.ns, process.execPath, RACKBOOT_MAIN, 'serve', '--config', this.configFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: this.workDir,
      env: { ...process.env, RACKBOOT_LOG_FORMAT: 'json' },
    });
    this.server = server;
    server.stdout!.pipe(log);
    server.stderr!.pipe(log);
    server.on('exit', (code, sig) => (this.exited = `exit ${code ?? sig}`));
    if (!this.proxy || this.proxy.exitCode !== null || this.proxy.signalCode !== null) {
      const proxy = spawn('ip', ['netns', 'exec', this.ns, process.execPath, NSPROXY, this.api.socketPath, `127.0.0.1:${this.port}`], { stdio: ['ignore', 'pipe', 'inherit'] });
      this.proxy = proxy;
      await new Promise<void>((res, rej) => {
        proxy.stdout!.once('data', () => res());
        proxy.once('exit', (c) => rej(new Error(`API proxy exited (${c})`)));
      });
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exited) throw new Error(`rackboot serve stopped at start (${this.exited}):\n${this.logText().slice(-2000)}`);
      try {
        const r = await this.api.raw('GET', '/healthz');
        if (r.status === 200 || r.status === 503) return;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) throw new Error(`rackboot's API did not answer within ${timeoutMs / 1000} s:\n${this.logText().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  logText(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Signal the server (by its pid) and wait for it to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const c = this.server;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill(signal);
    await gone;
  }

  /** SIGTERM the server (SIGKILL after 10 s) and the proxy. */
  async stop(): Promise<void> {
    for (const c of [this.server, this.proxy]) {
      if (!c || c.exitCode !== null || c.signalCode !== null) continue;
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(t);
    }
  }
}
