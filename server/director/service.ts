// The director service: keeps the LVS-NAT pool equal to "real servers of the
// config and registry whose health check passes". Registry changes and health
// transitions recompute the desired state; the backend diffs and applies it,
// one apply at a time. Every pool transition is an event on the node's
// timeline, a metric, and visible at GET /api/v1/director.
import { Counter, Gauge } from 'prom-client';
import type { Logger } from '../log.js';
import { formatIpv4 } from '../net/ipv4.js';
import { declareService, ServiceStartError, type DeclaredServiceFactory, type Service, type ServiceContext } from '../service.js';
import type { NodeRecord } from '../store/types.js';
import { createBackend } from './backends/index.js';
import type { DirectorBackend } from './backends/types.js';
import type { ConnectionCounts } from './connections.js';
import { desiredState, type DesiredState } from './desired.js';
import { CommandRunner } from './exec.js';
import { HISTORY, Nanny, type PoolTransition, type Transition } from './health/nanny.js';
import { inPool, type CheckOutcome, type HealthRecord } from './health/policy.js';
import type { Prober } from './health/probe.js';
import type { ResolvedDirector } from './model.js';
import { realServerCandidates, type Candidate, type DirectorNode } from './realservers.js';
import { directorRoutes } from './routes.js';
import { SystemPrep } from './sysprep.js';

export interface DirectorOptions {
  /** Where commands run (tests: a namespace prefix). */
  runner?: CommandRunner;
  prober?: Prober;
  /** Replace the configured backend (tests without kernel access). */
  backend?: (d: ResolvedDirector, ctx: ServiceContext, runner: CommandRunner) => DirectorBackend;
}

export interface LastApply {
  at: number;
  ok: boolean;
  changed: boolean;
  summary: string;
  error: string | undefined;
}

const RETRY_MS = 5000;
const CONNECTIONS_CACHE_MS = 1000;

export class DirectorService implements Service {
  readonly name = 'director';
  readonly d: ResolvedDirector;
  readonly backend: DirectorBackend;
  private readonly runner: CommandRunner;
  private readonly log: Logger;
  private readonly prep: SystemPrep;
  private readonly nanny: Nanny;
  candidates: Candidate[] = [];
  lastApply: LastApply | undefined;
  /** The pool the engine has now (last successful apply): what `inPool` in the API means. */
  applied: DesiredState | undefined;
  private readonly excludedSeen = new Map<string, string>();
  /** Candidate key -> its last HISTORY pool transitions, oldest first (memory only). */
  private readonly history = new Map<string, PoolTransition[]>();
  private dirty = false;
  private applying: Promise<void> | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private stopped = false;
  private readonly onChange = () => this.scheduleRefresh();
  private connCache: { at: number; counts: ConnectionCounts | undefined } | undefined;
  private readonly metrics;

  constructor(private readonly ctx: ServiceContext, opts: DirectorOptions = {}) {
    this.d = ctx.cfg.resolved.director;
    this.log = ctx.log.child({ svc: 'director' });
    this.runner = opts.runner ?? new CommandRunner();
    this.backend = opts.backend ? opts.backend(this.d, ctx, this.runner) : createBackend(this.d, ctx.cfg, this.runner, this.log);
    this.prep = new SystemPrep(this.runner, this.log);
    this.nanny = new Nanny(
      (c, r, rec) => this.onCheck(c, r, rec),
      (t) => this.onTransition(t),
      opts.prober,
    );
    const registers = [ctx.metrics];
    this.metrics = {
      up: new Gauge({ name: 'rackboot_director_real_server_up', help: 'Real server in the pool (1) or not (0)', labelNames: ['service', 'server'], registers }),
      checks: new Counter({ name: 'rackboot_director_checks_total', help: 'Health checks by result', labelNames: ['service', 'server', 'result'], registers }),
      transitions: new Counter({ name: 'rackboot_director_transitions_total', help: 'Real servers entering (up) or leaving (down) the pool', labelNames: ['service', 'to'], registers }),
      applies: new Counter({ name: 'rackboot_director_applies_total', help: 'Backend applies by result', labelNames: ['backend', 'result'], registers }),
      pool: new Gauge({ name: 'rackboot_director_pool_size', help: 'Real servers in the pool', labelNames: ['service'], registers }),
    };
  }

  get apiRoutes() {
    return directorRoutes(this);
  }

