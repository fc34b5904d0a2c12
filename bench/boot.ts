// bench/boot: how fast blades boot from the network, rackboot against the
// dnsmasq reference, in the same run on the same machine (lab topology,
// QEMU TCG blades). Every server boots the same blade repeatedly, the servers
// taking turns, and the medians are compared. Issue 9's question: TFTP
// against HTTP for the same RAM disk, 2 and 4 blades at once, dnsmasq as the
// reference; its bar: rackboot's TFTP boot no slower than dnsmasq's, its HTTP
// boot faster.
//
//   node dist/bench/boot.js [--runs 3] [--servers LIST] [--together 2,4] [--load 10] [--json FILE] [--verbose]
//   node dist/bench/boot.js --help
// Figures in docs/benchmarks.md: node dist/bench/boot.js --runs 3 (one blade alone:
//   node dist/bench/boot.js --runs 5 --servers dnsmasq-web-blade,web-blade-tftp --together '' --load 0)
// bench:smoke args: --runs 1 --together 1 --load 1
// bench:smoke needs: root qemu-system-x86_64 dnsmasq wrk busybox cpio
//
// Default servers: dnsmasq-web-blade,web-blade-tftp,web-blade-http: rackboot's
// web-blade kernel and RAM disk over PXELINUX/TFTP and over iPXE/HTTP, and
// dnsmasq's DHCP+TFTP serving the same kernel and RAM disk (taken from
// rackboot's build in the same run) as the reference. Each rackboot variant is
// compared with the reference that serves the same bytes (see VARIANTS; rackboot
// appends its per-node overlay, a few KiB, to the RAM disk it sends).
//
// Duration of a default run on the 2-core machine: about 12-14 minutes (an
// estimate from earlier runs' figures: 3 labs with an image build each, 9
// single boots of ~30-40 s, then 2 and 4 blades at once for each server at
// ~40-70 s, and 10 s of wrk for the two rackboot labs). It prints the time it
// took at the end. Root; the Debian packages of docs/lab.md.
//
// Figures per boot, from the blade's own console (the same clock for every
// server), seconds since power-on:
//   configured  the NIC ROM has its DHCP address (and has waited out IPv6)
//   files       from then until the RAM disk is loaded: loader, its config,
//               kernel and RAM disk, i.e. the boot server's whole part. The
//               verdict is on this figure.
//   initrd      power-on until the RAM disk is loaded
//   up          power-on until the blade is up (reference: the console line
//               of the RAM disk's init; rackboot: ready reported). Not the same
//               milestone for the reference and rackboot: not compared.
import { rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { DEFAULT_OPTIONS, Lab, webBladeFiles, type BladeBoot, type LabImage, type LabLoader, type LabServer } from '../test/lab/lab.js';
import { ensureKernel } from '../test/lab/kernel.js';
import { parseOptions, requireRoot, runLabBench, UsageError, wholeNumber } from './lib/lab-cli.js';
import { fmt as f, median, verdict, type Verdict } from '../test/lab/verdict.js';
import type { ProbeSummary, WrkResult } from '../test/lab/load.js';
import { printResult } from './lib/result.js';

interface Variant {
  label: string;
  server: LabServer;
  loader: LabLoader;
  image: LabImage;
  /** The reference serving the same kernel and RAM disk, which this variant is compared with. */
  ref?: string;
}

// No busybox variant over iPXE/HTTP: rackboot's iPXE script boots a node's image, and the busybox
// layout is static TFTP files with no image (the blade would be told to boot from its disk).
const VARIANTS: Record<string, Variant> = {
  dnsmasq: { label: 'dnsmasq DHCP+TFTP, busybox (reference)', server: 'dnsmasq', loader: 'pxelinux', image: 'busybox' },
  'rackboot-tftp': { label: 'dnsmasq DHCP + rackboot TFTP, busybox', server: 'rackboot-tftp', loader: 'pxelinux', image: 'busybox', ref: 'dnsmasq' },
  rackboot: { label: 'rackboot DHCP+TFTP, busybox', server: 'rackboot', loader: 'pxelinux', image: 'busybox', ref: 'dnsmasq' },
  // dnsmasq serving rackboot's own web-blade kernel and RAM disk (from boot/_image/web-blade/*): the same bytes.
  'dnsmasq-web-blade': { label: 'dnsmasq DHCP+TFTP, web-blade (reference)', server: 'dnsmasq', loader: 'pxelinux', image: 'busybox' },
  'web-blade-tftp': { label: 'rackboot web-blade, PXELINUX/TFTP', server: 'rackboot', loader: 'pxelinux', image: 'web-blade', ref: 'dnsmasq-web-blade' },
  'web-blade-http': { label: 'rackboot web-blade, iPXE/HTTP', server: 'rackboot', loader: 'ipxe', image: 'web-blade', ref: 'dnsmasq-web-blade' },
};
const DEFAULT_SERVERS = 'dnsmasq-web-blade,web-blade-tftp,web-blade-http';

const USAGE = `usage: node dist/bench/boot.js [options]   (root)

Boots QEMU blades from rackboot and from the dnsmasq reference in the same run
and compares the boot server's part of each boot (medians). A default run
takes about 12-14 minutes on the 2-core machine.

  --runs N          single-blade boots per server (default 3; medians of these)
  --servers LIST    comma-separated, in turn (default ${DEFAULT_SERVERS}):
${Object.entries(VARIANTS)
  .map(([n, v]) => `                      ${n.padEnd(18)} ${v.label}${v.ref ? `; compared with ${v.ref}` : ''}`)
  .join('\n')}
  --together LIST   also power on this many blades at once, once each (default 2,4; empty: none)
  --load S          seconds of wrk through the VIP with the most blades, rackboot labs (default 10; 0: none)
  --json FILE       write every sample, the medians and the verdicts
  --verbose         echo the blades' consoles
  -h, --help`;

interface Sample {
  configured: number;
  files: number;
  /** The parts of files, from the console: DHCP address to loader running, then to kernel loaded (config and kernel), then to RAM disk loaded. */
  parts: { loader: number; kernel: number; initrd: number };
  initrd: number;
  up: number;
  pool?: number;
}

function sample(b: BladeBoot): Sample {
  const at = (m: string) => b.serial.find((e) => e.milestone === m)?.t ?? NaN;
  const configured = at('dhcp');
  // The console's "RAM disk loaded" where the loader prints it; else the end of rackboot's RAM disk transfer.
  const fromEvents = b.rows.find((r) => r.phase === 'initrd' && r.source === 'rackboot');
  const initrd = Number.isFinite(at('initrd')) ? at('initrd') : fromEvents ? fromEvents.at / 1000 : NaN;
  const parts = { loader: at('loader') - configured, kernel: at('kernel') - at('loader'), initrd: initrd - at('kernel') };
  return { configured, files: initrd - configured, parts, initrd, up: b.upAfter, pool: b.poolAfter };
}

function options() {
  const values = parseOptions({
    runs: { type: 'string', default: '3' },
    servers: { type: 'string', default: DEFAULT_SERVERS },
    together: { type: 'string', default: '2,4' },
    load: { type: 'string', default: '10' },
    json: { type: 'string' },
    verbose: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  const runs = wholeNumber('runs', values.runs, 1, 50);
  const names = values.servers!.split(',').filter(Boolean);
  if (!names.length) throw new UsageError('--servers: name at least one');
  for (const n of names) if (!VARIANTS[n]) throw new UsageError(`--servers: unknown '${n}' (${Object.keys(VARIANTS).join(', ')})`);
  if (names.includes('dnsmasq-web-blade') && !names.some((n) => VARIANTS[n]!.image === 'web-blade')) {
    throw new UsageError('--servers: dnsmasq-web-blade takes its files from a web-blade variant in the same run: add web-blade-tftp or web-blade-http');
  }
  const together = values.together!.split(',').filter(Boolean).map(Number);
  for (const k of together) if (!Number.isInteger(k) || k < 1 || k > 16) throw new UsageError(`--together '${values.together}': whole numbers from 1 to 16`);
  const load = Number(values.load);
  if (!(load >= 0 && load <= 600)) throw new UsageError(`--load '${values.load}': seconds from 0 to 600`);
  return { help: !!values.help, runs, names, together, load, json: values.json, verbose: !!values.verbose };
}

interface Together {
  allUp: number;
  allPool?: number;
  each: Sample[];
}

interface Result {
  single: Sample[];
  together: Record<number, Together[]>;
  load?: { blades: number; wrk: Omit<WrkResult, 'raw'>; spread: ProbeSummary };
}

async function main(): Promise<void> {
  const o = options();
  if (o.help) {
    console.log(USAGE);
    return;
  }
  requireRoot();
  const { runs, names, together } = o;
  const t0 = Date.now();
  const maxBlades = Math.max(1, ...together);
  const log = (l: string) => console.log(l);
  const kernel = ensureKernel(log);
  console.log(
    `bench/boot: ${cpus().length} cores, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}, kernel ${kernel.version}, ` +
      `${runs} run(s) of ${names.join(', ')}; at once: ${together.join(', ') || 'none'}`,
  );

  const labs = new Map<string, Lab>();
  const results: Record<string, Result> = {};
  const quiet = { ...DEFAULT_OPTIONS, log: () => {}, verbose: o.verbose, bootTimeout: 240 };
  try {
    // Labs with rackboot's image first: the dnsmasq-web-blade reference takes its files from one of them.
    const order = [...names].sort((a, b) => Number(a === 'dnsmasq-web-blade') - Number(b === 'dnsmasq-web-blade'));
    for (const n of order) {
      const v = VARIANTS[n]!;
      if (n !== 'dnsmasq-web-blade') {
        labs.set(n, await Lab.start({ ...quiet, server: v.server, loader: v.loader, image: v.image, blades: maxBlades }, kernel));
      } else {
        const src = [...labs.values()].find((l) => l.rb && l.opts.image === 'web-blade')!;
        // Fetched into the source lab's work directory; the reference copies them into its TFTP root at start.
        const files = await webBladeFiles(src, src.workDir, { dropQuiet: true });
        try {
          const extra = { referenceFiles: files, upLine: /rackboot: web-blade on /, loadSeconds: 0 };
          labs.set(n, await Lab.start({ ...quiet, server: v.server, loader: v.loader, image: v.image, blades: maxBlades, ...extra }, kernel));
        } finally {
          rmSync(files.kernel, { force: true });
          rmSync(files.initrd, { force: true });
        }
      }
      results[n] = { single: [], together: {} };
    }
    // One blade at a time, the servers taking turns so that machine noise hits them alike.
    for (let r = 1; r <= runs; r++) {
      for (const n of names) {
        const lab = labs.get(n)!;
        const b = await lab.boot('blade1');
        const s = sample(b);
        results[n]!.single.push(s);
        console.log(`run ${r} ${n.padEnd(17)} configured ${f(s.configured)}  files ${f(s.files)} (loader ${f(s.parts.loader)} kernel ${f(s.parts.kernel)} initrd ${f(s.parts.initrd)})  initrd ${f(s.initrd)}  up ${f(s.up)}${s.pool !== undefined ? `  pool ${f(s.pool)}` : ''}`);
        await lab.kill('blade1', { awaitDrop: true });
      }
    }
    // Several blades powered on at once.
    for (const k of together) {
      for (const n of names) {
        const lab = labs.get(n)!;
        const list = lab.vms.slice(0, k).map((v) => v.name);
        const start = Date.now();
        const boots = await Promise.all(list.map((name) => lab.boot(name)));
        const allUp = Math.max(...boots.map((b) => (b.poweredOnAt - start) / 1000 + b.upAfter));
        const allPool = boots.every((b) => b.poolAfter !== undefined) ? Math.max(...boots.map((b) => (b.poweredOnAt - start) / 1000 + b.poolAfter!)) : undefined;
        (results[n]!.together[k] ??= []).push({ allUp, allPool, each: boots.map(sample) });
        console.log(`${k} at once ${n.padEnd(17)} all up after ${f(allUp)} s${allPool !== undefined ? `, all in the pool after ${f(allPool)} s` : ''}; files ${boots.map((b) => f(sample(b).files)).join(' ')}`);
        if (o.load > 0 && lab.rb && k === maxBlades) {
          const l = await lab.load(o.load);
          console.log(`load through the VIP with ${k} blades (${n}): ${l.wrk.requestsPerSec.toFixed(0)} requests/s, ${(l.wrk.bytesPerSec / 1024).toFixed(1)} KiB/s, p99 ${l.wrk.latencyP99Ms?.toFixed(1)} ms, spread ${JSON.stringify(l.spread.byBlade)}, failed ${l.spread.failed}`);
          const { raw: _raw, ...wrk } = l.wrk;
          results[n]!.load = { blades: k, wrk, spread: l.spread };
        }
        for (const name of list) await lab.kill(name, { awaitDrop: true });
      }
    }
    for (const lab of labs.values()) lab.succeeded();
  } finally {
    for (const lab of labs.values()) await lab.close();
  }

  console.log(`\nmedians of ${runs} run(s), one blade, seconds since power-on:`);
  console.log(`${'server'.padEnd(42)} ${'configured'.padStart(10)} ${'files'.padStart(7)} ${'initrd'.padStart(7)} ${'up'.padStart(7)}`);
  const med: Record<string, Sample> = {};
  for (const n of names) {
    const s = results[n]!.single;
    med[n] = { configured: median(s.map((x) => x.configured)), files: median(s.map((x) => x.files)), initrd: median(s.map((x) => x.initrd)), up: median(s.map((x) => x.up)),
      parts: { loader: median(s.map((x) => x.parts.loader)), kernel: median(s.map((x) => x.parts.kernel)), initrd: median(s.map((x) => x.parts.initrd)) },
    };
    const p = med[n]!.parts;
    console.log(`${VARIANTS[n]!.label.padEnd(42)} ${f(med[n]!.configured).padStart(10)} ${f(med[n]!.files).padStart(7)} ${f(med[n]!.initrd).padStart(7)} ${f(med[n]!.up).padStart(7)}   (files: loader ${f(p.loader)}, config+kernel ${f(p.kernel)}, RAM disk ${f(p.initrd)})`);
  }

  // Each rackboot variant against the reference that serves the same bytes, on the boot server's part ("files").
  const verdicts: Array<Verdict & { blades: number }> = [];
  const compared = names.filter((n) => VARIANTS[n]!.ref && names.includes(VARIANTS[n]!.ref!));
  for (const n of names.filter((x) => VARIANTS[x]!.ref && !names.includes(VARIANTS[x]!.ref!))) {
    console.log(`\n${n}: no verdict, its reference ${VARIANTS[n]!.ref} was not in --servers`);
  }
  if (compared.length) {
    console.log(`\nverdict (issue 9: rackboot's TFTP boot no slower than dnsmasq's, its HTTP boot faster; the boot server's part, "files"):`);
    const transport = (n: string) => (VARIANTS[n]!.loader === 'ipxe' ? 'http' : 'tftp') as 'tftp' | 'http';
    for (const n of compared) {
      const ref = VARIANTS[n]!.ref!;
      const v = verdict({ variant: n, reference: ref, transport: transport(n), samples: results[n]!.single.map((x) => x.files), refSamples: results[ref]!.single.map((x) => x.files) });
      verdicts.push({ ...v, blades: 1 });
      console.log(`  1 blade:   ${v.line}`);
    }
    for (const k of together) {
      for (const n of compared) {
        const ref = VARIANTS[n]!.ref!;
        // Every blade of the one run at once is a sample: the median blade.
        const each = (x: string) => (results[x]!.together[k] ?? []).flatMap((t) => t.each.map((e) => e.files));
        const v = verdict({ variant: n, reference: ref, transport: transport(n), samples: each(n), refSamples: each(ref), what: 'files per blade' });
        verdicts.push({ ...v, blades: k });
        console.log(`  ${`${k} at once:`.padEnd(10)} ${v.line}`);
      }
    }
    const initrdRatio = compared.map((n) => `${n} ${f(med[n]!.initrd / med[VARIANTS[n]!.ref!]!.initrd)}x`).join(', ');
    console.log(`  power-on to RAM disk loaded (1 blade, includes the ROM's wait, the same for all): ${initrdRatio}`);
  }
  const minutes = (Date.now() - t0) / 60_000;
  console.log(`\nbench/boot took ${minutes.toFixed(1)} min`);
  const ratios = verdicts.map((v) => `${v.variant} ${f(v.ratio)}x (${v.blades} blade${v.blades > 1 ? 's at once' : ''}, ${v.met === undefined ? 'no figure' : v.met ? 'met' : 'missed'})`);
  printResult('boot', `files, rackboot/reference (below 1.0 faster): ${ratios.join(', ') || 'no verdict (no reference in --servers)'}; medians of ${runs} run(s)`);
  if (o.json) writeFileSync(o.json, JSON.stringify({ runs, kernel: kernel.version, servers: names, together, minutes, results, medians: med, verdicts }, null, 2));
}

runLabBench('boot', USAGE, main);
