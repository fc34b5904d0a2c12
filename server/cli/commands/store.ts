// `rackboot store copy --from sqlite:PATH --to postgres://...`: move a site's
// registry, leases, events, settings and exports between stores, directly
// (not through the API: the servers should be stopped while it runs).
import type { Command } from 'commander';
import { copyStore, describeStoreSpec, openStoreSpec } from '../../store/copy.js';
import { DATABASE_URL_ENV } from '../../store/url.js';
import { DUMP_TABLES } from '../../store/types.js';
import { table } from '../table.js';

export function registerStore(program: Command): void {
  const store = program.command('store').description('the registry store itself: copy between SQLite and PostgreSQL');
  store
    .command('copy')
    .description('copy every node, group, lease, event, setting and export into an empty store and compare the counts (stop the servers first)')
    .requiredOption('--from <store>', 'sqlite:PATH or postgres://USER[:PASSWORD]@HOST/DATABASE')
    .option('--to <store>', `sqlite:PATH or a postgres:// URL (default: env ${DATABASE_URL_ENV})`)
    .option('--force', 'replace what the target holds (default: refuse a target that is not empty)')
    .action(async (o: { from: string; to?: string; force?: boolean }) => {
      const to = o.to ?? process.env[DATABASE_URL_ENV];
      if (!to) throw new Error(`give --to, or set ${DATABASE_URL_ENV}`);
      const source = await openStoreSpec(o.from, { mustExist: true });
      try {
        const target = await openStoreSpec(to, { mustExist: false });
        try {
          console.log(`copying ${describeStoreSpec(o.from)} -> ${describeStoreSpec(to)}`);
          const r = await copyStore(source, target, { force: o.force === true });
          const rows = [['TABLE', 'SOURCE', 'TARGET', '']];
          for (const t of DUMP_TABLES) rows.push([t, String(r.source[t]), String(r.target[t]), r.source[t] === r.target[t] ? 'ok' : 'DIFFERENT']);
          console.log(table(rows));
          if (r.differ.length) throw new Error(`the counts differ for ${r.differ.join(', ')}: was a server writing to the source? Stop it and copy again with --force`);
          console.log('copied: every count matches');
        } finally {
          await target.close();
        }
      } finally {
        await source.close();
      }
    });
}
