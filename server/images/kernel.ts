// Where an image's kernel comes from: a kernel file (its modules in
// /lib/modules/<release>, the release read from the bzImage header), or a
// Debian linux-image .deb unpacked once into a cache directory with
// dpkg-deb -x (kept per .deb path, size and mtime).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { bzImageVersion } from './elf.js';

export interface KernelSource {
  /** The kernel image file. */
  image: string;
  release: string;
  /** lib/modules/<release>, or null when there is none (a kernel without modules). */
  modulesDir: string | null;
  /** The kernel's .config when known (boot/config-<release>), to check what it can unpack. */
  config: Map<string, string> | null;
  /** What the recipe named, for the manifest. */
  origin: string;
  /** Unpacked by rackboot into its cache (may be written to: the module index). */
  owned: boolean;
}

export type KernelSpec = { file: string; modules?: string } | { deb: string };

/** The newest of the files a glob names ('*' and '?' in the last component only), Debian-version order. */
export function pickGlob(pattern: string): string | undefined {
  const dir = dirname(pattern);
  const base = basename(pattern);
  if (!/[*?]/.test(base)) return existsSync(pattern) ? pattern : undefined;
  const re = new RegExp('^' + base.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => re.test(n));
  } catch {
    return undefined;
  }
  names.sort(naturalCompare);
  return names.length ? join(dir, names[names.length - 1]!) : undefined;
}

/** "6.1.0-9" < "6.1.0-53": digit runs compare as numbers. */
export function naturalCompare(a: string, b: string): number {
  const ta = a.match(/\d+|\D+/g) ?? [];
  const tb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(ta.length, tb.length); i++) {
    const x = ta[i]!;
    const y = tb[i]!;
    if (x === y) continue;
    if (/^\d/.test(x) && /^\d/.test(y)) return Number(x) - Number(y) || x.length - y.length;
    return x < y ? -1 : 1;
  }
  return ta.length - tb.length;
}

export function parseKernelConfig(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const kv = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (kv) m.set(kv[1]!, kv[2]!);
  }
  return m;
}

function readConfig(path: string): Map<string, string> | null {
  try {
    return parseKernelConfig(readFileSync(path, 'utf8'));
  } catch {
    return null;
  }
}

async function readHeader(path: string): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(b, 0, b.length, 0);
    return b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('error', (e) => reject(new Error(`${cmd}: ${e.message}${(e as { code?: string }).code === 'ENOENT' ? ' (is it installed?)' : ''}`)));
    c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}: ${err.trim()}`))));
  });
}

/** Unpack a .deb once; later calls reuse the directory. Returns the unpacked root. */
export async function unpackDeb(deb: string, cacheDir: string): Promise<string> {
  const st = statSync(deb);
  const key = createHash('sha256').update(`${deb}\0${st.size}\0${st.mtimeMs}`).digest('hex').slice(0, 16);
  const dest = join(cacheDir, `deb-${basename(deb).replace(/[^A-Za-z0-9._+-]/g, '_')}-${key}`);
  if (existsSync(join(dest, '.unpacked'))) return dest;
  await mkdir(cacheDir, { recursive: true });
  const tmp = `${dest}.tmp-${process.pid}-${Date.now()}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    await run('dpkg-deb', ['-x', deb, tmp]);
    await (await open(join(tmp, '.unpacked'), 'w')).close();
    await rm(dest, { recursive: true, force: true });
    await rename(tmp, dest);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  return dest;
}

/** Resolve a recipe's kernel section to files on this host. */
export async function resolveKernel(spec: KernelSpec, cacheDir: string): Promise<KernelSource> {
  if ('deb' in spec) {
    const deb = pickGlob(spec.deb);
    if (!deb) throw new Error(`kernel.deb: no file matches ${spec.deb} (fetch one with scripts/fetch-kernel.sh)`);
    const root = await unpackDeb(deb, cacheDir);
    const boot = join(root, 'boot');
    const images = existsSync(boot) ? readdirSync(boot).filter((n) => /^vmlinu[xz]-/.test(n)).sort(naturalCompare) : [];
    if (!images.length) throw new Error(`kernel.deb: ${deb} has no boot/vmlinuz-* (is it a linux-image package?)`);
    const image = join(boot, images[images.length - 1]!);
    const release = basename(image).replace(/^vmlinu[xz]-/, '');
    const modulesDir = [join(root, 'lib/modules', release), join(root, 'usr/lib/modules', release)].find((d) => existsSync(d)) ?? null;
    return { image, release, modulesDir, config: readConfig(join(boot, `config-${release}`)), origin: deb, owned: true };
  }
  if (!existsSync(spec.file)) throw new Error(`kernel.file: ${spec.file} does not exist`);
  const release = bzImageVersion(await readHeader(spec.file)) ?? basename(spec.file).replace(/^vmlinu[xz]-/, '');
  const modulesDir = spec.modules ?? (existsSync(`/lib/modules/${release}`) ? `/lib/modules/${release}` : null);
  if (spec.modules && !existsSync(spec.modules)) throw new Error(`kernel.modules: ${spec.modules} does not exist`);
  const config = readConfig(join(dirname(spec.file), `config-${release}`)) ?? readConfig(`/boot/config-${release}`);
  return { image: spec.file, release, modulesDir, config, origin: spec.file, owned: false };
}
