// Shared fixtures for the NFS unit tests: resolved networks and exports, and
// golden-file comparison (UPDATE_GOLDEN=1 rewrites them).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { resolveConfig } from '../../../server/main/config.js';
import type { ResolvedExport } from '../../../server/nfs/model.js';
import { TEST_NETWORKS } from '../../helpers/server.js';

const GOLDEN = new URL('../../../../test/unit/nfs/golden/', import.meta.url).pathname;

export function golden(name: string, actual: string): void {
  const file = GOLDEN + name;
  if (process.env.UPDATE_GOLDEN) writeFileSync(file, actual);
  assert.equal(actual, readFileSync(file, 'utf8'), `differs from ${file} (UPDATE_GOLDEN=1 rewrites it after review)`);
}

export function loaded(nfs: Record<string, unknown> = { exports: [] }) {
  return resolveConfig({ dataDir: '/tmp/rb', api: { token: 't' }, networks: TEST_NETWORKS, nfs }, null, {});
}

export function exp(over: Partial<ResolvedExport> & { name: string }): ResolvedExport {
  return {
    path: `/srv/content/${over.name}`,
    realPath: `/srv/content/${over.name}`,
    networks: ['inside'],
    access: 'ro',
    squash: 'root_squash',
    sync: true,
    allowRwNetwork: false,
    pseudo: `/${over.name}`,
    layout: 'releases',
    origin: 'config',
    clients: [{ network: 'inside', cidr: '10.0.0.0/24', serverAddress: '10.0.0.1' }],
    exportId: 1,
    ...over,
  };
}

export const INSIDE2 = { network: 'inside2', cidr: '10.0.1.0/24', serverAddress: '10.0.1.1' };

/** Three exports covering ro/rw, squash kinds, async, two networks, one directory exported twice. */
export function sampleExports(): ResolvedExport[] {
  return [
    exp({ name: 'www', exportId: 1 }),
    exp({ name: 'scratch', exportId: 3, access: 'rw', allowRwNetwork: true, squash: 'all_squash', sync: false, origin: 'api', networks: ['inside', 'inside2'], clients: [exp({ name: 'x' }).clients[0]!, INSIDE2], layout: 'plain' }),
    exp({ name: 'www2', exportId: 2, realPath: '/srv/content/www', path: '/srv/content/www', networks: ['inside2'], clients: [INSIDE2], origin: 'api' }),
  ];
}
