// Content of a releases-layout export, switched atomically:
//
//   <export>/releases/<id>/...     one complete tree per sync
//   <export>/current -> releases/<id>   relative symlink, replaced by rename(2)
//
// A new tree is written beside the live one (releases/.incoming-*), renamed
// into place, then `current` is switched by renaming a new symlink over it.
// rename(2) is atomic, so a path looked up through `current` resolves to the
// old tree or the new one, never a mix. Why not switch the export root
// itself: ganesha's VFS FSAL refuses a symlink as export Path (ELOOP), and
// pins the root directory by file handle, so a directory swapped in by
// rename or RENAME_EXCHANGE is not seen until the export is re-created
// (tried on ganesha 4.3). The kernel server pins the root at exportfs time
// the same way. Old releases are kept so a blade reading a file through a
// handle of the previous tree finishes its read.
//
// When each release stopped being live is recorded in releases/.retired.json
// at every switch: pruning cannot derive it from the ids, since an activate
// (rollback) makes an older release live again.
import { randomBytes } from 'node:crypto';
import { link, lstat, mkdir, readFile, readdir, readlink, rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { flushFileSystem, fsyncDir, writeFileAtomic } from './atomic.js';
import { ContentError, copyTree, unpackTar } from './upload.js';
import { CURRENT, RELEASES } from './model.js';

export { ContentError } from './upload.js';

export interface ReleaseInfo {
  id: string;
  current: boolean;
  /** ISO time the release was made. */
  createdAt: string;
}

/** Where a sync's time went on the server, milliseconds. */
export interface SyncTimings {
  /** Unpacking the upload (or copying the local source) into the new tree. */
  write: number;
  /** The new tree's data and names on disk. */
  flush: number;
  /** `current` switched to it (and when the outgoing release stopped being live, recorded). */
  switch: number;
  /** Old releases removed. */
  prune: number;
}

export interface SyncResult {
  release: string;
  previous: string | null;
  files: number;
  bytes: number;
  pruned: string[];
  ms: SyncTimings;
}

/** Run once a new release is complete, before it goes live (a pair copies it to the other node then). */
export type BeforeSwitch = (id: string, dir: string) => Promise<void>;

export interface KeepPolicy {
  /** Old releases kept besides the current one. */
  keep: number;
  /** A release stays at least this long after it stopped being live. */
  graceMs: number;
}

/** When a release was made, from its id (20261126T160000123Z-...). */
function releaseTime(id: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z/.exec(id)!;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!);
}

const RELEASE_ID = /^\d{8}T\d{9}Z-[0-9a-f]{6}$/;

/** In releases/: when each release stopped being live (see prune). */
const RETIRED_FILE = '.retired.json';

export function newReleaseId(now = new Date()): string {
  const t = now.toISOString().replace(/[-:.]/g, ''); // 20261126T160000123Z
  return `${t}-${randomBytes(3).toString('hex')}`;
}

export class Releases {
  /** `now` is the clock the grace times count on (a test drives its own). */
  constructor(
    readonly root: string,
    private readonly now: () => number = Date.now,
  ) {}

  get releasesDir(): string {
    return join(this.root, RELEASES);
  }

  /** The release `current` points at, or null (no release yet, or `current` is not ours). */
  async current(): Promise<string | null> {
    try {
      const target = await readlink(join(this.root, CURRENT));
      const m = /^releases\/([^/]+)$/.exec(target);
      return m && RELEASE_ID.test(m[1]!) ? m[1]! : null;
    } catch {
      return null;
    }
  }

  async list(): Promise<ReleaseInfo[]> {
    const cur = await this.current();
    const names = (await readdir(this.releasesDir).catch(() => [] as string[])).filter((n) => RELEASE_ID.test(n)).sort();
    // The id carries the time it was made; the directory's mtime is the source's (cp -a and tar keep it).
    return names.map((id) => ({ id, current: id === cur, createdAt: new Date(releaseTime(id)).toISOString() }));
  }

  /**
   * Make an empty directory a releases-layout export (an empty first release,
   * so blades mounting before the first sync find `current`). A directory
   * that already has files is left alone.
   */
  async init(): Promise<'created' | 'exists' | 'not-empty'> {
    if (await this.current()) return 'exists';
    const entries = (await readdir(this.root)).filter((n) => n !== RELEASES);
    if (entries.length) return 'not-empty';
    const id = newReleaseId();
    await mkdir(join(this.releasesDir, id), { recursive: true, mode: 0o755 });
    await this.switchTo(id);
    return 'created';
  }

