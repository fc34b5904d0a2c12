// GET /api/v1/director (services, real servers, health, last apply) and
// GET /api/v1/director/rules (the pool in nft, ipvsadm-save or keepalived form).
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { formatIpv4 } from '../net/ipv4.js';
import { StringEnum } from '../config/types.js';
import { renderIpvsadm } from './backends/ipvs.js';
import { renderKeepalived } from './backends/keepalived.js';
import { renderNftables } from './backends/nftables.js';
import type { ConnectionCounts } from './connections.js';
import type { DirectorService } from './service.js';
import { HISTORY } from './health/nanny.js';
import type { HealthStateName } from './health/policy.js';

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

const RealServerOut = Type.Object({
  name: Type.String(),
  node: Type.Union([Type.String(), Type.Null()]),
  address: Type.Union([Type.String(), Type.Null()]),
  port: Type.Integer(),
  weight: Type.Integer(),
  network: Type.Union([Type.String(), Type.Null()]),
  state: StringEnum(['up', 'down', 'unknown', 'recovering', 'excluded', 'unchecked']),
  inPool: Type.Boolean(),
  since: Nullable(Type.String()),
  failures: Type.Integer(),
  lastCheck: Type.Union([Type.Object({ ok: Type.Boolean(), at: Type.String(), detail: Type.String() }), Type.Null()]),
  reason: Nullable(Type.String()),
  connections: Type.Union([Type.Object({ active: Type.Integer(), inactive: Type.Integer() }), Type.Null()], {
    description: 'as the engine counts them: IPVS ActiveConn/InActConn, or conntrack entries (nftables: ESTABLISHED / other states); null when it cannot say or the server is not in its rules',
  }),
  transitions: Type.Array(
    Type.Object({
      at: Type.String(),
      to: StringEnum(['up', 'down']),
      afterMs: Type.Integer(),
      check: Type.String(),
      failures: Type.Union([Type.Integer(), Type.Null()]),
    }),
    { description: `the last ${HISTORY} pool transitions, oldest first (kept in memory since the director started)` },
  ),
});

export const DirectorOut = Type.Object(
  {
    enabled: Type.Boolean(),
    backend: Type.String(),
    natRouter: Type.Union([Type.Object({ interface: Type.String(), address: Type.String() }), Type.Null()]),
    masquerade: Type.String(),
    lastApply: Type.Union([
      Type.Object({ at: Type.String(), ok: Type.Boolean(), changed: Type.Boolean(), summary: Type.String(), error: Nullable(Type.String()) }),
      Type.Null(),
    ]),
    services: Type.Array(
      Type.Object({
        name: Type.String(),
        vip: Type.String(),
        interface: Type.String(),
        port: Type.Integer(),
        protocol: Type.String(),
        scheduler: Type.String(),
        persistence: Type.Union([Type.Integer(), Type.Null()]),
        weightVar: Type.String({ description: "the node variable that holds a node's weight (0: no new connections)" }),
        check: Type.Object({
          type: Type.String(),
          path: Type.String(),
          expect: Type.Union([Type.Integer(), Type.String()]),
          timeoutMs: Type.Integer(),
          intervalMs: Type.Integer(),
          retries: Type.Integer(),
          reentryMs: Type.Integer(),
        }),
        pool: Type.Integer(),
        realServers: Type.Array(RealServerOut),
      }),
    ),
  },
  { $id: 'Director' },
);

