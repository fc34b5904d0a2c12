// /api/v1/exports (CRUD, content, releases) and /api/v1/nfs (backend status
// and the rendered server config).
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Readable } from 'node:stream';
import type { Counter } from 'prom-client';
import { HttpError, notFound } from '../api/errors.js';
import { ErrorBody, NameParam } from '../api/schemas.js';
import type { LoadedConfig } from '../config/loaded.js';
import type { EventRecorder } from '../events/recorder.js';
import type { Logger } from '../log.js';
import { BackendError, type NfsBackend } from './backends/backend.js';
import { NfsExportSchema } from './config.js';
import { ContentError, Releases, type SyncResult } from './content.js';
import { realpathSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { isUnder } from './validate.js';
import type { Pick } from './detect.js';
import type { ContentMirror } from '../boot/hub.js';
import { ExportInvalidError, ExportReadOnlyError, type ExportManager } from './manager.js';
import { toSpec } from './model.js';

export interface RouteDeps {
  manager: ExportManager;
  /** The other node of a pair, when there is one: releases are copied to it before they go live. */
  mirror?: () => ContentMirror | undefined;
  backend(): NfsBackend | undefined;
  pick(): Pick | undefined;
  cfg: LoadedConfig;
  events: EventRecorder;
  applies: Counter<'result'>;
  log: Logger;
}

const ExportIn = NfsExportSchema;
const ExportPatchIn = Type.Partial(Type.Omit(NfsExportSchema, ['name']), { additionalProperties: false });

const MountOut = Type.Object({ source: Type.String(), options: Type.String(), contentDir: Type.Optional(Type.String()) });
const ExportOut = Type.Object({
  name: Type.String(),
  path: Type.String(),
  networks: Type.Array(Type.String()),
  access: Type.String(),
  squash: Type.String(),
  sync: Type.Boolean(),
  allowRwNetwork: Type.Boolean(),
  pseudo: Type.String(),
  layout: Type.String(),
  origin: Type.String({ description: 'config (the config file; read-only here), default (the built-in www export) or api' }),
  state: Type.String({ description: 'active (served) or invalid (refused at start: see problems)' }),
  exportId: Type.Union([Type.Integer(), Type.Null()]),
  realPath: Type.Union([Type.String(), Type.Null()]),
  clients: Type.Array(Type.Object({ network: Type.String(), cidr: Type.String() })),
  problems: Type.Array(Type.String()),
  mounts: Type.Record(Type.String(), MountOut),
});
const ReleaseOut = Type.Object({ id: Type.String(), current: Type.Boolean(), createdAt: Type.String() });
const SyncOut = Type.Object({
  export: Type.String(),
  release: Type.String(),
  previous: Type.Union([Type.String(), Type.Null()]),
  files: Type.Integer(),
  bytes: Type.Integer(),
  pruned: Type.Array(Type.String()),
  peers: Type.Optional(Type.Record(Type.String(), Type.String(), { description: "a pair's other node: 'ok' when it has the release (and serves it after a takeover), else why it lacks it" })),
  ms: Type.Object(
    { write: Type.Integer(), flush: Type.Integer(), switch: Type.Integer(), prune: Type.Integer() },
    { description: 'where the time went on the server, milliseconds: write (unpack or copy the tree), flush (the tree on disk), switch (`current`), prune (old releases)' },
  ),
});
const StatusOut = Type.Object({
  backend: Type.Union([Type.String(), Type.Null()]),
  configured: Type.String(),
  why: Type.Union([Type.String(), Type.Null()]),
  ok: Type.Boolean(),
  detail: Type.String(),
  pid: Type.Optional(Type.Integer()),
  restarts: Type.Optional(Type.Integer()),
  files: Type.Record(Type.String(), Type.String()),
  exports: Type.Integer(),
});

const TAR_TYPES = ['application/x-tar', 'application/tar', 'application/gzip', 'application/x-gzip', 'application/octet-stream'];

// An upload is read as a stream by the handler (format binary: not validated,
// see app.ts); JSON names a directory on the server instead.
const TarBody = Type.String({ format: 'binary', description: 'a tar (or gzip-compressed tar) of the new tree' });
const SourceIn = Type.Object(
  { source: Type.String({ description: 'absolute path of a directory on the server, under nfs.localSyncRoots' }) },
  { additionalProperties: false },
);
const ContentIn = { content: { ...Object.fromEntries(TAR_TYPES.map((t) => [t, { schema: TarBody }])), 'application/json': { schema: SourceIn } } };

/** A server-local sync source: absolute, a directory, under nfs.localSyncRoots and outside the content roots. */
function checkLocalSource(source: string, allowed: string[], contentRoots: string[]): string {
  const bad = (message: string) => new HttpError(400, 'invalid', `body.source: ${message}`, 'body.source');
  if (!isAbsolute(source)) throw bad('must be an absolute path on the server');
  if (!allowed.length) throw bad('server-local syncs are off: list the directories the server may copy from in nfs.localSyncRoots (or upload a tar)');
  let real: string;
  try {
    real = realpathSync(source);
  } catch {
    throw bad(`${source} does not exist on the server`);
  }
  const roots = allowed.map((r) => {
    try {
      return realpathSync(resolve(r));
    } catch {
      return resolve(r);
    }
  });
  if (!roots.some((r) => isUnder(r, real))) throw bad(`${source} is not under nfs.localSyncRoots (${allowed.join(', ')})`);
  if (contentRoots.some((r) => isUnder(resolve(r), real))) throw bad(`${source} is inside a content root; copy from elsewhere`);
  return real;
}

/** Manager and backend errors -> API errors, each naming the field. */
function apiError(err: unknown): unknown {
  if (err instanceof ExportInvalidError) {
    const field = `body.${err.issues[0]?.field ?? ''}`;
    return new HttpError(400, 'invalid', err.issues.map((i) => `body.${i.field}: ${i.message}`).join('; '), field);
  }
  if (err instanceof ExportReadOnlyError) return new HttpError(409, 'read_only', err.message, 'name');
  if (err instanceof BackendError) return new HttpError(502, 'nfs_server_refused', `the NFS server refused the change; the previous exports are still served: ${err.message}`);
  if (err instanceof ContentError) return new HttpError(err.status, err.status === 413 ? 'too_large' : err.status === 404 ? 'not_found' : 'invalid', err.message);
  return err;
}

export function nfsRoutes(d: RouteDeps): FastifyPluginAsyncTypebox {
  const { manager } = d;
  const applied = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      const r = await fn();
      d.applies.inc({ result: 'ok' });
      return r;
    } catch (err) {
      if (err instanceof BackendError) d.applies.inc({ result: 'refused' });
      d.log.info(`nfs: ${what} refused: ${(err as Error).message}`);
      throw apiError(err);
    }
  };

  return async (app) => {
    // A content upload is a raw tar stream, read by the handler as it arrives.
    app.addContentTypeParser(TAR_TYPES, (_req, payload, done) => done(null, payload));

    app.get('/exports', { schema: { tags: ['exports'], summary: 'List exports (config and API), with state and how blades mount them', response: { 200: Type.Array(ExportOut) } } }, async () =>
      manager.list(),
    );

    app.get(
      '/exports/:name',
      { schema: { tags: ['exports'], summary: 'One export', params: NameParam, response: { 200: ExportOut, 404: ErrorBody } } },
      async (req) => {
        const e = manager.get(req.params.name);
        if (!e) throw notFound(`no export named '${req.params.name}'`);
        return e;
      },
    );

    app.post(
      '/exports',
      {
        schema: {
          tags: ['exports'],
          summary: 'Add an export (path absolute, under nfs.contentRoots; networks by name)',
          body: ExportIn,
          response: { 201: ExportOut, 400: ErrorBody, 409: ErrorBody, 502: ErrorBody },
        },
      },
      async (req, reply) => {
        if (!req.body.path.startsWith('/')) throw new HttpError(400, 'invalid', `body.path: '${req.body.path}' is not an absolute path`, 'body.path');
        const view = await applied(`adding export '${req.body.name}'`, () => manager.create(toSpec(req.body)));
        d.events.record({ node: null, kind: 'nfs.export.added', detail: { export: view.name, path: view.path, networks: view.networks, access: view.access } });
        return reply.status(201).header('location', `/api/v1/exports/${view.name}`).send(view);
      },
    );

    app.patch(
      '/exports/:name',
      {
        schema: {
          tags: ['exports'],
          summary: 'Change an API-made export (config ones are read-only: 409)',
          params: NameParam,
          body: ExportPatchIn,
          response: { 200: ExportOut, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, 502: ErrorBody },
        },
      },
      async (req) => {
        const patch = req.body as Parameters<ExportManager['update']>[1];
        if (patch.path !== undefined && !patch.path.startsWith('/')) throw new HttpError(400, 'invalid', `body.path: '${patch.path}' is not an absolute path`, 'body.path');
        const view = await applied(`changing export '${req.params.name}'`, () => manager.update(req.params.name, patch));
        d.events.record({ node: null, kind: 'nfs.export.changed', detail: { export: view.name, ...patch } });
        return view;
      },
    );

    app.delete(
      '/exports/:name',
      { schema: { tags: ['exports'], summary: 'Remove an API-made export', params: NameParam, response: { 204: Type.Null(), 404: ErrorBody, 409: ErrorBody, 502: ErrorBody } } },
      async (req, reply) => {
        await applied(`removing export '${req.params.name}'`, () => manager.remove(req.params.name));
        d.events.record({ node: null, kind: 'nfs.export.removed', detail: { export: req.params.name } });
        return reply.status(204).send(null);
      },
    );

    app.get(
      '/exports/:name/releases',
      { schema: { tags: ['exports'], summary: 'Content releases of a releases-layout export, newest last', params: NameParam, response: { 200: Type.Array(ReleaseOut), 400: ErrorBody, 404: ErrorBody } } },
      async (req) =>
        applied('listing releases', () =>
          manager.withExport(req.params.name, async (e) => {
            if (e.layout !== 'releases') throw new ExportInvalidError([{ field: 'layout', message: `export '${e.name}' has layout plain: it has no releases` }]);
            return new Releases(e.realPath).list();
          }),
        ),
    );

    app.post(
      '/exports/:name/content',
      {
        schema: {
          tags: ['exports'],
          summary:
            'Replace the content atomically: body is a tar (or tar.gz) of the new tree, or JSON {"source": DIR} to copy a server-local directory under nfs.localSyncRoots; it becomes a new release and `current` switches to it',
          params: NameParam,
          body: ContentIn,
          response: { 201: SyncOut, 400: ErrorBody, 404: ErrorBody, 413: ErrorBody, 415: ErrorBody },
        },
      },
      async (req, reply) => {
        const name = req.params.name;
        const nfs = d.cfg.config.nfs;
        // The body schema per content type leaves a tar stream or a checked { source } (no content-type and no body: undefined).
        const body = req.body as Readable | { source: string } | undefined;
        let sync: (r: Releases) => Promise<SyncResult>;
        // A pair copies the release to the other node before it goes live here.
        const mirror = d.mirror?.();
        let peers: Record<string, string> | undefined;
        const beforeSwitch = mirror ? async (id: string, dir: string) => void (peers = await mirror.push(name, id, dir)) : undefined;
        if (body && typeof (body as Readable).pipe === 'function') {
          const stream = body as Readable;
          sync = (r) => r.syncTar(stream, { keep: nfs.keepReleases, graceMs: nfs.releaseGraceSeconds * 1000, maxBytes: nfs.maxUploadBytes, beforeSwitch }).catch((err: unknown) => {
            stream.resume(); // drain what the client still sends so it reads our answer
            throw err;
          });
        } else if (body) {
          const source = checkLocalSource((body as { source: string }).source, nfs.localSyncRoots ?? [], nfs.contentRoots);
          sync = (r) => r.syncLocal(source, { keep: nfs.keepReleases, graceMs: nfs.releaseGraceSeconds * 1000, beforeSwitch });
        } else {
          throw new HttpError(400, 'invalid', `body: is required: the tree as a tar stream (content-type ${TAR_TYPES[0]}), or JSON {"source": "/dir/on/the/server"} for a server-local copy`, 'body');
        }
        const result = await applied(`content sync of '${name}'`, () =>
          manager.withExport(name, async (e) => {
            if (e.layout !== 'releases') {
              throw new ExportInvalidError([{ field: 'layout', message: `export '${e.name}' has layout plain; content sync needs layout releases` }]);
            }
            return sync(new Releases(e.realPath));
          }),
        );
        if (mirror && peers) {
          const followed = await mirror.activated(name, result.release);
          for (const [node, r] of Object.entries(followed)) if (peers[node] === 'ok') peers[node] = r;
        }
        d.events.record({ node: null, kind: 'nfs.content.synced', detail: { export: name, ...result, ...(peers ? { peers } : {}) } });
        const lacking = Object.entries(peers ?? {}).filter(([, r]) => r !== 'ok');
        d.log.info(`nfs: export '${name}': release ${result.release} is live (${result.files} files, ${result.bytes} bytes; was ${result.previous ?? 'none'})${peers ? (lacking.length ? `; ${lacking.map(([n, r]) => `${n} lacks it: ${r}`).join('; ')}` : `; on ${Object.keys(peers).join(', ')} too`) : ''}`);
        return reply.status(201).send({ export: name, ...result, ...(peers ? { peers } : {}) });
      },
    );

    app.post(
      '/exports/:name/releases/:release/activate',
      {
        schema: {
          tags: ['exports'],
          summary: 'Switch `current` to a kept release (rollback)',
          params: Type.Object({ name: NameParam.properties.name, release: Type.String({ maxLength: 64 }) }),
          response: {
            200: Type.Object({ export: Type.String(), release: Type.String(), previous: Type.Union([Type.String(), Type.Null()]), peers: Type.Optional(Type.Record(Type.String(), Type.String())) }),
            400: ErrorBody,
            404: ErrorBody,
          },
        },
      },
      async (req) => {
        const { name, release } = req.params;
        const previous = await applied(`activating ${release}`, () => manager.withExport(name, (e) => new Releases(e.realPath).activate(release)));
        const peers = await d.mirror?.()?.activated(name, release);
        d.events.record({ node: null, kind: 'nfs.content.activated', detail: { export: name, release, previous, ...(peers ? { peers } : {}) } });
        return { export: name, release, previous, ...(peers ? { peers } : {}) };
      },
    );

    app.get('/nfs', { schema: { tags: ['exports'], summary: 'NFS backend status (which server, why, pid, files)', response: { 200: StatusOut } } }, async () => {
      const b = d.backend();
      const s = b?.status();
      return {
        backend: b?.kind ?? null,
        configured: d.cfg.config.nfs.backend,
        why: d.pick()?.why ?? null,
        ok: s?.ok ?? false,
        detail: s?.detail ?? 'not started',
        ...(s?.pid !== undefined ? { pid: s.pid } : {}),
        ...(s?.restarts !== undefined ? { restarts: s.restarts } : {}),
        files: s?.files ?? {},
        exports: manager.active().length,
      };
    });

    app.get('/nfs/rendered', { schema: { tags: ['exports'], summary: 'The file the backend serves the exports from (exports(5) or ganesha.conf), as text' } }, async (_req, reply) => {
      const b = d.backend();
      if (!b) throw new HttpError(503, 'unavailable', 'the NFS service is not started');
      return reply.type('text/plain; charset=utf-8').send(b.render(manager.active()));
    });
  };
}
