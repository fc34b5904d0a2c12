#!/usr/bin/env node
// Runs every compiled test file under dist/test (node:test). Node 20's
// --test takes no globs, so the files are listed here. Arguments filter by
// substring: `npm test -- dhcp` runs the files whose path contains "dhcp".
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const dir = join(root, 'dist', 'test');
const files = [];
(function walk(d) {
  for (const name of readdirSync(d).sort()) {
    const p = join(d, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
})(dir);
const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const flags = process.argv.slice(2).filter((a) => a.startsWith('-'));
const chosen = filters.length ? files.filter((f) => filters.some((x) => relative(root, f).includes(x))) : files;
if (!chosen.length) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
const reporter = process.env.TEST_REPORTER ?? (process.stdout.isTTY ? 'spec' : 'spec');
const r = spawnSync(process.execPath, ['--test', `--test-reporter=${reporter}`, ...flags, ...chosen], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
