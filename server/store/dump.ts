// Every row of a store, table by table, in pages; and the same rows written
// into another store as they are (store copy, both directions). One SQL text
// for both drivers: only the placeholders differ.
import { parseIpv4 } from '../net/ipv4.js';
import { bmcText, DUMP_PAGE, joinNodes, parseJson, toEvent, toExport, toGroup, toLease, exportSpec, type EventRow, type ExportRow, type GroupRow, type IfaceRow, type LeaseRow, type NodeRow } from './rows.js';
import { DUMP_TABLES, type DumpChunk, type DumpTable, type StoreCounts } from './types.js';

export interface RowSource {
  rows<T>(sql: string, params: unknown[]): Promise<T[]>;
  /** The i-th (1-based) placeholder: '?' in SQLite, '$i' in PostgreSQL. */
  ph(i: number): string;
}

/** Writes whole rows of one table (the driver batches them its own way). */
export type RowSink = (table: string, columns: readonly string[], rows: unknown[][]) => Promise<void>;

const TABLE_OF: Record<DumpTable, string> = {
  groups: 'groups',
  nodes: 'nodes',
  leases: 'leases',
  events: 'events',
  settings: 'settings',
  exports: 'nfs_exports',
  servers: 'servers',
};

export async function countRows(src: RowSource): Promise<StoreCounts> {
  const out = {} as StoreCounts;
  for (const t of DUMP_TABLES) {
    const [r] = await src.rows<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${TABLE_OF[t]}`, []);
    out[t] = Number(r?.n ?? 0);
  }
  return out;
}

/** Keyset pages of one table: `after` gives the WHERE for the last row seen. */
async function* pages<R>(src: RowSource, table: string, order: string, after: (last: R) => { where: string; params: unknown[] }): AsyncGenerator<R[]> {
  let last: R | undefined;
  for (;;) {
    const cond = last ? after(last) : { where: '', params: [] };
    const rows = await src.rows<R>(`SELECT * FROM ${table} ${cond.where} ORDER BY ${order} LIMIT ${DUMP_PAGE}`, cond.params);
    if (rows.length) yield rows;
    if (rows.length < DUMP_PAGE) return;
    last = rows[rows.length - 1];
  }
}

export async function* dumpRows(src: RowSource): AsyncGenerator<DumpChunk> {
  const byName = (r: { name: string }) => ({ where: `WHERE name > ${src.ph(1)}`, params: [r.name] });
  for await (const rows of pages<GroupRow>(src, 'groups', 'name', byName)) yield { table: 'groups', rows: rows.map(toGroup) };
  for await (const rows of pages<NodeRow>(src, 'nodes', 'name', byName)) {
    const ifaces = await src.rows<IfaceRow>(
      `SELECT node, name, mac, network, ipv4 FROM interfaces WHERE node >= ${src.ph(1)} AND node <= ${src.ph(2)} ORDER BY node, pos`,
      [rows[0]!.name, rows[rows.length - 1]!.name],
    );
    yield { table: 'nodes', rows: joinNodes(rows, ifaces) };
  }
  for await (const rows of pages<LeaseRow & { ipv4_num: number }>(src, 'leases', 'network, ipv4_num', (r) => ({
    where: `WHERE network > ${src.ph(1)} OR (network = ${src.ph(2)} AND ipv4_num > ${src.ph(3)})`,
    params: [r.network, r.network, r.ipv4_num],
  }))) {
    yield { table: 'leases', rows: rows.map(toLease) };
  }
  for await (const rows of pages<EventRow>(src, 'events', 'id', (r) => ({ where: `WHERE id > ${src.ph(1)}`, params: [r.id] }))) {
    yield { table: 'events', rows: rows.map(toEvent) };
  }
  for await (const rows of pages<{ key: string; value: string }>(src, 'settings', 'key', (r) => ({ where: `WHERE key > ${src.ph(1)}`, params: [r.key] }))) {
    yield { table: 'settings', rows: rows.map((r) => [r.key, r.value] as [string, string]) };
  }
  for await (const rows of pages<ExportRow>(src, 'nfs_exports', 'name', byName)) yield { table: 'exports', rows: rows.map(toExport) };
  for await (const rows of pages<{ name: string; info: string; started_at: number; last_seen: number }>(src, 'servers', 'name', byName)) {
    yield { table: 'servers', rows: rows.map((r) => ({ name: r.name, info: parseJson(r.info), startedAt: Number(r.started_at), lastSeen: Number(r.last_seen) })) };
  }
}

/** Rows of a chunk in the tables' own columns; `bool` is how the driver stores a boolean. */
export async function restoreRows(sink: RowSink, chunk: DumpChunk, bool: (b: boolean) => unknown): Promise<void> {
  switch (chunk.table) {
    case 'groups':
      return sink(
        'groups',
        ['name', 'loader', 'image', 'vars', 'bmc', 'created_at', 'updated_at'],
        chunk.rows.map((g) => [g.name, g.loader, g.image, JSON.stringify(g.vars), bmcText(g.bmc), g.createdAt, g.updatedAt]),
      );
    case 'nodes':
      await sink(
        'nodes',
        ['name', 'grp', 'image', 'loader', 'vars', 'discovered', 'bmc', 'created_at', 'updated_at'],
        chunk.rows.map((n) => [n.name, n.group, n.image, n.loader, JSON.stringify(n.vars), bool(n.discovered), bmcText(n.bmc), n.createdAt, n.updatedAt]),
      );
      return sink(
        'interfaces',
        ['node', 'name', 'mac', 'network', 'ipv4', 'ipv4_num', 'pos'],
        chunk.rows.flatMap((n) => n.interfaces.map((i, pos) => [n.name, i.name, i.mac, i.network, i.ipv4, parseIpv4(i.ipv4) ?? 0, pos])),
      );
    case 'leases':
      return sink(
        'leases',
        ['network', 'ipv4', 'ipv4_num', 'mac', 'client_id', 'hostname', 'state', 'expires_at', 'updated_at'],
        chunk.rows.map((l) => [l.network, l.ipv4, parseIpv4(l.ipv4) ?? 0, l.mac, l.clientId, l.hostname, l.state, l.expiresAt, l.updatedAt]),
      );
    case 'events':
      return sink('events', ['id', 'server', 'node', 'mac', 'ts', 'kind', 'detail'], chunk.rows.map((e) => [e.id, e.server, e.node, e.mac, e.ts, e.kind, JSON.stringify(e.detail)]));
    case 'settings':
      return sink('settings', ['key', 'value'], chunk.rows);
    case 'exports':
      return sink('nfs_exports', ['name', 'spec', 'created_at', 'updated_at'], chunk.rows.map((e) => [e.name, exportSpec(e), e.createdAt, e.updatedAt]));
    case 'servers':
      return sink('servers', ['name', 'info', 'started_at', 'last_seen'], chunk.rows.map((s) => [s.name, JSON.stringify(s.info), s.startedAt, s.lastSeen]));
  }
}

/** Tables in the order rows can be deleted (children first). */
export const CLEAR_ORDER = ['interfaces', 'nodes', 'groups', 'leases', 'events', 'settings', 'nfs_exports', 'servers'];
