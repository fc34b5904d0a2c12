#!/usr/bin/env node
// The web client that checks what the VIP serves, run in the outside
// namespace: `ip netns exec OUTSIDE node probe.js URL SECONDS CONCURRENCY`.
// A new TCP connection per request (the director balances connections), a
// bounded number of requests in a bounded time; one JSON line per request on
// stdout: {t, at, ok, status, blade, bytes, ms, sha, error}, t = ms since start.
// A request not answered within TIMEOUT_MS (default 5 s: a blade under TCG
// on a busy 2-core machine can be slow, but not that slow) has failed.
import { request, Agent } from 'node:http';
import { createHash } from 'node:crypto';

export interface ProbeRecord {
  t: number;
  /** Epoch ms when the request started (to line up with rackboot's events). */
  at: number;
  ok: boolean;
  status: number;
  /** Which blade answered: the X-Served-By header, else "served by NAME" in the body. */
  blade: string | null;
  bytes: number;
  ms: number;
  /** sha256 of the body (first 16 hex), to check every answer is the same shared page. */
  sha: string;
  /** The start of the body, on the first answer with this sha only (so an unexpected page can be named). */
  excerpt?: string;
  error?: string;
}

/** Identify the blade from a response (exported for the lab and its tests). */
export function bladeOf(headers: Record<string, string | string[] | undefined>, body: string): string | null {
  const h = headers['x-served-by'];
  if (typeof h === 'string' && h) return h;
  const m = /served by ([\w.-]+)/i.exec(body);
  return m ? m[1]! : null;
}

type Answer = Omit<ProbeRecord, 't' | 'at' | 'excerpt'> & { text?: string };

function once(url: string, timeoutMs: number, agent: Agent): Promise<Answer> {
  const start = performance.now();
  return new Promise((resolve) => {
    const done = (r: Omit<Answer, 'ms'>) => resolve({ ...r, ms: Math.round((performance.now() - start) * 10) / 10 });
    const req = request(url, { agent, headers: { connection: 'close' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        const text = body.toString('utf8');
        done({
          ok: res.statusCode === 200,
          status: res.statusCode ?? 0,
          blade: bladeOf(res.headers, text),
          bytes: body.length,
          sha: createHash('sha256').update(body).digest('hex').slice(0, 16),
          text,
        });
      });
      res.on('error', (e) => done({ ok: false, status: res.statusCode ?? 0, blade: null, bytes: 0, sha: '', error: e.message }));
    });
    // A whole-request deadline: req.setTimeout only starts once connected, and a SYN to a dead blade never connects.
    const timer = setTimeout(() => req.destroy(Object.assign(new Error('timeout'), { code: `timeout ${timeoutMs} ms` })), timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, status: 0, blade: null, bytes: 0, sha: '', error: e.code ?? e.message }));
    req.end();
  });
}

async function main(): Promise<void> {
  const [url, secs, conc, pause, timeout] = process.argv.slice(2);
  const timeoutMs = Number(timeout ?? 5000);
  const seconds = Number(secs);
  const concurrency = Number(conc ?? 4);
  const pauseMs = Number(pause ?? 0);
  if (!url || !(seconds > 0 && seconds <= 600) || !(concurrency >= 1 && concurrency <= 256)) {
    console.error('usage: probe URL SECONDS(<=600) [CONCURRENCY<=256] [PAUSE_MS] [TIMEOUT_MS]');
    process.exit(2);
  }
  const agent = new Agent({ keepAlive: false, maxSockets: concurrency });
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  let stop = false;
  const seen = new Set<string>();
  process.on('SIGTERM', () => (stop = true));
  process.on('SIGINT', () => (stop = true));
  const worker = async () => {
    while (!stop && performance.now() < deadline) {
      const t = Math.round(performance.now() - t0);
      const at = Date.now();
      const { text, ...r } = await once(url, timeoutMs, agent);
      const first = text !== undefined && !seen.has(r.sha);
      if (first) seen.add(r.sha);
      process.stdout.write(JSON.stringify({ t, at, ...r, ...(first ? { excerpt: text.slice(0, 300) } : {}) }) + '\n');
      if (pauseMs) await new Promise((res) => setTimeout(res, pauseMs));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

// Run only as a program, not when the lab imports bladeOf.
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '/'))) void main();
