#!/usr/bin/env node
// `npm run lab`: compiles first only when dist/ is behind the sources (a
// TypeScript file newer than its output, or a missing output), saying so
// and how long it took, then runs the lab with the arguments given. A lab
// run after a build starts at once instead of a silent minute of tsc.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
// Source folders and where tsc writes them (tsconfig.json, web/tsconfig.json).
const TREES = [
  ['server', 'dist/server'],
  ['test', 'dist/test'],
  ['bench', 'dist/bench'],
  ['web/app', 'dist/ui/app'],
  ['web/shared', 'dist/ui/shared'],
];
const CONFIGS = ['tsconfig.json', 'web/tsconfig.json', 'package-lock.json'];

const mtime = (p) => {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return undefined;
  }
};

/** The first source dist/ is behind on, or undefined when dist/ is current. */
export function staleSource() {
  const main = mtime(join(root, 'dist/test/lab/cli.js'));
  if (main === undefined) return 'dist/test/lab/cli.js (missing)';
  for (const c of CONFIGS) if ((mtime(join(root, c)) ?? 0) > main) return c;
  for (const [src, out] of TREES) {
    const walk = (dir) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) {
          const r = walk(p);
          if (r) return r;
        } else if (/\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts')) {
          const js = join(root, out, relative(join(root, src), p)).replace(/\.tsx?$/, '.js');
          const o = mtime(js);
          if (o === undefined || o < statSync(p).mtimeMs) return relative(root, p);
        }
      }
      return undefined;
    };
    const r = walk(join(root, src));
    if (r) return r;
  }
  return undefined;
}

const stale = staleSource();
if (stale) {
  console.log(`lab: compiling (dist/ is behind ${stale}) ...`);
  const t0 = Date.now();
  const b = spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
  if (b.status !== 0) process.exit(b.status ?? 1);
  console.log(`lab: compiled in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
} else {
  console.log('lab: dist/ is current, not compiling');
}
// The lab cleans up on Ctrl-C (its namespaces, VMs): wait for it rather than return the prompt early,
// and pass on a SIGTERM sent to this process alone.
const lab = spawn(process.execPath, [join(root, 'dist/test/lab/cli.js'), ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
process.on('SIGINT', () => {});
process.on('SIGTERM', () => lab.kill('SIGTERM'));
lab.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
