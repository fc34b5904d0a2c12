// The small tables both drivers keep the same way (API-made NFS exports,
// settings, the servers list), written once over a minimal SQL runner: only
// placeholders and the unique-violation test differ between the dialects.
import type { RowSource } from './dump.js';
import { exportExists, exportSpec, noSuchExport, parseJson, toExport, type ExportRow } from './rows.js';
import type { ExportRecord, NewExport, ServerRecord } from './types.js';

export interface SqlRunner extends RowSource {
  /** Run a statement; returns the rows it changed. */
  run(sql: string, params: unknown[]): Promise<number>;
  isUniqueViolation(err: unknown): boolean;
}

export class SmallTables {
  constructor(private readonly sql: SqlRunner) {}

  private p(i: number): string {
    return this.sql.ph(i);
  }

  async listExports(): Promise<ExportRecord[]> {
    return (await this.sql.rows<ExportRow>('SELECT * FROM nfs_exports ORDER BY name', [])).map(toExport);
  }

  async getExport(name: string): Promise<ExportRecord | undefined> {
    const [r] = await this.sql.rows<ExportRow>(`SELECT * FROM nfs_exports WHERE name = ${this.p(1)}`, [name]);
    return r ? toExport(r) : undefined;
  }

  async createExport(e: NewExport): Promise<ExportRecord> {
    const now = new Date().toISOString();
    try {
      await this.sql.run(`INSERT INTO nfs_exports (name, spec, created_at, updated_at) VALUES (${this.p(1)}, ${this.p(2)}, ${this.p(3)}, ${this.p(4)})`, [e.name, exportSpec(e), now, now]);
    } catch (err) {
      if (this.sql.isUniqueViolation(err)) throw exportExists(e.name);
      throw err;
    }
    return (await this.getExport(e.name))!;
  }

  async updateExport(name: string, e: NewExport): Promise<ExportRecord> {
    const now = new Date().toISOString();
    const n = await this.sql.run(`UPDATE nfs_exports SET spec = ${this.p(1)}, updated_at = ${this.p(2)} WHERE name = ${this.p(3)}`, [exportSpec({ ...e, name }), now, name]);
    if (!n) throw noSuchExport(name);
    return (await this.getExport(name))!;
  }

  async deleteExport(name: string): Promise<boolean> {
    return (await this.sql.run(`DELETE FROM nfs_exports WHERE name = ${this.p(1)}`, [name])) > 0;
  }

  async getSetting(key: string): Promise<string | undefined> {
    const [r] = await this.sql.rows<{ value: string }>(`SELECT value FROM settings WHERE key = ${this.p(1)}`, [key]);
    return r?.value;
  }

  async setSetting(key: string, value: string): Promise<void> {
    await this.sql.run(`INSERT INTO settings (key, value) VALUES (${this.p(1)}, ${this.p(2)}) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, [key, value]);
  }

  async listSettings(prefix = ''): Promise<Array<[string, string]>> {
    const rows = await this.sql.rows<{ key: string; value: string }>(
      `SELECT key, value FROM settings WHERE substr(key, 1, ${this.p(1)}) = ${this.p(2)} ORDER BY key`,
      [prefix.length, prefix],
    );
    return rows.map((r) => [r.key, r.value]);
  }

  /** `now`: SQL for the store's clock in epoch ms. */
  async heartbeat(server: string, info: Record<string, unknown>, startedAt: number, now: string): Promise<void> {
    await this.sql.run(
      `INSERT INTO servers (name, info, started_at, last_seen) VALUES (${this.p(1)}, ${this.p(2)}, ${this.p(3)}, ${now})
       ON CONFLICT (name) DO UPDATE SET info = excluded.info, started_at = excluded.started_at, last_seen = excluded.last_seen`,
      [server, JSON.stringify(info), startedAt],
    );
  }

  async listServers(): Promise<ServerRecord[]> {
    const rows = await this.sql.rows<{ name: string; info: string; started_at: number | string; last_seen: number | string }>('SELECT * FROM servers ORDER BY name', []);
    return rows.map((r) => ({ name: r.name, info: parseJson(r.info), startedAt: Number(r.started_at), lastSeen: Number(r.last_seen) }));
  }
}
