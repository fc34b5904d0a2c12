// Power actions on nodes: resolve the node's BMC (node over group over the
// config), open its password, drive it through ipmitool/FreeIPMI or Redfish
// with a timeout and a bounded number at once, and put every action and its
// outcome on the node's timeline and in /metrics. A BMC that fails is a
// result naming the node, the BMC's address and what was tried; it never
// holds up other nodes (each node's actions run on their own, and a bulk
// request reports each node as it finishes).
import { readFileSync } from 'node:fs';
import { Counter, Gauge, Histogram, type Registry as Metrics } from 'prom-client';
import type { CommandRunner } from '../director/exec.js';
import type { EventRecorder } from '../events/recorder.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/types.js';
import { bmcLabel, effectiveBmc, type EffectiveBmc } from './bmc.js';
import { IPMI_DEFAULTS, type ResolvedPower } from './config.js';
import { AuthGuard } from './guard.js';
import { IpmiDriver } from './ipmi-driver.js';
import { IpmipowerBatcher } from './ipmipower-batch.js';
import { Limiter } from './limiter.js';
import { RedfishDriver } from './redfish.js';
import type { BmcKeyring } from '../store/bmc-keyring.js';
import { BmcError, STARTING_ACTIONS, type BmcErrorKind, type BootDevice, type PowerAction, type PowerDriver, type PowerState } from './types.js';

export interface PowerRequest {
  action: PowerAction | 'status';
  bootdev?: BootDevice;
  persistent?: boolean;
  /** Who asked, on the timeline: api, reprovision, ... */
  source: string;
}

export interface PowerResult {
  node: string;
  action: PowerAction | 'status';
  ok: boolean;
  /** The state read (status) or the one the action leaves (null when not known, e.g. after soft). */
  state: PowerState | null;
  bootdev: BootDevice | null;
  /** "ipmi 10.0.2.11:623" */
  bmc: string | null;
  /** "ipmitool lanplus -C 3", "redfish session auth" */
  via: string | null;
  /** Names the node, the BMC's address and what was tried. */
  error: string | null;
  kind: BmcErrorKind | 'config' | null;
  tried: string | null;
  ms: number;
  at: string;
}

export interface LastSeen {
  state: PowerState | null;
  at: number;
}

export interface ControllerDeps {
  store: Store;
  keys: BmcKeyring;
  power: ResolvedPower;
  events: EventRecorder;
  metrics: Metrics;
  log: Logger;
  runner: CommandRunner;
}

// Long enough for a bulk request's nodes to reach the driver together, short beside a BMC's answer.
const BATCH_WINDOW_MS = 10;

const STATE_AFTER: Record<PowerAction, PowerState | null> = { on: 'on', off: 'off', cycle: 'on', reset: 'on', soft: null };

export class PowerController {
  readonly timeoutMs: number;
  private readonly limiter: Limiter;
  private readonly guard: AuthGuard;
  private readonly seen = new Map<string, LastSeen>();
  private readonly lastActions = new Map<string, PowerResult>();
  private readonly m;
  private readonly stopping = new AbortController();
  private readonly batcher: IpmipowerBatcher;

