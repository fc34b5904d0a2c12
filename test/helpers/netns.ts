// Network namespaces, veth pairs and bridges a test makes and always removes:
// tests never send DHCP, TFTP or load-balanced traffic outside them.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';

let counter = 0;

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function sh(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number; check?: boolean } = {}): ExecResult {
  const r = spawnSync(cmd, args, { input: opts.input, encoding: 'utf8', timeout: opts.timeoutMs ?? 30_000 });
  const res = { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? String(r.error) : '') };
  if ((opts.check ?? true) && r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${res.stderr.trim() || res.stdout.trim()}`);
  }
  return res;
}

/** Run a command to completion, async (the test's event loop keeps running servers alive). */
export function run(cmd: string, args: string[], opts: SpawnOptions & { timeoutMs?: number; input?: string } = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (e) => (stderr += String(e)));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
}

export class NetLab {
  readonly id: string;
  private readonly namespaces: string[] = [];
  private readonly rootLinks: string[] = [];
  private readonly children: ChildProcess[] = [];
  private readonly cleanups: Array<() => void> = [];

  constructor(prefix = 'rb') {
    this.id = `${prefix}${process.pid % 100000}x${counter++}`;
  }

  /** Full namespace name for a short one. */
  ns(short: string): string {
    return `${this.id}-${short}`;
  }

  addNs(short: string): string {
    const name = this.ns(short);
    sh('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  /**
   * A veth pair between two namespaces (null = the root namespace), each end
   * renamed, optionally with a MAC and an address ("10.0.0.1/24"), and up.
   */
  veth(a: { ns: string | null; name: string; mac?: string; addr?: string }, b: { ns: string | null; name: string; mac?: string; addr?: string }): void {
    const tmpA = `v${this.id.slice(-8)}a${counter}`.slice(0, 15);
    const tmpB = `v${this.id.slice(-8)}b${counter++}`.slice(0, 15);
    sh('ip', ['link', 'add', tmpA, 'type', 'veth', 'peer', 'name', tmpB]);
    for (const [tmp, end] of [[tmpA, a], [tmpB, b]] as const) {
      if (end.ns) sh('ip', ['link', 'set', tmp, 'netns', end.ns]);
      else this.rootLinks.push(end.name);
      const ipn = end.ns ? ['-n', end.ns] : [];
      sh('ip', [...ipn, 'link', 'set', tmp, 'name', end.name]);
      if (end.mac) sh('ip', [...ipn, 'link', 'set', end.name, 'address', end.mac]);
      if (end.addr) sh('ip', [...ipn, 'addr', 'add', end.addr, 'dev', end.name]);
      sh('ip', [...ipn, 'link', 'set', end.name, 'up']);
    }
  }

  bridge(ns: string, name: string, addr?: string): void {
    sh('ip', ['-n', ns, 'link', 'add', name, 'type', 'bridge']);
    if (addr) sh('ip', ['-n', ns, 'addr', 'add', addr, 'dev', name]);
    sh('ip', ['-n', ns, 'link', 'set', name, 'up']);
  }

  /** Enslave a link (already in ns) to a bridge. */
  enslave(ns: string, link: string, bridge: string): void {
    sh('ip', ['-n', ns, 'link', 'set', link, 'master', bridge]);
  }

  execSync(ns: string, cmd: string, args: string[], opts: { input?: string; timeoutMs?: number; check?: boolean } = {}): ExecResult {
    return sh('ip', ['netns', 'exec', ns, cmd, ...args], opts);
  }

  exec(ns: string, cmd: string, args: string[], opts: { timeoutMs?: number; input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ExecResult> {
    return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
  }

  /** A long-running process in a namespace, killed by cleanup(). */
  spawn(ns: string, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    this.children.push(child);
    return child;
  }

  onCleanup(fn: () => void): void {
    this.cleanups.push(fn);
  }

  async cleanup(): Promise<void> {
    for (const c of this.children) {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
    await Promise.all(
      this.children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('close', r)) : undefined)),
    );
    for (const fn of this.cleanups.reverse()) {
      try {
        fn();
      } catch {
        /* keep cleaning */
      }
    }
    for (const l of this.rootLinks) sh('ip', ['link', 'del', l], { check: false });
    for (const ns of this.namespaces) {
      // Kill anything still running in the namespace (started by this test) before removing it.
      const pids = sh('ip', ['netns', 'pids', ns], { check: false }).stdout.split(/\s+/).filter(Boolean);
      for (const pid of pids) sh('kill', ['-9', pid], { check: false });
      sh('ip', ['netns', 'del', ns], { check: false });
    }
  }
}
