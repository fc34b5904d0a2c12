import type { LoadedConfig } from '../config/load.js';
import { ConfigError } from '../config/errors.js';
import { POSTGRES_UNAVAILABLE } from './config-check.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './types.js';

export async function openStore(cfg: LoadedConfig): Promise<Store> {
  switch (cfg.config.store.driver) {
    case 'sqlite':
      return new SqliteStore(cfg.paths.dbFile);
    case 'postgres':
      // The Store interface is async so a PostgreSQL store can drop in; it is not written yet.
      // Loading the config already refuses this (storeConfigIssues); kept for a config built in code.
      throw new ConfigError(cfg.file, [POSTGRES_UNAVAILABLE]);
  }
}
