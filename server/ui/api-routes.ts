// GET /api/v1/rack (every node with its boot state, one request for the rack
// view's first paint), and what the dashboard adds to GET /events/stream
// (server/api/routes/event-stream.ts): registry changes as rack rows and
// finished image builds, live.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { JobQueue } from '../images/jobs.js';
import type { Logger } from '../log.js';
import type { Registry, RegistryChange } from '../store/registry.js';
import type { Store } from '../store/types.js';
import { STATES } from '../../web/shared/boot-state.js';
import type { NodeChange } from '../../web/shared/rack.js';
import type { RackStatus } from './rack-status.js';

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
  registry: Registry;
  store: Store;
  jobs: JobQueue | undefined;
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
  };
}

/**
 * The dashboard's messages on the event stream: `node` (a registry change as
 * a rack row, or a deletion; a group change sends its nodes' rows) and
 * `image` (a build succeeded). Returns the unsubscribe.
 */
export function uiLiveStream(d: UiApiDeps, send: (type: string, data: unknown) => void, only: string | undefined, log: Logger): () => void {
  const onChange = (c: RegistryChange) => {
    void (async () => {
      const changes: NodeChange[] = [];
      if (c.kind === 'node-deleted') changes.push({ op: 'delete', name: c.name });
      else if (c.kind === 'group-changed') for (const n of await d.store.listNodes({ group: c.name })) changes.push({ op: 'upsert', row: await d.rack.rowOf(n) });
      else changes.push({ op: 'upsert', row: await d.rack.rowOf(c.node) });
      for (const ch of changes) if (!only || (ch.op === 'delete' ? ch.name : ch.row.name) === only) send('node', ch);
    })().catch((err: unknown) => log.warn({ err }, 'ui: a registry change could not be sent'));
  };
  const onJob = (job: { image: string; version: string | null }, e: { type: string; state?: string }) => {
    if (e.type === 'state' && e.state === 'succeeded') send('image', { name: job.image, current: job.version });
  };
  d.registry.on('change', onChange);
  d.jobs?.on('event', onJob);
  return () => {
    d.registry.off('change', onChange);
    d.jobs?.off('event', onJob);
  };
}
