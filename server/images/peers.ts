// Images on several servers sharing a store. Versions are content-addressed
// (the version is a hash of the kernel, the RAM disk and the command line),
// so "the image every server serves" is one shared pointer per image in the
// store (setting image.current.NAME), set by the server that built or rolled
// back. A server that lacks the version fetches its files from a live peer
// that holds it, checks every hash (and that they make the version), and
// commits it; with no peer to fetch from it builds the recipe itself. Blades
// then get the same kernel and RAM disk bytes from either server.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from '../log.js';
import { peerSecret, type Presence, type ServerInfo } from '../store/presence.js';
import type { Store } from '../store/types.js';
import type { JobQueue } from './jobs.js';
import { versionOf, type ImageManifest, type ImageStore } from './store.js';

const POINTER = 'image.current.';
export const PEER_FILES = ['manifest.json', 'kernel', 'initrd'] as const;

interface Pointer {
  version: string;
  server: string;
  at: number;
}

export interface ImagePeerDeps {
  store: Store;
  images: ImageStore;
  jobs: JobQueue;
  peers: Presence;
  log: Logger;
  hasRecipe: (name: string) => boolean;
}

export class ImagePeerSync {
  private off: (() => void) | undefined;
  private readonly running = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();

  constructor(private readonly d: ImagePeerDeps) {}

  async start(): Promise<void> {
    this.d.peers.extra.set('images', () => this.inventory());
    this.off = this.d.store.onPeerChange((c) => {
      if (c.kind === 'setting' && c.key.startsWith(POINTER)) this.sync(c.key.slice(POINTER.length));
      if (c.kind === 'resync') void this.syncAll();
    });
    await this.syncAll();
  }

  stop(): void {
    this.off?.();
    this.d.peers.extra.delete('images');
  }

  /** Versions held here, per image (what peers may fetch). */
  inventory(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const name of this.d.images.images()) out[name] = this.d.images.versions(name).map((v) => v.version);
    return out;
  }

  /** This server made `version` current (a build, a rollback): every server serves it from now on. */
  async publish(name: string, version: string): Promise<void> {
    // The inventory first: a peer told of the pointer finds this server holding the version.
    await this.d.peers.beat();
    const p: Pointer = { version, server: this.d.store.server, at: Date.now() };
    await this.d.store.setSetting(POINTER + name, JSON.stringify(p)).catch((e: unknown) => this.d.log.warn(`images: could not tell the other servers that ${name} is now ${version}: ${(e as Error).message}`));
  }

  private async syncAll(): Promise<void> {
    try {
      for (const [key] of await this.d.store.listSettings(POINTER)) this.sync(key.slice(POINTER.length));
    } catch (e) {
      this.d.log.warn(`images: could not read the shared image versions: ${(e as Error).message}`);
    }
  }

  /** One sync per image at a time; a pointer that changes meanwhile is looked at again after. */
  sync(name: string): void {
    if (this.running.has(name)) return void this.again.add(name);
    const run = this.syncOne(name)
      .catch((e: unknown) => this.d.log.error(`images: ${name}: ${(e as Error).message}`))
      .finally(() => {
        this.running.delete(name);
        if (this.again.delete(name)) this.sync(name);
      });
    this.running.set(name, run);
  }

  /** Settle the image's syncs (tests). */
  async settled(): Promise<void> {
    while (this.running.size) await Promise.all([...this.running.values()]);
  }

  private async syncOne(name: string): Promise<void> {
    const raw = await this.d.store.getSetting(POINTER + name);
    if (!raw) return;
    const p = JSON.parse(raw) as Pointer;
    if (!/^[0-9a-f]{16,64}$/.test(p.version) || this.d.images.current(name) === p.version) return;
    if (this.d.images.versions(name).some((v) => v.version === p.version)) {
      await this.d.images.setCurrent(name, p.version);
      this.d.log.info(`images: ${name} is now ${p.version} (set by server '${p.server}'; held here already)`);
      return;
    }
    await this.d.peers.refresh().catch(() => undefined);
    const holders = this.d.peers.livePeers().filter((s) => ((s.info as { images?: Record<string, string[]> }).images?.[name] ?? []).includes(p.version));
    for (const h of holders) {
      const url = (h.info as Partial<ServerInfo>).peerUrl;
      if (!url) continue;
      try {
        await this.fetch(url, name, p.version);
        this.d.log.info(`images: ${name} ${p.version} fetched from server '${h.name}' (${url}), hashes checked; now current`);
        return;
      } catch (e) {
        this.d.log.warn(`images: could not fetch ${name} ${p.version} from server '${h.name}' (${url}): ${(e as Error).message}`);
      }
    }
    if (!this.d.hasRecipe(name)) {
      this.d.log.warn(`images: ${name} ${p.version} is current on server '${p.server}', but no live server has its files to fetch and there is no recipe here to build it`);
      return;
    }
    this.d.log.info(`images: ${name} ${p.version} (server '${p.server}') cannot be fetched from a live server: building it here`);
    this.d.jobs.submit(name, `peer ${p.server}`);
  }

  /** Download the three files into a temporary directory, check them, commit them as the current version. */
  private async fetch(base: string, name: string, version: string): Promise<void> {
    const secret = await peerSecret(this.d.store);
    const get = async (file: string) => {
      const res = await fetch(`${base}/api/v1/images/${encodeURIComponent(name)}/versions/${version}/files/${file}`, {
        headers: { authorization: `Bearer ${secret}` },
        signal: AbortSignal.timeout(300_000),
      });
      if (!res.ok || !res.body) throw new Error(`${file}: HTTP ${res.status}`);
      return res;
    };
    const tmp = await this.d.images.tempDir();
    try {
      const m = (await (await get('manifest.json')).json()) as ImageManifest;
      if (m.name !== name || m.version !== version) throw new Error(`the manifest is for ${m.name} ${m.version}`);
      const sums: Record<string, { sha: string; size: number }> = {};
      for (const file of ['kernel', 'initrd'] as const) {
        const hash = createHash('sha256');
        let size = 0;
        const count = new Transform({
          transform(chunk: Buffer, _e, done) {
            hash.update(chunk);
            size += chunk.length;
            done(null, chunk);
          },
        });
        await pipeline(Readable.fromWeb((await get(file)).body as import('node:stream/web').ReadableStream), count, createWriteStream(join(tmp, file), { mode: 0o644 }));
        sums[file] = { sha: hash.digest('hex'), size };
      }
      const k = sums.kernel!;
      const i = sums.initrd!;
      if (k.sha !== m.kernel.sha256 || k.size !== m.kernel.size) throw new Error('the kernel does not match its manifest');
      if (i.sha !== m.initrd.sha256 || i.size !== m.initrd.size) throw new Error('the RAM disk does not match its manifest');
      if (versionOf(k.sha, i.sha, m.cmdline) !== version) throw new Error(`the files make version ${versionOf(k.sha, i.sha, m.cmdline)}, not ${version}`);
      await writeFile(join(tmp, 'manifest.json'), JSON.stringify(m, null, 1) + '\n');
      await this.d.images.commit(name, version, tmp);
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
  }
}
