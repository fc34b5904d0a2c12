// The blades' kernel: Debian's linux-image-*-cloud-amd64. The images
// subsystem's scripts/fetch-kernel.sh puts the .deb where the shipped recipes
// look (/var/cache/rackboot/kernel, RACKBOOT_KERNEL_DIR); the lab unpacks the
// same .deb once (dpkg -x, then depmod for the modules.dep the .deb lacks)
// for what it boots without rackboot's image builder: the dnsmasq reference
// and the busybox RAM disk.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { sh } from '../helpers/netns.js';
import { REPO } from './rackboot.js';

export const CACHE_DIR = process.env.RACKBOOT_LAB_CACHE ?? '/var/tmp/rackboot-lab-cache';

export interface Kernel {
  version: string;
  deb: string;
  /** The unpacked package root (boot/, lib/modules/<version>/). */
  root: string;
  vmlinuz: string;
  modulesDir: string;
}

/** Runs scripts/fetch-kernel.sh (reuses a cached .deb) and returns the .deb's path. */
export function fetchKernelDeb(): string {
  const r = sh('sh', [join(REPO, 'scripts', 'fetch-kernel.sh')], { timeoutMs: 300_000 });
  const m = /^kernel: (\S+\.deb)$/m.exec(r.stdout);
  if (!m) throw new Error(`scripts/fetch-kernel.sh named no .deb: ${r.stdout.trim()} ${r.stderr.trim()}`);
  return m[1]!;
}

export function ensureKernel(log: (s: string) => void = () => {}): Kernel {
  const deb = fetchKernelDeb();
  const m = /^linux-image-([0-9.]+-\d+-[a-z0-9-]+?)_/.exec(basename(deb));
  if (!m) throw new Error(`${deb}: not a linux-image-<version>_*.deb`);
  const version = m[1]!;
  const root = join(CACHE_DIR, basename(deb, '.deb'));
  const vmlinuz = join(root, 'boot', `vmlinuz-${version}`);
  const modulesDir = join(root, 'lib', 'modules', version);
  if (!existsSync(join(modulesDir, 'modules.dep'))) {
    log(`unpacking ${basename(deb)} into ${CACHE_DIR}`);
    mkdirSync(CACHE_DIR, { recursive: true });
    const tmp = join(CACHE_DIR, `.x-${process.pid}`);
    rmSync(tmp, { recursive: true, force: true });
    sh('dpkg', ['-x', deb, tmp], { timeoutMs: 120_000 });
    sh('depmod', ['-b', tmp, version]);
    rmSync(root, { recursive: true, force: true });
    renameSync(tmp, root);
  }
  return { version, deb, root, vmlinuz, modulesDir };
}

/** Module files (relative to modulesDir) for the named modules, dependencies first. */
export function moduleLoadOrder(modulesDir: string, names: string[]): string[] {
  const dep = new Map<string, string[]>();
  const byName = new Map<string, string>();
  for (const line of readFileSync(join(modulesDir, 'modules.dep'), 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const file = line.slice(0, i);
    dep.set(file, line.slice(i + 1).trim().split(/\s+/).filter(Boolean));
    const base = file.slice(file.lastIndexOf('/') + 1).replace(/\.ko(\.[a-z]+)?$/, '');
    byName.set(base.replace(/-/g, '_'), file);
  }
  const order: string[] = [];
  const visit = (file: string) => {
    if (order.includes(file)) return;
    for (const d of dep.get(file) ?? []) visit(d);
    order.push(file);
  };
  for (const n of names) {
    const f = byName.get(n.replace(/-/g, '_'));
    if (!f) throw new Error(`no kernel module '${n}' in ${modulesDir}`);
    visit(f);
  }
  return order;
}
