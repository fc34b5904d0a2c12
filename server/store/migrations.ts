// Versioned schema migrations. Each entry moves the schema from version i to
// i+1; the version is kept in the database itself so an old data directory is
// upgraded in place on start. Append only: never edit a released migration.

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const SQLITE_MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: 'registry, leases, events, settings',
    sql: `
      CREATE TABLE groups (
        name TEXT PRIMARY KEY,
        loader TEXT,
        image TEXT,
        vars TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE nodes (
        name TEXT PRIMARY KEY,
        grp TEXT REFERENCES groups(name) ON DELETE RESTRICT,
        image TEXT,
        loader TEXT,
        vars TEXT NOT NULL DEFAULT '{}',
        discovered INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX nodes_grp ON nodes(grp);
      CREATE TABLE interfaces (
        node TEXT NOT NULL REFERENCES nodes(name) ON DELETE CASCADE,
        name TEXT NOT NULL,
        mac TEXT NOT NULL UNIQUE,
        network TEXT NOT NULL,
        ipv4 TEXT NOT NULL,
        ipv4_num INTEGER NOT NULL,
        pos INTEGER NOT NULL,
        PRIMARY KEY (node, name),
        UNIQUE (network, ipv4_num)
      );
      CREATE TABLE leases (
        network TEXT NOT NULL,
        ipv4 TEXT NOT NULL,
        ipv4_num INTEGER NOT NULL,
        mac TEXT NOT NULL,
        client_id TEXT,
        hostname TEXT,
        state TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (network, ipv4_num)
      );
      CREATE INDEX leases_mac ON leases(mac);
      CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        node TEXT,
        mac TEXT,
        ts INTEGER NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}'
      );
      CREATE INDEX events_node_ts ON events(node, ts);
      CREATE INDEX events_mac_ts ON events(mac, ts);
      CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    description: 'NFS exports made through the API',
    sql: `
      CREATE TABLE nfs_exports (
        name TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
    `,
  },
  {
    version: 3,
    // Every lease write (each DHCP ACK) had to update this index at a random
    // page, since MACs come in no order: ~10 of the ~12 µs a lease write cost,
    // and the WAL grew by a 4 KiB page per lease. Only the API's
    // GET /leases?mac= read it, and a scan of the leases serves that.
    description: 'no index on leases.mac',
    sql: `
      DROP INDEX IF EXISTS leases_mac;
    `,
  },
  {
    version: 4,
    // One JSON value per row (NULL: none), like nfs_exports.spec: the power
    // subsystem validates it, and a BMC field added later needs no migration.
    description: 'BMC of nodes and groups',
    sql: `
      ALTER TABLE nodes ADD COLUMN bmc TEXT;
      ALTER TABLE groups ADD COLUMN bmc TEXT;
    `,
  },
  {
    version: 5,
    // Several servers may share a PostgreSQL store; SQLite keeps the same
    // shape so a site moves between the two (store copy) without loss.
    description: 'events tagged with their server; the servers list',
    sql: `
      ALTER TABLE events ADD COLUMN server TEXT;
      CREATE TABLE servers (
        name TEXT PRIMARY KEY,
        info TEXT NOT NULL DEFAULT '{}',
        started_at INTEGER NOT NULL,
        last_seen INTEGER NOT NULL
      );
    `,
  },
];
