import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { formatIpv4 } from '../../net/ipv4.js';
import type { ResolvedNetwork } from '../../config/networks.js';
import { notFound } from '../errors.js';
import { ErrorBody, NameParam, NetworkOut } from '../schemas.js';
import type { ApiDeps } from '../app.js';

export function networkView(n: ResolvedNetwork, clusterDomain: string) {
  return {
    name: n.name,
    interface: n.config.interface ?? null,
    cidr: n.config.cidr,
    netmask: formatIpv4(n.cidr.mask),
    serverAddress: n.config.serverAddress,
    router: n.config.router ?? null,
    dns: n.dns.map(formatIpv4),
    domain: n.config.domain ?? clusterDomain,
    staticRange: n.config.staticRange ?? null,
    dynamicRange: n.config.dynamicRange ?? null,
  };
}

export function networkRoutes({ cfg }: ApiDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    const domain = cfg.config.cluster.domain;
    app.get(
      '/networks',
      { schema: { tags: ['networks'], summary: 'The networks from the config', response: { 200: Type.Array(NetworkOut) } } },
      async () => cfg.networks.map((n) => networkView(n, domain)),
    );
    app.get(
      '/networks/:name',
      { schema: { tags: ['networks'], summary: 'One network', params: NameParam, response: { 200: NetworkOut, 404: ErrorBody } } },
      async (req) => {
        const n = cfg.networkByName.get(req.params.name);
        if (!n) throw notFound(`no network named '${req.params.name}'`);
        return networkView(n, domain);
      },
    );
  };
}
