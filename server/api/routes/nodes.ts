import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { notFound } from '../errors.js';
import { bmcView, mergeBmc } from '../../store/bmc.js';
import { ErrorBody, NameParam, NodeIn, NodeOut, NodePatchIn } from '../schemas.js';
import type { ApiDeps } from '../app.js';
import { nodeView } from '../views.js';

export function nodeRoutes({ registry, store }: ApiDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    // A group or network named in a body that does not exist is a bad body (400), not a missing resource: 404 is for the path.
    const bodyErrors = { 400: ErrorBody, 409: ErrorBody };

    app.get(
      '/nodes',
      {
        schema: {
          tags: ['nodes'],
          summary: 'List nodes (404 for a group that does not exist; an existing empty group gives [])',
          querystring: Type.Object({ group: Type.Optional(Type.String()) }, { additionalProperties: false }),
          response: { 200: Type.Array(NodeOut), 404: ErrorBody },
        },
      },
      async (req) => {
        // An empty list for a misspelt group would read as "that group has no nodes".
        const group = req.query.group;
        if (group !== undefined && !(await store.getGroup(group))) throw notFound(`no group named '${group}'`);
        return (await store.listNodes({ group })).map(nodeView);
      },
    );

    app.post(
      '/nodes',
      { schema: { tags: ['nodes'], summary: 'Register a node (blade) with its interfaces', body: NodeIn, response: { 201: NodeOut, ...bodyErrors } } },
      async (req, reply) => {
        const node = await registry.createNode(req.body);
        return reply.status(201).header('location', `/api/v1/nodes/${node.name}`).send(nodeView(node));
      },
    );

    app.get(
      '/nodes/:name',
      { schema: { tags: ['nodes'], summary: 'One node, with its effective loader, image and vars', params: NameParam, response: { 200: NodeOut, 404: ErrorBody } } },
      async (req) => {
        const node = await store.getNode(req.params.name);
        if (!node) throw notFound(`no node named '${req.params.name}'`);
        const group = node.group ? await store.getGroup(node.group) : undefined;
        return { ...nodeView(node), effective: { ...registry.effective(node, group), bmc: bmcView(mergeBmc(node.bmc, group?.bmc ?? null)) } };
      },
    );

    app.patch(
      '/nodes/:name',
      { schema: { tags: ['nodes'], summary: 'Change a node (interfaces replace the list)', params: NameParam, body: NodePatchIn, response: { 200: NodeOut, ...bodyErrors, 404: ErrorBody } } },
      async (req) => nodeView(await registry.updateNode(req.params.name, req.body)),
    );

    app.delete(
      '/nodes/:name',
      { schema: { tags: ['nodes'], summary: 'Remove a node and its timeline', params: NameParam, response: { 204: Type.Null(), 404: ErrorBody } } },
      async (req, reply) => {
        if (!(await registry.deleteNode(req.params.name))) throw notFound(`no node named '${req.params.name}'`);
        return reply.status(204).send(null);
      },
    );
  };
}
