// A minimal QMP client (QEMU Machine Protocol, JSON lines over a Unix
// socket): read the greeting, negotiate capabilities, run one command.
import { createConnection } from 'node:net';

export interface QmpReply {
  result: unknown;
  /** Asynchronous events QEMU sent meanwhile (RESET, POWERDOWN, SHUTDOWN ...). */
  events: string[];
}

export function qmpCommand(socket: string, execute: string, args?: Record<string, unknown>, timeoutMs = 5000): Promise<QmpReply> {
  return new Promise((resolve, reject) => {
    const conn = createConnection(socket);
    const events: string[] = [];
    let buf = '';
    let step = 0;
    const timer = setTimeout(() => (conn.destroy(), reject(new Error(`QMP ${execute}: no answer within ${timeoutMs} ms`))), timeoutMs);
    const finish = (e?: Error, result?: unknown) => {
      clearTimeout(timer);
      conn.end();
      if (e) reject(e);
      else resolve({ result, events });
    };
    conn.on('error', (e) => finish(e));
    // quit closes the connection before (or instead of) answering.
    conn.on('close', () => (step === 2 && execute === 'quit' ? finish(undefined, {}) : undefined));
    conn.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as { QMP?: unknown; return?: unknown; error?: { desc?: string }; event?: string };
        if (msg.event) events.push(msg.event);
        else if (msg.error) finish(new Error(`QMP ${execute}: ${msg.error.desc ?? 'error'}`));
        else if (step === 0 && msg.QMP) {
          step = 1;
          conn.write(JSON.stringify({ execute: 'qmp_capabilities' }) + '\n');
        } else if (step === 1 && 'return' in msg) {
          step = 2;
          conn.write(JSON.stringify({ execute, ...(args ? { arguments: args } : {}) }) + '\n');
        } else if (step === 2 && 'return' in msg) finish(undefined, msg.return);
      }
    });
  });
}
