// bench/render: the renderer alone (no HTTP, no TFTP): how long a boot config
// takes to render on request through the boot hub (registry lookups, scope,
// Handlebars, the file checks that pick up template changes), and how long
// `templates check` takes for a cluster of --nodes nodes. No reference
// implementation renders per request the same way; these are rackboot's own
// figures.
//
// Each config is asked for as its node would: from the node's own registered
// address (a node's config carries its report token and goes only to that
// node's addresses, images.overlayClients: node, the default). The renderer
// runs in this process, so the address is simply the one the lookup is given.
//
//   node dist/bench/render.js [--nodes 1000] [--requests 20000]
// Figures in docs/benchmarks.md: node dist/bench/render.js --nodes 1000 --requests 20000
// bench:smoke args: --nodes 20 --requests 200
import { parseArgs } from 'node:util';
import { PXELINUX } from '../server/boot/loaders.js';
import { silentLogger } from '../server/log.js';
import { RenderProvider } from '../server/render/provider.js';
import { renderFixture } from '../test/integration/render/fixture.js';
import { printResult } from './lib/result.js';

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '1000' }, requests: { type: 'string', default: '20000' } } });
const N = Number(values.nodes);
const REQUESTS = Number(values.requests);

const f = await renderFixture({ networks: [{ name: 'inside', cidr: '10.0.0.0/16', serverAddress: '10.0.0.1', router: '10.0.0.254', staticRange: '10.0.1.1-10.0.200.254' }], nodes: [] });
try {
  const macs: string[] = [];
  /** Each node's own address, which its requests come from. */
  const addresses: string[] = [];
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const mac = `52:54:00:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
    macs.push(mac);
    const node = await f.registry.createNode({ name: `blade${i}`, group: 'web', interfaces: [{ name: 'eth0', mac, network: 'inside' }] });
    addresses.push(node.interfaces[0]!.ipv4!);
  }
  console.log(`registered ${N} nodes in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const provider = new RenderProvider(f.renderer, f.cfg, f.events, silentLogger(), undefined);
  const lat: number[] = [];
  const t1 = performance.now();
  for (let i = 0; i < REQUESTS; i++) {
    const n = (i * 7919) % N;
    const mac = macs[n]!;
    const s = performance.now();
    const file = await provider.lookup(PXELINUX.configFile(mac), { address: addresses[n]!, protocol: 'tftp' });
    if (!file || file.size < 100) throw new Error(`no config for ${mac}`);
    lat.push(performance.now() - s);
  }
  const wall = performance.now() - t1;
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.floor(lat.length * p)]!.toFixed(3);
  const rate = REQUESTS / (wall / 1000);
  console.log(`${REQUESTS} per-MAC PXELINUX configs through the provider: ${rate.toFixed(0)}/s on one thread; latency ms p50 ${q(0.5)} p90 ${q(0.9)} p99 ${q(0.99)}`);

  const checks: number[] = [];
  for (let r = 0; r < 3; r++) {
    const report = await f.renderer.check();
    if (!report.ok) throw new Error(report.errors.slice(0, 3).map((e) => e.message).join('\n'));
    checks.push(report.ms);
    console.log(`templates check: ${report.renders} renders (4 loaders x ${report.nodes} nodes + defaults, each syntax-checked) in ${report.ms} ms`);
  }
  printResult('render', `${rate.toFixed(0)} configs/s on one thread (p50 ${q(0.5)} ms, p99 ${q(0.99)} ms), ${N} nodes; templates check median ${checks.sort((a, b) => a - b)[1]} ms (no reference)`);
} finally {
  await f.close();
}
