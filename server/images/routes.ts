// /api/v1/images: list images and versions, start builds, follow a build's
// log and progress (JSON or server-sent events), roll back.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HttpError, notFound } from '../api/errors.js';
import { ErrorBody } from '../api/schemas.js';
import type { BuildJob, JobEvent, JobQueue } from './jobs.js';
import { listRecipes, findRecipe, RecipeNotFoundError } from './recipe.js';
import { VersionError, type ImageStore } from './store.js';
import { PEER_FILES } from './peers.js';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';

const NameStr = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$', description: 'image name' });
const ImageParam = Type.Object({ name: NameStr });
const JobParam = Type.Object({ name: NameStr, id: Type.String({ pattern: '^[a-z0-9-]{1,40}$' }) });
const VersionParam = Type.Object({ name: NameStr, version: Type.String({ pattern: '^[0-9a-f]{4,64}$' }) });

const Version = Type.Object({
  version: Type.String(),
  current: Type.Boolean(),
  committedAt: Type.String(),
  builtAt: Type.String(),
  kernelRelease: Type.String(),
  kernelSize: Type.Integer(),
  initrdSize: Type.Integer(),
  compression: Type.String(),
  cmdline: Type.String(),
});
const ImageOut = Type.Object({
  name: Type.String(),
  recipe: Type.Union([Type.String(), Type.Null()], { description: 'recipe file; null when only stored builds remain' }),
  current: Type.Union([Type.String(), Type.Null()]),
  versions: Type.Array(Version),
  building: Type.Union([Type.String(), Type.Null()], { description: 'id of a queued or running build' }),
});
const Progress = Type.Object({ phase: Type.String(), done: Type.Optional(Type.Integer()), total: Type.Optional(Type.Integer()), message: Type.Optional(Type.String()) });
const JobOut = Type.Object({
  id: Type.String(),
  image: Type.String(),
  state: Type.String({ description: 'queued, running, succeeded, failed' }),
  trigger: Type.String(),
  createdAt: Type.String(),
  startedAt: Type.Union([Type.String(), Type.Null()]),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
  progress: Type.Union([Progress, Type.Null()]),
  version: Type.Union([Type.String(), Type.Null()]),
  changed: Type.Union([Type.Boolean(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  log: Type.Array(Type.String()),
  reused: Type.Optional(Type.Boolean()),
});
const RollbackIn = Type.Object({ version: Type.Optional(Type.String({ pattern: '^[0-9a-f]{4,64}$' })) }, { additionalProperties: false });

/** A version that names no stored one is not found; one that names several is the caller's to narrow. */
const versionHttpError = (v: { problem: 'unknown' | 'ambiguous'; message: string }) => (v.problem === 'unknown' ? notFound(v.message) : new HttpError(400, 'invalid', v.message, 'version'));

export interface ImageRouteDeps {
  store: ImageStore;
  jobs: JobQueue;
  recipeDirs: string[];
  /** Called after a rollback (drop caches). */
  onCurrentChanged: (image: string) => void;
}

export function imageRoutes(d: ImageRouteDeps): FastifyPluginAsyncTypebox {
  const recipeOf = (name: string): string | null => {
    try {
      return findRecipe(name, d.recipeDirs);
    } catch {
      return null;
    }
  };
  const describe = async (name: string) => {
    const cur = d.store.current(name);
    const versions = [];
    for (const v of d.store.versions(name)) {
      const m = await d.store.manifest(name, v.version).catch(() => undefined);
      if (!m) continue;
      versions.push({
        version: v.version,
        current: v.version === cur,
        committedAt: v.committedAt.toISOString(),
        builtAt: m.builtAt,
        kernelRelease: m.kernel.release,
        kernelSize: m.kernel.size,
        initrdSize: m.initrd.size,
        compression: m.compression,
        cmdline: m.cmdline,
      });
    }
    const building = d.jobs.list(name).find((j) => j.state === 'queued' || j.state === 'running');
    return { name, recipe: recipeOf(name), current: cur, versions, building: building?.id ?? null };
  };
  const jobOf = (name: string, id: string): BuildJob => {
    const job = d.jobs.get(id);
    if (!job || job.image !== name) throw notFound(`no build ${id} of image '${name}'`);
    return job;
  };

  return async (app) => {
    app.get('/images', { schema: { tags: ['images'], summary: 'Images with a recipe or stored builds, with their versions', response: { 200: Type.Array(ImageOut) } } }, async () => {
      const names = [...new Set([...listRecipes(d.recipeDirs), ...d.store.images()])].sort();
      return Promise.all(names.map(describe));
    });

    app.get(
      '/images/:name',
      { schema: { tags: ['images'], summary: 'One image and its stored versions', params: ImageParam, response: { 200: ImageOut, 404: ErrorBody } } },
      async (req) => {
        const img = await describe(req.params.name);
        if (!img.recipe && !img.versions.length) throw notFound(`no image '${req.params.name}' (no recipe and no build)`);
        return img;
      },
    );

    app.get(
      '/images/:name/versions/:version',
      {
        schema: {
          tags: ['images'],
          summary: "A stored version's manifest: inputs, modules, every archive entry",
          params: VersionParam,
          response: { 200: Type.Record(Type.String(), Type.Unknown()), 400: ErrorBody, 404: ErrorBody },
        },
      },
      async (req) => {
        const v = d.store.resolveVersion(req.params.name, req.params.version);
        if ('problem' in v) throw versionHttpError(v);
        return (await d.store.manifest(req.params.name, v.version)) as unknown as Record<string, unknown>;
      },
    );

    app.get(
      '/images/:name/versions/:version/files/:file',
      {
        // Servers sharing a store fetch each other's builds with the peer secret (images/peers.ts).
        config: { peerTokenAllowed: true },
        schema: {
          tags: ['images'],
          summary: "A stored version's file as it is on disk (kernel, initrd without any node overlay, manifest.json); also for servers sharing the store",
          params: Type.Object({ name: NameStr, version: Type.String({ pattern: '^[0-9a-f]{16,64}$' }), file: Type.Union(PEER_FILES.map((f) => Type.Literal(f))) }),
          produces: ['application/octet-stream'],
          response: { 404: ErrorBody },
        },
      },
      async (req, reply) => {
        const { name, version, file } = req.params;
        if (!d.store.versions(name).some((v) => v.version === version)) throw notFound(`image '${name}' has no stored version ${version}`);
        const path = join(d.store.versionDir(name, version), file);
        const size = (await stat(path)).size;
        return reply.header('content-type', file === 'manifest.json' ? 'application/json' : 'application/octet-stream').header('content-length', size).send(createReadStream(path) as never);
      },
    );

    app.post(
      '/images/:name/builds',
      {
        schema: {
          tags: ['images'],
          summary: 'Start a build of the image from its recipe; 202 with the job (an already queued or running build of it is returned instead)',
          params: ImageParam,
          response: { 202: JobOut, 404: ErrorBody },
        },
      },
      async (req, reply) => {
        try {
          findRecipe(req.params.name, d.recipeDirs);
        } catch (e) {
          if (e instanceof RecipeNotFoundError) throw notFound(e.message);
          throw e;
        }
        const { job, reused } = d.jobs.submit(req.params.name, 'api');
        return reply.status(202).header('location', `/api/v1/images/${job.image}/builds/${job.id}`).send({ ...job, reused });
      },
    );

    app.get(
      '/images/:name/builds',
      { schema: { tags: ['images'], summary: 'Recent builds of the image, newest first (logs left out)', params: ImageParam, response: { 200: Type.Array(JobOut) } } },
      async (req) => d.jobs.list(req.params.name).map((j) => ({ ...j, log: [] })),
    );

    app.get(
      '/images/:name/builds/:id',
      { schema: { tags: ['images'], summary: 'A build: state, progress and log', params: JobParam, response: { 200: JobOut, 404: ErrorBody } } },
      async (req) => jobOf(req.params.name, req.params.id),
    );

    app.get(
      '/images/:name/builds/:id/events',
      {
        schema: {
          tags: ['images'],
          summary: 'A build as server-sent events: log, progress, state (the log so far first); ends when the build ends',
          params: JobParam,
          produces: ['text/event-stream'],
        },
      },
      async (req, reply) => {
        const job = jobOf(req.params.name, req.params.id);
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
        const send = (e: JobEvent) => res.write(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
        for (const line of job.log) send({ type: 'log', line });
        if (job.progress) send({ type: 'progress', progress: job.progress });
        const finished = () => job.state === 'succeeded' || job.state === 'failed';
        send({ type: 'state', state: job.state, version: job.version, error: job.error });
        if (finished()) return void res.end();
        const keepalive = setInterval(() => res.write(': keepalive\n\n'), 15_000);
        const on = (j: BuildJob, e: JobEvent) => {
          if (j !== job) return;
          send(e);
          if (e.type === 'state' && finished()) stop();
        };
        const stop = () => {
          clearInterval(keepalive);
          d.jobs.off('event', on);
          res.end();
        };
        d.jobs.on('event', on);
        req.raw.on('close', stop);
      },
    );

    app.post(
      '/images/:name/rollback',
      {
        schema: {
          tags: ['images'],
          summary: 'Serve an older stored version: the one given, or the one before the current',
          params: ImageParam,
          body: Type.Optional(RollbackIn),
          response: { 200: Type.Object({ name: Type.String(), from: Type.Union([Type.String(), Type.Null()]), to: Type.String() }), 400: ErrorBody, 404: ErrorBody, 409: ErrorBody },
        },
      },
      async (req) => {
        if (!d.store.versions(req.params.name).length) throw notFound(`image '${req.params.name}' has no stored versions`);
        try {
          const [from, to] = await d.store.rollback(req.params.name, req.body?.version);
          d.onCurrentChanged(req.params.name);
          return { name: req.params.name, from, to };
        } catch (e) {
          if (e instanceof VersionError) throw versionHttpError(e);
          throw new HttpError(409, 'conflict', (e as Error).message);
        }
      },
    );
  };
}
