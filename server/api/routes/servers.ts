// GET /servers: the rackboot servers sharing this one's store (one with
// SQLite): their networks, health and last-seen time, as each last reported
// itself. Alive: seen within three heartbeats (by the database's clock).
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ServerInfo } from '../../store/presence.js';
import type { ApiDeps } from '../app.js';
import { ErrorBody } from '../schemas.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const ServerOut = Type.Object(
  {
    name: Type.String(),
    self: Type.Boolean({ description: 'the server answering this request' }),
    alive: Type.Boolean({ description: 'seen within three heartbeats and not stopped' }),
    state: Type.String({ description: 'running, or stopped (it said so when it stopped)' }),
    lastSeen: Type.String({ description: 'ISO time of its last heartbeat' }),
    startedAt: Type.String(),
    host: Nullable(Type.String()),
    version: Nullable(Type.String()),
    peerUrl: Nullable(Type.String()),
    networks: Type.Array(Type.Object({ name: Type.String(), cidr: Type.String(), serverAddress: Type.String(), interface: Nullable(Type.String()) })),
    health: Type.Object({ ok: Type.Boolean(), services: Type.Record(Type.String(), Type.Object({ ok: Type.Boolean(), detail: Type.Optional(Type.String()) })) }),
  },
  { $id: 'Server' },
);

export function serverRoutes({ store, peers }: ApiDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/servers',
      {
        schema: {
          tags: ['servers'],
          summary: 'The rackboot servers sharing this store: networks, health, last seen',
          response: { 200: Type.Array(ServerOut), 503: ErrorBody },
        },
      },
      async () => {
        const [list, now] = await Promise.all([store.listServers(), store.now()]);
        return list.map((s) => {
          const info = s.info as Partial<ServerInfo>;
          return {
            name: s.name,
            self: s.name === store.server,
            alive: peers.alive(s, now),
            state: info.state ?? 'running',
            lastSeen: new Date(s.lastSeen).toISOString(),
            startedAt: new Date(s.startedAt).toISOString(),
            host: info.host ?? null,
            version: info.version ?? null,
            peerUrl: info.peerUrl ?? null,
            networks: info.networks ?? [],
            health: info.health ?? { ok: false, services: {} },
          };
        });
      },
    );
  };
}
