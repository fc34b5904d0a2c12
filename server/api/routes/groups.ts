import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { notFound } from '../errors.js';
import { ErrorBody, GroupIn, GroupOut, GroupPatchIn, NameParam } from '../schemas.js';
import type { ApiDeps } from '../app.js';
import { groupView } from '../views.js';

export function groupRoutes({ store, registry }: ApiDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get('/groups', { schema: { tags: ['groups'], summary: 'List groups', response: { 200: Type.Array(GroupOut) } } }, async () => (await store.listGroups()).map(groupView));

    app.post(
      '/groups',
      { schema: { tags: ['groups'], summary: 'Create a group', body: GroupIn, response: { 201: GroupOut, 400: ErrorBody, 409: ErrorBody } } },
      async (req, reply) => {
        const g = await registry.createGroup(req.body);
        return reply.status(201).header('location', `/api/v1/groups/${g.name}`).send(groupView(g));
      },
    );

    app.get(
      '/groups/:name',
      { schema: { tags: ['groups'], summary: 'One group', params: NameParam, response: { 200: GroupOut, 404: ErrorBody } } },
      async (req) => {
        const g = await store.getGroup(req.params.name);
        if (!g) throw notFound(`no group named '${req.params.name}'`);
        return groupView(g);
      },
    );

    app.patch(
      '/groups/:name',
      { schema: { tags: ['groups'], summary: 'Change a group', params: NameParam, body: GroupPatchIn, response: { 200: GroupOut, 400: ErrorBody, 404: ErrorBody } } },
      async (req) => groupView(await registry.updateGroup(req.params.name, req.body)),
    );

    app.delete(
      '/groups/:name',
      { schema: { tags: ['groups'], summary: 'Delete a group without nodes', params: NameParam, response: { 204: Type.Null(), 404: ErrorBody, 409: ErrorBody } } },
      async (req, reply) => {
        if (!(await store.deleteGroup(req.params.name))) throw notFound(`no group named '${req.params.name}'`);
        registry.groupChanged(req.params.name);
        return reply.status(204).send(null);
      },
    );
  };
}
