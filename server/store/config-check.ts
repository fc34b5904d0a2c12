// The store part of `rackboot config check` and of loading a config, kept
// apart from open.ts so checking a config loads no database driver. No
// message repeats the URL: it may hold a password.
import type { ConfigIssue } from '../config/errors.js';
import { DATABASE_URL_ENV, databaseUrlProblem } from './url.js';

export function storeConfigIssues(c: { config: { store: { driver: string; url?: string } }; databaseUrl: string | undefined }): ConfigIssue[] {
  const { driver, url } = c.config.store;
  if (driver !== 'postgres') {
    return url ? [{ path: 'store.url', message: "is used only with store.driver 'postgres' (this config's driver is 'sqlite')" }] : [];
  }
  if (!c.databaseUrl) return [{ path: 'store.url', message: `is required with store.driver 'postgres' (or set the environment variable ${DATABASE_URL_ENV})` }];
  const problem = databaseUrlProblem(c.databaseUrl);
  return problem ? [{ path: url ? 'store.url' : DATABASE_URL_ENV, message: problem }] : [];
}
