// Kernel modules by name, with their dependencies. The index comes from
// modules.dep / modules.alias when depmod has run (an installed kernel), and
// otherwise from each module's own .modinfo (depends=, alias=): a Debian
// linux-image .deb ships no modules.dep, depmod makes it at install time.
// Compressed modules (.ko.gz/.xz/.zst) are decompressed when the image is
// built, so busybox insmod/modprobe in the RAM disk never needs to.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { closest } from '../config/errors.js';
import { readModInfo } from './elf.js';

const gunzipP = promisify(gunzip);

export class UnknownModuleError extends Error {
  constructor(readonly module: string, dir: string, hint?: string) {
    super(`unknown kernel module '${module}': no such module, alias or built-in in ${dir}${hint ? ` (did you mean '${hint}'?)` : ''}`);
    this.name = 'UnknownModuleError';
  }
}

export interface ModuleIndex {
  dir: string;
  /** module name (underscores) -> path relative to dir, as found (maybe compressed). */
  byName: Map<string, string>;
  /** relative path -> relative paths it depends on (direct). */
  deps: Map<string, string[]>;
  /** [pattern, module name] from modules.alias or alias= */
  aliases: Array<[string, string]>;
  builtin: Set<string>;
  /** Where the index came from, for the build log. */
  source: 'modules.dep' | 'modinfo';
}

export const moduleName = (file: string): string => file.replace(/^.*\//, '').replace(/\.ko(\.(gz|xz|zst))?$/, '').replace(/-/g, '_');

async function walkKo(dir: string, base = dir, out: string[] = []): Promise<string[]> {
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, d.name);
    if (d.isDirectory()) await walkKo(p, base, out);
    else if (/\.ko(\.(gz|xz|zst))?$/.test(d.name)) out.push(relative(base, p));
  }
  return out;
}

function parseBuiltin(dir: string): Set<string> {
  const f = join(dir, 'modules.builtin');
  if (!existsSync(f)) return new Set();
  return new Set(readFileSync(f, 'utf8').split('\n').filter(Boolean).map(moduleName));
}

async function moduleBytes(path: string): Promise<Buffer> {
  const raw = await readFile(path);
  if (path.endsWith('.gz')) return gunzipP(raw);
  if (path.endsWith('.xz')) return runFilter('xz', ['-dc'], raw);
  if (path.endsWith('.zst')) return runFilter('zstd', ['-dc', '-q'], raw);
  return raw;
}

