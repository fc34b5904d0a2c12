// The power subsystem as a service: the controller (BMC drivers, limits,
// events, metrics), the API routes, and reprovision (which waits for an
// image build from the images service when asked to rebuild).
import type { FastifyPluginAsync } from 'fastify';
import { HttpError, notFound } from '../api/errors.js';
import { CommandRunner } from '../director/exec.js';
import { declareService, type DeclaredServiceFactory, type Service, type ServiceContext } from '../service.js';
import { SecretError } from '../store/bmc-keyring.js';
import { InvalidError } from '../store/types.js';
import { PowerController, type LastSeen, type PowerResult } from './controller.js';
import { powerHttpError, powerRoutes } from './routes.js';

export interface PowerOptions {
  /** Where the IPMI tools run (tests: a namespace prefix). */
  runner?: CommandRunner;
}

export class PowerService implements Service {
  readonly name = 'power';
  readonly controller: PowerController;
  readonly apiRoutes: FastifyPluginAsync;
  private readonly runner: CommandRunner;
  /** Why the stored BMC passwords cannot be opened here (another server's key), found at start. */
  private keyProblem: string | undefined;

  constructor(readonly ctx: ServiceContext, opts: PowerOptions = {}) {
    this.runner = opts.runner ?? new CommandRunner();
    this.controller = new PowerController({
      store: ctx.store,
      keys: ctx.registry.bmcKeys,
      power: ctx.cfg.resolved.power,
      events: ctx.events,
      metrics: ctx.metrics,
      log: ctx.log.child({ svc: 'power' }),
      runner: this.runner,
    });
    this.apiRoutes = powerRoutes(this) as unknown as FastifyPluginAsync;
  }

  async start(): Promise<void> {
    const p = this.ctx.cfg.config.power;
    const tools = p.ipmi.tool === 'ipmitool' ? ['ipmitool'] : ['ipmipower', 'ipmi-chassis-config'];
    const missing = [];
    for (const t of tools) if (!(await this.runner.has(t))) missing.push(t);
    // Not fatal: Redfish BMCs need no tool, and an IPMI action says what is missing.
    if (missing.length) this.ctx.log.warn(`power: ${missing.join(', ')} not installed: IPMI BMCs cannot be driven (Debian: ${p.ipmi.tool === 'ipmitool' ? 'ipmitool' : 'freeipmi-tools'})`);
    this.ctx.log.info(`power: IPMI through ${p.ipmi.tool}, Redfish over HTTPS; ${p.concurrency} BMC operations at once, ${p.timeout} each; bulk starts ${p.stagger} apart`);
    await this.checkKey();
  }

  /**
   * Servers sharing a database must share the bmc-key too: a server with
   * its own key would fail every power action later, node by node. Opening
   * one stored password at start says so once, naming the key file. Not
   * fatal: the API stays up to set the passwords again.
   */
  private async checkKey(): Promise<void> {
    const { store, registry } = this.ctx;
    const owners = [...(await store.listGroups()).map((g) => ({ what: `group ${g.name}`, bmc: g.bmc })), ...(await store.listNodes()).map((n) => ({ what: `node ${n.name}`, bmc: n.bmc }))];
    const sealed = owners.find((o) => o.bmc?.passwordSealed);
    if (!sealed?.bmc?.passwordSealed) return;
    try {
      registry.bmcKeys.open(sealed.bmc.passwordSealed);
      this.keyProblem = undefined;
    } catch (e) {
      if (!(e instanceof SecretError)) throw e;
      this.keyProblem = `${sealed.what}: ${e.message}. Servers sharing a database need the same bmc-key (power.keyFile): copy it from the server that set the passwords`;
      this.ctx.log.error(`power: ${this.keyProblem}`);
    }
  }

  async stop(): Promise<void> {
    this.controller.stop();
  }

