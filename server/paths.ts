import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The installed package's root (holds the shipped templates/, images/, tftpboot/). */
export const PACKAGE_ROOT: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'templates'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('rackboot: cannot find the package root (package.json beside templates/)');
})();

export const SHIPPED_TEMPLATES = join(PACKAGE_ROOT, 'templates');
export const SHIPPED_IMAGES = join(PACKAGE_ROOT, 'images');
