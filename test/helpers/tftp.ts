// TFTP test kit: a provider of generated content (stands in for the renderer
// and the image store: random-access, any size, computed per request), a raw
// UDP client for protocol edge cases, and runners for the real clients
// (tftp-hpa, atftp, curl) with checksums of what they wrote.
import { createHash } from 'node:crypto';
import dgram, { type RemoteInfo, type Socket } from 'node:dgram';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { bufferFile, type BootContentProvider, type BootFile } from '../../server/boot/content.js';
import type { ServiceFactory } from '../../server/service.js';
import type { TftpService } from '../../server/tftp/service.js';
import { run, type ExecResult } from './netns.js';

/** Deterministic bytes [start, end) of the pattern: a 32-bit word per offset/4, so a misplaced block shows. */
export function patternBytes(start: number, end: number): Buffer {
  const w0 = Math.floor(start / 4);
  const w1 = Math.ceil(end / 4);
  const buf = Buffer.allocUnsafe((w1 - w0) * 4);
  for (let w = w0; w < w1; w++) buf.writeUInt32LE(Math.imul(w, 2654435761) >>> 0, (w - w0) * 4);
  return buf.subarray(start - w0 * 4, end - w0 * 4);
}

export function patternSha256(size: number): string {
  const h = createHash('sha256');
  for (let o = 0; o < size; o += 1 << 20) h.update(patternBytes(o, Math.min(size, o + (1 << 20))));
  return h.digest('hex');
}

export function patternFile(size: number, node?: string): BootFile {
  let whole: Buffer | undefined;
  return {
    size,
    kind: 'initrd',
    node,
    read: async (s, e) => patternBytes(s, Math.min(e, size)),
    stream: (s = 0, e = size) => Readable.from([patternBytes(s, e)]),
    // Made only when asked (the native data path asks; the Node one reads).
    get segments() {
      whole ??= patternBytes(0, size);
      return [{ data: whole }];
    },
  };
}

export function configText(node: string): string {
  return `# generated for ${node}\ndefault linux\nlabel linux\n  kernel boot/${node}/kernel\n  append initrd=boot/${node}/initrd console=ttyS0\r\n`;
}

/**
 * gen/pattern-<bytes>[-<node>]: a generated file of that size (a kernel or RAM
 * disk stand-in); gen/config-<node>: a rendered config for that node.
 */
export const testProvider: BootContentProvider = {
  name: 'test-generated',
  async lookup(path) {
    let m = /^gen\/pattern-(\d+)(?:-([\w-]+))?$/.exec(path);
    if (m) return patternFile(Number(m[1]), m[2]);
    m = /^gen\/config-([\w-]+)$/.exec(path);
    if (m) return bufferFile(Buffer.from(configText(m[1]!)), 'config', { node: m[1] });
    return undefined;
  },
};

export const testProviderFactory: ServiceFactory = (ctx) => {
  ctx.boot.addProvider(testProvider);
  return undefined;
};

export function tftpPort(svc: unknown, address?: string): number {
  const b = (svc as TftpService).bound;
  const l = address ? b.find((x) => x.address === address) : b[b.length - 1];
  if (!l) throw new Error('tftp is not listening');
  return l.port;
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}

export function sha256(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

export interface ClientRun {
  client: 'tftp-hpa' | 'atftp' | 'curl';
  host: string;
  port: number;
  remote: string;
  local: string;
  blksize?: number;
  windowsize?: number;
  netascii?: boolean;
  timeoutMs?: number;
  /** Run inside this network namespace. */
  ns?: string;
  /** More client arguments (before the host). */
  extra?: string[];
}

export function clientCommand(r: ClientRun): [string, string[]] {
  switch (r.client) {
    case 'tftp-hpa':
      if (r.blksize && r.blksize !== 512) throw new Error('tftp-hpa sends no options (blksize 512 only)');
      return ['tftp', ['-m', r.netascii ? 'netascii' : 'binary', r.host, String(r.port), '-c', 'get', r.remote, r.local]];
    case 'atftp': {
      const opts: string[] = [];
      if (r.blksize) opts.push('--option', `blksize ${r.blksize}`);
      if (r.windowsize) opts.push('--option', `windowsize ${r.windowsize}`);
      if (r.netascii) throw new Error('netascii is tested with tftp-hpa and curl');
      return ['atftp', [...opts, ...(r.extra ?? []), '-g', '-r', r.remote, '-l', r.local, r.host, String(r.port)]];
    }
    case 'curl':
      return ['curl', ['-sS', ...(r.blksize ? ['--tftp-blksize', String(r.blksize)] : []), '-o', r.local, `tftp://${r.host}:${r.port}/${r.remote}${r.netascii ? ';mode=netascii' : ''}`]];
  }
}

export async function runClient(r: ClientRun): Promise<ExecResult> {
  const [cmd, args] = clientCommand(r);
  const full: [string, string[]] = r.ns ? ['ip', ['netns', 'exec', r.ns, cmd, ...args]] : [cmd, args];
  return run(full[0], full[1], { timeoutMs: r.timeoutMs ?? 120_000 });
}

/** A bare UDP socket speaking TFTP by hand. */
export class RawClient {
  readonly sock: Socket;
  private queue: Array<{ msg: Buffer; rinfo: RemoteInfo }> = [];
  private waiter: (() => void) | undefined;

  private constructor() {
    this.sock = dgram.createSocket('udp4');
    this.sock.on('message', (msg, rinfo) => {
      this.queue.push({ msg, rinfo });
      this.waiter?.();
    });
  }

  static async open(address = '127.0.0.1'): Promise<RawClient> {
    const c = new RawClient();
    await new Promise<void>((r) => c.sock.bind(0, address, () => r()));
    return c;
  }

  get port(): number {
    return this.sock.address().port;
  }

  private pending = 0;
  private drained: (() => void) | undefined;

  send(buf: Buffer, port: number, address = '127.0.0.1'): void {
    this.pending++;
    this.sock.send(buf, port, address, () => {
      if (--this.pending === 0) this.drained?.();
    });
  }

  /** The next datagram, or undefined after timeoutMs. */
  async next(timeoutMs = 2000): Promise<{ msg: Buffer; rinfo: RemoteInfo } | undefined> {
    const end = Date.now() + timeoutMs;
    while (!this.queue.length) {
      const left = end - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.queue.shift();
  }

  /** Everything that arrives within ms. */
  async collect(ms: number): Promise<Array<{ msg: Buffer; rinfo: RemoteInfo }>> {
    await new Promise((r) => setTimeout(r, ms));
    const q = this.queue;
    this.queue = [];
    return q;
  }

  /** Close once every send has left (the last ACK of a transfer must reach the server). */
  async close(): Promise<void> {
    if (this.pending) await new Promise<void>((r) => (this.drained = r));
    this.sock.close();
  }
}