  constructor(private readonly d: ControllerDeps) {
    this.timeoutMs = d.power.timeoutMs;
    this.guard = new AuthGuard(d.power.authBackoffMs);
    const registers = [d.metrics];
    this.m = {
      actions: new Counter({ name: 'rackboot_power_actions_total', help: 'Power actions and status reads by BMC type and result (ok, or the kind of failure)', labelNames: ['action', 'type', 'result'], registers }),
      seconds: new Histogram({ name: 'rackboot_power_action_seconds', help: 'Time of a power action or status read, BMC exchanges included', labelNames: ['action', 'type'], buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30], registers }),
      running: new Gauge({ name: 'rackboot_power_bmc_operations_running', help: 'BMC operations (tool runs, Redfish exchanges) running now', registers }),
      waiting: new Gauge({ name: 'rackboot_power_bmc_operations_waiting', help: 'BMC operations waiting for a slot (power.concurrency)', registers }),
    };
    this.limiter = new Limiter(d.power.concurrency, (r, w) => (this.m.running.set(r), this.m.waiting.set(w)));
    this.batcher = new IpmipowerBatcher(d.runner, { timeoutMs: this.timeoutMs, retries: d.power.ipmi.retries ?? IPMI_DEFAULTS.retries, windowMs: BATCH_WINDOW_MS, maxHosts: 64 });
  }

  lastSeen(node: string): LastSeen | undefined {
    return this.seen.get(node);
  }

  lastAction(node: string): PowerResult | undefined {
    return this.lastActions.get(node);
  }

  /** Stop starting staggered actions (those already running finish). */
  stop(): void {
    this.stopping.abort();
  }

  /** The BMC a node's actions use, or why there is none. */
  async bmcOf(name: string): Promise<EffectiveBmc | { problem: string } | undefined> {
    const node = await this.d.store.getNode(name);
    if (!node) return undefined;
    const group = node.group ? await this.d.store.getGroup(node.group) : undefined;
    return effectiveBmc(node.bmc, group?.bmc ?? null, this.d.power);
  }

  /** One node; actions on the same node run one after the other. */
  run(name: string, req: PowerRequest): Promise<PowerResult> {
    return this.limiter.serial(name, () => this.runNow(name, req));
  }

  /**
   * Several nodes: those that start a machine (on, cycle, reset) are started
   * `staggerMs` apart, the rest at once; each result goes to onResult as it
   * comes. Returns every result, in the order of `names`.
   */
  async runMany(names: readonly string[], req: PowerRequest, staggerMs: number, onResult: (r: PowerResult) => void = () => undefined): Promise<PowerResult[]> {
    const gap = STARTING_ACTIONS.has(req.action) ? staggerMs : 0;
    const all: Array<Promise<PowerResult>> = [];
    for (const [i, name] of names.entries()) {
      if (i > 0 && gap > 0) await this.pause(gap);
      const p = this.stopping.signal.aborted ? Promise.resolve(this.notStarted(name, req)) : this.run(name, req);
      all.push(p.then((r) => (onResult(r), r)));
    }
    return Promise.all(all);
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.stopping.signal;
      if (signal.aborted) return resolve();
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done);
    });
  }

  private notStarted(name: string, req: PowerRequest): PowerResult {
    return this.result(name, req, Date.now(), { error: `${name}: not started: the server is stopping`, kind: 'config' });
  }

  private result(name: string, req: PowerRequest, t0: number, r: Partial<PowerResult>): PowerResult {
    return { node: name, action: req.action, ok: false, state: null, bootdev: req.bootdev ?? null, bmc: null, via: null, error: null, kind: null, tried: null, ...r, ms: Date.now() - t0, at: new Date().toISOString() };
  }

  private password(b: EffectiveBmc): string {
    if ('sealed' in b.secret) return this.d.keys.open(b.secret.sealed);
    try {
      return readFileSync(b.secret.file, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      throw new Error(`cannot read its BMC password file ${b.secret.file} (${(e as NodeJS.ErrnoException).code})`);
    }
  }

  private driver(b: EffectiveBmc, password: string): PowerDriver {
    if (b.type === 'redfish') return new RedfishDriver(b, password, { timeoutMs: this.timeoutMs });
    return new IpmiDriver(this.d.runner, this.d.power.ipmi.tool, b, password, { timeoutMs: this.timeoutMs, retries: this.d.power.ipmi.retries ?? IPMI_DEFAULTS.retries }, this.batcher);
  }

  private async runNow(name: string, req: PowerRequest): Promise<PowerResult> {
    const t0 = Date.now();
    const isAction = req.action !== 'status';
    const detail = { action: req.action, ...(req.bootdev ? { bootdev: req.bootdev, persistent: !!req.persistent } : {}), source: req.source };
    const fail = (r: Partial<PowerResult> & { error: string; kind: PowerResult['kind'] }, type: string): PowerResult => {
      const res = this.result(name, req, t0, r);
      this.m.actions.inc({ action: req.action, type, result: r.kind ?? 'error' });
      if (isAction) {
        this.d.events.record({ node: name, kind: 'power.failed', detail: { ...detail, error: res.error, kind: res.kind, tried: res.tried, bmc: res.bmc, via: res.via, ms: res.ms } });
        this.lastActions.set(name, res);
      }
      this.d.log.warn(`power: ${res.error}`);
      return res;
    };
    const bmc = await this.bmcOf(name);
    if (!bmc) return this.result(name, req, t0, { error: `no node named '${name}'`, kind: 'config' });
    if ('problem' in bmc) {
      if (isAction) this.d.events.record({ node: name, kind: 'power.requested', detail: { ...detail, bmc: null } });
      return fail({ error: `${name} ${bmc.problem}`, kind: 'config' }, 'none');
    }
    const label = bmcLabel(bmc);
    let password: string;
    try {
      password = this.password(bmc);
    } catch (e) {
      if (isAction) this.d.events.record({ node: name, kind: 'power.requested', detail: { ...detail, bmc: label } });
      return fail({ error: `${name}: ${(e as Error).message}`, kind: 'config', bmc: label }, bmc.type);
    }
    const driver = this.driver(bmc, password);
    const common = { bmc: label, via: driver.via };
    if (isAction) this.d.events.record({ node: name, kind: 'power.requested', detail: { ...detail, ...common } });
    const blocked = this.guard.blocked(bmc, password);
    if (blocked) {
      const error = `${name}: not tried: the BMC at ${label} refused these credentials ${Math.round(blocked.sinceMs / 1000)} s ago; no new attempt with them for ${Math.ceil(blocked.leftMs / 1000)} s more (power.authBackoff): correct bmc.username or bmc.password`;
      return fail({ ...common, error, kind: 'auth', tried: null }, bmc.type);
    }
    const end = this.m.seconds.startTimer({ action: req.action, type: bmc.type });
    let state: PowerState | null = null;
    try {
      const call = <T>(fn: () => Promise<T>) => this.limiter.run(fn);
      if (req.bootdev) await call(() => driver.bootDevice(req.bootdev!, !!req.persistent));
      if (req.action === 'status') state = await call(() => driver.status());
      else if (req.action === 'cycle') {
        // A cycle of a machine that is off starts it (IPMI leaves an off machine off).
        const now = await call(() => driver.status());
        await call(() => driver.power(now === 'off' ? 'on' : 'cycle'));
        state = 'on';
      } else {
        await call(() => driver.power(req.action as PowerAction));
        state = STATE_AFTER[req.action];
      }
    } catch (e) {
      end();
      const err = e instanceof BmcError ? e : new BmcError('refused', `failed: ${(e as Error).message}`, driver.via);
      if (err.kind === 'auth') this.guard.noteRefused(bmc, password);
      // A tool or a BMC could echo what it was given: the message never carries the password.
      const msg = password.length >= 4 ? err.message.split(password).join('(hidden)') : err.message;
      return fail({ ...common, error: `${name}: the BMC at ${label} ${msg} (tried: ${err.tried}, via ${driver.via})`, kind: err.kind, tried: err.tried }, bmc.type);
    }
    end();
    this.guard.noteAccepted(bmc, password);
    const prev = this.seen.get(name);
    this.seen.set(name, { state: state ?? prev?.state ?? null, at: Date.now() });
    const res = this.result(name, req, t0, { ...common, ok: true, state });
    this.m.actions.inc({ action: req.action, type: bmc.type, result: 'ok' });
    if (isAction) {
      this.d.events.record({ node: name, kind: 'power.ok', detail: { ...detail, ...common, state, ms: res.ms } });
      this.lastActions.set(name, res);
      this.d.log.info(`power: ${name} ${req.action}${req.bootdev ? ` (next boot ${req.bootdev})` : ''} through ${label} (${driver.via}): ok in ${res.ms} ms`);
    }
    return res;
  }
}
