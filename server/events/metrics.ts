import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The event-loop lag sampler's period. prom-client's default (10 ms) woke an
 * idle server 100 times a second, each wake-up taking a core from whatever
 * else runs (on a boot server: the blades' VMs, whose PXE round trips it
 * slowed; docs/benchmarks.md). 100 ms still shows a stall.
 */
export const LAG_SAMPLE_MS = 100;

/** prom-client's own sampler, turned into one that never fires (Node wants an int32 period): ours replaces it. */
const NEVER_MS = 2 ** 31 - 1;

const LAG_STATS = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'] as const;

/** A server's metrics registry; dispose() stops its lag sampler (a server stopped in a process that goes on). */
export type RackbootMetrics = Registry & { dispose(): void };

/** One registry per server instance (tests run several in one process). */
export function createMetrics(): RackbootMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'rackboot_', eventLoopMonitoringPrecision: NEVER_MS });
  const sampler = addLagHistogram(registry);
  return Object.assign(registry, { dispose: () => sampler.disable() });
}

/**
 * rackboot_nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds,
 * under prom-client's names but as lag: Node's histogram records the time
 * between the sampler's timer firings, so an idle loop reads as the period
 * itself (0.1 s), and a dashboard alerting at 50 ms would always fire. Here
 * the period is taken off: an idle loop reads ~0, a loop blocked for 300 ms
 * ~0.3 s (less up to one period).
 */
function addLagHistogram(registry: Registry): IntervalHistogram {
  const h = monitorEventLoopDelay({ resolution: LAG_SAMPLE_MS });
  h.enable();
  const period = LAG_SAMPLE_MS * 1e6;
  const beyond = (ns: number) => Math.max(0, ns - period) / 1e9;
  const read: Record<(typeof LAG_STATS)[number], () => number> = {
    min: () => beyond(h.min),
    max: () => beyond(h.max),
    mean: () => beyond(h.mean),
    // A constant offset does not change the spread.
    stddev: () => h.stddev / 1e9,
    p50: () => beyond(h.percentile(50)),
    p90: () => beyond(h.percentile(90)),
    p99: () => beyond(h.percentile(99)),
  };
  // A scrape reads the seven gauges one after another: the first read of a scrape (a statistic
  // not read since the last snapshot) takes one snapshot of all of them and restarts the window.
  let snap: Record<string, number> | undefined;
  let taken = new Set<string>();
  const take = (stat: string): number => {
    if (!snap || taken.has(stat)) {
      const s: Record<string, number> = {};
      for (const k of LAG_STATS) s[k] = h.count ? read[k]() : 0;
      snap = s;
      taken = new Set();
      h.reset();
    }
    taken.add(stat);
    return snap[stat]!;
  };
  for (const stat of LAG_STATS) {
    const name = `rackboot_nodejs_eventloop_lag_${stat}_seconds`;
    registry.removeSingleMetric(name);
    new Gauge({
      name,
      help: `The ${stat} of the event loop's lag since the last scrape, in seconds (sampled every ${LAG_SAMPLE_MS} ms; the sampling period itself is not counted).`,
      registers: [registry],
      collect() {
        this.set(take(stat));
      },
    });
  }
  return h;
}