function runFilter(cmd: string, args: string[], input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    c.stdout.on('data', (d: Buffer) => out.push(d));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('error', (e) => reject(new Error(`decompressing a module needs the '${cmd}' command: ${e.message}`)));
    c.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.trim()}`))));
    c.stdin.end(input);
  });
}

/** A module file's bytes, uncompressed. */
export const readModule = moduleBytes;

const indexCache = new Map<string, Promise<ModuleIndex>>();

/**
 * Index of a modules directory (lib/modules/<release>); cached per directory
 * for the process. With `persist` (a directory rackboot unpacked itself), an
 * index read from .modinfo is written back as modules.dep and modules.alias,
 * so the next process reads two files instead of every module.
 */
export function loadModuleIndex(dir: string, opts: { persist?: boolean } = {}): Promise<ModuleIndex> {
  let p = indexCache.get(dir);
  if (!p) {
    p = buildIndex(dir).then(async (idx) => {
      if (opts.persist && idx.source === 'modinfo') await persistIndex(idx).catch(() => undefined);
      return idx;
    });
    p.catch(() => indexCache.delete(dir));
    indexCache.set(dir, p);
  }
  return p;
}

async function buildIndex(dir: string): Promise<ModuleIndex> {
  if (!existsSync(dir)) throw new Error(`no kernel modules directory ${dir}`);
  const builtin = parseBuiltin(dir);
  const depFile = join(dir, 'modules.dep');
  if (existsSync(depFile)) {
    const byName = new Map<string, string>();
    const deps = new Map<string, string[]>();
    for (const line of readFileSync(depFile, 'utf8').split('\n')) {
      const i = line.indexOf(':');
      if (i < 0) continue;
      const mod = line.slice(0, i).trim();
      byName.set(moduleName(mod), mod);
      deps.set(mod, line.slice(i + 1).trim().split(/\s+/).filter(Boolean));
    }
    const aliases: Array<[string, string]> = [];
    const aliasFile = join(dir, 'modules.alias');
    if (existsSync(aliasFile)) {
      for (const line of readFileSync(aliasFile, 'utf8').split('\n')) {
        const m = /^alias\s+(\S+)\s+(\S+)/.exec(line);
        if (m) aliases.push([m[1]!, m[2]!.replace(/-/g, '_')]);
      }
    }
    return { dir, byName, deps, aliases, builtin, source: 'modules.dep' };
  }
  // No depmod output: read every module's .modinfo.
  const files = (await walkKo(dir)).sort();
  const byName = new Map<string, string>();
  const infos = new Map<string, string[]>();
  const aliases: Array<[string, string]> = [];
  const queue = [...files];
  const worker = async () => {
    for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
      const r = readModInfo(await moduleBytes(join(dir, f)));
      if (!r.ok) throw new Error(`${join(dir, f)}: ${r.error}`);
      const name = (r.value.name ?? moduleName(f)).replace(/-/g, '_');
      byName.set(name, f);
      infos.set(f, r.value.depends.map((d) => d.replace(/-/g, '_')));
      for (const a of r.value.aliases) aliases.push([a, name]);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  const deps = new Map<string, string[]>();
  for (const f of files) {
    deps.set(
      f,
      (infos.get(f) ?? []).map((n) => {
        const p = byName.get(n);
        if (!p) throw new Error(`${join(dir, f)} depends on '${n}', which is not in ${dir}`);
        return p;
      }),
    );
  }
  aliases.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return { dir, byName, deps, aliases, builtin, source: 'modinfo' };
}

/** Alias lookup compiled once per index: exact names in a map, glob patterns as regular expressions. */
const aliasMatchers = new WeakMap<ModuleIndex, { exact: Map<string, string>; globs: Array<[RegExp, string]> }>();

function findAlias(index: ModuleIndex, ...names: string[]): string | undefined {
  let m = aliasMatchers.get(index);
  if (!m) {
    m = { exact: new Map(), globs: [] };
    for (const [pat, mod] of index.aliases) {
      if (!/[*?[]/.test(pat)) {
        if (!m.exact.has(pat)) m.exact.set(pat, mod);
      } else m.globs.push([new RegExp('^' + pat.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$'), mod]);
    }
    aliasMatchers.set(index, m);
  }
  for (const n of names) {
    const hit = m.exact.get(n);
    if (hit) return hit;
  }
  for (const [re, mod] of m.globs) if (names.some((n) => re.test(n))) return mod;
  return undefined;
}

export interface ModuleResolution {
  /** Requested names that are built into the kernel (nothing to load). */
  builtin: string[];
  /** Modules to load by name, in the order asked (after alias resolution). */
  load: string[];
  /** Every module file needed, dependencies first (relative to the index dir). */
  files: string[];
  /** Requested as optional but absent: skipped. */
  skipped: string[];
}

/** Every module a module needs, directly or not (not itself). */
function closureOf(index: ModuleIndex, file: string, seen = new Set<string>()): Set<string> {
  for (const d of index.deps.get(file) ?? []) {
    if (seen.has(d)) continue;
    if (d === file) throw new Error(`module dependency cycle through ${file}`);
    seen.add(d);
    closureOf(index, d, seen);
  }
  return seen;
}

/**
 * A set of modules in one canonical order, dependencies first: Kahn's
 * algorithm taking the smallest path among the ready ones. modules.dep lists
 * every dependency of a module while .modinfo lists only direct ones; both
 * give the same order here (a module is ready exactly when all it needs is
 * placed), so an image is the same whichever index it was built from.
 */
function canonicalOrder(index: ModuleIndex, set: Set<string>): string[] {
  const pending = new Map<string, Set<string>>();
  for (const f of set) pending.set(f, new Set((index.deps.get(f) ?? []).filter((d) => set.has(d))));
  const out: string[] = [];
  while (pending.size) {
    let next: string | undefined;
    for (const [f, deps] of pending) if (deps.size === 0 && (next === undefined || f < next)) next = f;
    if (next === undefined) throw new Error(`module dependency cycle among ${[...pending.keys()].join(', ')}`);
    pending.delete(next);
    for (const deps of pending.values()) deps.delete(next);
    out.push(next);
  }
  return out;
}

/** Resolve module names (or aliases) to the files to ship, dependencies first. */
export function resolveModules(index: ModuleIndex, wanted: Array<{ name: string; optional?: boolean }>): ModuleResolution {
  const res: ModuleResolution = { builtin: [], load: [], files: [], skipped: [] };
  const needed = new Set<string>();
  const add = (file: string) => {
    needed.add(file);
    closureOf(index, file, needed);
  };
  for (const w of wanted) {
    const name = w.name.replace(/-/g, '_');
    let file = index.byName.get(name);
    let loadName = name;
    if (!file && !index.builtin.has(name)) {
      const alias = findAlias(index, w.name, name);
      if (alias) {
        loadName = alias;
        file = index.byName.get(alias);
        if (!file && index.builtin.has(alias)) {
          res.builtin.push(w.name);
          continue;
        }
      }
    }
    if (file) {
      add(file);
      if (!res.load.includes(loadName)) res.load.push(loadName);
    } else if (index.builtin.has(name)) res.builtin.push(w.name);
    else if (w.optional) res.skipped.push(w.name);
    else throw new UnknownModuleError(w.name, index.dir, closest(name, [...index.byName.keys()]));
  }
  res.files = canonicalOrder(index, needed);
  return res;
}

async function persistIndex(idx: ModuleIndex): Promise<void> {
  const files = [...idx.deps.keys()].sort();
  const write = async (name: string, text: string) => {
    const tmp = join(idx.dir, `.${name}.${process.pid}.tmp`);
    await writeFile(tmp, text);
    await rename(tmp, join(idx.dir, name));
  };
  await write('modules.alias', modulesAliasText(idx, files));
  // modules.dep last: its presence is what selects this index next time.
  await write('modules.dep', modulesDepText(idx, files, false));
}

/**
 * modules.dep text (paths as stored in the image: uncompressed .ko, unless
 * `stripSuffix` is false). Each module's line lists everything it needs,
 * nearest last, as depmod does: modprobe loads the list from the end.
 */
export function modulesDepText(index: ModuleIndex, files: string[], stripSuffix = true): string {
  const strip = (f: string) => (stripSuffix ? f.replace(/\.ko\.(gz|xz|zst)$/, '.ko') : f);
  return files.map((f) => `${strip(f)}:${canonicalOrder(index, closureOf(index, f)).reverse().map((d) => ' ' + strip(d)).join('')}\n`).join('');
}

/** modules.alias lines of the shipped modules. */
export function modulesAliasText(index: ModuleIndex, files: string[]): string {
  const names = new Set(files.map(moduleName));
  return index.aliases.filter(([, n]) => names.has(n)).map(([a, n]) => `alias ${a} ${n}\n`).join('');
}
