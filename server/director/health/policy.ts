// The nanny's decisions, pure: given a server's health record and one check
// result, its next record and whether it entered or left the pool.
// - unknown (just added): the first pass puts it in the pool, a failure marks it down;
// - up: `retries` consecutive failures take it out;
// - down: a pass starts reentry; it returns once it has passed for `reentry`
//   (every check in between passing); a failure meanwhile starts over.

export type HealthStateName = 'unknown' | 'up' | 'down' | 'recovering';

export interface HealthRecord {
  state: HealthStateName;
  /**
   * When the server last entered or left the pool (epoch ms). `recovering` is
   * still out of the pool: going down -> recovering -> down keeps it, so the
   * next `up` transition's time in the previous state is the whole downtime.
   */
  since: number;
  /** Consecutive failed checks. */
  failures: number;
  /** When the current run of passing checks began (recovering). */
  passingSince: number | undefined;
  lastCheck: { ok: boolean; at: number; detail: string } | undefined;
}

export interface CheckOutcome {
  ok: boolean;
  at: number;
  detail: string;
}

export interface StepResult {
  next: HealthRecord;
  transition: 'up' | 'down' | undefined;
}

export function initialHealth(now: number): HealthRecord {
  return { state: 'unknown', since: now, failures: 0, passingSince: undefined, lastCheck: undefined };
}

export function inPool(h: HealthRecord): boolean {
  return h.state === 'up';
}

export function step(prev: HealthRecord, r: CheckOutcome, params: { retries: number; reentryMs: number }): StepResult {
  const lastCheck = { ok: r.ok, at: r.at, detail: r.detail };
  if (r.ok) {
    const base = { ...prev, failures: 0, lastCheck };
    switch (prev.state) {
      case 'unknown':
        return { next: { ...base, state: 'up', since: r.at, passingSince: undefined }, transition: 'up' };
      case 'up':
        return { next: base, transition: undefined };
      case 'down':
        if (params.reentryMs <= 0) return { next: { ...base, state: 'up', since: r.at, passingSince: undefined }, transition: 'up' };
        return { next: { ...base, state: 'recovering', passingSince: r.at }, transition: undefined };
      case 'recovering': {
        const from = prev.passingSince ?? r.at;
        if (r.at - from >= params.reentryMs) return { next: { ...base, state: 'up', since: r.at, passingSince: undefined }, transition: 'up' };
        return { next: base, transition: undefined };
      }
    }
  }
  const failures = prev.failures + 1;
  const base = { ...prev, failures, lastCheck };
  switch (prev.state) {
    case 'unknown':
      return { next: { ...base, state: 'down', since: r.at, passingSince: undefined }, transition: 'down' };
    case 'up':
      if (failures >= params.retries) return { next: { ...base, state: 'down', since: r.at, passingSince: undefined }, transition: 'down' };
      return { next: base, transition: undefined };
    case 'recovering':
      // Not back in the pool yet: no event, just start the wait over.
      return { next: { ...base, state: 'down', passingSince: undefined }, transition: undefined };
    case 'down':
      return { next: base, transition: undefined };
  }
}
