import type { LoadedConfig } from '../config/load.js';
import { ConfigError } from '../config/errors.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './types.js';

export async function openStore(cfg: LoadedConfig): Promise<Store> {
  switch (cfg.config.store.driver) {
    case 'sqlite':
      return new SqliteStore(cfg.paths.dbFile);
    case 'postgres':
      // The Store interface is async so a PostgreSQL store can drop in; it is not written yet.
      throw new ConfigError(cfg.file, [{ path: 'store.driver', message: "'postgres' is not available in this version; use 'sqlite'" }]);
  }
}
