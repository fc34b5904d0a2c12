// bench/image: the two figures of issue 6, each beside its reference in the
// same run.
//
// 1. Build time of web-blade: rackboot's builder (resolve recipe, cpio,
//    parallel gzip, hashes, store) against the classic pipeline on the same
//    tree, `find . | cpio -o -H newc | gzip`, runs interleaved. Bar: <= 1.0x.
// 2. Per-node overlay cost per request with 1,000 registered nodes: lookup of
//    boot/<node>/initrd through the boot hub and a read of the overlay part,
//    first with empty caches (overlay built), then cached. Bar: < 5 ms. The
//    reference is what overlays replace: building a whole image per node
//    (the classic pipeline's time from part 1).
//
//   node dist/bench/image.js [--runs 5] [--nodes 1000] [--recipe web-blade]
// Needs the blade kernel (scripts/fetch-kernel.sh), busybox-static, cpio, gzip;
// root to extract the tree with its device nodes.
// Figures in docs/benchmarks.md: node dist/bench/image.js --runs 7 --nodes 1000
// bench:smoke args: --runs 1 --nodes 5
// bench:smoke needs: root busybox cpio gzip find
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveConfig } from '../server/main/config.js';
import { buildImage } from '../server/images/builder.js';
import { loadRecipe } from '../server/images/recipe.js';
import { imagesService } from '../server/images/service.js';
import { ImageStore } from '../server/images/store.js';
import { silentLogger } from '../server/log.js';
import { RackbootServer } from '../server/main/server.js';
import { SHIPPED_IMAGES } from '../server/paths.js';
import { printResult } from './lib/result.js';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, nodes: { type: 'string', default: '1000' }, recipe: { type: 'string', default: 'web-blade' } },
});
const RUNS = Number(values.runs);
const NODES = Number(values.nodes);
const RECIPE = values.recipe!;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const ms = (n: number) => `${n.toFixed(n < 10 ? 2 : 0)} ms`;

