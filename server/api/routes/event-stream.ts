// GET /events/stream: every event as it is recorded, as server-sent events,
// from this server and (with a shared store) from every other server, each
// tagged with the server that recorded it. Filters as GET /events.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { RecordedEvent } from '../../events/recorder.js';
import { macQuery } from '../query.js';
import { ErrorBody, EventFilter } from '../schemas.js';
import type { ApiDeps } from '../app.js';

export function eventStreamRoute({ events }: ApiDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/events/stream',
      {
        schema: {
          tags: ['events'],
          summary: "Events as they happen (server-sent events, 'event: event', data as GET /events plus 'server'), from every server sharing the store",
          querystring: Type.Object(
            {
              ...EventFilter,
              kind: Type.Optional(Type.String({ description: 'exact kind, or a prefix ending in a dot (dhcp.)' })),
              server: Type.Optional(Type.String()),
            },
            { additionalProperties: false },
          ),
          produces: ['text/event-stream'],
          response: { 400: ErrorBody },
        },
      },
      async (req, reply) => {
        const q = req.query;
        const mac = macQuery(q.mac);
        const kind = q.kind;
        const wanted = (e: RecordedEvent) =>
          (q.node === undefined || e.node === q.node) &&
          (mac === undefined || e.mac === mac) &&
          (q.server === undefined || e.server === q.server) &&
          (kind === undefined || (kind.endsWith('.') ? e.kind.startsWith(kind) : e.kind === kind));
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
        res.write(': rackboot events\n\n');
        const on = (e: RecordedEvent) => {
          if (!wanted(e)) return;
          res.write(`event: event\ndata: ${JSON.stringify({ id: e.id ?? null, server: e.server, node: e.node, mac: e.mac, ts: e.ts, time: new Date(e.ts).toISOString(), kind: e.kind, detail: e.detail })}\n\n`);
        };
        const keepalive = setInterval(() => res.write(': keepalive\n\n'), 15_000);
        events.on('event', on);
        req.raw.on('close', () => {
          clearInterval(keepalive);
          events.off('event', on);
        });
      },
    );
  };
}
