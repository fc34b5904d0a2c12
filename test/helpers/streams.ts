// Long-lived TCP connections with traffic flowing both ways, for the
// pair's takeover: do connections established through the VIP keep going
// when the master dies? Run as a child in a namespace:
//
//   node streams.js serve NAME PORT        an echo server ("NAME:" before each
//                                          line); an HTTP GET gets 200 and a close
//                                          (the director's check)
//   node streams.js connect HOST PORT N    N connections, each sending a line
//                                          every 200 ms; "up N" once all answered;
//                                          on SIGTERM one JSON line per connection
import { createServer, connect } from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface StreamRecord {
  /** Which server answered (its NAME). */
  server: string;
  /** Epoch ms: connected, first and last reply. */
  connectedAt: number;
  firstAt: number;
  lastAt: number;
  replies: number;
  /** Why it ended ('' while open): an error code or 'closed'. */
  error: string;
  errorAt: number;
}

function serve(name: string, port: number): void {
  createServer((s) => {
    s.setNoDelay(true);
    s.on('error', () => undefined);
    let first = true;
    s.on('data', (d) => {
      if (first && d.toString('latin1').startsWith('GET ')) {
        s.end(`HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nstreams on ${name}\n`);
        return;
      }
      first = false;
      s.write(`${name}:${d.toString('latin1')}`);
    });
  }).listen(port, '0.0.0.0');
}

function connectMany(host: string, port: number, n: number): void {
  const recs: StreamRecord[] = [];
  let answered = 0;
  for (let i = 0; i < n; i++) {
    const r: StreamRecord = { server: '', connectedAt: 0, firstAt: 0, lastAt: 0, replies: 0, error: '', errorAt: 0 };
    recs.push(r);
    const s = connect({ host, port });
    s.setNoDelay(true);
    const end = (why: string) => {
      if (r.error) return;
      r.error = why;
      r.errorAt = Date.now();
    };
    s.on('connect', () => (r.connectedAt = Date.now()));
    s.on('data', (d) => {
      const now = Date.now();
      if (!r.firstAt) {
        r.firstAt = now;
        if (++answered === n) process.stdout.write(`up ${n}\n`);
      }
      r.lastAt = now;
      r.replies++;
      r.server = d.toString('latin1').split(':')[0] ?? '';
    });
    s.on('error', (e: NodeJS.ErrnoException) => end(e.code ?? e.message));
    s.on('close', () => end('closed'));
    let k = 0;
    // A random phase each: after a takeover the connections' packets reach the new master in no set order.
    setTimeout(() => {
      setInterval(() => {
        if (!r.error) s.write(`ping ${k++}\n`);
      }, 200);
    }, Math.floor(Math.random() * 200));
  }
  process.on('SIGTERM', () => {
    process.stdout.write(recs.map((r) => JSON.stringify(r)).join('\n') + '\n', () => process.exit(0));
  });
}

/** A running `connect` child: resolves `up` once every connection has answered, `stop()` gives the records. */
export interface Streams {
  up: Promise<void>;
  stop(): Promise<StreamRecord[]>;
  child: ChildProcess;
}

const SELF = fileURLToPath(import.meta.url);

export function streamServerArgs(name: string, port: number): string[] {
  return [process.execPath, SELF, 'serve', name, String(port)];
}

export function startStreams(ns: string, host: string, port: number, n: number): Streams {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, SELF, 'connect', host, String(port), String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let markUp: () => void = () => undefined;
  const up = new Promise<void>((resolve) => (markUp = resolve));
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    if (/^up \d+$/m.test(out)) markUp();
  });
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return {
    up,
    child,
    async stop() {
      child.kill('SIGTERM');
      await closed;
      return out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as StreamRecord);
    },
  };
}

/** Connections that answered before `at` and kept answering, without an error, until the end (`lastAt` within `graceMs` of `end`). */
export function survivors(recs: StreamRecord[], at: number, end: number, graceMs = 2000): StreamRecord[] {
  return recs.filter((r) => r.firstAt && r.firstAt < at && !r.error && r.lastAt > at && end - r.lastAt < graceMs);
}

if (process.argv[1] === SELF) {
  const [mode, a, b, c] = process.argv.slice(2);
  if (mode === 'serve') serve(a!, Number(b));
  else if (mode === 'connect') connectMany(a!, Number(b), Number(c));
  else {
    process.stderr.write('usage: streams.js serve NAME PORT | connect HOST PORT N\n');
    process.exit(2);
  }
}