function sh(cmd: string, cwd?: string): string {
  const r = spawnSync('sh', ['-c', cmd], { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout;
}

/** Run a pipeline; its wall time and the CPU time (user + system) of its processes, from the shell's `times`. */
function timedPipeline(cmd: string, cwd: string): { wall: number; cpu: number } {
  const t0 = performance.now();
  const out = sh(`${cmd}; times`, cwd);
  const wall = performance.now() - t0;
  const lines = out.trim().split('\n');
  const secs = (lines[lines.length - 1] ?? '').split(/\s+/).map((x) => {
    const m = /^(\d+)m([\d.]+)s$/.exec(x);
    return m ? Number(m[1]) * 60 + Number(m[2]) : 0;
  });
  return { wall, cpu: (secs[0]! + secs[1]!) * 1000 };
}

const root = mkdtempSync(join(tmpdir(), 'rb-bench-image-'));
const dataDir = join(root, 'var');
const cluster = { name: 'bench', domain: 'cluster.local', vars: {} };
console.log(`bench/image: ${RECIPE}, ${RUNS} runs, ${NODES} nodes; ${availableParallelism()} cores (${cpus()[0]?.model ?? '?'}), load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);

try {
  // ---- 1. build time ------------------------------------------------------
  const store = new ImageStore(join(dataDir, 'images'), 3);
  const recipe = loadRecipe(RECIPE, [SHIPPED_IMAGES]);
  let t0 = performance.now();
  const first = await buildImage(recipe, { store, cluster });
  const cold = performance.now() - t0;
  const initrd = join(store.versionDir(RECIPE, first.version), 'initrd');
  const m = first.manifest;
  console.log(
    `first build (unpacks the kernel .deb, indexes its modules): ${ms(cold)}; ${m.initrd.entries} entries, ` +
      `${(m.initrd.uncompressedSize / 1048576).toFixed(1)} MiB cpio -> ${(m.initrd.size / 1048576).toFixed(2)} MiB gzip`,
  );
  // The same tree on disk for the classic pipeline (as root: device nodes).
  const tree = join(root, 'tree');
  mkdirSync(tree);
  sh(`gzip -dc "${initrd}" | cpio -id --quiet`, tree);
  const classicOut = join(root, 'classic.cpio.gz');
  const ours: number[] = [];
  const oursCpu: number[] = [];
  const classic: number[] = [];
  const classicCpu: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    t0 = performance.now();
    const c0 = process.cpuUsage();
    const r = await buildImage(recipe, { store, cluster });
    ours.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    oursCpu.push((c.user + c.system) / 1000);
    if (r.version !== first.version) throw new Error('a rebuild of the same inputs gave another version');
    const k = timedPipeline(`find . | cpio -o -H newc --quiet | gzip > "${classicOut}"`, tree);
    classic.push(k.wall);
    classicCpu.push(k.cpu);
  }
  const classicSize = statSync(classicOut).size;
  console.log(`\nbuild of ${RECIPE} (same tree; runs interleaved):`);
  console.log(`  rackboot (resolve + cpio + parallel gzip + sha256 + store): ${ours.map((x) => x.toFixed(0)).join(', ')} ms; median ${ms(median(ours))}; ${(m.initrd.size / 1048576).toFixed(2)} MiB`);
  console.log(`  find | cpio -o -H newc | gzip:                              ${classic.map((x) => x.toFixed(0)).join(', ')} ms; median ${ms(median(classic))}; ${(classicSize / 1048576).toFixed(2)} MiB`);
  console.log(`  CPU time (user + system, all threads / processes): rackboot median ${ms(median(oursCpu))}, classic median ${ms(median(classicCpu))}`);
  const ratio = median(ours) / median(classic);
  console.log(`  ratio rackboot/classic, wall time: ${ratio.toFixed(2)}x (bar <= 1.0x: ${ratio <= 1 ? 'met' : 'MISSED'}); CPU time: ${(median(oursCpu) / median(classicCpu)).toFixed(2)}x`);

  // ---- 2. overlay per request at N nodes -----------------------------------
  const cfg = resolveConfig(
    {
      dataDir,
      api: { listen: '127.0.0.1:0', token: 'bench-token', publicUrl: 'http://10.16.0.1:8080' },
      dhcp: { enabled: false },
      tftp: { enabled: false },
      nfs: { backend: 'none' },
      networks: [
        { name: 'a', cidr: '10.16.0.0/16', serverAddress: '10.16.0.1', staticRange: '10.16.0.10-10.16.255.250' },
        { name: 'b', cidr: '10.17.0.0/16', serverAddress: '10.17.0.1', staticRange: '10.17.0.10-10.17.255.250' },
      ],
      images: { discoveryImage: null },
    },
    null,
    {},
  );
  const server = new RackbootServer(cfg, silentLogger(), { factories: [imagesService] });
  await server.start();
  try {
    // An export for every node's network, as the NFS service would give.
    server.boot.exports = { names: () => ['www'], mountFor: () => ({ source: '10.16.0.1:/www', options: 'vers=4,ro', contentDir: 'current' }) };
    await server.store.createGroup({ name: 'web', image: RECIPE });
    const hex = (n: number, b: number) => ((n >> b) & 255).toString(16).padStart(2, '0');
    // Each node asks from its own address (images.overlayClients: node, the default).
    const addressOf: string[] = [];
    for (let i = 0; i < NODES; i++) {
      const made = await server.registry.createNode({
        name: `blade${i}`,
        group: 'web',
        interfaces: [
          { name: 'eth0', mac: `52:54:01:${hex(i, 16)}:${hex(i, 8)}:${hex(i, 0)}`, network: 'a' },
          { name: 'eth1', mac: `52:54:02:${hex(i, 16)}:${hex(i, 8)}:${hex(i, 0)}`, network: 'b' },
        ],
      });
      addressOf.push(made.interfaces[0]!.ipv4!);
    }
    const base = statSync(initrd).size;
    const overlayStart = (base + 3) & ~3;
    const cpuPer: number[] = [];
    const pass = async (): Promise<number[]> => {
      const times: number[] = [];
      const c0 = process.cpuUsage();
      for (let i = 0; i < NODES; i++) {
        const t = performance.now();
        const f = (await server.boot.lookup(`boot/blade${i}/initrd`, { address: addressOf[i]!, protocol: 'tftp' }))!;
        const ov = await f.read(overlayStart, f.size);
        await f.close?.();
        times.push(performance.now() - t);
        if (ov.toString('latin1', 0, 6) !== '070701') throw new Error('overlay not where expected');
      }
      const c = process.cpuUsage(c0);
      cpuPer.push((c.user + c.system) / 1000 / NODES);
      return times;
    };
    server.registry.groupChanged('web'); // empty caches
    const coldPass = await pass();
    const warmPass = await pass();
    server.registry.groupChanged('web');
    const cold2 = await pass();
    const all = [...coldPass, ...cold2];
    console.log(`\nper-node overlay, ${NODES} nodes (lookup of boot/<node>/initrd + read of the overlay, per request):`);
    console.log(`  overlay built (empty cache): median ${ms(median(all))}, p99 ${ms(pct(all, 99))}, max ${ms(Math.max(...all))}; CPU ${ms((cpuPer[0]! + cpuPer[2]!) / 2)} per request`);
    console.log(`  overlay cached:              median ${ms(median(warmPass))}, p99 ${ms(pct(warmPass, 99))}, max ${ms(Math.max(...warmPass))}; CPU ${ms(cpuPer[1]!)} per request`);
    console.log(`  reference, a whole image per node (classic pipeline above): ${ms(median(classic))} per node`);
    const worst = pct(all, 99);
    const bar = median(all) < 5 && worst < 5 ? 'met' : median(all) < 5 ? 'met at the median, not at p99' : 'MISSED';
    console.log(`  bar < 5 ms per request: ${bar}`);
    printResult(
      'image',
      `build rackboot/classic ${ratio.toFixed(2)}x wall (bar <= 1.0x), ${(median(oursCpu) / median(classicCpu)).toFixed(2)}x CPU, medians of ${RUNS} runs; ` +
        `overlay per request at ${NODES} nodes: built median ${ms(median(all))} p99 ${ms(worst)}, cached median ${ms(median(warmPass))} (bar < 5 ms: ${bar})`,
    );
  } finally {
    await server.stop();
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
