import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { macQuery } from '../query.js';
import { ErrorBody, LeaseOut, LeaseQuery } from '../schemas.js';
import type { ApiDeps } from '../app.js';

export function leaseRoutes({ store }: ApiDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/leases',
      { schema: { tags: ['leases'], summary: 'DHCP leases', querystring: LeaseQuery, response: { 200: Type.Array(LeaseOut), 400: ErrorBody } } },
      async (req) => {
        const mac = macQuery(req.query.mac);
        const leases = await store.listLeases({ network: req.query.network, mac, state: req.query.state });
        const owners = new Map<string, string>();
        for (const n of await store.listNodes()) for (const i of n.interfaces) owners.set(i.mac, n.name);
        return leases.map((l) => ({
          ...l,
          expiresAt: new Date(l.expiresAt).toISOString(),
          updatedAt: new Date(l.updatedAt).toISOString(),
          node: owners.get(l.mac) ?? null,
        }));
      },
    );
  };
}