  /** Unpack a tar (optionally gzip) stream as a new release and switch to it. */
  async syncTar(source: Readable, o: KeepPolicy & { maxBytes: number; beforeSwitch?: BeforeSwitch }): Promise<SyncResult> {
    return this.publish((incoming) => unpackTar(incoming, source, o.maxBytes), o);
  }

  /**
   * A release made elsewhere, under its own id (the other node of a pair
   * sends its releases): unpacked beside the others, not switched to.
   * One that is here already is left as it is.
   */
  async install(id: string, source: Readable, maxBytes: number): Promise<{ files: number; bytes: number; existed: boolean }> {
    if (!RELEASE_ID.test(id)) throw new ContentError(`'${id}' is not a release id`);
    const st = await lstat(join(this.releasesDir, id)).catch(() => undefined);
    if (st?.isDirectory()) {
      source.resume();
      return { files: 0, bytes: 0, existed: true };
    }
    return { ...(await this.place(id, (incoming) => unpackTar(incoming, source, maxBytes))), existed: false };
  }

  /** Whether a release is here. */
  async has(id: string): Promise<boolean> {
    if (!RELEASE_ID.test(id)) return false;
    return !!(await lstat(join(this.releasesDir, id)).catch(() => undefined))?.isDirectory();
  }

  /** Copy a directory on this host as a new release (upload.ts copyTree) and switch to it. */
  async syncLocal(source: string, o: KeepPolicy & { beforeSwitch?: BeforeSwitch }): Promise<SyncResult> {
    return this.publish((incoming) => copyTree(source, incoming), o);
  }

  /**
   * A new release: its tree is put in place (see place), `beforeSwitch`
   * run (a pair copies it to the other node), `current` switched to it and
   * old releases pruned. Until the switch the live release is untouched; a
   * failure (or a crash: prune removes leftovers) leaves no new release live.
   */
  private async publish(
    write: (incoming: string) => Promise<{ files: number; bytes: number }>,
    o: KeepPolicy & { beforeSwitch?: BeforeSwitch },
  ): Promise<SyncResult> {
    const id = newReleaseId();
    const ms: SyncTimings = { write: 0, flush: 0, switch: 0, prune: 0 };
    let t = performance.now();
    const lap = () => {
      const now = performance.now();
      const took = Math.round(now - t);
      t = now;
      return took;
    };
    const counted = await this.place(id, write, () => (ms.write = lap()));
    ms.flush = lap();
    await o.beforeSwitch?.(id, join(this.releasesDir, id));
    const previous = await this.current();
    await this.switchTo(id);
    ms.switch = lap();
    const pruned = await this.prune(o, { wait: false });
    ms.prune = lap();
    return { release: id, previous, ...counted, pruned, ms };
  }

  /**
   * releases/<id> made whole: `write` makes the tree in releases/.incoming-<id>,
   * which is flushed to disk and renamed into place; on failure nothing is left.
   */
  private async place(
    id: string,
    write: (incoming: string) => Promise<{ files: number; bytes: number }>,
    written?: () => void,
  ): Promise<{ files: number; bytes: number }> {
    await mkdir(this.releasesDir, { recursive: true, mode: 0o755 });
    const incoming = join(this.releasesDir, `.incoming-${id}`);
    await rm(incoming, { recursive: true, force: true });
    try {
      const counted = await write(incoming);
      written?.();
      // The files' data on disk before any name leads to them: after a power
      // loss right after the switch, `current` must not point at a tree whose
      // files the disk never got (new files are not flushed by the renames).
      await flushFileSystem(incoming);
      await rename(incoming, join(this.releasesDir, id));
      await fsyncDir(this.releasesDir);
      return counted;
    } catch (err) {
      await rm(incoming, { recursive: true, force: true });
      throw err;
    }
  }

  /** Point `current` at an existing release (rollback). */
  async activate(id: string): Promise<string | null> {
    if (!RELEASE_ID.test(id)) throw new ContentError(`'${id}' is not a release id`);
    const st = await lstat(join(this.releasesDir, id)).catch(() => undefined);
    if (!st?.isDirectory()) throw new ContentError(`no release '${id}'`, 404);
    const previous = await this.current();
    await this.switchTo(id);
    return previous;
  }

