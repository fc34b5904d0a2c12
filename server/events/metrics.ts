import { Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per server instance (tests run several in one process). */
export function createMetrics(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'rackboot_' });
  return registry;
}
