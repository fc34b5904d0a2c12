import { Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per server instance (tests run several in one process). */
export function createMetrics(): Registry {
  const registry = new Registry();
  // The event-loop lag histogram samples on a timer; prom-client's default (10 ms) woke an idle
  // server 100 times a second, each wake-up taking a core from whatever else runs (on a boot
  // server: the blades' VMs, whose PXE round trips it slowed). 100 ms still shows a stall.
  collectDefaultMetrics({ register: registry, prefix: 'rackboot_', eventLoopMonitoringPrecision: 100 });
  return registry;
}
