// One health check against one real server: an HTTP GET (status code or text
// expected) or a TCP connect, bounded by the timeout. Never throws: every
// failure is a result with a one-line reason.
import { request } from 'node:http';
import { connect } from 'node:net';
import type { CheckOutcome } from './policy.js';

export interface ProbeTarget {
  address: string;
  port: number;
  type: 'http' | 'tcp';
  path: string;
  host: string | undefined;
  expect: number | string;
  timeoutMs: number;
}

/** Read at most this much of a response when looking for the expected text. */
const MAX_BODY = 64 * 1024;

export type Prober = (t: ProbeTarget) => Promise<CheckOutcome>;

export const probe: Prober = (t) => (t.type === 'tcp' ? tcpProbe(t) : httpProbe(t));

function tcpProbe(t: ProbeTarget): Promise<CheckOutcome> {
  return new Promise((resolve) => {
    const started = Date.now();
    const sock = connect({ host: t.address, port: t.port });
    const done = (ok: boolean, detail: string) => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ ok, at: Date.now(), detail });
    };
    const timer = setTimeout(() => done(false, `no connection within ${t.timeoutMs} ms`), t.timeoutMs);
    sock.once('connect', () => done(true, `connected in ${Date.now() - started} ms`));
    sock.once('error', (e: NodeJS.ErrnoException) => done(false, `connect: ${e.code ?? e.message}`));
  });
}

function httpProbe(t: ProbeTarget): Promise<CheckOutcome> {
  return new Promise((resolve) => {
    const started = Date.now();
    let settled = false;
    const done = (ok: boolean, detail: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve({ ok, at: Date.now(), detail });
    };
    const req = request({
      host: t.address,
      port: t.port,
      path: t.path,
      method: 'GET',
      agent: false,
      headers: { host: t.host ?? t.address, 'user-agent': 'rackboot-nanny', connection: 'close' },
    });
    const timer = setTimeout(() => done(false, `no answer within ${t.timeoutMs} ms`), t.timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => done(false, `GET ${t.path}: ${e.code ?? e.message}`));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      if (typeof t.expect === 'number') {
        res.resume();
        done(status === t.expect, `GET ${t.path}: ${status}${status === t.expect ? '' : `, expected ${t.expect}`} in ${Date.now() - started} ms`);
        return;
      }
      // Text: searched in the whole response (status line, headers, body) as piranha's nanny did.
      const head = `HTTP/${res.httpVersion} ${status} ${res.statusMessage ?? ''}\r\n` + res.rawHeaders.map((h, i) => (i % 2 ? `${h}\r\n` : `${h}: `)).join('') + '\r\n';
      let text = head;
      const expect = t.expect;
      const check = () => text.includes(expect);
      if (check()) return done(true, `GET ${t.path}: ${status}, found ${JSON.stringify(expect)}`);
      res.on('data', (d: Buffer) => {
        text += d.toString('latin1');
        if (check()) done(true, `GET ${t.path}: ${status}, found ${JSON.stringify(expect)}`);
        else if (text.length > MAX_BODY + head.length) done(false, `GET ${t.path}: ${status}, ${JSON.stringify(expect)} not in the first ${MAX_BODY} bytes`);
      });
      res.on('end', () => done(false, `GET ${t.path}: ${status}, ${JSON.stringify(expect)} not in the response`));
      res.on('error', (e) => done(false, `GET ${t.path}: ${e.message}`));
    });
    req.end();
  });
}
