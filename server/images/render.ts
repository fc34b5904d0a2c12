// Rendering of an image's *.hbs overlay files (image and cluster scope at
// build time; node scope for the per-node overlay). Handlebars in strict
// mode: a variable the scope lacks is an error naming the file and line,
// never an empty string in an init script. No HTML escaping: these are
// shell scripts and config files; `shq` quotes a value for the shell.
// (The templates subsystem owns the boot-config engine; this is the small
// part images need.)
import Handlebars from 'handlebars';

const hb = Handlebars.create();

/** POSIX shell single-quoting: safe for any value. */
export function shellQuote(v: unknown): string {
  const s = v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

hb.registerHelper('shq', (v: unknown) => new hb.SafeString(shellQuote(v)));
hb.registerHelper('json', (v: unknown) => new hb.SafeString(JSON.stringify(v ?? null)));
hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
hb.registerHelper('default', (v: unknown, d: unknown) => (v === undefined || v === null || v === '' ? d : v));

export class TemplateError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'TemplateError';
  }
}

const compiled = new Map<string, HandlebarsTemplateDelegate>();

/** Render template text; `file` names it in errors (and keys the compile cache with the text). */
export function renderTemplate(file: string, source: string, scope: Record<string, unknown>): string {
  const key = file + '\0' + source;
  let t = compiled.get(key);
  try {
    if (!t) {
      t = hb.compile(source, { strict: true, noEscape: true });
      compiled.set(key, t);
      if (compiled.size > 500) compiled.delete(compiled.keys().next().value!);
    }
    return t(scope);
  } catch (e) {
    const msg = (e as Error).message.replace(/ in \[object Object\]/g, '');
    const line = /- (\d+):(\d+)$/.exec(msg);
    throw new TemplateError(file, line ? `line ${line[1]}: ${msg.replace(/ - \d+:\d+$/, '')}` : msg.split('\n')[0]!);
  }
}
