import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { EventRecord } from '../../store/types.js';
import { notFound } from '../errors.js';
import { macQuery } from '../query.js';
import { ErrorBody, EventFilter, EventIn, EventOut, EventQuery, NameParam } from '../schemas.js';
import type { ApiDeps } from '../app.js';

const view = (e: EventRecord) => ({ ...e, time: new Date(e.ts).toISOString() });

export function eventRoutes({ store, events }: ApiDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/nodes/:name/events',
      {
        schema: {
          tags: ['events'],
          summary: "A node's boot timeline, oldest first",
          params: NameParam,
          querystring: EventQuery,
          response: { 200: Type.Array(EventOut), 404: ErrorBody },
        },
      },
      async (req) => {
        if (!(await store.getNode(req.params.name))) throw notFound(`no node named '${req.params.name}'`);
        await events.flush();
        return (await store.listEvents({ node: req.params.name, ...req.query })).map(view);
      },
    );

    app.post(
      '/nodes/:name/events',
      {
        config: { nodeTokenAllowed: true },
        schema: {
          tags: ['events'],
          summary: 'A booted node reports (e.g. kind "ready"); accepts the API token or the node\'s report token',
          params: NameParam,
          body: EventIn,
          response: { 201: EventOut, 400: ErrorBody, 404: ErrorBody },
        },
      },
      async (req, reply) => {
        if (!(await store.getNode(req.params.name))) throw notFound(`no node named '${req.params.name}'`);
        const ts = Date.now();
        const detail = { ...(req.body.detail ?? {}), source: req.ip };
        events.record({ node: req.params.name, kind: req.body.kind, detail, ts });
        await events.flush();
        const [saved] = await store.listEvents({ node: req.params.name, since: ts, kind: req.body.kind, limit: 1 });
        return reply.status(201).send(view(saved ?? { id: 0, server: store.server, node: req.params.name, mac: null, ts, kind: req.body.kind, detail }));
      },
    );

    app.get(
      '/events',
      {
        schema: {
          tags: ['events'],
          summary: 'Events of every node (and of unknown MACs), oldest first',
          querystring: Type.Object(
            {
              ...EventFilter,
              server: Type.Optional(Type.String({ description: 'only events this server (server.name) recorded' })),
              since: Type.Optional(Type.Integer({ minimum: 0 })),
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
            },
            { additionalProperties: false },
          ),
          response: { 200: Type.Array(EventOut), 400: ErrorBody },
        },
      },
      async (req) => {
        const mac = macQuery(req.query.mac);
        await events.flush();
        return (await store.listEvents({ ...req.query, mac })).map(view);
      },
    );
  };
}
