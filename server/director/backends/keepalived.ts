// keepalived backend: rackboot renders keepalived.conf (virtual_server /
// real_server, lb_kind NAT, HTTP_GET or TCP_CHECK with the service's check),
// checks it with `keepalived -t`, and reloads keepalived with SIGHUP. keepalived
// checks the real servers itself and owns the pool, so it is given every
// candidate; rackboot's own checks then only report (API, timeline, metrics).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../../log.js';
import { GROUP_SIGNAL_GRACE_MS, GROUP_SIGNALS, processIsStopping } from '../../shutdown.js';
import { formatIpv4 } from '../../net/ipv4.js';
import type { DesiredState } from '../desired.js';
import type { CommandRunner } from '../exec.js';
import { countConnections, type ConnectionCounts } from '../connections.js';
import type { ResolvedCheck } from '../model.js';
import type { ApplyResult, DirectorBackend } from './types.js';

export interface KeepalivedOptions {
  mode: 'managed' | 'external';
  command: string;
  /** Where keepalived.conf is written. */
  configFile: string;
  /** external: keepalived's pid file; managed: where the child writes its pid files. */
  pidFile: string;
  routerId: string;
}

/** keepalived takes seconds; sub-second values as decimals. */
function secs(ms: number): string {
  const s = ms / 1000;
  return Number.isInteger(s) ? String(s) : s.toFixed(3).replace(/0+$/, '');
}

