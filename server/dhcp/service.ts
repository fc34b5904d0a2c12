// The DHCP service as the server runs it: the factory in SERVICE_FACTORIES,
// and the operator's route to clear a lease (a declined address).
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HttpError } from '../api/errors.js';
import { ErrorBody } from '../api/schemas.js';
import { parseIpv4 } from '../net/ipv4.js';
import { localUdpOpener, type UdpOpener } from '../net/udp-device.js';
import { declareService, type DeclaredServiceFactory, type Service } from '../service.js';
import { DhcpServer } from './server.js';

export interface DhcpServiceOptions {
  /** Where sockets come from (tests open them inside a network namespace). */
  opener?: UdpOpener;
  /** Receives the server once created (tests and benches look inside). */
  onServer?: (s: DhcpServer) => void;
}

const DHCP = { name: 'dhcp', title: 'the DHCP service', enable: 'dhcp.enabled: true', apiPrefixes: ['/api/v1/leases/'] };

export function dhcpService(opts: DhcpServiceOptions = {}): DeclaredServiceFactory {
  return declareService(DHCP, (ctx) => {
    if (!ctx.cfg.config.dhcp.enabled) return undefined;
    // The pair's service, when this node is one of two (started before DHCP): the backup answers nothing.
    const gate = ctx.services.get('pair');
    const server = new DhcpServer({ ...ctx, opener: opts.opener ?? localUdpOpener, gate });
    opts.onServer?.(server);
    const routes: FastifyPluginAsyncTypebox = async (app) => {
      app.delete(
        '/leases/:network/:ipv4',
        {
          schema: {
            tags: ['leases'],
            summary: 'Forget a lease (e.g. a declined address, so it is offered again)',
            params: Type.Object({ network: Type.String(), ipv4: Type.String() }),
            response: { 204: Type.Null(), 400: ErrorBody, 404: ErrorBody },
          },
        },
        async (req, reply) => {
          const { network, ipv4 } = req.params;
          if (!ctx.cfg.networkByName.has(network)) throw new HttpError(404, 'not_found', `no network '${network}'`, 'params.network');
          const ip = parseIpv4(ipv4);
          if (ip === undefined) throw new HttpError(400, 'invalid', `params.ipv4: '${ipv4}' is not an IPv4 address`, 'params.ipv4');
          const r = await server.clearLease(network, ip);
          if (!r.cleared) throw new HttpError(404, 'not_found', `no lease for ${ipv4} on '${network}'`);
          // The MAC puts it on that machine's history (GET /events?mac=), next to its decline.
          ctx.events.record({ node: null, mac: r.mac, kind: 'dhcp.lease-cleared', detail: { network, address: ipv4 } });
          return reply.status(204).send(null);
        },
      );
    };
    const svc: Service = {
      name: 'dhcp',
      start: () => server.start(),
      stop: () => server.stop(),
      apiRoutes: routes,
      health: () => server.health(),
    };
    return svc;
  });
}
