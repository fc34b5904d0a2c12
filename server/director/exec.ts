// Running the system's tools (nft, ip, sysctl, ipvsadm, keepalived). A prefix
// makes every command run elsewhere, e.g. ["ip", "netns", "exec", "lab-dir"]
// so tests drive a namespace's kernel state and never the root namespace's.
import { spawn } from 'node:child_process';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Killed (SIGKILL) for running longer than its timeout. */
  timedOut?: boolean;
}

export interface RunOptions {
  input?: string;
  /** Added to this process's environment (e.g. a secret a tool reads from it, kept off its command line). */
  env?: Record<string, string>;
  /** This run's timeout instead of the runner's. */
  timeoutMs?: number;
}

export class CommandError extends Error {
  constructor(readonly command: string, readonly result: RunResult, readonly missing = false) {
    super(
      missing
        ? `the command '${command}' is not installed`
        : `${command} failed (exit ${result.code}): ${(result.stderr.trim() || result.stdout.trim()).split('\n').slice(0, 6).join(' | ')}`,
    );
    this.name = 'CommandError';
  }
}

export class CommandRunner {
  constructor(readonly prefix: readonly string[] = [], private readonly timeoutMs = 30_000) {}

  run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const argv = [...this.prefix, cmd, ...args];
    return new Promise((resolve) => {
      const env = opts.env ? { ...process.env, ...opts.env } : undefined;
      const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env });
      let stdout = '';
      let stderr = '';
      let missing = false;
      let timedOut = false;
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, opts.timeoutMs ?? this.timeoutMs);
      child.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') missing = true;
        stderr += e.message;
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: missing ? 127 : code, stdout, stderr, ...(timedOut ? { timedOut } : {}) });
      });
      child.stdin.on('error', () => undefined); // the tool may exit before reading its input
      child.stdin.end(opts.input ?? '');
    });
  }

  /** Run and return stdout; a non-zero exit throws CommandError naming the command and its message. */
  async must(cmd: string, args: readonly string[], opts: { input?: string } = {}): Promise<string> {
    const r = await this.run(cmd, args, opts);
    if (r.code !== 0) throw new CommandError([cmd, ...args].join(' '), r, r.code === 127 && /ENOENT|not found/.test(r.stderr));
    return r.stdout;
  }

  /** Whether a tool can be started (found on PATH, in the prefix's context). */
  async has(cmd: string): Promise<boolean> {
    const r = await this.run('sh', ['-c', 'command -v "$1"', 'sh', cmd]);
    return r.code === 0;
  }
}
