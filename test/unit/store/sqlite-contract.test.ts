// The Store contract against the embedded SQLite driver (a file per store).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { SqliteStore } from '../../../server/store/sqlite.js';
import { storeContract } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'rackboot-store-'));
let n = 0;
after(() => rmSync(dir, { recursive: true, force: true }));

storeContract('sqlite', { open: async (server) => new SqliteStore(join(dir, `s${n++}.db`), { server }) });
