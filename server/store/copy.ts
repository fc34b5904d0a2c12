// `rackboot store copy`: every row of one store into another (a site moving
// from its SQLite file to a shared PostgreSQL, or back), table by table,
// then the counts of both compared. An empty target only, unless told to
// replace what it holds. The servers using either store should be stopped:
// the copy reads in pages, not as one snapshot.
import { existsSync } from 'node:fs';
import { redactUrl } from './url.js';
import { DUMP_TABLES, type DumpTable, type Store, type StoreCounts } from './types.js';

/** A store named on the command line: sqlite:PATH or a postgres:// URL. */
export function describeStoreSpec(spec: string): string {
  return spec.startsWith('sqlite:') ? `sqlite ${spec.slice(7)}` : `postgres ${redactUrl(spec)}`;
}

export async function openStoreSpec(spec: string, opts: { mustExist: boolean }): Promise<Store> {
  // Its own server name: the copy must not take the name lock of a server.
  const server = `store-copy-${process.pid}`;
  if (spec.startsWith('sqlite:')) {
    const path = spec.slice(7);
    if (!path) throw new Error("sqlite: needs a file (sqlite:/var/lib/rackboot/rackboot.db)");
    if (opts.mustExist && !existsSync(path)) throw new Error(`no SQLite file ${path}`);
    const { SqliteStore } = await import('./sqlite.js');
    return new SqliteStore(path, { server });
  }
  if (/^postgres(ql)?:\/\//.test(spec)) {
    const { PostgresStore } = await import('./postgres/store.js');
    return PostgresStore.open({ url: spec, server });
  }
  throw new Error(`'${spec.startsWith('postgres') ? redactUrl(spec) : spec}' is not a store: give sqlite:PATH or postgres://USER@HOST/DATABASE`);
}

export interface CopyResult {
  source: StoreCounts;
  target: StoreCounts;
  /** Tables whose counts differ after the copy. */
  differ: DumpTable[];
}

/** Refused target: what it holds, in one line. */
export class TargetNotEmptyError extends Error {}

export async function copyStore(from: Store, to: Store, opts: { force: boolean; progress?: (table: DumpTable, rows: number) => void }): Promise<CopyResult> {
  const held = await to.counts();
  const nonEmpty = DUMP_TABLES.filter((t) => held[t] > 0);
  if (nonEmpty.length) {
    if (!opts.force) {
      throw new TargetNotEmptyError(`the target ${to.describe} is not empty (${nonEmpty.map((t) => `${held[t]} ${t}`).join(', ')}): give --force to replace what it holds`);
    }
    await to.clear();
  }
  const source = await from.counts();
  for await (const chunk of from.dump()) {
    await to.restore(chunk);
    opts.progress?.(chunk.table, chunk.rows.length);
  }
  const target = await to.counts();
  return { source, target, differ: DUMP_TABLES.filter((t) => source[t] !== target[t]) };
}
