// GET /api/v1/rack (every node with its boot state, one request for the rack
// view's first paint) and GET /api/v1/events/stream (server-sent events:
// timeline events, registry changes and finished image builds, live).
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ServerResponse } from 'node:http';
import type { EventRecorder, RecordedEvent } from '../events/recorder.js';
import type { JobQueue } from '../images/jobs.js';
import type { Registry, RegistryChange } from '../store/registry.js';
import type { Store } from '../store/types.js';
import { STATES } from '../../web/shared/boot-state.js';
import type { NodeChange } from '../../web/shared/rack.js';
import { liveEvent, type RackStatus } from './rack-status.js';

/** Bytes a slow client may fall behind before its stream is ended (it reconnects and reloads the snapshot). */
const MAX_BACKLOG = 8 * 1024 * 1024;
/** Writes are batched: a boot storm sends thousands of events a second. */
const FLUSH_MS = 50;
const KEEPALIVE_MS = 15_000;

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const Boot = Type.Object({
  state: Type.Unsafe<string>({ type: 'string', enum: [...STATES] }),
  since: Nullable(Type.Integer({ description: 'epoch ms: when the node entered the state' })),
  last: Nullable(Type.Integer({ description: 'epoch ms of its newest event' })),
  lastKind: Nullable(Type.String()),
  reason: Nullable(Type.String({ description: 'why it failed or left the pool' })),
  bootStart: Nullable(Type.Integer({ description: 'epoch ms: first DHCP of its last boot' })),
  booted: Nullable(Type.Object({ image: Nullable(Type.String()), version: Nullable(Type.String()), docroot: Nullable(Type.String()) }, { description: 'what its last ready report said' })),
});
const RackRowOut = Type.Object({
  name: Type.String(),
  group: Nullable(Type.String()),
  discovered: Type.Boolean(),
  interfaces: Type.Array(Type.Object({ name: Type.String(), mac: Type.String(), network: Type.String(), ipv4: Type.String() })),
  loader: Type.String(),
  image: Nullable(Type.String()),
  imageCurrent: Nullable(Type.String({ description: "the image's current version (what the next boot gets)" })),
  boot: Boot,
});
const UnknownOut = Type.Object({
  mac: Type.String(),
  firstSeen: Type.Integer(),
  lastSeen: Type.Integer(),
  lastKind: Type.String(),
  network: Nullable(Type.String()),
  address: Nullable(Type.String()),
  vendorClass: Nullable(Type.String()),
  arch: Nullable(Type.Integer()),
  count: Type.Integer(),
});
const RackOut = Type.Object({ serverTime: Type.Integer(), rows: Type.Array(RackRowOut), unknown: Type.Array(UnknownOut) }, { $id: 'Rack' });

export interface UiApiDeps {
  rack: RackStatus;
  events: EventRecorder;
  registry: Registry;
  store: Store;
  jobs: JobQueue | undefined;
  /** Open streams, ended when the server closes (they would hold its close open). */
  streams: Set<ServerResponse>;
}

export function uiApiRoutes(d: UiApiDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/rack',
      {
        schema: {
          tags: ['dashboard'],
          summary: "Every node with its state derived from its boot timeline, and MACs no node owns that asked recently (the dashboard's rack view)",
          response: { 200: RackOut },
        },
      },
      async () => d.rack.snapshot(),
    );

    app.get(
      '/events/stream',
      {
        schema: {
          tags: ['dashboard'],
          summary: 'Live, as server-sent events: timeline events (event), registry changes as rack rows (node), finished image builds (image)',
          querystring: Type.Object({ node: Type.Optional(Type.String({ description: "only this node's events and changes" })) }, { additionalProperties: false }),
          produces: ['text/event-stream'],
        },
      },
      async (req, reply) => {
        const only = req.query.node;
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
            req.log.warn({ ip: req.ip, backlog: res.writableLength }, 'ui: an event stream fell too far behind; ended (the client reconnects)');
            stop();
          }
        };
        const send = (type: string, data: unknown) => {
          queue.push(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
          timer ??= setTimeout(flush, FLUSH_MS);
        };
        const onEvent = (e: RecordedEvent) => {
          if (!only || e.node === only) send('event', liveEvent(e));
        };
        const onChange = (c: RegistryChange) => {
          void (async () => {
            const changes: NodeChange[] = [];
            if (c.kind === 'node-deleted') changes.push({ op: 'delete', name: c.name });
            else if (c.kind === 'group-changed') for (const n of await d.store.listNodes({ group: c.name })) changes.push({ op: 'upsert', row: await d.rack.rowOf(n) });
            else changes.push({ op: 'upsert', row: await d.rack.rowOf(c.node) });
            for (const ch of changes) if (!only || (ch.op === 'delete' ? ch.name : ch.row.name) === only) send('node', ch);
          })().catch((err: unknown) => req.log.warn({ err }, 'ui: a registry change could not be sent'));
        };
        const onJob = (job: { image: string; version: string | null }, e: { type: string; state?: string }) => {
          if (e.type === 'state' && e.state === 'succeeded') send('image', { name: job.image, current: job.version });
        };
        const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
        const stop = () => {
          clearInterval(keepalive);
          clearTimeout(timer);
          d.events.off('event', onEvent);
          d.registry.off('change', onChange);
          d.jobs?.off('event', onJob);
          d.streams.delete(res);
          res.end();
        };
        d.streams.add(res);
        res.write(`retry: 3000\n\n`);
        send('hello', { serverTime: Date.now() });
        flush();
        d.events.on('event', onEvent);
        d.registry.on('change', onChange);
        d.jobs?.on('event', onJob);
        req.raw.on('close', stop);
        res.on('error', stop);
      },
    );
  };
}
