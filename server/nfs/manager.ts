// The export manager: the set of exports (config file + API-made ones from
// the store), checked against the file system and the cluster networks, and
// handed whole to the backend. Every change is checked first and applied
// second; a change the checks or the NFS server refuse leaves the served
// exports, the store and the export ids as they were. Changes run one at a
// time.
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ResolvedNetwork } from '../config/networks.js';
import type { Logger } from '../log.js';
import { ConflictError, NotFoundError, type Store } from '../store/types.js';
import type { ExportMount, ExportCatalog } from '../boot/hub.js';
import type { NfsBackend } from './backends/backend.js';
import { Releases } from './content.js';
import { CURRENT, clientsOf, specOf, type ConfigExport, type ExportOrigin, type ExportSpec, type ResolvedExport } from './model.js';
import { checkExport, isUnder, nodeFs, type FsProbe, type Issue } from './validate.js';

/** A change refused by the checks: every issue names its field. 400 in the API. */
export class ExportInvalidError extends Error {
  constructor(readonly issues: Issue[]) {
    super(issues.map((i) => `${i.field}: ${i.message}`).join('; '));
    this.name = 'ExportInvalidError';
  }
}

/** The export comes from the config file and cannot be changed through the API. 409 in the API. */
export class ExportReadOnlyError extends Error {
  constructor(readonly exportName: string, readonly field: string, isDefault = false) {
    super(
      isDefault
        ? `export '${exportName}' is rackboot's default export (the config has no nfs.exports); list exports under nfs.exports to change it, and restart rackboot`
        : `export '${exportName}' is defined in the config file (${field}); change it there and restart rackboot`,
    );
    this.name = 'ExportReadOnlyError';
  }
}

export interface ExportView extends ExportSpec {
  origin: ExportOrigin;
  /** active: served; invalid: refused at start (see problems). */
  state: 'active' | 'invalid';
  exportId: number | null;
  realPath: string | null;
  clients: { network: string; cidr: string }[];
  problems: string[];
  /** How a blade on each allowed network mounts it. */
  mounts: Record<string, ExportMount>;
}

interface Entry {
  spec: ExportSpec;
  origin: ExportOrigin;
  /** Key path for config-file exports. */
  field?: string;
  resolved?: ResolvedExport;
  problems: string[];
}

type IdMap = Record<string, { id: number; path: string }>;
const IDS_KEY = 'nfs.exportIds';

export interface ManagerOptions {
  networks: ReadonlyMap<string, ResolvedNetwork>;
  contentRoots: string[];
  store: Store;
  log: Logger;
  fs?: FsProbe;
}

