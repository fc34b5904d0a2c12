// The blades' kernel: Debian's linux-image-*-cloud-amd64, fetched with
// `apt-get download` and unpacked with `dpkg -x` into a cache kept between
// runs. depmod writes the modules.dep the .deb does not carry.
// TODO(images): switch to the images subsystem's kernel fetch once it lands.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { sh } from '../helpers/netns.js';

export const CACHE_DIR = process.env.RACKBOOT_LAB_CACHE ?? '/var/tmp/rackboot-lab-cache';

export interface Kernel {
  version: string;
  /** The unpacked package root (boot/, lib/modules/<version>/). */
  root: string;
  vmlinuz: string;
  modulesDir: string;
}

function kernelPackage(): string {
  const override = process.env.RACKBOOT_LAB_KERNEL_PKG;
  if (override) return override;
  const r = sh('apt-cache', ['depends', 'linux-image-cloud-amd64'], { check: false });
  const m = /Depends:\s*(linux-image-[0-9.]+-\d+-cloud-amd64)\b/.exec(r.stdout);
  if (!m) {
    throw new Error(
      "cannot find Debian's cloud kernel package (apt-cache depends linux-image-cloud-amd64 names none): run 'apt-get update' first",
    );
  }
  return m[1]!;
}

export function ensureKernel(log: (s: string) => void = () => {}): Kernel {
  const pkg = kernelPackage();
  const version = pkg.replace(/^linux-image-/, '');
  const root = join(CACHE_DIR, pkg);
  const vmlinuz = join(root, 'boot', `vmlinuz-${version}`);
  const modulesDir = join(root, 'lib', 'modules', version);
  if (!existsSync(join(modulesDir, 'modules.dep'))) {
    log(`fetching ${pkg} (apt-get download) into ${CACHE_DIR}`);
    mkdirSync(CACHE_DIR, { recursive: true });
    const dl = join(CACHE_DIR, `.dl-${process.pid}`);
    rmSync(dl, { recursive: true, force: true });
    mkdirSync(dl);
    // apt-get download writes to the working directory.
    sh('sh', ['-c', `cd '${dl}' && apt-get download -q '${pkg}'`], { timeoutMs: 300_000 });
    const deb = readdirSync(dl).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${pkg} left no .deb in ${dl}`);
    const tmp = join(dl, 'x');
    sh('dpkg', ['-x', join(dl, deb), tmp], { timeoutMs: 120_000 });
    sh('depmod', ['-b', tmp, version]);
    rmSync(root, { recursive: true, force: true });
    renameSync(tmp, root);
    rmSync(dl, { recursive: true, force: true });
  }
  return { version, root, vmlinuz, modulesDir };
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
