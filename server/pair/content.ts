// NFS content releases on both nodes of a pair. A sync on one node copies
// the new release to the other before it goes live (the answer says where
// it is, or why the other node lacks it), then the other node switches too.
// A node that was away catches up: every few seconds the backup compares
// each releases-layout export with the master's and fetches and switches
// to what it lacks. Release ids are kept, so both nodes hold the same
// releases under the same names and blades find the same `current` after a
// takeover.
import { Readable } from 'node:stream';
import { c as tarCreate } from 'tar';
import type { ContentMirror } from '../boot/hub.js';
import type { Logger } from '../log.js';
import { Releases } from '../nfs/content.js';
import type { ExportManager } from '../nfs/manager.js';
import type { PeerClient } from './peer.js';

export interface ContentDeps {
  peerName: string;
  peer: () => PeerClient;
  /** The NFS service's export manager, once it runs. */
  manager: () => ExportManager | undefined;
  maxBytes: number;
  log: Logger;
  /** Only the backup follows the master. */
  isBackup: () => boolean;
}

/** A release as a tar stream (what the other node fetches or is sent). */
export function releaseTar(dir: string): Readable {
  return Readable.from(tarCreate({ cwd: dir, portable: true }, ['.']) as unknown as AsyncIterable<Buffer>);
}

export class PairContent implements ContentMirror {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** export -> this node's releases and the live one (for GET /pair's "lacks"). */
  inventory: Record<string, { current: string | null; releases: string[] }> = {};

  constructor(private readonly d: ContentDeps) {}

  private releasesOf(name: string): Promise<Releases> {
    const m = this.d.manager();
    if (!m) throw new Error('the NFS service is not running');
    return m.withExport(name, async (e) => {
      if (e.layout !== 'releases') throw new Error(`export '${name}' has layout plain`);
      return new Releases(e.realPath);
    });
  }

  async push(exportName: string, release: string, dir: string): Promise<Record<string, string>> {
    const t0 = Date.now();
    try {
      const body = releaseTar(dir);
      const res = await fetch(`${this.d.peer().base}/api/v1/pair/content/${encodeURIComponent(exportName)}/releases/${release}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${this.d.peer().token}`, 'content-type': 'application/x-tar' },
        body: Readable.toWeb(body) as unknown as BodyInit,
        duplex: 'half',
        signal: AbortSignal.timeout(300_000),
      } as RequestInit & { duplex: 'half' });
      const text = await res.text();
      if (!res.ok) throw new Error(`${res.status} ${text.slice(0, 300)}`);
      this.d.log.info(`pair: export '${exportName}' release ${release} copied to ${this.d.peerName} in ${Date.now() - t0} ms`);
      return { [this.d.peerName]: 'ok' };
    } catch (e) {
      const why = `copying it failed: ${(e as Error).message}`;
      this.d.log.warn(`pair: export '${exportName}' release ${release}: ${this.d.peerName} lacks it (${why}); it fetches it when it can`);
      return { [this.d.peerName]: why };
    }
  }

  async activated(exportName: string, release: string): Promise<Record<string, string>> {
    try {
      await this.d.peer().request('POST', `/pair/content/${encodeURIComponent(exportName)}/releases/${release}/activate`, { timeoutMs: 10_000 });
      return { [this.d.peerName]: 'ok' };
    } catch (e) {
      return { [this.d.peerName]: `switching to it failed: ${(e as Error).message}` };
    }
  }

  /** Receive a release the other node sent (not live yet). */
  async install(exportName: string, release: string, body: Readable): Promise<{ files: number; bytes: number; existed: boolean }> {
    return (await this.releasesOf(exportName)).install(release, body, this.d.maxBytes);
  }

  async activate(exportName: string, release: string): Promise<string | null> {
    return (await this.releasesOf(exportName)).activate(release);
  }

  async tarOf(exportName: string, release: string): Promise<Readable> {
    const r = await this.releasesOf(exportName);
    if (!(await r.has(release))) throw Object.assign(new Error(`export '${exportName}' has no release ${release} here`), { statusCode: 404 });
    return releaseTar(`${r.releasesDir}/${release}`);
  }

  start(everyMs = 2000): void {
    const tick = () => {
      this.running ??= this.catchUp()
        .catch((e: unknown) => this.d.log.debug(`pair: content catch-up: ${(e as Error).message}`))
        .finally(() => (this.running = undefined));
    };
    this.timer = setInterval(tick, everyMs);
    this.timer.unref();
    tick();
  }

  /** Refresh the inventory; on the backup, fetch and switch to the master's live release of each export. */
  async catchUp(): Promise<void> {
    const m = this.d.manager();
    if (!m) return;
    const inv: PairContent['inventory'] = {};
    for (const e of m.active().filter((x) => x.layout === 'releases')) {
      const r = new Releases(e.realPath);
      const list = await r.list();
      inv[e.name] = { current: list.find((x) => x.current)?.id ?? null, releases: list.map((x) => x.id) };
      if (!this.d.isBackup()) continue;
      const theirs = await this.d.peer().request<Array<{ id: string; current: boolean }>>('GET', `/exports/${encodeURIComponent(e.name)}/releases`).catch(() => undefined);
      const live = theirs?.find((x) => x.current)?.id;
      if (!live || live === inv[e.name]!.current) continue;
      if (!(await r.has(live))) {
        const res = await fetch(`${this.d.peer().base}/api/v1/pair/content/${encodeURIComponent(e.name)}/releases/${live}`, {
          headers: { authorization: `Bearer ${this.d.peer().token}` },
          signal: AbortSignal.timeout(300_000),
        });
        if (!res.ok || !res.body) throw new Error(`fetching export '${e.name}' release ${live} from ${this.d.peerName}: HTTP ${res.status}`);
        await r.install(live, Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), this.d.maxBytes);
      }
      await r.activate(live);
      inv[e.name] = { current: live, releases: [...new Set([...inv[e.name]!.releases, live])] };
      this.d.log.info(`pair: export '${e.name}' follows ${this.d.peerName}: release ${live} is live here too`);
    }
    this.inventory = inv;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
