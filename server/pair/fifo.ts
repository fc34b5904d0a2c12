// Reading keepalived's notify FIFO: lines as keepalived writes them.
//
// The FIFO is opened read-write and non-blocking, so opening never waits
// for a writer and the reader never sees end-of-file when keepalived
// restarts (this process holds a writer end itself), and read through a
// libuv pipe handle (net.Socket), not the thread pool: a blocking read of
// a FIFO would hold one of its four threads for good.
import { closeSync, constants, lstatSync, openSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { spawnSync } from 'node:child_process';

export class FifoReader {
  private sock: Socket | undefined;
  private tail = '';

  constructor(readonly path: string) {}

  /** Make the FIFO (replacing anything else at the path) and start reading; onLine gets each complete line. */
  open(onLine: (line: string) => void): void {
    let st;
    try {
      st = lstatSync(this.path);
    } catch {
      st = undefined;
    }
    if (st && !st.isFIFO()) rmSync(this.path, { force: true });
    if (!st?.isFIFO()) {
      const r = spawnSync('mkfifo', ['-m', '0600', this.path], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`cannot make the FIFO ${this.path}: ${(r.stderr || r.error?.message || '').trim()}`);
    }
    const fd = openSync(this.path, constants.O_RDWR | constants.O_NONBLOCK);
    let sock: Socket;
    try {
      sock = new Socket({ fd, readable: true, writable: false });
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    this.sock = sock;
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      const lines = (this.tail + chunk).split('\n');
      this.tail = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) onLine(l);
    });
    sock.on('error', () => undefined); // closing the handle is the only way it ends
  }

  close(): void {
    this.sock?.destroy();
    this.sock = undefined;
  }
}
