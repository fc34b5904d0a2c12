// Operator routes under /api/v1: exactly what a node would get per loader,
// the scope a template sees, the default/discovery configs, the template
// list and a check of every template against every node.
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HttpError } from '../api/errors.js';
import { macQuery } from '../api/query.js';
import { ErrorBody } from '../api/schemas.js';
import { canonicalMac } from '../net/mac.js';
import { LOADERS } from '../store/types.js';
import { TemplateError } from './errors.js';
import { BootRenderer, NodeMissing, isLoader, type RenderOutput } from './renderer.js';

const LoaderParam = Type.String({ description: `one of ${LOADERS.join(', ')}` });

const RenderJson = Type.Object(
  {
    node: Type.Union([Type.String(), Type.Null()]),
    mac: Type.Union([Type.String(), Type.Null()]),
    loader: Type.String(),
    template: Type.String(),
    origin: Type.String({ description: 'operator (templates.dir) or shipped' }),
    file: Type.String(),
    contentType: Type.String(),
    body: Type.String(),
  },
  { $id: 'Render' },
);

const Problem = Type.Object({
  node: Type.Union([Type.String(), Type.Null()]),
  loader: Type.String(),
  template: Type.String(),
  line: Type.Union([Type.Integer(), Type.Null()]),
  variable: Type.Union([Type.String(), Type.Null()]),
  message: Type.String(),
  file: Type.Optional(Type.String({ description: 'a missing loader file (the message names its Debian package)' })),
});

const CheckOut = Type.Object(
  {
    ok: Type.Boolean(),
    nodes: Type.Integer(),
    renders: Type.Integer(),
    ms: Type.Integer(),
    templates: Type.Array(Type.Object({ name: Type.String(), origin: Type.String(), file: Type.String() })),
    errors: Type.Array(Problem),
    notes: Type.Array(
      Type.Object({
        node: Type.Union([Type.String(), Type.Null()]),
        image: Type.Optional(Type.String()),
        loader: Type.Optional(Type.String()),
        message: Type.String(),
      }),
      { description: 'not errors: nodes whose image has no build yet (their kernel cannot be served until it is built); loaders that cannot boot some machines, and what boots them instead' },
    ),
  },
  { $id: 'TemplateCheck' },
);

function templateError(e: unknown): never {
  if (e instanceof TemplateError) throw new HttpError(400, 'template_error', e.message);
  if (e instanceof NodeMissing) throw new HttpError(404, 'not_found', e.message);
  if (e instanceof RangeError) throw new HttpError(400, 'invalid', e.message);
  throw e;
}

function loaderOf(s: string) {
  if (!isLoader(s)) throw new HttpError(400, 'invalid', `params.loader: no loader '${s}' (have: ${LOADERS.join(', ')})`, 'params.loader');
  return s;
}

export function renderApiRoutes(renderer: BootRenderer): FastifyPluginAsyncTypebox {
  return async (app) => {
    const send = (out: RenderOutput, json: boolean | undefined) => (json ? out : out.body);

    app.get(
      '/nodes/:name/render/:loader',
      {
        schema: {
          tags: ['templates'],
          summary: "Exactly the boot config a node gets from a loader (text; ?format=json for template and origin)",
          params: Type.Object({ name: Type.String(), loader: LoaderParam }),
          querystring: Type.Object(
            { iface: Type.Optional(Type.String({ description: 'interface name or MAC being booted (default: the first)' })), format: Type.Optional(Type.Union([Type.Literal('text'), Type.Literal('json')])) },
            { additionalProperties: false },
          ),
          response: { 200: Type.Union([Type.String(), RenderJson]), 400: ErrorBody, 404: ErrorBody },
        },
      },
      async (req, reply) => {
        const loader = loaderOf(req.params.loader);
        let out: RenderOutput;
        try {
          out = await renderer.renderByName(req.params.name, loader, { iface: req.query.iface, request: { protocol: 'api', address: null, path: null } });
        } catch (e) {
          templateError(e);
        }
        reply.header('x-rackboot-template', `${out.template} (${out.origin})`);
        if (req.query.format === 'json') return out;
        return reply.type(out.contentType).send(send(out, false));
      },
    );

    app.get(
      '/nodes/:name/scope',
      {
        schema: {
          tags: ['templates'],
          summary: 'The variables a template sees for this node (what {{...}} can name)',
          params: Type.Object({ name: Type.String() }),
          querystring: Type.Object({ loader: Type.Optional(LoaderParam), iface: Type.Optional(Type.String()) }, { additionalProperties: false }),
          response: { 200: Type.Record(Type.String(), Type.Unknown()), 400: ErrorBody, 404: ErrorBody },
        },
      },
      async (req) => {
        const loader = loaderOf(req.query.loader ?? 'pxelinux');
        const node = await renderer.deps.store.getNode(req.params.name);
        if (!node) throw new HttpError(404, 'not_found', `no node named '${req.params.name}'`);
        const iface = req.query.iface ? node.interfaces.find((i) => i.name === req.query.iface || i.mac === canonicalMac(req.query.iface!)) : undefined;
        if (req.query.iface && !iface) throw new HttpError(400, 'invalid', `query.iface: node ${node.name} has no interface '${req.query.iface}'`, 'query.iface');
        try {
          return (await renderer.scopeForNode(node, loader, { iface })) as unknown as Record<string, unknown>;
        } catch (e) {
          templateError(e);
        }
      },
    );

    app.get(
      '/templates/discovery/:loader',
      {
        schema: {
          tags: ['templates'],
          summary: 'The default/discovery config a machine not in the registry gets',
          params: Type.Object({ loader: LoaderParam }),
          querystring: Type.Object(
            { mac: Type.Optional(Type.String()), address: Type.Optional(Type.String()), format: Type.Optional(Type.Union([Type.Literal('text'), Type.Literal('json')])) },
            { additionalProperties: false },
          ),
          response: { 200: Type.Union([Type.String(), RenderJson]), 400: ErrorBody },
        },
      },
      async (req, reply) => {
        const loader = loaderOf(req.params.loader);
        const mac = macQuery(req.query.mac || undefined);
        let out: RenderOutput;
        try {
          out = await renderer.renderUnknown(loader, { mac, address: req.query.address });
        } catch (e) {
          templateError(e);
        }
        reply.header('x-rackboot-template', `${out.template} (${out.origin})`);
        if (req.query.format === 'json') return out;
        return reply.type(out.contentType).send(out.body);
      },
    );

    app.get(
      '/templates',
      {
        schema: {
          tags: ['templates'],
          summary: 'Templates and partials in use: operator overrides (templates.dir) and shipped ones',
          response: { 200: Type.Array(Type.Object({ name: Type.String(), origin: Type.String(), file: Type.String() })) },
        },
      },
      async () => renderer.engine.list(),
    );

    app.get(
      '/templates/check',
      {
        schema: {
          tags: ['templates'],
          summary: 'Render every template for every node; every error at once, with node, template and line; unbuilt images as notes',
          response: { 200: CheckOut },
        },
      },
      async () => renderer.check(),
    );
  };
}
