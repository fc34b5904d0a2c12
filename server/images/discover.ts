// POST /api/v1/discover: the discovery image registers the machine it
// booted on. It carries no API token, only the discovery token its overlay
// gave it, so this route can do one thing: create a node marked discovered
// (interfaces whose reported address lies in a configured network; address
// from the static range) with the reported hardware facts in vars.facts, or
// refresh those facts on a node discovery made before. It never changes an
// operator's node.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { bearer, safeEqual } from '../api/auth.js';
import { HttpError } from '../api/errors.js';
import { Details, ErrorBody } from '../api/schemas.js';
import type { LoadedConfig } from '../config/loaded.js';
import type { EventRecorder } from '../events/recorder.js';
import { cidrContains, parseIpv4 } from '../net/ipv4.js';
import { canonicalMac } from '../net/mac.js';
import type { Registry } from '../store/registry.js';
import type { NewInterface } from '../store/types.js';

const DiscoverIn = Type.Object(
  {
    interfaces: Type.Array(
      Type.Object(
        {
          name: Type.String({ minLength: 1, maxLength: 15, pattern: '^[A-Za-z0-9_.:-]+$' }),
          mac: Type.String({ maxLength: 32 }),
          ipv4: Type.Optional(Type.String({ maxLength: 15 })),
        },
        { additionalProperties: true },
      ),
      { minItems: 1, maxItems: 32 },
    ),
    facts: Type.Optional(Details),
  },
  { additionalProperties: false },
);
const DiscoverOut = Type.Object({ node: Type.String(), created: Type.Boolean(), updated: Type.Boolean() });

export interface DiscoverDeps {
  cfg: LoadedConfig;
  registry: Registry;
  events: EventRecorder;
  token: string;
}

export function discoverRoutes(d: DiscoverDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/api/v1/discover',
      {
        bodyLimit: 64 * 1024,
        schema: {
          tags: ['images'],
          summary: "The discovery image registers the unknown machine it runs on (discovery token from its overlay, not the API token)",
          body: DiscoverIn,
          response: { 200: DiscoverOut, 201: DiscoverOut, 400: ErrorBody, 401: ErrorBody },
        },
      },
      async (req, reply) => {
        const tok = bearer(req.headers.authorization);
        if (!tok || !safeEqual(tok, d.token)) throw new HttpError(401, 'unauthorized', 'send the discovery token the discovery image was booted with');
        const facts = req.body.facts ?? {};
        const ifaces: NewInterface[] = [];
        const macs: string[] = [];
        for (const [i, f] of req.body.interfaces.entries()) {
          const mac = canonicalMac(f.mac);
          if (!mac) throw new HttpError(400, 'invalid', `body.interfaces[${i}].mac: '${f.mac}' is not a MAC address`, `body.interfaces[${i}].mac`);
          macs.push(mac);
          const ip = f.ipv4 ? parseIpv4(f.ipv4) : undefined;
          const net = ip === undefined ? undefined : d.cfg.networks.find((n) => cidrContains(n.cidr, ip));
          if (net) ifaces.push({ name: f.name, mac, network: net.name });
        }
        // Known already (by any MAC): refresh the facts of a discovered node only.
        for (const mac of macs) {
          const hit = await d.registry.store.findByMac(mac);
          if (!hit) continue;
          if (!hit.node.discovered) return reply.status(200).send({ node: hit.node.name, created: false, updated: false });
          await d.registry.updateNode(hit.node.name, { vars: { ...hit.node.vars, facts } });
          d.events.record({ node: hit.node.name, mac, kind: 'discovered', detail: { facts, source: req.ip, updated: true } });
          return reply.status(200).send({ node: hit.node.name, created: false, updated: true });
        }
        if (!ifaces.length) {
          throw new HttpError(400, 'invalid', 'none of the reported interfaces has an IPv4 address inside a configured network', 'body.interfaces');
        }
        const name = `node-${ifaces[0]!.mac.replace(/:/g, '')}`;
        const node = await d.registry.createNode({ name, interfaces: ifaces, vars: { facts }, discovered: true });
        d.events.record({ node: node.name, mac: ifaces[0]!.mac, kind: 'discovered', detail: { facts, source: req.ip, created: true } });
        return reply.status(201).header('location', `/api/v1/nodes/${node.name}`).send({ node: node.name, created: true, updated: false });
      },
    );
  };
}