  health() {
    if (this.keyProblem) return { ok: false, detail: this.keyProblem };
    return { ok: true, detail: `IPMI through ${this.ctx.cfg.config.power.ipmi.tool}` };
  }

  /** When the node's BMC last answered: this run's memory, else the newest power.ok on its timeline. */
  async lastSeen(node: string): Promise<LastSeen | undefined> {
    const mem = this.controller.lastSeen(node);
    if (mem) return mem;
    await this.ctx.events.flush();
    const [e] = await this.ctx.store.listEvents({ node, kind: 'power.ok', limit: 1 });
    if (!e) return undefined;
    const s = e.detail.state;
    return { state: s === 'on' || s === 'off' ? s : null, at: e.ts };
  }

  /** The nodes a bulk request names: the list, then the group's nodes not in it; 400 naming what does not exist. */
  async targets(nodes: string[] | undefined, group: string | undefined): Promise<string[]> {
    const out = [...(nodes ?? [])];
    if (nodes?.length) {
      const missing = [];
      for (const n of nodes) if (!(await this.ctx.store.getNode(n))) missing.push(`'${n}'`);
      if (missing.length) throw new InvalidError('nodes', `no node named ${missing.join(', ')}`);
    }
    if (group !== undefined) {
      if (!(await this.ctx.store.getGroup(group))) throw new InvalidError('group', `no group named '${group}'`);
      const listed = new Set(out);
      const members = (await this.ctx.store.listNodes({ group })).map((n) => n.name).filter((n) => !listed.has(n));
      if (!members.length && !out.length) throw new InvalidError('group', `group '${group}' has no nodes`);
      out.push(...members);
    }
    return out;
  }

  /** PXE next boot and a power cycle; with rebuild, the node's image is built first (a failed build cycles nothing). */
  async reprovision(name: string, rebuild: boolean): Promise<{ node: string; build: { id: string; image: string; version: string | null; changed: boolean | null } | null; power: PowerResult }> {
    const { store, registry, events } = this.ctx;
    const node = await store.getNode(name);
    if (!node) throw notFound(`no node named '${name}'`);
    let build = null;
    const image = rebuild ? (await registry.effectiveOf(node)).image : null;
    events.record({ node: name, kind: 'reprovision.requested', detail: { rebuild, ...(image ? { image } : {}) } });
    if (rebuild) {
      if (!image) throw new HttpError(409, 'no_image', `${name} has no image to rebuild (set image on the node or its group)`);
      const images = this.ctx.services.get('images');
      if (!images) throw new HttpError(503, 'unavailable', `${name}: cannot rebuild ${image}: the images service is not running (images.enabled: true)`);
      const { job } = images.jobs.submit(image, `reprovision ${name}`);
      const done = await images.jobs.wait(job);
      if (done.state !== 'succeeded') {
        events.record({ node: name, kind: 'reprovision.failed', detail: { image, build: done.id, error: done.error } });
        throw new HttpError(409, 'build_failed', `${name}: the build of ${image} failed (${done.error}); the node was not power-cycled`);
      }
      build = { id: done.id, image, version: done.version, changed: done.changed };
      events.record({ node: name, kind: 'reprovision.built', detail: { image, build: done.id, version: done.version } });
    }
    const power = await this.controller.run(name, { action: 'cycle', bootdev: 'pxe', persistent: false, source: 'reprovision' });
    if (!power.ok) throw powerHttpError(power);
    return { node: name, build, power };
  }
}

// Power also adds a node's power and reprovision routes under /nodes.
const POWER = { name: 'power', title: 'power control', enable: 'power.enabled: true', apiPrefixes: ['/api/v1/power'], apiPaths: /^\/api\/v1\/nodes\/[^/]+\/(power|reprovision)$/ };

export function powerService(opts: PowerOptions = {}): DeclaredServiceFactory {
  return declareService(POWER, (ctx) => (ctx.cfg.config.power.enabled ? new PowerService(ctx, opts) : undefined));
}