function quote(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function regexEscape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function checkBlock(check: ResolvedCheck, port: number, pad: string): string[] {
  if (check.type === 'none') return [];
  const common = [
    ...(check.port !== undefined && check.port !== port ? [`connect_port ${check.port}`] : []),
    `connect_timeout ${secs(check.timeoutMs)}`,
    // keepalived retries within one round; `retries` failed checks in a row = 1 + (retries - 1) retries.
    `retry ${check.retries - 1}`,
    `delay_before_retry ${secs(check.intervalMs)}`,
  ];
  if (check.type === 'tcp') return [`${pad}TCP_CHECK {`, ...common.map((l) => `${pad}  ${l}`), `${pad}}`];
  const url = [`path ${check.path}`, typeof check.expect === 'number' ? `status_code ${check.expect}` : `regex ${quote(regexEscape(check.expect))}`];
  return [
    `${pad}HTTP_GET {`,
    `${pad}  url {`,
    ...url.map((l) => `${pad}    ${l}`),
    `${pad}  }`,
    ...(check.host ? [`${pad}  virtualhost ${check.host}`] : []),
    ...common.map((l) => `${pad}  ${l}`),
    `${pad}}`,
  ];
}

export function renderKeepalived(state: DesiredState, checks: ReadonlyMap<string, ResolvedCheck>, routerId: string): string {
  const out = [
    '! keepalived.conf rendered by rackboot: rewritten on every change, do not edit',
    'global_defs {',
    `  router_id ${routerId}`,
    '}',
  ];
  for (const s of state.services) {
    const check = checks.get(s.name);
    out.push(
      '',
      `! service ${s.name}`,
      `virtual_server ${formatIpv4(s.vip)} ${s.port} {`,
      ...(check && check.type !== 'none' ? [`  delay_loop ${secs(check.intervalMs)}`] : []),
      `  lb_algo ${s.scheduler}`,
      '  lb_kind NAT',
      `  protocol ${s.protocol.toUpperCase()}`,
      ...(s.persistenceSec !== undefined ? [`  persistence_timeout ${s.persistenceSec}`] : []),
    );
    for (const r of s.servers) {
      out.push(`  ! ${r.name}`, `  real_server ${formatIpv4(r.address)} ${r.port} {`, `    weight ${r.weight}`);
      if (check) out.push(...checkBlock(check, r.port, '    '));
      out.push('  }');
    }
    out.push('}');
  }
  return out.join('\n') + '\n';
}

export class KeepalivedBackend implements DirectorBackend {
  readonly name = 'keepalived' as const;
  readonly checksHealth = true;
  private child: ChildProcess | undefined;
  private last: string | undefined;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Set when the managed child died; the service reports it. */
  childError: string | undefined;

  constructor(
    private readonly runner: CommandRunner,
    private readonly opts: KeepalivedOptions,
    private readonly checks: ReadonlyMap<string, ResolvedCheck>,
    private readonly log: Logger,
  ) {}

  async preflight(): Promise<void> {
    if (!(await this.runner.has(this.opts.command))) {
      throw new Error(`the keepalived backend needs the '${this.opts.command}' command (Debian package keepalived)`);
    }
  }

  render(state: DesiredState): string {
    return renderKeepalived(state, this.checks, this.opts.routerId);
  }

  /** `keepalived -t -f FILE`: a config keepalived refuses never replaces the running one. */
  async validate(file: string): Promise<void> {
    const r = await this.runner.run(this.opts.command, ['-t', '-f', file]);
    if (r.code !== 0) throw new Error(`keepalived -t refused the rendered config (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(0, 4).join(' | ')}`);
  }

  async apply(state: DesiredState): Promise<ApplyResult> {
    const text = this.render(state);
    if (text === this.last && (this.opts.mode === 'external' || this.child)) return { changed: false, summary: 'unchanged' };
    await this.install(text);
    // `last` only once keepalived was told: a failed reload is retried.
    if (this.opts.mode === 'external') {
      const pid = this.signalExternal();
      this.last = text;
      return { changed: true, summary: `wrote ${this.opts.configFile}, SIGHUP to keepalived ${pid}` };
    }
    this.last = text;
    if (this.child?.pid && this.child.exitCode === null) {
      this.child.kill('SIGHUP');
      return { changed: true, summary: `wrote ${this.opts.configFile}, SIGHUP to keepalived ${this.child.pid}` };
    }
    this.startChild();
    return { changed: true, summary: `wrote ${this.opts.configFile}, started keepalived ${this.child?.pid ?? '?'}` };
  }

  /** Write the config through a temporary file that `keepalived -t` accepted. */
  private async install(text: string): Promise<void> {
    mkdirSync(dirname(this.opts.configFile), { recursive: true });
    const tmp = `${this.opts.configFile}.new`;
    writeFileSync(tmp, text);
    await this.validate(tmp);
    renameSync(tmp, this.opts.configFile);
  }

  /** SIGHUP to the external keepalived; a stale or foreign pid file is named, not a raw errno. */
  private signalExternal(): number {
    const pid = this.externalPid();
    try {
      process.kill(pid, 'SIGHUP');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ESRCH') throw new Error(`keepalived pid ${pid} from ${this.opts.pidFile} is not running; start keepalived, or set director.keepalived.mode: managed`);
      if (code === 'EPERM') throw new Error(`not allowed to signal keepalived pid ${pid} from ${this.opts.pidFile} (rackboot must run as root or as keepalived's user)`);
      throw e;
    }
    return pid;
  }

  private externalPid(): number {
    const f = this.opts.pidFile;
    if (!existsSync(f)) throw new Error(`keepalived is not running (no pid file ${f}); start it, or set director.keepalived.mode: managed`);
    const pid = Number(readFileSync(f, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 1) throw new Error(`${f} holds no process id`);
    return pid;
  }

  /** keepalived in the foreground (-n), checker process only (-C: no VRRP), its own pid files. */
  managedArgs(): string[] {
    const dir = dirname(this.opts.pidFile);
    return ['-n', '-l', '-C', '-f', this.opts.configFile, '-p', this.opts.pidFile, '-c', join(dir, 'keepalived-checkers.pid')];
  }

  private startChild(): void {
    const argv = [...this.runner.prefix, this.opts.command, ...this.managedArgs()];
    mkdirSync(dirname(this.opts.pidFile), { recursive: true });
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.childError = undefined;
    const logLine = (d: Buffer) => {
      for (const line of d.toString().split('\n')) if (line.trim()) this.log.info(`keepalived: ${line.trim()}`);
    };
    child.stdout?.on('data', logLine);
    child.stderr?.on('data', logLine);
    child.on('error', (e) => (this.childError = `keepalived could not start: ${e.message}`));
    child.on('exit', (code, signal) => void this.childExited(child, code, signal));
  }

  private async childExited(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    if (this.child === child) this.child = undefined;
    if (this.stopping) return;
    // A Ctrl-C reaches keepalived too, maybe before serve has noted that it is stopping.
    if (signal && GROUP_SIGNALS.has(signal)) await delay(GROUP_SIGNAL_GRACE_MS);
    if (this.stopping || this.child) return;
    if (processIsStopping()) {
      this.log.info(`director: keepalived exited (${signal ?? `code ${code}`}) while rackboot is stopping; not restarted`);
      return;
    }
    this.childError = `keepalived exited (${signal ?? `code ${code}`}); restarting in 5 s`;
    this.log.error(`director: ${this.childError}`);
    this.restartTimer = setTimeout(() => {
      if (!this.stopping && !this.child && !processIsStopping()) this.startChild();
    }, 5000);
    this.restartTimer.unref();
  }

  /**
   * keep (director.keepRulesOnStop): external: the config and keepalived stay
   * as they are. Otherwise a config without virtual servers is loaded, so
   * keepalived removes rackboot's. managed: the child is stopped either way
   * (keepalived removes its virtual servers when it exits); the config check
   * refuses keepRulesOnStop with a managed keepalived rather than ignore it.
   */
  /** keepalived drives IPVS: ipvsadm reads its counts. */
  connections(state: DesiredState): Promise<ConnectionCounts> {
    return countConnections('ipvs', this.runner, state);
  }

  async stop(keep = false): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    if (this.opts.mode === 'external') {
      this.last = undefined;
      if (keep) return;
      await this.install(this.render({ masquerade: 'auto', inside: undefined, services: [] }));
      this.signalExternal();
      return;
    }
    const child = this.child;
    this.child = undefined;
    this.last = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
}