  async start(): Promise<void> {
    try {
      await this.backend.preflight();
    } catch (e) {
      throw new ServiceStartError('director', `director: ${(e as Error).message}`);
    }
    if (this.d.systemPrep) {
      try {
        // A pair's keepalived owns the floating addresses (the VIPs, the NAT router).
        const { pair } = this.ctx.cfg.resolved;
        const floating = pair.enabled ? new Set(pair.floating.map((f) => formatIpv4(f.address))) : undefined;
        await this.prep.up(this.d, floating);
      } catch (e) {
        await this.prep.down().catch(() => undefined);
        throw new ServiceStartError('director', `director: system preparation failed: ${(e as Error).message}`);
      }
    }
    this.ctx.registry.on('change', this.onChange);
    await this.refresh();
    await this.applying;
    const pools = this.d.services.map((s) => `${s.name} ${formatIpv4(s.vip)}:${s.port}/${s.protocol} (${s.scheduler})`).join(', ');
    this.log.info(`director: ${this.d.backend} backend, ${this.d.services.length} virtual service(s): ${pools || 'none'}`);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.ctx.registry.off('change', this.onChange);
    clearTimeout(this.refreshTimer);
    clearTimeout(this.retryTimer);
    this.nanny.stop();
    await this.refreshing;
    await this.applying;
    const keep = this.d.keepRulesOnStop;
    await this.backend.stop(keep).catch((e: unknown) => this.log.warn(`director: stopping the backend: ${(e as Error).message}`));
    if (this.d.systemPrep && !keep) await this.prep.down().catch((e: unknown) => this.log.warn(`director: undoing system preparation: ${(e as Error).message}`));
  }

  health() {
    const k = this.backend as { childError?: string };
    if (k.childError) return { ok: false, detail: k.childError };
    if (this.lastApply && !this.lastApply.ok) return { ok: false, detail: `apply failed: ${this.lastApply.error}` };
    const state = this.currentState();
    return { ok: true, detail: `${this.d.backend}: ` + state.services.map((s) => `${s.name} ${s.servers.length} in pool`).join(', ') };
  }

  /**
   * Connections per real server as the engine counts them, for the state it
   * holds; cached a second (dashboards poll), undefined when it cannot say.
   */
  async connections(): Promise<ConnectionCounts | undefined> {
    if (!this.backend.connections) return undefined;
    const now = Date.now();
    if (this.connCache && now - this.connCache.at < CONNECTIONS_CACHE_MS) return this.connCache.counts;
    const state = this.backend.checksHealth ? this.currentState(true) : this.applied;
    if (!state) return undefined;
    const counts = await this.backend.connections(state).catch((e: unknown) => {
      this.log.debug(`director: connection counts: ${(e as Error).message}`);
      return undefined;
    });
    this.connCache = { at: now, counts };
    return counts;
  }

  healthOf(c: Candidate): HealthRecord | undefined {
    return this.nanny.record(c.key);
  }

  transitionsOf(c: Candidate): readonly PoolTransition[] {
    return this.history.get(c.key) ?? [];
  }

  /** In the pool as far as rackboot's checks go. */
  passes(c: Candidate): boolean {
    const s = this.d.services.find((x) => x.name === c.service);
    if (!s || s.check.type === 'none') return true;
    const rec = this.nanny.record(c.key);
    return !!rec && inPool(rec);
  }

  /** What the backend is given: the healthy pool, or every candidate when the engine checks health itself. */
  currentState(allCandidates = this.backend.checksHealth): DesiredState {
    return desiredState(this.d, this.candidates, allCandidates ? () => true : (c) => this.passes(c));
  }

  private scheduleRefresh(): void {
    if (this.stopped) return;
    clearTimeout(this.refreshTimer);
    // Coalesce a burst of registrations into one recomputation.
    this.refreshTimer = setTimeout(() => void this.refresh(), 50);
  }

  private async loadNodes(): Promise<DirectorNode[]> {
    const { store, registry } = this.ctx;
    const [nodes, groups] = await Promise.all([store.listNodes(), store.listGroups()]);
    const byName = new Map(groups.map((g) => [g.name, g]));
    return nodes.map((n: NodeRecord) => ({
      name: n.name,
      group: n.group,
      interfaces: n.interfaces,
      vars: registry.effective(n, n.group ? byName.get(n.group) : undefined).vars,
    }));
  }

  async refresh(): Promise<void> {
    const run = async () => {
      let nodes: DirectorNode[];
      try {
        nodes = await this.loadNodes();
      } catch (e) {
        this.log.error(`director: could not read the registry: ${(e as Error).message}`);
        return;
      }
      if (this.stopped) return;
      this.candidates = realServerCandidates(this.d, this.ctx.cfg.networks, nodes);
      const keys = new Set(this.candidates.map((c) => c.key));
      for (const k of [...this.history.keys()]) if (!keys.has(k)) this.history.delete(k);
      this.reportExclusions();
      const checkOf = new Map(this.d.services.map((s) => [s.name, s.check]));
      this.nanny.set(
        this.candidates
          .filter((c) => !c.excluded && c.address !== undefined && checkOf.get(c.service)!.type !== 'none')
          .map((c) => ({ candidate: c, check: checkOf.get(c.service)! })),
      );
      this.updatePoolMetrics();
      this.scheduleApply();
    };
    const p = (this.refreshing ?? Promise.resolve()).then(run);
    this.refreshing = p;
    await p;
  }

