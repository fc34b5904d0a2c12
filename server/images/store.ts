// The content-addressed image store:
//   <root>/<image>/<version>/{kernel,initrd,manifest.json}   version = content hash
//   <root>/<image>/current                                    the version served
// A build is written under <root>/.tmp and renamed into place whole; the
// pointer is replaced by rename, so a reader sees the old or the new version,
// never a mixture. A version directory never changes once committed; old ones
// beyond `keep` are deleted (a blade mid-download keeps its open descriptor).
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface ImageManifest {
  name: string;
  version: string;
  builtAt: string;
  cmdline: string;
  description: string;
  compression: string;
  recipe: { file: string; sha256: string };
  kernel: { origin: string; release: string; sha256: string; size: number };
  initrd: { sha256: string; size: number; uncompressedSize: number; entries: number };
  modules: { load: string[]; files: string[]; builtin: string[]; skipped: string[] };
  /** Optional inputs the recipe named that this host did not have. */
  skipped: string[];
  buildMs: number;
  contents: Array<{ path: string; type: string; mode?: number; size?: number; target?: string; from?: string }>;
  /** The recipe's node overlay directory (rendered per node at serve time), if any. */
  nodeOverlay: string | null;
}

/** The version a kernel, a RAM disk and a command line make: what the builder names a build, and what a copy fetched from a peer is checked against. */
export function versionOf(kernelSha: string, initrdSha: string, cmdline: string): string {
  return createHash('sha256').update(`${kernelSha}\n${initrdSha}\n${cmdline}\n`).digest('hex').slice(0, 16);
}

export interface StoredVersion {
  version: string;
  dir: string;
  /** When it was last made current by a build (directory mtime). */
  committedAt: Date;
}

const VERSION_RE = /^[0-9a-f]{16,64}$/;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** A version named by the caller that does not pick exactly one stored version. */
export class VersionError extends Error {
  constructor(
    readonly problem: 'unknown' | 'ambiguous',
    message: string,
  ) {
    super(message);
  }
}

export class ImageStore {
  private readonly currentCache = new Map<string, string | null>();

  constructor(readonly root: string, readonly keep: number) {}

  private imageDir(name: string): string {
    if (!NAME_RE.test(name)) throw new Error(`bad image name ${JSON.stringify(name)}`);
    return join(this.root, name);
  }

  /** A fresh temporary directory on the store's file system (rename into place is atomic). */
  async tempDir(): Promise<string> {
    const d = join(this.root, '.tmp', `${Date.now()}-${randomBytes(6).toString('hex')}`);
    await mkdir(d, { recursive: true });
    return d;
  }

  /** Where unpacked kernels and other reusable build inputs live. */
  get cacheDir(): string {
    return join(this.root, '.cache');
  }

  /** Remove temporary directories left by builds that died (call at start). */
  async cleanTemp(): Promise<void> {
    await rm(join(this.root, '.tmp'), { recursive: true, force: true });
  }

  /** Move a finished build into the store and make it current. Returns the versions pruned. */
  async commit(name: string, version: string, tmp: string): Promise<string[]> {
    if (!VERSION_RE.test(version)) throw new Error(`bad version ${version}`);
    const dir = this.imageDir(name);
    await mkdir(dir, { recursive: true });
    const dest = join(dir, version);
    if (existsSync(dest)) {
      // Same content built before: keep the committed copy (it may be being served).
      await rm(tmp, { recursive: true, force: true });
    } else {
      await rename(tmp, dest);
    }
    const now = new Date();
    await utimes(dest, now, now);
    await this.setCurrent(name, version);
    return this.prune(name);
  }

  async setCurrent(name: string, version: string): Promise<void> {
    const dir = this.imageDir(name);
    if (!existsSync(join(dir, version, 'manifest.json'))) throw new Error(`image '${name}' has no version ${version}`);
    const tmp = join(dir, `.current-${process.pid}-${randomBytes(4).toString('hex')}`);
    await writeFile(tmp, version + '\n');
    await rename(tmp, join(dir, 'current'));
    this.currentCache.set(name, version);
  }

