// PostgreSQL schema migrations: the same tables as SQLite (rows.ts maps both)
// in PostgreSQL's types. They run at start under an advisory lock, so
// servers starting together wait for one another and each migration runs
// once. The applied versions are in rackboot_schema. Append only.
import type { PoolClient } from 'pg';
import type { Migration } from '../migrations.js';

/** pg_advisory_lock key for migrations ('rbmg'). */
export const MIGRATION_LOCK = 0x72626d67;

export const PG_MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: 'registry, leases, events, settings, NFS exports, servers',
    sql: `
      CREATE TABLE groups (
        name text PRIMARY KEY,
        loader text,
        image text,
        vars text NOT NULL DEFAULT '{}',
        created_at text NOT NULL,
        updated_at text NOT NULL
      );
      CREATE TABLE nodes (
        name text PRIMARY KEY,
        grp text REFERENCES groups(name) ON DELETE RESTRICT,
        image text,
        loader text,
        vars text NOT NULL DEFAULT '{}',
        discovered boolean NOT NULL DEFAULT false,
        created_at text NOT NULL,
        updated_at text NOT NULL
      );
      CREATE INDEX nodes_grp ON nodes(grp);
      CREATE TABLE interfaces (
        node text NOT NULL REFERENCES nodes(name) ON DELETE CASCADE,
        name text NOT NULL,
        mac text NOT NULL,
        network text NOT NULL,
        ipv4 text NOT NULL,
        ipv4_num bigint NOT NULL,
        pos integer NOT NULL,
        CONSTRAINT interfaces_pkey PRIMARY KEY (node, name),
        CONSTRAINT interfaces_mac_key UNIQUE (mac),
        CONSTRAINT interfaces_addr_key UNIQUE (network, ipv4_num)
      );
      -- Leases are rewritten at every renewal: room on each page for the new
      -- row version keeps the update on the page (HOT, no index write).
      CREATE TABLE leases (
        network text NOT NULL,
        ipv4 text NOT NULL,
        ipv4_num bigint NOT NULL,
        mac text NOT NULL,
        client_id text,
        hostname text,
        state text NOT NULL,
        expires_at bigint NOT NULL,
        updated_at bigint NOT NULL,
        server text,
        PRIMARY KEY (network, ipv4_num)
      ) WITH (fillfactor = 70);
      CREATE TABLE events (
        id bigserial PRIMARY KEY,
        server text,
        node text,
        mac text,
        ts bigint NOT NULL,
        kind text NOT NULL,
        detail text NOT NULL DEFAULT '{}'
      );
      CREATE INDEX events_node_ts ON events(node, ts);
      CREATE INDEX events_mac_ts ON events(mac, ts);
      CREATE TABLE settings (
        key text PRIMARY KEY,
        value text NOT NULL
      );
      CREATE TABLE nfs_exports (
        name text PRIMARY KEY,
        spec text NOT NULL,
        created_at text NOT NULL,
        updated_at text NOT NULL
      );
      CREATE TABLE servers (
        name text PRIMARY KEY,
        info text NOT NULL DEFAULT '{}',
        started_at bigint NOT NULL,
        last_seen bigint NOT NULL
      );
    `,
  },
  {
    version: 2,
    // As SQLite's migration 4: one JSON value per row (NULL: none) that the
    // power subsystem validates; jsonb, so a site can query it in SQL.
    description: 'BMC of nodes and groups',
    sql: `
      ALTER TABLE nodes ADD COLUMN bmc jsonb;
      ALTER TABLE groups ADD COLUMN bmc jsonb;
    `,
  },
];

/** Bring the schema to the latest version; returns the versions applied now. */
export async function migratePostgres(c: PoolClient, what: string): Promise<number[]> {
  await c.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
  try {
    await c.query('CREATE TABLE IF NOT EXISTS rackboot_schema (version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
    const r = await c.query<{ v: number | null }>('SELECT max(version) AS v FROM rackboot_schema');
    const current = r.rows[0]?.v ?? 0;
    const latest = PG_MIGRATIONS.at(-1)?.version ?? 0;
    if (current > latest) throw new Error(`${what} has schema version ${current}, newer than this rackboot (${latest}): upgrade rackboot`);
    const applied: number[] = [];
    for (const m of PG_MIGRATIONS) {
      if (m.version <= current) continue;
      await c.query('BEGIN');
      try {
        await c.query(m.sql);
        await c.query('INSERT INTO rackboot_schema (version, description) VALUES ($1, $2)', [m.version, m.description]);
        await c.query('COMMIT');
      } catch (e) {
        await c.query('ROLLBACK');
        throw new Error(`${what}: schema migration ${m.version} (${m.description}) failed: ${(e as Error).message}`);
      }
      applied.push(m.version);
    }
    return applied;
  } finally {
    await c.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
  }
}
