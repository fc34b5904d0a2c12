// The pair as a service of the running server: GET /api/v1/pair, POST
// /api/v1/pair/switchover, the routes the other node uses to copy content
// releases, the content mirror, and what either node lacks. The PairNode
// itself is made and prepared before the store opens (server/main/server.ts)
// and stopped after it closes.
import type { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HttpError } from '../api/errors.js';
import { ErrorBody } from '../api/schemas.js';
import type { Service, ServiceContext, ServiceDeclaration } from '../service.js';
import { ContentError } from '../nfs/content.js';
import type { ServerInfo } from '../store/presence.js';
import { PairContent } from './content.js';
import { SwitchoverError, type PairNode } from './node.js';
import { PairStatusOut } from './status.js';

const TAR_TYPES = ['application/x-tar', 'application/octet-stream'];
const ReleaseParams = Type.Object({ export: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' }), release: Type.String({ maxLength: 64 }) });
const SwitchoverOut = Type.Object({ from: Type.String(), to: Type.String(), totalMs: Type.Integer(), withoutMasterMs: Type.Integer() });

/** The gate the DHCP server asks (the pair's service implements it). */
export interface DhcpGate {
  readonly answersDhcp: boolean;
  silent(server: string): boolean;
}

const contentError = (e: unknown) => {
  if (e instanceof ContentError) return new HttpError(e.status, e.status === 404 ? 'not_found' : e.status === 413 ? 'too_large' : 'invalid', e.message);
  if ((e as { statusCode?: number }).statusCode === 404) return new HttpError(404, 'not_found', (e as Error).message);
  return e;
};

/** The pair is no factory's (main/ makes it before the store opens): its declaration for the API's answers while it is off. */
export const PAIR_SERVICE: ServiceDeclaration = { name: 'pair', title: 'the pair (a second disk node)', enable: 'pair.enabled: true', apiPrefixes: ['/api/v1/pair'] };

declare module '../service.js' {
  interface KnownServices {
    pair: PairService;
  }
}

export class PairService implements Service, DhcpGate {
  readonly name = PAIR_SERVICE.name;
  readonly content: PairContent;

  constructor(readonly node: PairNode, private readonly ctx: ServiceContext) {
    this.content = new PairContent({
      peerName: node.pair.peerName,
      peer: () => node.peer,
      manager: () => ctx.services.get('nfs')?.manager,
      maxBytes: ctx.cfg.config.nfs.maxUploadBytes,
      log: ctx.log,
      isBackup: () => node.role === 'backup',
    });
  }

  get answersDhcp(): boolean {
    return this.node.answersDhcp;
  }

  silent(server: string): boolean {
    return this.node.silent(server);
  }

  async start(): Promise<void> {
    this.node.attach(this.ctx.events);
    this.node.lacksOf = () => this.lacks();
    this.ctx.boot.contentMirror = this.content;
    this.ctx.peers.extra.set('content', () => this.content.inventory);
    this.ctx.peers.extra.set('pair', () => ({ role: this.node.role, peer: this.node.pair.peerName }));
    this.content.start();
  }

  async stop(): Promise<void> {
    this.content.stop();
    if (this.ctx.boot.contentMirror === this.content) this.ctx.boot.contentMirror = undefined;
    this.ctx.peers.extra.delete('content');
    this.ctx.peers.extra.delete('pair');
  }

  health() {
    return this.node.health();
  }

  /** Images and content releases one node serves and the other does not hold (from each node's heartbeat). */
  private async lacks(): Promise<{ here: string[]; peer: string[] }> {
    const here: string[] = [];
    const peer: string[] = [];
    const self = this.ctx.peers.info();
    const other = this.ctx.peers.livePeers().find((s) => s.name === this.node.pair.peerName)?.info as Partial<ServerInfo> | undefined;
    const imgs = (i: unknown) => (i as { images?: Record<string, string[]> } | undefined)?.images ?? {};
    for (const [key, raw] of await this.ctx.store.listSettings('image.current.').catch(() => [] as Array<[string, string]>)) {
      const name = key.slice('image.current.'.length);
      const v = (JSON.parse(raw) as { version?: string }).version;
      if (!v) continue;
      if (!(imgs(self)[name] ?? []).includes(v)) here.push(`image ${name} ${v}`);
      if (!other || !(imgs(other)[name] ?? []).includes(v)) peer.push(`image ${name} ${v}`);
    }
    type Inv = Record<string, { current: string | null; releases: string[] }>;
    const mine = this.content.inventory;
    const theirs = ((other as { content?: Inv } | undefined)?.content ?? {}) as Inv;
    for (const [name, inv] of Object.entries(mine)) {
      if (inv.current && !(theirs[name]?.releases ?? []).includes(inv.current)) peer.push(`export ${name} release ${inv.current}`);
      const t = theirs[name]?.current;
      if (t && !inv.releases.includes(t)) here.push(`export ${name} release ${t}`);
    }
    return { here, peer };
  }

  get apiRoutes(): FastifyPluginAsyncTypebox {
    return async (app) => {
      app.addContentTypeParser(TAR_TYPES, (_req, payload, done) => done(null, payload));

      app.get(
        '/pair',
        {
          schema: {
            tags: ['pair'],
            summary: "This disk node's role in the pair, keepalived's state, the floating addresses, the database, what either node lacks",
            querystring: Type.Object({ fresh: Type.Optional(Type.Boolean({ description: "read the database's state now (else as of its last check, at most a second ago)" })) }, { additionalProperties: false }),
            response: { 200: PairStatusOut },
          },
        },
        async (req) => this.node.status(req.query.fresh === true),
      );

      app.post(
        '/pair/switchover',
        {
          schema: {
            tags: ['pair'],
            summary: 'Planned handover: the master gives the floating addresses and the primary database to the backup (asked on the backup, the master hands over to it)',
            response: { 200: SwitchoverOut, 409: ErrorBody, 500: ErrorBody },
          },
        },
        async () => {
          try {
            return await this.node.switchover();
          } catch (e) {
            if (e instanceof SwitchoverError) throw new HttpError(e.status, e.status === 409 ? 'conflict' : 'switchover_failed', e.message);
            throw e;
          }
        },
      );

      app.put(
        '/pair/content/:export/releases/:release',
        {
          schema: {
            tags: ['pair'],
            summary: 'The other node sends a content release (tar), kept under its id, not live yet',
            params: ReleaseParams,
            body: Type.String({ format: 'binary' }),
            response: { 201: Type.Object({ files: Type.Integer(), bytes: Type.Integer(), existed: Type.Boolean() }), 400: ErrorBody, 404: ErrorBody, 413: ErrorBody },
          },
        },
        async (req, reply) => {
          try {
            return reply.status(201).send(await this.content.install(req.params.export, req.params.release, req.body as unknown as Readable));
          } catch (e) {
            (req.body as unknown as Readable).resume?.();
            throw contentError(e);
          }
        },
      );

      app.post(
        '/pair/content/:export/releases/:release/activate',
        { schema: { tags: ['pair'], summary: 'The other node switched to a release: switch here too', params: ReleaseParams, response: { 200: Type.Object({ previous: Type.Union([Type.String(), Type.Null()]) }), 400: ErrorBody, 404: ErrorBody } } },
        async (req) => {
          try {
            return { previous: await this.content.activate(req.params.export, req.params.release) };
          } catch (e) {
            throw contentError(e);
          }
        },
      );

      app.get(
        '/pair/content/:export/releases/:release',
        { schema: { tags: ['pair'], summary: 'A content release as a tar (the other node fetches what it lacks)', params: ReleaseParams, response: { 404: ErrorBody } } },
        async (req, reply) => {
          try {
            // A stream: the response schema describes JSON errors only (as the image file route does).
            return reply.type('application/x-tar').send((await this.content.tarOf(req.params.export, req.params.release)) as never);
          } catch (e) {
            throw contentError(e);
          }
        },
      );
    };
  }
}
