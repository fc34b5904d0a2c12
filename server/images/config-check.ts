// The images part of loading a config (and of `rackboot config check`):
// the recipes it names are there.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ImagesConfig } from './config.js';

export function imagesConfigIssues(c: { config: { images: ImagesConfig }; paths: { recipeDirs: string[] } }): Array<{ path: string; message: string }> {
  const issues: Array<{ path: string; message: string }> = [];
  const has = (name: string) => c.paths.recipeDirs.some((d) => existsSync(join(d, name, 'recipe.yaml')));
  const dirs = c.paths.recipeDirs.join(', ');
  c.config.images.buildOnStart.forEach((n, i) => {
    if (!has(n)) issues.push({ path: `images.buildOnStart[${i}]`, message: `no recipe ${n}/recipe.yaml in ${dirs}` });
  });
  const disc = c.config.images.discoveryImage;
  if (disc && !has(disc)) issues.push({ path: 'images.discoveryImage', message: `no recipe ${disc}/recipe.yaml in ${dirs} (null turns discovery off)` });
  c.config.images.recipeDirs.forEach((d, i) => {
    if (!existsSync(c.paths.recipeDirs[i]!)) issues.push({ path: `images.recipeDirs[${i}]`, message: `${d}: no such directory` });
  });
  return issues;
}
