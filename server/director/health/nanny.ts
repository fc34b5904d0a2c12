// The nanny: one check loop per real server (as piranha ran one nanny process
// per server), each waiting `interval` between the starts of its checks. It
// keeps every server's health record and reports each pool transition.
import { formatIpv4 } from '../../net/ipv4.js';
import type { ResolvedCheck } from '../model.js';
import type { Candidate } from '../realservers.js';
import { initialHealth, step, type CheckOutcome, type HealthRecord, type HealthStateName } from './policy.js';
import { probe as defaultProbe, type Prober } from './probe.js';

export interface NannyTarget {
  candidate: Candidate;
  check: ResolvedCheck;
}

export interface Transition {
  candidate: Candidate;
  to: 'up' | 'down';
  /** The state it left: 'unknown' for a server whose first check failed (it was never in the pool). */
  from: HealthStateName;
  record: HealthRecord;
  /** How long it was in the previous state (ms). */
  after: number;
}

/** Pool transitions kept per real server for GET /api/v1/director (static servers have no node timeline). */
export const HISTORY = 20;

export interface PoolTransition {
  at: number;
  to: 'up' | 'down';
  afterMs: number;
  check: string;
  /** Consecutive failed checks (down only). */
  failures: number | undefined;
}

interface Loop {
  target: NannyTarget;
  /** Identity of what is being checked: a change restarts the loop. */
  signature: string;
  record: HealthRecord;
  timer: NodeJS.Timeout | undefined;
  stopped: boolean;
}

export class Nanny {
  private readonly loops = new Map<string, Loop>();
  private stopped = false;

  constructor(
    private readonly onCheck: (c: Candidate, r: CheckOutcome, rec: HealthRecord) => void,
    private readonly onTransition: (t: Transition) => void,
    private readonly prober: Prober = defaultProbe,
  ) {}

  /** The servers to check now: new ones start (state unknown), gone ones stop, changed ones restart. */
  set(targets: readonly NannyTarget[]): void {
    const want = new Map(targets.map((t) => [t.candidate.key, t]));
    for (const [key, loop] of this.loops) {
      const t = want.get(key);
      if (!t || signature(t) !== loop.signature) this.drop(key);
      else loop.target = t; // weight or name changes need no new check
    }
    for (const [key, t] of want) {
      if (this.loops.has(key) || this.stopped) continue;
      const loop: Loop = { target: t, signature: signature(t), record: initialHealth(Date.now()), timer: undefined, stopped: false };
      this.loops.set(key, loop);
      // First check at once, so a (re)started director fills its pool within one timeout.
      void this.run(loop);
    }
  }

  record(key: string): HealthRecord | undefined {
    return this.loops.get(key)?.record;
  }

  private drop(key: string): void {
    const loop = this.loops.get(key);
    if (!loop) return;
    loop.stopped = true;
    clearTimeout(loop.timer);
    this.loops.delete(key);
  }

  private async run(loop: Loop): Promise<void> {
    if (loop.stopped) return;
    const { candidate: c, check } = loop.target;
    const started = Date.now();
    const result = await this.prober({
      address: formatIpv4(c.address!),
      port: check.port ?? c.port,
      type: check.type === 'tcp' ? 'tcp' : 'http',
      path: check.path,
      host: check.host,
      expect: check.expect,
      timeoutMs: check.timeoutMs,
    });
    if (loop.stopped) return;
    const prev = loop.record;
    const { next, transition } = step(prev, result, check);
    loop.record = next;
    this.onCheck(c, result, next);
    if (transition) this.onTransition({ candidate: loop.target.candidate, to: transition, from: prev.state, record: next, after: result.at - prev.since });
    const wait = Math.max(0, check.intervalMs - (Date.now() - started));
    loop.timer = setTimeout(() => void this.run(loop), wait);
    loop.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    for (const key of [...this.loops.keys()]) this.drop(key);
  }
}

function signature(t: NannyTarget): string {
  const c = t.candidate;
  return JSON.stringify([c.address, c.port, t.check]);
}
