// The template engine: Handlebars in strict mode (a missing variable is an
// error, never an empty string in a boot config), templates looked up in the
// operator's directory before the shipped templates/, file by file, partials
// too. Compiled templates are cached and re-read when the file changes: each
// render stats the files it uses (microseconds; template files are small, so
// sync fs is cheaper here than async), no restart and no watcher needed.
import { readdirSync, readFileSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import Handlebars, { type HelperOptions } from 'handlebars';
import { explain, TemplateError } from './errors.js';
import { HELPERS } from './helpers.js';

type Compiled = Handlebars.TemplateDelegate;

export interface TemplateSource {
  /** Name as looked up: 'pxelinux.cfg.hbs', 'partials/cmdline.hbs'. */
  name: string;
  file: string;
  origin: 'operator' | 'shipped';
}

interface CacheEntry {
  source: TemplateSource;
  key: string;
  text: string;
  ast: hbs.AST.Program | undefined;
  compiled: Compiled | undefined;
  /** A syntax error, kept so a broken file is not re-parsed on every request. */
  error: TemplateError | undefined;
}

export interface RenderResult {
  body: string;
  template: TemplateSource;
}

const PARTIAL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
export const TEMPLATE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*\.hbs$/;

function statKey(st: Stats): string {
  return `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

function statOrUndefined(file: string): Stats | undefined {
  try {
    const st = statSync(file);
    return st.isFile() || st.isDirectory() ? st : undefined;
  } catch {
    return undefined;
  }
}

export class TemplateEngine {
  private readonly hb = Handlebars.create();
  private readonly cache = new Map<string, CacheEntry>();
  private partialNames: { key: string; names: string[] } = { key: '', names: [] };
  /** How many compiles happened (tests check the cache; metrics). */
  compiles = 0;

  /**
   * @param operatorDir the operator's templates (wins file by file), or null
   * @param shippedDir the package's templates/
   */
  constructor(
    readonly operatorDir: string | null,
    readonly shippedDir: string,
  ) {
    for (const [name, fn] of Object.entries(HELPERS)) this.hb.registerHelper(name, locateHelperErrors(fn));
  }

  private dirs(): Array<{ dir: string; origin: TemplateSource['origin'] }> {
    return [...(this.operatorDir ? [{ dir: this.operatorDir, origin: 'operator' as const }] : []), { dir: this.shippedDir, origin: 'shipped' as const }];
  }

  /** Which file a template name resolves to now (operator first), with its stat. */
  resolve(name: string): { source: TemplateSource; st: Stats } | undefined {
    for (const { dir, origin } of this.dirs()) {
      const file = join(dir, name);
      const st = statOrUndefined(file);
      if (st?.isFile()) return { source: { name, file, origin }, st };
    }
    return undefined;
  }

  /** Load, parse and compile a template or partial, reusing the cache while the file is unchanged. */
  private load(name: string): CacheEntry | undefined {
    const found = this.resolve(name);
    if (!found) {
      this.cache.delete(name);
      return undefined;
    }
    const key = `${found.source.file}|${statKey(found.st)}`;
    const hit = this.cache.get(name);
    if (hit && hit.key === key) return hit;
    let text: string;
    try {
      text = readFileSync(found.source.file, 'utf8');
    } catch (e) {
      throw new TemplateError(name, found.source.file, undefined, `cannot read the file: ${(e as Error).message}`);
    }
    const entry: CacheEntry = { source: found.source, key, text, ast: undefined, compiled: undefined, error: undefined };
    try {
      entry.ast = Handlebars.parse(text);
      // Compiling from the parsed AST: the same tree the error mapping reads.
      entry.compiled = this.hb.compile(entry.ast, { strict: true, noEscape: true });
      this.compiles++;
    } catch (e) {
      entry.error = explain(e, name, found.source.file, entry.ast, undefined);
    }
    this.cache.set(name, entry);
    return entry;
  }

  /** Partial names available now: partials/*.hbs in both directories (re-listed when a directory changes). */
  private partials(): string[] {
    const dirs = this.dirs().map((d) => join(d.dir, 'partials'));
    const key = dirs.map((d) => `${d}:${statOrUndefined(d)?.mtimeMs ?? '-'}`).join('|');
    if (this.partialNames.key === key) return this.partialNames.names;
    const names = new Set<string>();
    for (const d of dirs) {
      let list: string[] = [];
      try {
        list = readdirSync(d);
      } catch {
        /* no partials directory */
      }
      for (const f of list) if (f.endsWith('.hbs') && PARTIAL_NAME.test(f.slice(0, -4))) names.add(f.slice(0, -4));
    }
    this.partialNames = { key, names: [...names].sort() };
    return this.partialNames.names;
  }

  /** Runtime partials: each resolves its file when first used in this render (lazy, cached). */
  private partialFunctions(): Record<string, Compiled> {
    const out: Record<string, Compiled> = {};
    for (const name of this.partials()) {
      const file = `partials/${name}.hbs`;
      out[name] = ((context: unknown, options?: Handlebars.RuntimeOptions) => {
        const entry = this.load(file);
        if (!entry) throw new TemplateError(file, join(this.shippedDir, file), undefined, 'the partial file disappeared');
        if (entry.error) throw entry.error;
        try {
          return entry.compiled!(context, options);
        } catch (e) {
          throw explain(e, file, entry.source.file, entry.ast, undefined);
        }
      }) as Compiled;
    }
    return out;
  }

  /** Compile-check a template without rendering (syntax errors only). */
  check(name: string): TemplateError | undefined {
    const entry = this.load(name);
    if (!entry) return new TemplateError(name, join(this.shippedDir, name), undefined, 'no such template');
    return entry.error;
  }

  /**
   * Render a template with a scope. Throws TemplateError naming file, line
   * and variable (and the node, when given).
   */
  render(name: string, scope: object, node?: string): RenderResult {
    if (!TEMPLATE_NAME.test(name) && !name.startsWith('partials/')) {
      throw new TemplateError(name, name, undefined, 'not a template name (letters, digits, _ . - ending in .hbs)', undefined, node);
    }
    const entry = this.load(name);
    if (!entry) {
      const where = this.dirs().map((d) => d.dir).join(' or ');
      throw new TemplateError(name, join(this.shippedDir, name), undefined, `no template ${name} in ${where}`, undefined, node);
    }
    if (entry.error) throw entry.error.forNode(node);
    try {
      return { body: entry.compiled!(scope, { partials: this.partialFunctions() }), template: entry.source };
    } catch (e) {
      throw explain(e, name, entry.source.file, entry.ast, node);
    }
  }

  /** Every template name (top level, *.hbs) in either directory, with where it comes from. */
  list(): TemplateSource[] {
    const seen = new Map<string, TemplateSource>();
    for (const { dir, origin } of this.dirs()) {
      for (const sub of ['', 'partials']) {
        let names: string[] = [];
        try {
          names = readdirSync(join(dir, sub));
        } catch {
          continue;
        }
        for (const f of names.sort()) {
          const name = sub ? `${sub}/${f}` : f;
          if (!TEMPLATE_NAME.test(f) || seen.has(name)) continue;
          seen.set(name, { name, file: join(dir, name), origin });
        }
      }
    }
    return [...seen.values()].sort((a, b) => a.name.localeCompare(b.name));
  }
}

/** Record where a helper call sits on what it throws, so errors can name the template line and argument. */
function locateHelperErrors(fn: Handlebars.HelperDelegate): Handlebars.HelperDelegate {
  return function (this: unknown, ...a: unknown[]) {
    try {
      // Handlebars' HelperDelegate type lists at most 7 arguments; helpers take any number.
      return (fn as (...x: unknown[]) => unknown).apply(this, a);
    } catch (e) {
      const options = a[a.length - 1] as HelperOptions & { loc?: { start: { line: number; column: number } } };
      if (e && typeof e === 'object' && options?.loc && !(e as { helperLoc?: unknown }).helperLoc) {
        (e as { helperLoc?: unknown }).helperLoc = options.loc.start;
      }
      throw e;
    }
  };
}
