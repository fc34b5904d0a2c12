// One error shape for the whole API: { error: CODE, message: TEXT }, the
// message naming the field for a 400.
import type { FastifyError, FastifyInstance } from 'fastify';
import type { ErrorObject } from 'ajv';
import { ConflictError, InvalidError, NotFoundError } from '../store/types.js';
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

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError & { validation?: ErrorObject[]; validationContext?: string }, req, reply) => {
    let status = 500;
    let body: ApiError;
    if (err.validation) {
      const issues = formatAjvErrors(err.validation, err.validationContext ?? 'body');
      status = 400;
      body = { error: 'invalid', message: issues.map((i) => `${i.path}: ${i.message}`).join('; '), field: issues[0]?.path };
    } else if (err instanceof HttpError) {
      status = err.status;
      body = { error: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) };
    } else if (err instanceof InvalidError) {
      status = 400;
      body = { error: 'invalid', message: `body.${err.field}: ${err.message}`, field: `body.${err.field}` };
    } else if (err instanceof ConflictError) {
      status = 409;
      body = { error: 'conflict', message: `body.${err.field}: ${err.message}`, field: `body.${err.field}` };
    } else if (err instanceof NotFoundError) {
      status = 404;
      body = { error: 'not_found', message: err.message };
    } else if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      status = err.statusCode;
      body = { error: err.code ? err.code.replace(/^FST_ERR_/, '').toLowerCase() : 'bad_request', message: err.message };
    } else {
      req.log.error({ err }, 'unhandled error');
      body = { error: 'internal', message: 'internal error; see the server log' };
    }
    if (status < 500) req.log.info({ status, error: body.error, msg: body.message }, 'request refused');
    void reply.status(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` });
  });
}
