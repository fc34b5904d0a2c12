// The HTTP side: /api/v1 (bearer token), /healthz, /metrics, the OpenAPI
// document and docs page, plus the public boot routes services add.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Ajv } from 'ajv';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Role, ServerParts, Service, ServiceDeclaration } from '../service.js';
import { addMaxDepthKeyword } from '../config/depth.js';
import { nodeReportToken } from '../boot/report-token.js';
import { bearer, roleRefusal, safeEqual } from './auth.js';
import { peerSecret } from '../store/presence.js';
import { installBodyParsers, isOptionalBody, optionalBody } from './bodies.js';
import { declareCommonErrors } from './common-errors.js';
import { HttpError, installErrorHandler } from './errors.js';
import { eventRoutes } from './routes/events.js';
import { eventStreamRoute } from './routes/event-stream.js';
import { serverRoutes } from './routes/servers.js';
import { groupRoutes } from './routes/groups.js';
import { leaseRoutes } from './routes/leases.js';
import { networkRoutes } from './routes/networks.js';
import { nodeRoutes } from './routes/nodes.js';

export interface ApiDeps extends ServerParts {
  /** The services running (or listed as failed to start), in start order. */
  services: readonly Service[];
  /** Every subsystem the server knows, running or not: a request for the routes of one that is not running says why. */
  declared: readonly ServiceDeclaration[];
  version: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route also accepts the node report token of the :name node. */
    nodeTokenAllowed?: boolean;
    /** The route also accepts the secret servers sharing the store show each other (image files). */
    peerTokenAllowed?: boolean;
  }
}

// Bodies are validated strictly (no coercion, unknown keys refused); query
// strings and params are text, so their numbers are coerced.
const bodyAjv = new Ajv({ allErrors: true, verbose: true, strict: false, coerceTypes: false, removeAdditional: false, useDefaults: true });
const textAjv = new Ajv({ allErrors: true, verbose: true, strict: false, coerceTypes: 'array', removeAdditional: false, useDefaults: true });
addMaxDepthKeyword(bodyAjv);
addMaxDepthKeyword(textAjv);

// A binary body schema (an export's tar upload) documents a stream the
// handler reads itself: there is nothing to validate before it does.
const isBinary = (schema: unknown) => (schema as { format?: string }).format === 'binary';
const acceptStream = () => true;

const PUBLIC_API = new Set(['/api/v1/openapi.json']);

function forbid(reply: FastifyReply, message: string) {
  reply.log.info({ status: 403, error: 'forbidden', reason: message }, 'request refused');
  return reply.status(403).send({ error: 'forbidden', message });
}

const underPrefix = (path: string, prefix: string) => path === prefix || path.startsWith(prefix.endsWith('/') ? prefix : prefix + '/');

/**
 * A 404 (service off) or 503 (service failed to start) naming the service,
 * for a path of a service without routes, instead of "no route" (the CLI
 * prints that message).
 */
function explainMissingRoute(declared: readonly ServiceDeclaration[], services: readonly Service[], path: string): HttpError | undefined {
  const owner = declared.find((d) => d.apiPrefixes?.some((p) => underPrefix(path, p)) || d.apiPaths?.test(path));
  if (!owner) return undefined;
  const svc = services.find((s) => s.name === owner.name);
  if (!svc) return new HttpError(404, 'not_found', `${owner.title} is not enabled on this server (set ${owner.enable} in the config)`);
  // A service that failed to start is listed without routes; its health says why.
  if (!svc.apiRoutes) return new HttpError(503, 'unavailable', `${owner.title} did not start: ${svc.health?.().detail ?? 'see the server log'}`);
  return undefined;
}

export async function buildApp(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // pino's Logger carries more than Fastify's base logger type; the cast only narrows it.
    loggerInstance: deps.log.child({ svc: 'api' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    keepAliveTimeout: 72_000,
    trustProxy: false,
  }).withTypeProvider<TypeBoxTypeProvider>();


  app.setValidatorCompiler(({ schema, httpPart }) => {
    if (isBinary(schema)) return acceptStream;
    const check = (httpPart === 'body' ? bodyAjv : textAjv).compile(schema);
    return httpPart === 'body' && isOptionalBody(schema) ? optionalBody(check) : check;
  });
  installErrorHandler(app, (path) => explainMissingRoute(deps.declared, deps.services, path));

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'rackboot API', version: deps.version, description: 'Register blades, read leases and boot timelines, drive images, exports and the director.' },
      servers: [{ url: '/' }],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/api/v1/docs', staticCSP: true });
  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get('/healthz', { schema: { hide: true } }, async (_req, reply) => {
    const services: Record<string, { ok: boolean; detail?: string }> = { store: deps.store.health() };
    for (const s of deps.services) services[s.name] = s.health?.() ?? { ok: true };
    const ok = Object.values(services).every((h) => h.ok);
    return reply.status(ok ? 200 : 503).send({ status: ok ? 'ok' : 'degraded', services });
  });
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) =>
    reply.header('content-type', deps.metrics.contentType).send(await deps.metrics.metrics()),
  );

  await app.register(
    async (api) => {
      installBodyParsers(api);
      api.addHook('onRoute', declareCommonErrors);
      api.addHook('onRequest', async (req, reply) => {
        const path = req.url.split('?')[0]!;
        if (PUBLIC_API.has(path) || path.startsWith('/api/v1/docs')) return;
        const token = bearer(req.headers.authorization);
        if (token && safeEqual(token, deps.apiToken)) return;
        const node = (req.params as { name?: string } | undefined)?.name;
        if (token && node && req.routeOptions.config.nodeTokenAllowed && safeEqual(token, nodeReportToken(deps.apiToken, node))) return;
        if (token && req.routeOptions.config.peerTokenAllowed && safeEqual(token, await peerSecret(deps.store))) return;
        const viewerToken = deps.cfg.config.api.viewerToken;
        let role: Role | undefined = token && viewerToken && safeEqual(token, viewerToken) ? 'viewer' : undefined;
        // No bearer token: a dashboard session (cookie) may stand for one.
        for (const s of token ? [] : deps.services) {
          const who = s.authenticate?.(req);
          if (who && 'refused' in who) return forbid(reply, who.refused);
          if (who) role = who.role;
        }
        if (role) {
          const why = roleRefusal(role, req.method, path);
          return why ? forbid(reply, why) : undefined;
        }
        req.log.info({ path, ip: req.ip }, token ? 'api: wrong bearer token' : 'api: no bearer token');
        return reply
          .status(401)
          .header('www-authenticate', 'Bearer realm="rackboot"')
          .send({ error: 'unauthorized', message: token ? 'the bearer token is not valid' : 'send Authorization: Bearer TOKEN (see the server log for where the token is)' });
      });
      await api.register(nodeRoutes(deps));
      await api.register(groupRoutes(deps));
      await api.register(networkRoutes(deps));
      await api.register(leaseRoutes(deps));
      await api.register(eventRoutes(deps));
      await api.register(eventStreamRoute(deps));
      await api.register(serverRoutes(deps));
      for (const s of deps.services) if (s.apiRoutes) await api.register(s.apiRoutes);
    },
    { prefix: '/api/v1' },
  );
  for (const s of deps.services) if (s.publicRoutes) await app.register(s.publicRoutes);
  return app as unknown as FastifyInstance;
}