  /** The version being served, or null when the image was never built. */
  current(name: string): string | null {
    const cached = this.currentCache.get(name);
    if (cached !== undefined) return cached;
    let v: string | null = null;
    try {
      const text = readFileSync(join(this.imageDir(name), 'current'), 'utf8').trim();
      if (VERSION_RE.test(text) && existsSync(join(this.imageDir(name), text, 'manifest.json'))) v = text;
    } catch {
      /* never built */
    }
    this.currentCache.set(name, v);
    return v;
  }

  /** Stored versions, newest commit first. */
  versions(name: string): StoredVersion[] {
    const dir = this.imageDir(name);
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      return [];
    }
    const out: StoredVersion[] = [];
    for (const v of names) {
      if (!VERSION_RE.test(v) || !existsSync(join(dir, v, 'manifest.json'))) continue;
      out.push({ version: v, dir: join(dir, v), committedAt: statSync(join(dir, v)).mtime });
    }
    return out.sort((a, b) => b.committedAt.getTime() - a.committedAt.getTime() || (a.version < b.version ? 1 : -1));
  }

  /** Built images (those with a current version or any stored version). */
  images(): string[] {
    try {
      return readdirSync(this.root)
        .filter((n) => NAME_RE.test(n) && statSync(join(this.root, n)).isDirectory())
        .sort();
    } catch {
      return [];
    }
  }

  versionDir(name: string, version: string): string {
    if (!VERSION_RE.test(version)) throw new Error(`bad version ${JSON.stringify(version)}`);
    return join(this.imageDir(name), version);
  }

  async manifest(name: string, version: string): Promise<ImageManifest> {
    return JSON.parse(await readFile(join(this.versionDir(name, version), 'manifest.json'), 'utf8')) as ImageManifest;
  }

  /** Keep the `keep` newest versions and the current one; delete the rest. */
  async prune(name: string): Promise<string[]> {
    const cur = this.current(name);
    const gone: string[] = [];
    this.versions(name).forEach((v, i) => {
      if (i >= this.keep && v.version !== cur) gone.push(v.version);
    });
    for (const v of gone) await rm(join(this.imageDir(name), v), { recursive: true, force: true });
    return gone;
  }

  /** A stored version by its full id or a unique prefix of it; an ambiguous or unknown one says which. */
  resolveVersion(name: string, version: string): { version: string } | { problem: 'unknown' | 'ambiguous'; message: string } {
    const list = this.versions(name).map((v) => v.version);
    if (list.includes(version)) return { version };
    const hits = version ? list.filter((v) => v.startsWith(version)) : [];
    if (hits.length === 1) return { version: hits[0]! };
    if (hits.length > 1) return { problem: 'ambiguous', message: `version prefix ${version} of image '${name}' is ambiguous: it matches ${hits.join(', ')}` };
    return { problem: 'unknown', message: `image '${name}' has no stored version ${version} (have: ${list.join(', ') || 'none'})` };
  }

  /**
   * Serve an older version: the given one, or the newest one committed
   * before the current. Returns [from, to].
   */
  async rollback(name: string, version?: string): Promise<[string | null, string]> {
    const cur = this.current(name);
    const list = this.versions(name);
    let target: string | undefined;
    if (version) {
      const r = this.resolveVersion(name, version);
      if ('problem' in r) throw new VersionError(r.problem, r.message);
      target = r.version;
    } else {
      const i = list.findIndex((v) => v.version === cur);
      target = i >= 0 ? list[i + 1]?.version : undefined;
      if (!target) throw new Error(`image '${name}' has no version older than ${cur ?? 'the current one'} to roll back to`);
    }
    // Rolling back must not make the target the newest (a second rollback goes further back): keep mtimes.
    await this.setCurrent(name, target);
    return [cur, target];
  }

  async size(path: string): Promise<number> {
    return (await stat(path)).size;
  }
}
