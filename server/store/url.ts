// The PostgreSQL connection URL: where it comes from (store.url, else
// RACKBOOT_DATABASE_URL) and how it is shown (never with its password).

export const DATABASE_URL_ENV = 'RACKBOOT_DATABASE_URL';

/** The URL to connect with, or undefined when neither the config nor the environment gives one. */
export function databaseUrl(configured: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const u = configured?.trim() || env[DATABASE_URL_ENV]?.trim();
  return u || undefined;
}

// postgres://user@/db?host=/socket/dir (no host: a Unix socket) is valid for
// PostgreSQL, not for WHATWG URL: parsed with a stand-in host, which is
// taken out again when the URL is shown.
const NO_HOST = 'rackboot.no-host.invalid';

function parseDbUrl(url: string): { u: URL; noHost: boolean } | undefined {
  try {
    return { u: new URL(url), noHost: false };
  } catch {
    try {
      return { u: new URL(url.replace(/^(postgres(?:ql)?:\/\/[^/@]*@)\//, `$1${NO_HOST}/`)), noHost: true };
    } catch {
      return undefined;
    }
  }
}

/** What is wrong with a URL, or undefined; the message never repeats the URL (it may hold a password). */
export function databaseUrlProblem(url: string): string | undefined {
  const u = parseDbUrl(url)?.u;
  if (!u) return 'is not a URL (expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, or postgres://USER@/DATABASE?host=/socket/dir)';
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') return `must start with postgres:// or postgresql:// (not ${u.protocol}//)`;
  if (!u.pathname.replace(/^\//, '')) return 'names no database (postgres://USER@HOST/DATABASE)';
  return undefined;
}

/** The URL with its password replaced by ***, for logs, errors and API answers. Not a URL: a placeholder, never the text. */
export function redactUrl(url: string): string {
  const p = parseDbUrl(url);
  if (!p) return '(a URL that does not parse)';
  const { u, noHost } = p;
  if (u.password) u.password = '***';
  for (const k of [...u.searchParams.keys()]) if (/pass/i.test(k)) u.searchParams.set(k, '***');
  const text = decodeURIComponent(u.toString());
  return noHost ? text.replace(NO_HOST, '') : text;
}

/** Remove every occurrence of the URL's password from a text (an error message a driver built). */
export function scrubPassword(text: string, url: string): string {
  const pw = parseDbUrl(url)?.u.password ?? '';
  if (!pw) return text;
  let out = text;
  for (const form of new Set([pw, decodeURIComponent(pw)])) if (form) out = out.split(form).join('***');
  return out;
}
