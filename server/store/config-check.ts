// The store part of `rackboot config check` and of loading a config, kept
// apart from open.ts so checking a config does not load the SQLite driver.
import type { ConfigIssue } from '../config/errors.js';

/** The schema accepts 'postgres' (the name is reserved), but no PostgreSQL store is written yet. */
export const POSTGRES_UNAVAILABLE: ConfigIssue = { path: 'store.driver', message: "'postgres' is not available in this version; use 'sqlite'" };

export function storeConfigIssues(c: { config: { store: { driver: string } } }): ConfigIssue[] {
  return c.config.store.driver === 'postgres' ? [POSTGRES_UNAVAILABLE] : [];
}