export class ExportManager implements ExportCatalog {
  private entries: Entry[] = [];
  private ids: IdMap = {};
  private roots: string[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private backend!: NfsBackend;
  private readonly fs: FsProbe;

  constructor(private readonly o: ManagerOptions) {
    this.fs = o.fs ?? nodeFs;
  }

  /** Load, check and serve the exports; a bad one is left out (and reported), the rest are served. */
  async start(configExports: ConfigExport[], backend: NfsBackend): Promise<void> {
    this.backend = backend;
    const { log, store } = this.o;
    for (const r of this.o.contentRoots) await mkdir(resolve(r), { recursive: true });
    this.roots = this.o.contentRoots.map((r) => this.fs.realpath(resolve(r)) ?? resolve(r));
    this.ids = parseIds(await store.getSetting(IDS_KEY));
    const candidates: Entry[] = configExports.map((c) => ({ spec: c.spec, origin: c.origin, field: c.field, problems: [] }));
    for (const r of await store.listExports()) {
      if (candidates.some((c) => c.spec.name === r.name)) {
        log.warn(`nfs: export '${r.name}' made through the API is shadowed by the config file's export of that name`);
        continue;
      }
      const { createdAt: _c, updatedAt: _u, ...spec } = r;
      candidates.push({ spec, origin: 'api', problems: [] });
    }
    for (const c of candidates) {
      await this.prepareDir(c);
      const { issues, resolved } = this.check(c.spec, c.origin, this.entries);
      if (issues.length) {
        c.problems = issues.map((i) => `${c.field ? `${c.field}.` : ''}${i.field}: ${i.message}`);
        log.error(`nfs: export '${c.spec.name}' is not served: ${c.problems.join('; ')}`);
      } else {
        c.resolved = resolved;
      }
      this.entries.push(c);
    }
    await backend.start(this.active());
    // An export the NFS server itself could not set up is reported, and dropped so later reloads are clean.
    const refused = backend.refusedAtStart?.(this.active()) ?? new Map<string, string>();
    if (refused.size) {
      for (const e of this.entries) {
        const why = refused.get(e.spec.name);
        if (!why || !e.resolved) continue;
        e.resolved = undefined;
        e.problems = [`the NFS server could not export it: ${why}`];
        log.error(`nfs: export '${e.spec.name}' is not served: ${e.problems[0]}`);
      }
      await backend.apply(this.active());
    }
    await this.saveIds();
    for (const e of this.active()) await this.initLayout(e);
  }

  /**
   * A config export under a content root that does not exist yet is created
   * (rackboot owns the content there); anything else must exist already.
   */
  private async prepareDir(c: Entry): Promise<void> {
    if (c.origin === 'api' || this.fs.realpath(c.spec.path) !== undefined) return;
    const roots = this.o.contentRoots.map((r) => resolve(r));
    if (!roots.some((r) => isUnder(r, c.spec.path))) return;
    await mkdir(c.spec.path, { recursive: true, mode: 0o755 });
    this.o.log.info(`nfs: created ${c.spec.path} for export '${c.spec.name}'`);
  }

  private async initLayout(e: ResolvedExport): Promise<void> {
    if (e.layout !== 'releases') return;
    const r = await new Releases(e.realPath).init().catch((err: Error) => `failed: ${err.message}`);
    if (r === 'created') this.o.log.info(`nfs: export '${e.name}': made an empty first release (${e.realPath}/${CURRENT})`);
    else if (r === 'not-empty') this.o.log.warn(`nfs: export '${e.name}' has layout releases but ${e.realPath} holds files and no '${CURRENT}': run 'rackboot content sync DIR ${e.name}' (or set layout: plain)`);
    else if (r !== 'exists') this.o.log.error(`nfs: export '${e.name}': making the first release ${r}`);
  }

  private check(spec: ExportSpec, origin: ExportOrigin, others: Entry[]): { issues: Issue[]; resolved?: ResolvedExport } {
    const neighbours = others.filter((o) => o.resolved).map((o) => ({ spec: o.spec, realPath: o.resolved!.realPath }));
    const { issues, realPath } = checkExport(spec, { networks: this.o.networks, roots: this.roots, others: neighbours, fs: this.fs });
    if (issues.length || !realPath) return { issues };
    const exportId = this.idFor(spec.name, realPath, others);
    return { issues, resolved: { ...spec, origin, realPath, clients: clientsOf(spec, this.o.networks), exportId } };
  }

  /** Stable per (name, path): a new path is a new export to the NFS server, so it gets a new id. */
  private idFor(name: string, realPath: string, others: Entry[]): number {
    const have = this.ids[name];
    if (have && have.path === realPath) return have.id;
    const used = new Set([...Object.entries(this.ids).filter(([n]) => n !== name).map(([, v]) => v.id), ...others.flatMap((o) => (o.resolved ? [o.resolved.exportId] : []))]);
    let id = 1;
    while (used.has(id) || (have && have.id === id)) id++;
    if (id > 65535) throw new Error('no free NFS export id (1-65535)');
    return id;
  }

  private async saveIds(): Promise<void> {
    const ids: IdMap = { ...this.ids };
    for (const e of this.active()) ids[e.name] = { id: e.exportId, path: e.realPath };
    this.ids = ids;
    await this.o.store.setSetting(IDS_KEY, JSON.stringify(ids));
  }

  active(): ResolvedExport[] {
    return this.entries.flatMap((e) => (e.resolved ? [e.resolved] : []));
  }

  get backendKind(): NfsBackend['kind'] {
    return this.backend.kind;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Apply a new entry list to the backend; only on success does it become the current one. */
  private async commit(next: Entry[]): Promise<void> {
    await this.backend.apply(next.flatMap((e) => (e.resolved ? [e.resolved] : [])));
    this.entries = next;
    await this.saveIds();
  }

  create(spec: ExportSpec): Promise<ExportView> {
    return this.serial(async () => {
      const clash = this.entries.find((e) => e.spec.name === spec.name);
      if (clash) throw new ConflictError('name', `an export named '${spec.name}' already exists${clash.origin !== 'api' ? ' (in the config file)' : ''}`);
      const { issues, resolved } = this.check(spec, 'api', this.entries);
      if (issues.length) throw new ExportInvalidError(issues);
      const entry: Entry = { spec, origin: 'api', resolved, problems: [] };
      await this.commit([...this.entries, entry]);
      try {
        await this.o.store.createExport(specOf(spec));
      } catch (err) {
        await this.commit(this.entries.filter((e) => e !== entry));
        throw err;
      }
      await this.initLayout(resolved!);
      return this.view(entry);
    });
  }

  update(name: string, patch: Partial<Omit<ExportSpec, 'name'>>): Promise<ExportView> {
    return this.serial(async () => {
      const old = this.entry(name);
      const spec: ExportSpec = { ...old.spec, ...patch, name };
      const others = this.entries.filter((e) => e !== old);
      const { issues, resolved } = this.check(spec, 'api', others);
      if (issues.length) throw new ExportInvalidError(issues);
      const entry: Entry = { spec, origin: 'api', resolved, problems: [] };
      const previous = this.entries;
      await this.commit(this.entries.map((e) => (e === old ? entry : e)));
      try {
        await this.o.store.updateExport(name, specOf(spec));
      } catch (err) {
        await this.commit(previous);
        throw err;
      }
      await this.initLayout(resolved!);
      return this.view(entry);
    });
  }

  remove(name: string): Promise<void> {
    return this.serial(async () => {
      const old = this.entry(name);
      const previous = this.entries;
      await this.commit(this.entries.filter((e) => e !== old));
      try {
        await this.o.store.deleteExport(name);
      } catch (err) {
        await this.commit(previous);
        throw err;
      }
      const { [name]: _gone, ...rest } = this.ids;
      this.ids = rest;
      await this.saveIds();
    });
  }

  /** An API-made export by name (config ones are read-only). */
  private entry(name: string): Entry {
    const e = this.entries.find((x) => x.spec.name === name);
    if (!e) throw new NotFoundError('export', `no export named '${name}'`);
    if (e.origin !== 'api') throw new ExportReadOnlyError(name, e.field ?? 'nfs.exports', e.origin === 'default');
    return e;
  }

  /** The resolved export a content operation works on; run `fn` serialized with other changes. */
  withExport<T>(name: string, fn: (e: ResolvedExport) => Promise<T>): Promise<T> {
    return this.serial(async () => {
      const e = this.entries.find((x) => x.spec.name === name);
      if (!e) throw new NotFoundError('export', `no export named '${name}'`);
      if (!e.resolved) throw new ExportInvalidError([{ field: 'name', message: `export '${name}' is not served: ${e.problems.join('; ')}` }]);
      return fn(e.resolved);
    });
  }

  list(): ExportView[] {
    return this.entries.map((e) => this.view(e));
  }

  get(name: string): ExportView | undefined {
    const e = this.entries.find((x) => x.spec.name === name);
    return e && this.view(e);
  }

  private view(e: Entry): ExportView {
    const r = e.resolved;
    const mounts: Record<string, ExportMount> = {};
    if (r) for (const c of r.clients) mounts[c.network] = this.mountFor(r.name, c.network)!;
    return {
      ...specOf(e.spec),
      origin: e.origin,
      state: r ? 'active' : 'invalid',
      exportId: r?.exportId ?? null,
      realPath: r?.realPath ?? null,
      clients: (r?.clients ?? []).map((c) => ({ network: c.network, cidr: c.cidr })),
      problems: e.problems,
      mounts,
    };
  }

  // ---- ExportCatalog (ctx.boot.exports) ------------------------------------

  mountFor(exportName: string, network: string): ExportMount | undefined {
    const e = this.active().find((x) => x.name === exportName);
    const c = e?.clients.find((x) => x.network === network);
    if (!e || !c) return undefined;
    const options = ['vers=4', e.access, ...this.backend.mountOptions()].join(',');
    return {
      source: this.backend.mountSource(e, c.serverAddress),
      options,
      ...(e.layout === 'releases' ? { contentDir: CURRENT } : {}),
    };
  }

  names(): string[] {
    return this.active().map((e) => e.name);
  }
}

function parseIds(text: string | undefined): IdMap {
  if (!text) return {};
  try {
    const v = JSON.parse(text) as IdMap;
    return v && typeof v === 'object' ? v : {};
  } catch {
    return {};
  }
}
