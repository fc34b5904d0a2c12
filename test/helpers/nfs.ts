// NFS test helpers: the libnfs user-space client (nfs-ls, nfs-cat) run in a
// namespace, and tar bodies for content syncs.
import { c as tarCreate } from 'tar';
import type { NetLab } from './netns.js';

export interface NfsResult {
  ok: boolean;
  out: string;
  err: string;
}

/** nfs-ls/nfs-cat URL for an NFSv4 path. */
export function nfsUrl(server: string, path: string, port = 2049): string {
  return `nfs://${server}${path}?version=4${port !== 2049 ? `&nfsport=${port}` : ''}`;
}

export async function nfsLs(lab: NetLab, ns: string, server: string, path: string): Promise<NfsResult> {
  const r = await lab.exec(ns, 'nfs-ls', [nfsUrl(server, path)], { timeoutMs: 20_000 });
  return { ok: r.code === 0, out: r.stdout, err: r.stderr.trim() || r.stdout.trim() };
}

export async function nfsCat(lab: NetLab, ns: string, server: string, path: string): Promise<NfsResult> {
  const r = await lab.exec(ns, 'nfs-cat', [nfsUrl(server, path)], { timeoutMs: 20_000 });
  return { ok: r.code === 0, out: r.stdout, err: r.stderr.trim() || r.stdout.trim() };
}

/** Retry a read until it succeeds (a server restarting); returns how long it took. */
export async function untilOk(fn: () => Promise<NfsResult>, timeoutMs = 20_000, everyMs = 25): Promise<{ result: NfsResult; ms: number; tries: number }> {
  const t0 = Date.now();
  let tries = 0;
  for (;;) {
    tries++;
    const result = await fn();
    if (result.ok || Date.now() - t0 > timeoutMs) return { result, ms: Date.now() - t0, tries };
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A tar of a directory's contents, as one Buffer. */
export async function tarOf(dir: string, gzip = false): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of tarCreate({ cwd: dir, portable: true, gzip }, ['.'])) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

/** POST a tar body to the content route. */
export async function uploadTar(url: string, token: string, exportName: string, body: Buffer, contentType = 'application/x-tar'): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${url}/api/v1/exports/${exportName}/content`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': contentType },
    body: new Uint8Array(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* text */
  }
  return { status: res.status, body: parsed };
}
