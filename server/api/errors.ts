// One error shape for the whole API: { error: CODE, message: TEXT }, the
// message naming the field for a 400. Every code used here is listed in
// docs/api.md ("Errors"); a new code needs a row there.
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import type { ErrorObject } from 'ajv';
import { ConflictError, InvalidError, NotFoundError, StoreUnavailableError } from '../store/types.js';
import { formatAjvErrors } from '../config/validate-schema.js';

export interface ApiError {
  error: string;
  message: string;
  field?: string;
}

export class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly field?: string) {
    super(message);
  }
}

export const notFound = (what: string) => new HttpError(404, 'not_found', what);

/** The content types a route reads its body as: its per-type body schemas, else JSON. */
export function acceptedTypes(req: FastifyRequest): string[] {
  const body = req.routeOptions.schema?.body as { content?: Record<string, unknown> } | undefined;
  return body?.content ? Object.keys(body.content) : ['application/json'];
}

export function unsupportedMediaType(req: FastifyRequest): HttpError {
  const sent = req.headers['content-type'];
  const what = sent ? `content-type '${sent}' is not accepted here` : 'the request has a body but no content-type';
  return new HttpError(415, 'unsupported_media_type', `headers.content-type: ${what}; send ${acceptedTypes(req).join(' or ')}`, 'headers.content-type');
}

/** A route that needs a body got none. */
export const emptyBody = () => new HttpError(400, 'invalid', 'body: is empty; send a JSON document', 'body');

// Fastify's own refusals (body parsing and limits) carry FST_ERR_* codes;
// these give them the documented codes and a message naming the problem.
const FASTIFY_ERRORS: Record<string, (req: FastifyRequest) => HttpError> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: unsupportedMediaType,
  FST_ERR_CTP_BODY_TOO_LARGE: (req) =>
    new HttpError(413, 'too_large', `body: larger than the ${req.routeOptions.bodyLimit} bytes this route accepts`, 'body'),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => new HttpError(400, 'invalid', 'body: its length does not match the Content-Length header', 'body'),
  // The API's JSON parser (bodies.ts) reports these itself; kept for routes outside /api/v1.
  FST_ERR_CTP_EMPTY_JSON_BODY: emptyBody,
  FST_ERR_CTP_INVALID_JSON_BODY: () => new HttpError(400, 'invalid', 'body: is not valid JSON', 'body'),
};

/** Any other 4xx Fastify raises keeps its status under a documented code. */
const CODE_OF_STATUS: Record<number, string> = { 401: 'unauthorized', 404: 'not_found', 413: 'too_large', 415: 'unsupported_media_type' };

/**
 * Where a store error's field came from: a path parameter (DELETE
 * /groups/web names the group in the path, and has no body) or the body.
 */
function fieldPath(req: FastifyRequest, field: string): string {
  const root = field.split(/[.[]/)[0]!;
  const params = req.params as Record<string, unknown> | undefined;
  const body = req.body as Record<string, unknown> | undefined;
  const inBody = typeof body === 'object' && body !== null && root in body;
  return !inBody && params && root in params ? `params.${field}` : `body.${field}`;
}

function fieldError(status: number, code: string, req: FastifyRequest, field: string, message: string): HttpError {
  const path = fieldPath(req, field);
  return new HttpError(status, code, `${path}: ${message}`, path);
}

/** Any thrown error -> the status and the documented code; undefined for a server fault (500). */
function classify(err: FastifyError & { validation?: ErrorObject[]; validationContext?: string }, req: FastifyRequest): HttpError | undefined {
  if (err.validation) {
    const issues = formatAjvErrors(err.validation, err.validationContext ?? 'body');
    return new HttpError(400, 'invalid', issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues[0]?.path);
  }
  if (err instanceof HttpError) return err;
  if (err instanceof InvalidError) return fieldError(400, 'invalid', req, err.field, err.message);
  if (err instanceof ConflictError) return fieldError(409, 'conflict', req, err.field, err.message);
  if (err instanceof NotFoundError) return new HttpError(404, 'not_found', err.message);
  // The database is down or unreachable: the message names the store (never its password); the client may retry.
  if (err instanceof StoreUnavailableError) return new HttpError(503, 'store_unavailable', err.message);
  const known = err.code ? FASTIFY_ERRORS[err.code] : undefined;
  if (known) return known(req);
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return new HttpError(err.statusCode, CODE_OF_STATUS[err.statusCode] ?? 'invalid', err.message);
  }
  return undefined;
}

/** Why a path has no route when the reason is not a typo, e.g. a service that is off. */
export type NotFoundExplainer = (path: string) => HttpError | undefined;

export function installErrorHandler(app: FastifyInstance, explainMissing: NotFoundExplainer = () => undefined): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const refused = classify(err, req);
    if (!refused) {
      req.log.error({ err }, 'unhandled error');
      void reply.status(500).send({ error: 'internal', message: 'internal error; see the server log' });
      return;
    }
    const body: ApiError = { error: refused.code, message: refused.message, ...(refused.field ? { field: refused.field } : {}) };
    // `reason`, not `msg`: pino writes the record's own msg too, and log
    // pipelines keep only the last of two equal keys.
    if (refused.status < 500) req.log.info({ status: refused.status, error: body.error, reason: body.message }, 'request refused');
    if (refused.status === 503) void reply.header('retry-after', '1');
    void reply.status(refused.status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!;
    const e = explainMissing(path) ?? notFound(`no route ${req.method} ${path}`);
    void reply.status(e.status).send({ error: e.code, message: e.message });
  });
}
