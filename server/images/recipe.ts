// images/<name>/recipe.yaml: what goes into an image. Read like the main
// config (YAML, ${ENV} substitution, a closed schema whose errors name the
// key path), then normalised: relative paths resolve against the recipe's
// directory, shorthand list items become objects.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import YAML from 'yaml';
import { ConfigError } from '../config/errors.js';
import { substituteEnv } from '../config/load.js';
import { Name, Section, StringEnum } from '../config/types.js';
import { schemaIssues } from '../config/validate-schema.js';
import { COMPRESSIONS, type Compression } from './compress.js';
import type { KernelSpec } from './kernel.js';

const Optional = Type.Optional;
const Path = Type.String({ minLength: 1 });

const ModuleItem = Type.Union([Type.String({ minLength: 1 }), Section({ name: Type.String({ minLength: 1 }), optional: Optional(Type.Boolean()) })], {
  description: 'a module name, or {name, optional}',
});
const BinaryItem = Type.Union([Path, Section({ path: Path, optional: Optional(Type.Boolean()) })], {
  description: 'a host path, or {path, optional}',
});
const FileItem = Type.Union(
  [
    Path,
    Section({
      src: Path,
      /** Image path; default: the same as src (absolute src) or /<src> (relative). */
      dest: Optional(Path),
      optional: Optional(Type.Boolean()),
      mode: Optional(Type.String({ pattern: '^0?[0-7]{3,4}$', description: 'an octal mode like "0755"' })),
    }),
  ],
  { description: 'a path, or {src, dest, optional, mode}' },
);

export const RecipeSchema = Section({
  description: Optional(Type.String()),
  kernel: Type.Union([Section({ file: Path, modules: Optional(Path) }), Section({ deb: Path })], {
    description: '{file: PATH, modules: DIR} or {deb: PATH-or-GLOB}',
  }),
  /** Kernel command line (node-specific parts come from the boot templates and the overlay). */
  cmdline: Optional(Type.String()),
  compression: Optional(StringEnum(COMPRESSIONS)),
  compressionLevel: Optional(Type.Integer({ minimum: 1, maximum: 19 })),
  /** A static busybox for the base system (its applets become symlinks); false for none. */
  busybox: Optional(Type.Union([Path, Type.Literal(false)], { description: 'a path to a static busybox, or false' })),
  modules: Optional(Type.Array(ModuleItem)),
  /** ELF binaries and shared objects (or directories of them), with every library they need. */
  binaries: Optional(Type.Array(BinaryItem)),
  /** Files and directories copied as they are. */
  files: Optional(Type.Array(FileItem)),
  /** Directory copied over the image root; *.hbs files are rendered (image and cluster scope) and lose the suffix. */
  overlay: Optional(Path),
  /** Directory rendered per node at serve time and appended as the node's overlay. */
  nodeOverlay: Optional(Path),
  vars: Optional(Type.Record(Type.String(), Type.Unknown())),
  /** mtime of every archive entry (seconds since 1970). */
  mtime: Optional(Type.Integer({ minimum: 0, maximum: 0xffffffff })),
});
type RawRecipe = Static<typeof RecipeSchema>;