  private async switchTo(id: string): Promise<void> {
    const cur = join(this.root, CURRENT);
    // Recorded before the switch: a crash after it must not leave the outgoing
    // release without a time (a record for a release still live is harmless).
    const outgoing = await this.current();
    if (outgoing && outgoing !== id) await this.recordRetired(outgoing, this.now());
    // Keep the outgoing symlink's inode alive under another name for a while:
    // an NFS server that looked `current` up just before the switch reads it
    // by file handle, and a handle to an unlinked inode is NFS4ERR_STALE.
    await link(cur, join(this.releasesDir, `.current-${this.now()}-${randomBytes(2).toString('hex')}`)).catch(() => undefined);
    const tmp = join(this.root, `.${CURRENT}.tmp-${randomBytes(4).toString('hex')}`);
    await symlink(`${RELEASES}/${id}`, tmp);
    try {
      await rename(tmp, cur);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    await fsyncDir(this.root);
  }

  private get retiredFile(): string {
    return join(this.releasesDir, RETIRED_FILE);
  }

  /** Release id -> ms when it last stopped being live. A missing or unreadable file is empty (prune then counts from now). */
  private async readRetired(): Promise<Record<string, number>> {
    const text = await readFile(this.retiredFile, 'utf8').catch(() => '{}');
    try {
      const parsed: unknown = JSON.parse(text);
      if (!parsed || typeof parsed !== 'object') return {};
      return Object.fromEntries(Object.entries(parsed).filter(([id, t]) => RELEASE_ID.test(id) && typeof t === 'number')) as Record<string, number>;
    } catch {
      return {};
    }
  }

  private async writeRetired(map: Record<string, number>): Promise<void> {
    await writeFileAtomic(this.retiredFile, `${JSON.stringify(map, null, 1)}\n`);
  }

  private async recordRetired(id: string, at: number): Promise<void> {
    const map = await this.readRetired();
    map[id] = at;
    await this.writeRetired(map);
  }

  /**
   * Remove old releases beyond the current one and the `keep` most recently
   * live others, but never one that stopped being live less than `graceMs`
   * ago (a blade may still be reading it by file handle), nor the one the
   * last switch replaced. When a release stopped being live is read from
   * releases/.retired.json (written at each switch); a release with no
   * record (made by an older rackboot, or a sync that died before its
   * switch) counts from now. Also removes leftovers of interrupted syncs.
   *
   * A pruned release is renamed to releases/.pruned-<id> at once (it is no
   * release from then on) and its files are deleted after; with `wait`
   * false (a sync) the answer does not wait for that: deleting 20,000 files
   * takes seconds here. A deletion cut short by a crash is finished by the
   * next prune.
   */
  async prune(o: KeepPolicy, { wait = true }: { wait?: boolean } = {}): Promise<string[]> {
    const now = this.now();
    const cur = await this.current();
    const all = await readdir(this.releasesDir).catch(() => [] as string[]);
    // Deleted once .retired.json is written: its fsync would otherwise wait for the deletions' journal work.
    const trees: string[] = [];
    for (const n of all) {
      // An interrupted sync's leftovers (a running one is serialized by the caller), pruned trees, old `current` links.
      const linkAt = /^\.current-(\d+)-/.exec(n);
      if (n.startsWith('.incoming-') || n.startsWith(PRUNED) || (linkAt && now - Number(linkAt[1]) > o.graceMs)) trees.push(join(this.releasesDir, n));
    }
    const ids = all.filter((n) => RELEASE_ID.test(n));
    const retired = await this.readRetired();
    const old = ids.filter((n) => n !== cur);
    for (const id of old) retired[id] ??= now;
    // Most recently live first (ties: newest id first): those are the rollback targets worth keeping.
    old.sort((a, b) => retired[b]! - retired[a]! || (a < b ? 1 : -1));
    const gone = old.slice(Math.max(o.keep, 1)).filter((id) => now - retired[id]! >= o.graceMs);
    for (const id of gone) {
      const away = join(this.releasesDir, `${PRUNED}${id}`);
      await rename(join(this.releasesDir, id), away);
      trees.push(away);
    }
    const kept = Object.fromEntries(Object.entries(retired).filter(([id]) => ids.includes(id) && !gone.includes(id)));
    await this.writeRetired(kept);
    const deleting = trees.map(deleteTree);
    if (wait) await Promise.all(deleting);
    return gone;
  }

  /** Until every deletion started by a prune has finished (tests; a server stopping). */
  static async settled(): Promise<void> {
    while (deletions.size) await Promise.all(deletions.values());
  }
}

/** In releases/: a pruned release's tree while its files are deleted. */
const PRUNED = '.pruned-';

/** Trees being deleted, by path: a second prune joins a deletion instead of racing it. */
const deletions = new Map<string, Promise<void>>();

/** Delete a tree; failures are left for the next prune. */
function deleteTree(path: string): Promise<void> {
  let p = deletions.get(path);
  if (!p) {
    p = rm(path, { recursive: true, force: true })
      .catch(() => undefined)
      .finally(() => deletions.delete(path));
    deletions.set(path, p);
  }
  return p;
}
