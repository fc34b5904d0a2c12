// A command channel into a QEMU guest over its second serial port, so code
// that runs its commands through a CommandRunner (the ipvs backend) can drive
// the guest's kernel as if it were local. QEMU connects the port to a Unix
// socket this side listens on (`-serial unix:PATH`); the guest's init runs
// guestLoop() on that port (/dev/ttyS1). One line per command each way,
// fields base64-encoded, so neither quoting nor the tty can mangle them.
import { createServer, type Server, type Socket } from 'node:net';
import { CommandRunner, type RunResult } from '../../../server/director/exec.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64').toString();
const shQuote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

/**
 * The guest side (busybox sh): "ID CMD INPUT" in, "ID EXIT STDOUT STDERR" out,
 * each field base64; "quit" ends the loop. `scratch` holds its temporary files.
 */
export function guestLoop(device: string, scratch = '/tmp'): string {
  return [
    `exec 0<${device} 1>${device}`,
    // No echo of what the host sends, no line editing, no CR/LF translation.
    'stty raw -echo',
    'echo RB-READY',
    'while read -r id cmd input; do',
    '  [ "$id" = quit ] && break',
    `  echo "$cmd" | base64 -d > ${scratch}/rb-cmd`,
    `  echo "$input" | base64 -d > ${scratch}/rb-in`,
    `  sh ${scratch}/rb-cmd < ${scratch}/rb-in > ${scratch}/rb-out 2> ${scratch}/rb-err`,
    '  rc=$?',
    `  echo "$id $rc $(base64 -w0 < ${scratch}/rb-out) $(base64 -w0 < ${scratch}/rb-err)"`,
    'done',
  ].join('\n');
}

export class VmShell extends CommandRunner {
  private socket: Socket | undefined;
  private pending = '';
  private readonly lines: string[] = [];
  private wake: (() => void) | undefined;
  private closed = false;
  private nextId = 1;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly server: Server, private readonly commandTimeoutMs: number) {
    super([]);
  }

  /** Listen on `path` before QEMU starts (QEMU connects to it as a client). */
  static async listen(path: string, commandTimeoutMs = 60_000): Promise<VmShell> {
    const server = createServer();
    const shell = new VmShell(server, commandTimeoutMs);
    server.on('connection', (s) => shell.attach(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    return shell;
  }

  private attach(s: Socket): void {
    if (this.socket) return void s.destroy();
    this.socket = s;
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      this.pending += d;
      for (let i = this.pending.indexOf('\n'); i >= 0; i = this.pending.indexOf('\n')) {
        this.lines.push(this.pending.slice(0, i).replace(/\r$/, ''));
        this.pending = this.pending.slice(i + 1);
      }
      this.wake?.();
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  /** The next line matching `re`; anything else the port says before it is skipped. */
  private async line(re: RegExp, timeoutMs: number, what: string): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.lines.length) {
        const m = re.exec(this.lines.shift()!);
        if (m) return m;
      }
      if (this.closed) throw new Error(`the guest's control port closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} from the guest within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  async waitReady(timeoutMs: number): Promise<void> {
    await this.line(/^RB-READY$/, timeoutMs, 'RB-READY');
  }

  /** Runs `cmd args` in the guest, one command at a time. */
  override run(cmd: string, args: readonly string[], opts: { input?: string } = {}): Promise<RunResult> {
    const p = this.queue.then(() => this.exchange([cmd, ...args].map(shQuote).join(' '), opts.input ?? ''));
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async exchange(line: string, input: string): Promise<RunResult> {
    if (!this.socket || this.closed) throw new Error('no guest on the control port');
    const id = String(this.nextId++);
    this.socket.write(`${id} ${b64(line)} ${b64(input)}\n`);
    const m = await this.line(new RegExp(`^${id} (\\d+) ([A-Za-z0-9+/=]*) ([A-Za-z0-9+/=]*)$`), this.commandTimeoutMs, `the result of ${line}`);
    return { code: Number(m[1]), stdout: unb64(m[2]!), stderr: unb64(m[3]!) };
  }

  /** Ends the guest's loop (its init then powers off). */
  quit(): void {
    if (this.socket && !this.closed) this.socket.write('quit\n');
  }

  close(): void {
    this.socket?.destroy();
    this.server.close();
  }
}
