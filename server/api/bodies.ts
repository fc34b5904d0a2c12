// How /api/v1 reads request bodies. JSON only, unless a route adds a parser
// of its own (an export's tar upload). Fastify's defaults would also take
// text/plain as a string (a JSON body sent as text/plain then fails the
// schema with "body: must be object, got "{\"name\"..."), refuse an empty
// JSON body even on a DELETE that needs none, and say neither which type a
// route wants nor where the JSON breaks.
import { OptionalKind } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { FastifyValidationResult } from 'fastify/types/schema.js';
import { deeperThan, depthPath, MAX_BODY_DEPTH } from '../config/depth.js';
import { emptyBody, HttpError, unsupportedMediaType } from './errors.js';

/** A body schema marked Type.Optional (an image rollback's): the route works with no body at all. */
export function isOptionalBody(schema: unknown): boolean {
  return (schema as Record<symbol, unknown> | undefined)?.[OptionalKind] === 'Optional';
}

/** A route that declares a body schema needs a body, unless it is optional; any other reads none. */
function routeNeedsBody(req: FastifyRequest): boolean {
  const body = req.routeOptions.schema?.body;
  return body !== undefined && !isOptionalBody(body);
}

type Validator = FastifyValidationResult;

/** An optional body's validator: no body passes, a body is checked against the schema. */
export function optionalBody(check: Validator): Validator {
  const v: Validator = (data: unknown) => {
    if (data === undefined || data === null) {
      v.errors = null;
      return true;
    }
    const ok = check(data);
    // Fastify reads the errors from the function it was given.
    v.errors = check.errors;
    return ok;
  };
  return v;
}

/** The body has no bytes, judged from the headers before reading it. */
function headersSayEmpty(req: FastifyRequest): boolean {
  const length = req.headers['content-length'];
  return length === '0' || (length === undefined && req.headers['transfer-encoding'] === undefined);
}

/** Why text is not JSON, in JSON.parse's words (position included), or undefined when it is. */
function jsonProblem(text: string): string | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

export function installBodyParsers(api: FastifyInstance): void {
  // Fastify's own JSON parser stays the one that parses: it refuses
  // __proto__ and constructor.prototype keys (prototype poisoning).
  const parseJson = api.getDefaultJsonParser('error', 'error');
  api.removeAllContentTypeParsers();

  api.addContentTypeParser('application/json', { parseAs: 'string' }, (req, text, done) => {
    const body = text as string; // parseAs 'string' hands a string
    if (body.length === 0) {
      if (routeNeedsBody(req)) done(emptyBody(), undefined);
      else done(null, undefined);
      return;
    }
    parseJson(req, body, (err, value) => {
      if (!err) {
        // Checked before anything walks the value (the schema's error text, the store's JSON.stringify).
        const deep = deeperThan(value, MAX_BODY_DEPTH);
        if (!deep) return done(null, value);
        // The field is the body's key that holds the deep value (the body itself when it is an array).
        const field = Array.isArray(value) ? 'body' : depthPath('body', deep.slice(0, 1));
        const at = depthPath('body', deep);
        return done(new HttpError(400, 'invalid', `${field}: nests deeper than ${MAX_BODY_DEPTH} levels of objects and arrays (at ${at})`, field), undefined);
      }
      const why = jsonProblem(body) ?? 'a __proto__ or constructor.prototype key is not allowed';
      done(new HttpError(400, 'invalid', `body: is not valid JSON: ${why}`, 'body'), undefined);
    });
  });

  // Every other type (and a body without a content-type) is refused with
  // the types the route takes, unless there is nothing to read.
  api.addContentTypeParser('*', (req, _payload, done) => {
    if (headersSayEmpty(req)) done(null, undefined);
    else done(unsupportedMediaType(req), undefined);
  });
}
