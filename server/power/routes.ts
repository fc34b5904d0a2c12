// /api/v1 power routes: one node's power (action, status), many nodes at
// once (staggered; JSON when all are done, or NDJSON, a line per node as it
// finishes), and reprovision (PXE next boot + power cycle, after an image
// rebuild when asked).
import { PassThrough } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HttpError, notFound } from '../api/errors.js';
import { ErrorBody, NameParam } from '../api/schemas.js';
import { parseDuration } from '../config/types.js';
import type { PowerResult } from './controller.js';
import { MAX_STAGGER_MS } from './config-check.js';
import { BulkPowerIn, BulkPowerOut, PowerIn, PowerResultOut, PowerStatusOut, ReprovisionIn, ReprovisionOut } from './schemas.js';
import type { PowerService } from './service.js';

/** A failed single-node action as an HTTP error: the message names the node, the BMC and what was tried. */
export function powerHttpError(r: PowerResult): HttpError {
  const msg = r.error ?? `${r.node}: failed`;
  switch (r.kind) {
    case 'config':
      return new HttpError(409, 'bmc_config', msg);
    case 'timeout':
    case 'unreachable':
      return new HttpError(504, 'bmc_unreachable', msg);
    case 'auth':
      return new HttpError(502, 'bmc_auth', msg);
    default:
      return new HttpError(502, 'bmc_error', msg);
  }
}

const powerErrors = { 404: ErrorBody, 409: ErrorBody, 502: ErrorBody, 504: ErrorBody };

export function powerRoutes(svc: PowerService): FastifyPluginAsyncTypebox {
  const { controller } = svc;
  const { store } = svc.ctx;
  return async (app) => {
    app.post(
      '/nodes/:name/power',
      {
        schema: {
          tags: ['power'],
          summary: 'Power a node on, off, cycle, reset or soft (ACPI) off through its BMC, optionally setting the next boot device first',
          params: NameParam,
          body: PowerIn,
          response: { 200: PowerResultOut, ...powerErrors },
        },
      },
      async (req) => {
        if (!(await store.getNode(req.params.name))) throw notFound(`no node named '${req.params.name}'`);
        const r = await controller.run(req.params.name, { ...req.body, source: 'api' });
        if (!r.ok) throw powerHttpError(r);
        return r;
      },
    );

    app.get(
      '/nodes/:name/power',
      { schema: { tags: ['power'], summary: "A node's power state read from its BMC now, and when the BMC last answered", params: NameParam, response: { 200: PowerStatusOut, 404: ErrorBody } } },
      async (req) => {
        const name = req.params.name;
        if (!(await store.getNode(name))) throw notFound(`no node named '${name}'`);
        const r = await controller.run(name, { action: 'status', source: 'api' });
        const seen = await svc.lastSeen(name);
        const last = controller.lastAction(name);
        return {
          node: name,
          state: r.ok && r.state ? r.state : ('unknown' as const),
          checkedAt: r.at,
          error: r.error,
          bmc: r.bmc,
          via: r.via,
          lastSeen: seen ? { state: seen.state, at: new Date(seen.at).toISOString() } : null,
          lastAction: last ? { action: last.action, ok: last.ok, at: last.at, error: last.error } : null,
        };
      },
    );

    app.post(
      '/power',
      {
        schema: {
          tags: ['power'],
          summary: 'Power many nodes (a list, a group, or both): on, cycle and reset start stagger apart; each node on its own, a failing BMC holds up no other. Accept: application/x-ndjson streams a line per node as it finishes',
          body: BulkPowerIn,
          response: { 200: BulkPowerOut },
        },
      },
      async (req, reply) => {
        const b = req.body;
        const names = await svc.targets(b.nodes, b.group);
        const staggerMs = b.stagger !== undefined ? parseDuration(b.stagger) : svc.ctx.cfg.resolved.power.staggerMs;
        if (staggerMs > MAX_STAGGER_MS) throw new HttpError(400, 'invalid', `body.stagger: at most ${MAX_STAGGER_MS / 1000} s`, 'body.stagger');
        const request = { action: b.action, bootdev: b.bootdev, persistent: b.persistent, source: 'api' };
        const count = (rs: PowerResult[]) => ({ ok: rs.filter((r) => r.ok).length, failed: rs.filter((r) => !r.ok).length });
        if (!/application\/x-ndjson/.test(req.headers.accept ?? '')) {
          const results = await controller.runMany(names, request, staggerMs);
          return { action: b.action, staggerMs, ...count(results), results };
        }
        // A line per node as it finishes, then a summary line: a client prints each at once.
        const out = new PassThrough();
        // The stream is not the JSON body the schema describes (that is the answer without Accept: application/x-ndjson).
        void reply.header('content-type', 'application/x-ndjson').send(out as never);
        out.write(JSON.stringify({ action: b.action, staggerMs, nodes: names }) + '\n');
        void controller
          .runMany(names, request, staggerMs, (r) => out.write(JSON.stringify(r) + '\n'))
          .then((results) => out.end(JSON.stringify({ done: true, ...count(results) }) + '\n'))
          .catch((e: unknown) => out.end(JSON.stringify({ done: true, error: (e as Error).message }) + '\n'));
        return reply;
      },
    );

    app.post(
      '/nodes/:name/reprovision',
      {
        schema: {
          tags: ['power'],
          summary: "Network-boot a node again: PXE as its next boot device, then a power cycle (an off node is started); with rebuild, its image is rebuilt first and the cycle waits for the build",
          params: NameParam,
          body: ReprovisionIn,
          response: { 200: ReprovisionOut, ...powerErrors, 503: ErrorBody },
        },
      },
      async (req) => svc.reprovision(req.params.name, !!req.body?.rebuild),
    );
  };
}
