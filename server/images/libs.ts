// Which shared objects a binary needs, found the way the dynamic loader
// finds them: DT_RPATH (when there is no DT_RUNPATH), DT_RUNPATH, the
// directories of /etc/ld.so.conf (what ld.so.cache holds), then the default
// /lib and /usr/lib. $ORIGIN expands to the directory of the object naming
// it. A candidate of another ELF class or machine is skipped, as ld.so does.
import { readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { readElfDynamic, type ElfDynamicInfo } from './elf.js';

export class MissingLibraryError extends Error {
  constructor(readonly library: string, readonly neededBy: string, searched: string[]) {
    super(`${neededBy} needs ${library}, which is not in ${searched.join(', ')}`);
    this.name = 'MissingLibraryError';
  }
}

function globToRegExp(glob: string): RegExp {
  return new RegExp('^' + glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]') + '$');
}

/** Directories listed by ld.so.conf and the files it includes, in order. */
export function ldSoConfDirs(file = '/etc/ld.so.conf', seen = new Set<string>()): string[] {
  if (seen.has(file)) return [];
  seen.add(file);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const dirs: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const inc = /^include\s+(.+)$/.exec(line);
    if (inc) {
      for (const pattern of inc[1]!.split(/\s+/)) {
        const abs = isAbsolute(pattern) ? pattern : join(dirname(file), pattern);
        const re = globToRegExp(basename(abs));
        let names: string[] = [];
        try {
          names = readdirSync(dirname(abs)).filter((n) => re.test(n)).sort();
        } catch {
          /* no such directory */
        }
        for (const n of names) dirs.push(...ldSoConfDirs(join(dirname(abs), n), seen));
      }
    } else if (isAbsolute(line)) dirs.push(line);
  }
  return dirs;
}

const DEFAULT_DIRS = ['/lib', '/usr/lib', '/lib64', '/usr/lib64'];

/**
 * Libraries a library loads with dlopen() rather than DT_NEEDED, so no ELF
 * reader sees them: glibc opens libgcc_s for pthread_exit/pthread_cancel
 * unwinding (Apache's threaded MPM aborts without it: "libgcc_s.so.1 must be
 * installed for pthread_exit to work"). Added when present on the host.
 */
const IMPLICIT: Record<string, string[]> = { 'libc.so.6': ['libgcc_s.so.1'] };

export interface ResolvedObject {
  /** The path as the loader would open it (before symlinks). */
  path: string;
  info: ElfDynamicInfo;
}

export class LibraryResolver {
  private readonly systemDirs: string[];
  private readonly cache = new Map<string, Promise<ElfDynamicInfo | Error>>();

  constructor(opts: { ldSoConf?: string; extraDirs?: string[] } = {}) {
    const dirs = [...(opts.extraDirs ?? []), ...ldSoConfDirs(opts.ldSoConf), ...DEFAULT_DIRS];
    this.systemDirs = [...new Set(dirs)];
  }

  async info(path: string): Promise<ElfDynamicInfo | Error> {
    let p = this.cache.get(path);
    if (!p) {
      p = readInfo(path);
      this.cache.set(path, p);
    }
    return p;
  }

  private async find(lib: string, from: string, fromInfo: ElfDynamicInfo, inherited: string[]): Promise<string | undefined> {
    if (lib.includes('/')) return lib;
    const origin = dirname(safeRealpath(from));
    const expand = (d: string) => d.replace(/\$(ORIGIN|\{ORIGIN\})/g, origin);
    const dirs = [
      ...(fromInfo.runpath.length ? [] : [...fromInfo.rpath, ...inherited].map(expand)),
      ...fromInfo.runpath.map(expand),
      ...this.systemDirs,
    ];
    for (const d of dirs) {
      const cand = resolve(d, lib);
      try {
        if (!statSync(cand).isFile()) continue;
      } catch {
        continue;
      }
      const ci = await this.info(cand);
      if (ci instanceof Error) continue;
      if (ci.class === fromInfo.class && ci.machine === fromInfo.machine) return cand;
    }
    return undefined;
  }

  /** The object itself, its interpreter, and every library it needs, transitively; deterministic order. */
  async closure(path: string): Promise<ResolvedObject[]> {
    const out = new Map<string, ResolvedObject>();
    const root = await this.info(path);
    if (root instanceof Error) throw new Error(`${path}: ${root.message.replace(`${path}: `, '')}`);
    const visit = async (p: string, info: ElfDynamicInfo, rpathChain: string[]) => {
      if (out.has(p)) return;
      out.set(p, { path: p, info });
      if (info.interpreter && !out.has(info.interpreter)) {
        const ii = await this.info(info.interpreter);
        if (ii instanceof Error) throw new Error(`${p} names the interpreter ${info.interpreter}, which cannot be read: ${ii.message}`);
        out.set(info.interpreter, { path: info.interpreter, info: ii });
      }
      for (const lib of info.needed) {
        const found = await this.find(lib, p, info, rpathChain);
        if (!found) throw new MissingLibraryError(lib, p, [...new Set([...info.runpath, ...info.rpath, ...this.systemDirs])]);
        const li = await this.info(found);
        if (li instanceof Error) throw li;
        await visit(found, li, info.runpath.length ? [] : [...info.rpath, ...rpathChain]);
      }
      for (const lib of IMPLICIT[p.replace(/^.*\//, '')] ?? []) {
        const found = await this.find(lib, p, info, rpathChain);
        if (found) {
          const li = await this.info(found);
          if (!(li instanceof Error)) await visit(found, li, []);
        }
      }
    };
    await visit(path, root, []);
    return [...out.values()];
  }
}

/** ELF facts of files already read in this process, valid while the file's inode, size and mtime stay. */
const shared = new Map<string, { stamp: string; info: ElfDynamicInfo }>();

async function readInfo(path: string): Promise<ElfDynamicInfo | Error> {
  let stamp: string;
  try {
    const st = statSync(path);
    stamp = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch (e) {
    return e as Error;
  }
  const hit = shared.get(path);
  if (hit && hit.stamp === stamp) return hit.info;
  try {
    const r = readElfDynamic(await readFile(path));
    if (!r.ok) return new Error(`${path}: ${r.error}`);
    if (shared.size > 10_000) shared.clear();
    shared.set(path, { stamp, info: r.value });
    return r.value;
  } catch (e) {
    return e as Error;
  }
}

function safeRealpath(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}