export function directorView(svc: DirectorService, conns?: ConnectionCounts) {
  const d = svc.d;
  // In the pool = in the engine's rules now (a health change shows in `state` a moment before the apply lands).
  const pool = svc.backend.checksHealth ? svc.currentState(false) : (svc.applied ?? svc.currentState(false));
  return {
    enabled: d.enabled,
    backend: d.backend,
    natRouter: d.natRouter ? { interface: d.natRouter.interface, address: `${formatIpv4(d.natRouter.address)}/${d.natRouter.prefix}` } : null,
    masquerade: d.masquerade,
    lastApply: svc.lastApply
      ? { at: iso(svc.lastApply.at)!, ok: svc.lastApply.ok, changed: svc.lastApply.changed, summary: svc.lastApply.summary, error: svc.lastApply.error ?? null }
      : null,
    services: d.services.map((s) => {
      const inPoolSet = new Set(pool.services.find((p) => p.name === s.name)?.servers.map((x) => `${x.address}:${x.port}`));
      return {
        name: s.name,
        vip: `${formatIpv4(s.vip)}/${s.vipPrefix}`,
        interface: s.interface,
        port: s.port,
        protocol: s.protocol,
        scheduler: s.scheduler,
        persistence: s.persistenceSec ?? null,
        weightVar: s.weightVar,
        check: {
          type: s.check.type,
          path: s.check.path,
          expect: s.check.expect,
          timeoutMs: s.check.timeoutMs,
          intervalMs: s.check.intervalMs,
          retries: s.check.retries,
          reentryMs: s.check.reentryMs,
        },
        pool: inPoolSet.size,
        realServers: svc.candidates
          .filter((c) => c.service === s.name)
          .map((c) => {
            const rec = svc.healthOf(c);
            const state: HealthStateName | 'excluded' | 'unchecked' = c.excluded ? 'excluded' : s.check.type === 'none' ? 'unchecked' : (rec?.state ?? 'unknown');
            return {
              name: c.name,
              node: c.node,
              address: c.address === undefined ? null : formatIpv4(c.address),
              port: c.port,
              weight: c.weight,
              network: c.network ?? null,
              state,
              inPool: c.address !== undefined && inPoolSet.has(`${c.address}:${c.port}`) && !c.excluded,
              since: iso(rec?.since),
              failures: rec?.failures ?? 0,
              lastCheck: rec?.lastCheck ? { ok: rec.lastCheck.ok, at: iso(rec.lastCheck.at)!, detail: rec.lastCheck.detail } : null,
              reason: c.excluded ?? null,
              connections: countOf(conns, s.name, c.address, c.port, inPoolSet),
              transitions: svc.transitionsOf(c).map((x) => ({ at: iso(x.at)!, to: x.to, afterMs: x.afterMs, check: x.check, failures: x.failures ?? null })),
            };
          }),
      };
    }),
  };
}

/** A server in the engine's rules without an entry has no connections; one outside them, or an engine that cannot say, null. */
function countOf(conns: ConnectionCounts | undefined, service: string, address: number | undefined, port: number, inRules: Set<string>) {
  const byServer = conns?.get(service);
  if (!byServer || address === undefined) return null;
  const key = `${formatIpv4(address)}:${port}`;
  return byServer.get(key) ?? (inRules.has(`${address}:${port}`) ? { active: 0, inactive: 0 } : null);
}

export const RULE_FORMATS = ['nft', 'ipvsadm', 'keepalived'] as const;

export function directorRoutes(svc: DirectorService): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/director',
      { schema: { tags: ['director'], summary: 'Virtual services, their real servers, health and the last apply', response: { 200: DirectorOut } } },
      async () => directorView(svc, await svc.connections()),
    );
    app.get(
      '/director/rules',
      {
        schema: {
          tags: ['director'],
          summary: "The current pool as the backend's rules: nft ruleset, ipvsadm-save lines or keepalived.conf (default: the configured backend's)",
          querystring: Type.Object({ format: Type.Optional(StringEnum(RULE_FORMATS)) }, { additionalProperties: false }),
          response: { 200: Type.String() },
        },
      },
      async (req, reply) => {
        const format = req.query.format ?? { nftables: 'nft', ipvs: 'ipvsadm', keepalived: 'keepalived' }[svc.d.backend];
        const checks = new Map(svc.d.services.map((s) => [s.name, s.check]));
        const text =
          format === 'nft'
            ? renderNftables(svc.currentState(false))
            : format === 'ipvsadm'
              ? renderIpvsadm(svc.currentState(false))
              : renderKeepalived(svc.currentState(true), checks, 'rackboot');
        return reply.type('text/plain; charset=utf-8').send(text);
      },
    );
  };
}
