// GET /events/stream: every event as it is recorded, as server-sent events,
// from this server and (with a shared store) from every other server, each
// tagged with the server that recorded it. Filters as GET /events. Services
// add their own live messages to the same stream (the dashboard: registry
// changes as rack rows, finished image builds), so a client opens one.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ServerResponse } from 'node:http';
import type { RecordedEvent } from '../../events/recorder.js';
import { liveEvent } from '../../events/live.js';
import { macQuery } from '../query.js';
import { ErrorBody, EventFilter } from '../schemas.js';
import type { ApiDeps } from '../app.js';

/** Bytes a slow client may fall behind before its stream is ended (EventSource reconnects). */
const MAX_BACKLOG = 8 * 1024 * 1024;
/** Writes are batched: a boot storm records thousands of events a second. */
const FLUSH_MS = 50;
const KEEPALIVE_MS = 15_000;

/** An event as the stream sends it: GET /events' fields, `id` null for this server's own (not written yet). */
export const streamEvent = (e: RecordedEvent) => ({ id: e.id ?? null, server: e.server, ...liveEvent(e) });

export function eventStreamRoute({ events, services }: ApiDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    const streams = new Set<ServerResponse>();
    // Streams never end by themselves: end them before the server waits for its connections.
    app.addHook('preClose', async () => {
      for (const res of [...streams]) res.destroy();
    });
    app.get(
      '/events/stream',
      {
        schema: {
          tags: ['events'],
          summary:
            "Live, as server-sent events: hello, each event as it is recorded (event: data as GET /events plus 'server'), from every server sharing the store; with the dashboard on, registry changes (node) and finished image builds (image)",
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
        let queue: string[] = [];
        let timer: NodeJS.Timeout | undefined;
        const flush = () => {
          timer = undefined;
          if (!queue.length) return;
          res.write(queue.join(''));
          queue = [];
          if (res.writableLength > MAX_BACKLOG) {
            req.log.warn({ ip: req.ip, backlog: res.writableLength }, 'api: an event stream fell too far behind; ended (the client reconnects)');
            stop();
          }
        };
        const send = (type: string, data: unknown) => {
          queue.push(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
          timer ??= setTimeout(flush, FLUSH_MS);
        };
        const onEvent = (e: RecordedEvent) => {
          if (wanted(e)) send('event', streamEvent(e));
        };
        // Services' own messages only when no event filter but node is given (they are not events).
        const extras = mac === undefined && kind === undefined && q.server === undefined;
        const unsubscribe = extras ? services.flatMap((s) => (s.liveStream ? [s.liveStream(send, { node: q.node })] : [])) : [];
        const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
        const stop = () => {
          clearInterval(keepalive);
          clearTimeout(timer);
          events.off('event', onEvent);
          for (const off of unsubscribe.splice(0)) off();
          streams.delete(res);
          res.end();
        };
        streams.add(res);
        res.write(': rackboot events\nretry: 3000\n\n');
        send('hello', { serverTime: Date.now() });
        flush();
        events.on('event', onEvent);
        req.raw.on('close', stop);
        res.on('error', stop);
      },
    );
  };
}