  /** A node kept out of the pool (wrong router, no address on the network, bad weight) is logged and put on its timeline once per reason. */
  private reportExclusions(): void {
    const live = new Set<string>();
    for (const c of this.candidates) {
      if (!c.excluded) continue;
      live.add(c.key);
      if (this.excludedSeen.get(c.key) === c.excluded) continue;
      this.excludedSeen.set(c.key, c.excluded);
      this.log.error(`director: service ${c.service}: ${c.excluded}; kept out of the pool`);
      if (c.node) this.ctx.events.record({ node: c.node, kind: 'director.excluded', detail: { service: c.service, reason: c.excluded } });
    }
    for (const k of [...this.excludedSeen.keys()]) if (!live.has(k)) this.excludedSeen.delete(k);
  }

  private onCheck(c: Candidate, r: CheckOutcome, rec: HealthRecord): void {
    this.metrics.checks.inc({ service: c.service, server: c.name, result: r.ok ? 'pass' : 'fail' });
    this.metrics.up.set({ service: c.service, server: c.name }, inPool(rec) ? 1 : 0);
  }

  private onTransition(t: Transition): void {
    const c = t.candidate;
    const address = `${formatIpv4(c.address!)}:${c.port}`;
    const detail = {
      service: c.service,
      server: c.name,
      address,
      check: t.record.lastCheck?.detail ?? '',
      from: t.from,
      ...(t.to === 'down' ? { failures: t.record.failures } : {}),
      afterMs: t.after,
    };
    const list = this.history.get(c.key) ?? [];
    list.push({ at: t.record.lastCheck?.at ?? Date.now(), to: t.to, afterMs: t.after, check: detail.check, failures: t.to === 'down' ? t.record.failures : undefined });
    if (list.length > HISTORY) list.splice(0, list.length - HISTORY);
    this.history.set(c.key, list);
    this.metrics.transitions.inc({ service: c.service, to: t.to });
    // A new server whose first check fails was never in the pool: it is not said to leave it.
    const what = t.to === 'up' ? 'enters the pool' : t.from === 'unknown' ? 'failed its first check, not taken into the pool' : 'leaves the pool';
    const line = `director: ${c.service}: ${c.name} (${address}) ${what}: ${detail.check}`;
    if (t.to === 'down') this.log.warn(line);
    else this.log.info(line);
    this.ctx.events.record({ node: c.node, kind: `director.${t.to}`, detail });
    this.updatePoolMetrics();
    this.scheduleApply();
  }

  private updatePoolMetrics(): void {
    for (const s of this.currentState(false).services) this.metrics.pool.set({ service: s.name }, s.servers.length);
  }

  private scheduleApply(): void {
    if (this.stopped) return;
    this.dirty = true;
    this.applying ??= this.applyLoop();
  }

  private async applyLoop(): Promise<void> {
    while (this.dirty && !this.stopped) {
      this.dirty = false;
      await this.applyOnce();
    }
    this.applying = undefined;
  }

  private async applyOnce(): Promise<void> {
    const state = this.currentState();
    const at = Date.now();
    try {
      const r = await this.backend.apply(state);
      this.applied = state;
      this.lastApply = { at, ok: true, changed: r.changed, summary: r.summary, error: undefined };
      this.metrics.applies.inc({ backend: this.backend.name, result: r.changed ? 'changed' : 'unchanged' });
      if (r.changed) this.log.info(`director: applied (${this.backend.name}): ${r.summary}`);
    } catch (e) {
      const error = (e as Error).message;
      this.lastApply = { at, ok: false, changed: false, summary: '', error };
      this.metrics.applies.inc({ backend: this.backend.name, result: 'error' });
      this.log.error(`director: could not apply the ${this.backend.name} state: ${error}; retrying in ${RETRY_MS / 1000} s`);
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.scheduleApply(), RETRY_MS);
      this.retryTimer.unref();
    }
  }
}

const DIRECTOR = { name: 'director', title: 'the director', enable: 'director.enabled: true', apiPrefixes: ['/api/v1/director'] };

export function directorService(opts: DirectorOptions = {}): DeclaredServiceFactory {
  return declareService(DIRECTOR, (ctx) => (ctx.cfg.config.director.enabled ? new DirectorService(ctx, opts) : undefined));
}
