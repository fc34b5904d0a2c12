// The store a config asks for. Each driver is loaded only when chosen, so a
// one-server site never loads pg, and a PostgreSQL site never opens SQLite.
import type { LoadedConfig } from '../config/loaded.js';
import type { Store } from './types.js';

export interface OpenOptions {
  /** Told when a shared store stops or starts answering. */
  onState?: (up: boolean, why: string) => void;
}

export async function openStore(cfg: LoadedConfig, opts: OpenOptions = {}): Promise<Store> {
  const server = cfg.serverName;
  switch (cfg.config.store.driver) {
    case 'sqlite': {
      const { SqliteStore } = await import('./sqlite.js');
      return new SqliteStore(cfg.paths.dbFile, { server });
    }
    case 'postgres': {
      // Loading the config already requires a URL (storeConfigIssues).
      if (!cfg.databaseUrl) throw new Error('store.driver is postgres, but no store.url or RACKBOOT_DATABASE_URL is given');
      const { PostgresStore } = await import('./postgres/store.js');
      return PostgresStore.open({ url: cfg.databaseUrl, server, poolSize: cfg.config.store.poolSize, onState: opts.onState });
    }
  }
}
