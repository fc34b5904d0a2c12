// Errors every /api/v1 route can answer, declared once for all of them (the
// OpenAPI document and the response serializer both read route schemas), so
// a route only lists the errors of its own.
import type { RouteOptions } from 'fastify';
import { ErrorBody } from './schemas.js';

/** 401 on every route (all need a bearer token); 400, 413 and 415 where a body is read. */
export function declareCommonErrors(route: RouteOptions): void {
  const schema = route.schema ?? {};
  const response: Record<string, unknown> = { ...((schema.response as Record<string, unknown> | undefined) ?? {}) };
  const codes = schema.body !== undefined ? [400, 401, 413, 415] : [401];
  for (const code of codes) response[code] ??= ErrorBody;
  route.schema = { ...schema, response };
}