export interface Recipe {
  name: string;
  dir: string;
  file: string;
  description: string;
  kernel: KernelSpec;
  cmdline: string;
  compression: Compression;
  compressionLevel: number | undefined;
  busybox: string | null;
  modules: Array<{ name: string; optional: boolean }>;
  binaries: Array<{ path: string; optional: boolean }>;
  files: Array<{ src: string; dest: string; optional: boolean; mode: number | undefined }>;
  overlay: string | null;
  nodeOverlay: string | null;
  vars: Record<string, unknown>;
  mtime: number;
  /** The recipe file's text, hashed into the manifest. */
  text: string;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export class RecipeNotFoundError extends Error {
  constructor(readonly image: string, dirs: string[]) {
    super(`no recipe for image '${image}' (looked for ${image}/recipe.yaml in ${dirs.join(', ')})`);
    this.name = 'RecipeNotFoundError';
  }
}

/** The recipe file for an image name: the first recipe dir that has one. */
export function findRecipe(name: string, dirs: string[]): string {
  if (!NAME_RE.test(name)) throw new RecipeNotFoundError(name, dirs);
  for (const d of dirs) {
    const f = join(d, name, 'recipe.yaml');
    if (existsSync(f)) return f;
  }
  throw new RecipeNotFoundError(name, dirs);
}

/** Image names with a recipe in any of the dirs (earlier dirs win). */
export function listRecipes(dirs: string[]): string[] {
  const names = new Set<string>();
  for (const d of dirs) {
    let list: string[] = [];
    try {
      list = readdirSync(d);
    } catch {
      continue;
    }
    for (const n of list) if (NAME_RE.test(n) && existsSync(join(d, n, 'recipe.yaml'))) names.add(n);
  }
  return [...names].sort();
}

export function loadRecipe(name: string, dirs: string[], env: NodeJS.ProcessEnv = process.env): Recipe {
  return parseRecipe(name, findRecipe(name, dirs), env);
}

export function parseRecipe(name: string, file: string, env: NodeJS.ProcessEnv = process.env): Recipe {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, [{ path: '', message: `cannot read the recipe: ${(e as Error).message}` }]);
  }
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({ path: e.linePos ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '', message: e.message.split('\n')[0]! })),
    );
  }
  const raw = substituteEnv(doc.toJS() ?? {}, env);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(file, [{ path: '', message: 'a recipe must be a mapping of keys' }]);
  const issues = schemaIssues(RecipeSchema, raw);
  if (issues.length) throw new ConfigError(file, issues);
  const r = raw as RawRecipe;
  // The schema allows zstd's 1-19; zlib refuses above 9, which would only show mid-build.
  const maxLevel = { gzip: 9, zstd: 19, none: 19 }[r.compression ?? 'gzip'];
  if (r.compressionLevel !== undefined && r.compressionLevel > maxLevel) {
    throw new ConfigError(file, [{ path: 'compressionLevel', message: `${r.compressionLevel} is above ${maxLevel}, the highest level ${r.compression ?? 'gzip'} has` }]);
  }
  const dir = resolve(file, '..');
  const abs = (p: string) => (isAbsolute(p) ? p : join(dir, p));
  const optionalDir = (given: string | undefined, def: string, key: string): string | null => {
    if (given !== undefined) {
      const p = abs(given);
      if (!existsSync(p) || !statSync(p).isDirectory()) throw new ConfigError(file, [{ path: key, message: `${p} is not a directory` }]);
      return p;
    }
    const p = join(dir, def);
    return existsSync(p) && statSync(p).isDirectory() ? p : null;
  };
  const kernel: KernelSpec = 'deb' in r.kernel ? { deb: abs(r.kernel.deb) } : { file: abs(r.kernel.file), ...(r.kernel.modules ? { modules: abs(r.kernel.modules) } : {}) };
  if (!NAME_RE.test(name)) throw new ConfigError(file, [{ path: '', message: `'${name}' is not ${Name.description}` }]);
  return {
    name,
    dir,
    file,
    description: r.description ?? '',
    kernel,
    cmdline: (r.cmdline ?? '').trim().replace(/\s+/g, ' '),
    compression: r.compression ?? 'gzip',
    compressionLevel: r.compressionLevel,
    busybox: r.busybox === false ? null : abs(r.busybox ?? '/bin/busybox'),
    modules: (r.modules ?? []).map((m) => (typeof m === 'string' ? { name: m, optional: false } : { name: m.name, optional: m.optional ?? false })),
    binaries: (r.binaries ?? []).map((b) => (typeof b === 'string' ? { path: abs(b), optional: false } : { path: abs(b.path), optional: b.optional ?? false })),
    files: (r.files ?? []).map((f) => {
      const o = typeof f === 'string' ? { src: f } : f;
      const dest = o.dest ?? (isAbsolute(o.src) ? o.src : '/' + o.src);
      return { src: abs(o.src), dest, optional: ('optional' in o && o.optional) || false, mode: 'mode' in o && o.mode ? parseInt(o.mode, 8) : undefined };
    }),
    overlay: optionalDir(r.overlay, 'overlay', 'overlay'),
    nodeOverlay: optionalDir(r.nodeOverlay, 'node-overlay', 'nodeOverlay'),
    vars: r.vars ?? {},
    mtime: r.mtime ?? 0,
    text,
  };
}
