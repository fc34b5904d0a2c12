// The dashboard's files, read into memory once (about 150 KiB): the client
// compiled by `npm run build` (dist/ui), the stylesheet and icon (web/static)
// and Preact's browser modules from node_modules. Nothing comes from a CDN.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PACKAGE_ROOT } from '../paths.js';

export interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json; charset=utf-8',
};

/** The import map's entries: bare specifiers the compiled client imports, served under vendor/. */
export const VENDOR: Record<string, string> = {
  preact: 'preact.mjs',
  'preact/hooks': 'hooks.mjs',
  'preact/jsx-runtime': 'jsxRuntime.mjs',
};

export const ASSET_PREFIX = '/ui/assets/';

function walk(dir: string, into: Map<string, string>, base = dir): void {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, into, base);
    else if (TYPES[extname(name)]) into.set(relative(base, p).split('\\').join('/'), p);
  }
}

export interface AssetTable {
  get(path: string): Asset | undefined;
  /** Every JavaScript module, for the page to preload at once instead of one import level at a time. */
  modules: string[];
  /** Why the dashboard cannot work (its compiled client is missing), or undefined. */
  problem: string | undefined;
}

export function loadAssets(root = PACKAGE_ROOT): AssetTable {
  const files = new Map<string, string>();
  const compiled = join(root, 'dist', 'ui');
  walk(compiled, files);
  const statics = new Map<string, string>();
  walk(join(root, 'web', 'static'), statics);
  for (const [k, v] of statics) files.set(`static/${k}`, v);
  for (const [spec, name] of Object.entries(VENDOR)) {
    const file = fileURLToPath(import.meta.resolve(spec));
    files.set(`vendor/${name}`, file);
    if (existsSync(file + '.map')) files.set(`vendor/${name}.map`, file + '.map');
  }
  const table = new Map<string, Asset>();
  for (const [path, file] of files) {
    const body = readFileSync(file);
    table.set(path, { body, type: TYPES[extname(file)]!, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  const problem = table.has('app/main.js') ? undefined : `the dashboard's client is not built (${relative(process.cwd(), join(compiled, 'app', 'main.js')) || compiled} is missing): run npm run build`;
  const modules = [...table.keys()].filter((p) => /\.(m?js)$/.test(p)).sort();
  return { get: (p) => table.get(p), modules, problem };
}
