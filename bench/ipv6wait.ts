// bench/ipv6wait: issue 17's bar. A lab blade (BIOS, QEMU's iPXE NIC ROM)
// from power-on to `ready`, with rackboot answering IPv6 router
// solicitations (after) and without (before: dhcp.routerAdvertisements
// false, which is how rackboot answered until issue 17), against dnsmasq's
// DHCP+TFTP serving the same kernel and RAM disk, all in the same run, the
// servers taking turns.
//
//   node dist/bench/ipv6wait.js [--runs 3] [--loaders pxelinux,ipxe] [--json FILE] [--verbose]
//
// Figures per boot, seconds since power-on, from the blade's console (one
// clock for every server) and, for `ready`, rackboot's timeline:
//   configured  iPXE's "Configuring (net0 ...) ok": DHCPv4 done and the IPv6 wait over
//   init        the web-blade RAM disk's init says "rackboot: web-blade on": the
//               same milestone for every server (dnsmasq's blades cannot report ready:
//               nothing serves them an overlay, an API or NFS)
//   ready       the blade reported ready (rackboot only)
// Bars: after's ready at least 30% shorter than before's (ratio <= 0.70), and
// after no slower than dnsmasq (init, <= 1.00x).
//
// Duration on the 2-core machine with --runs 3 and both loaders: about 15
// minutes (5 labs with an image build each, 15 single boots of 25-45 s).
// Root; the Debian packages of docs/lab.md.
// Figures in docs/benchmarks.md: node dist/bench/ipv6wait.js --runs 5
// bench:smoke args: --runs 1 --loaders ipxe
// bench:smoke needs: root qemu-system-x86_64 dnsmasq
import { rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { printResult } from './lib/result.js';
import { DEFAULT_OPTIONS, Lab, webBladeFiles, type BladeBoot, type LabLoader } from '../test/lab/lab.js';
import { ensureKernel } from '../test/lab/kernel.js';
import { parseOptions, requireRoot, runLabBench, UsageError, wholeNumber } from './lib/lab-cli.js';
import { fmt as f, median } from '../test/lab/verdict.js';

/** The web-blade init's first line (the same for every server). */
const INIT_LINE = /rackboot: web-blade on /;

interface Variant {
  label: string;
  server: 'rackboot' | 'dnsmasq';
  loader: LabLoader;
  ra: boolean;
}

function variants(loaders: LabLoader[]): Record<string, Variant> {
  const v: Record<string, Variant> = { dnsmasq: { label: 'dnsmasq DHCP+TFTP, PXELINUX (reference)', server: 'dnsmasq', loader: 'pxelinux', ra: false } };
  for (const l of loaders) {
    const how = l === 'ipxe' ? 'iPXE/HTTP' : 'PXELINUX/TFTP';
    v[`${l}-before`] = { label: `rackboot ${how}, no router advertisements (before)`, server: 'rackboot', loader: l, ra: false };
    v[`${l}-after`] = { label: `rackboot ${how}, router advertisements (after)`, server: 'rackboot', loader: l, ra: true };
  }
  return v;
}

interface Sample {
  configured: number;
  init: number;
  ready: number;
}

function sample(b: BladeBoot, lab: Lab): Sample {
  const vm = lab.vm(b.name);
  const at = (m: string) => b.serial.find((e) => e.milestone === m)?.t ?? NaN;
  const init = vm.lines.find((l) => INIT_LINE.test(l.line))?.t ?? NaN;
  return { configured: at('dhcp'), init, ready: lab.rb ? b.upAfter : NaN };
}

function options() {
  const values = parseOptions({
    runs: { type: 'string', default: '3' },
    loaders: { type: 'string', default: 'pxelinux,ipxe' },
    json: { type: 'string' },
    verbose: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  const runs = wholeNumber('runs', values.runs, 1, 50);
  const loaders = values.loaders!.split(',').filter(Boolean);
  if (!loaders.length || loaders.some((l) => l !== 'pxelinux' && l !== 'ipxe')) throw new UsageError(`--loaders '${values.loaders}': pxelinux and/or ipxe`);
  return { help: !!values.help, runs, loaders: loaders as LabLoader[], json: values.json, verbose: !!values.verbose };
}

const USAGE = `usage: node dist/bench/ipv6wait.js [--runs N] [--loaders pxelinux,ipxe] [--json FILE] [--verbose]   (root)

Boots one BIOS lab blade (QEMU's iPXE ROM) from rackboot with and without its
IPv6 router advertisements and from dnsmasq, in turns, and compares power-on
to ready (medians). About 15 minutes with the defaults on 2 cores.`;

async function main(): Promise<void> {
  const o = options();
  if (o.help) return void console.log(USAGE);
  requireRoot();
  const t0 = Date.now();
  const kernel = ensureKernel((l) => console.log(l));
  const all = variants(o.loaders);
  const names = Object.keys(all);
  console.log(`bench/ipv6wait: ${cpus().length} cores, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}, kernel ${kernel.version}, ${o.runs} run(s) of ${names.join(', ')}`);
  const quiet = { ...DEFAULT_OPTIONS, log: () => {}, verbose: o.verbose, bootTimeout: 240, loadSeconds: 0, blades: 1 };
  const labs = new Map<string, Lab>();
  const results: Record<string, Sample[]> = Object.fromEntries(names.map((n) => [n, []]));
  try {
    // rackboot's labs first: the reference serves the web-blade kernel and RAM disk of one of them.
    for (const n of names.filter((x) => all[x]!.server === 'rackboot')) {
      const v = all[n]!;
      labs.set(n, await Lab.start({ ...quiet, loader: v.loader, routerAdvertisements: v.ra }, kernel));
    }
    const src = labs.values().next().value!;
    const files = await webBladeFiles(src, src.workDir, { dropQuiet: false });
    try {
      labs.set('dnsmasq', await Lab.start({ ...quiet, server: 'dnsmasq', image: 'busybox', referenceFiles: files, upLine: INIT_LINE }, kernel));
    } finally {
      rmSync(files.kernel, { force: true });
      rmSync(files.initrd, { force: true });
    }
    for (let r = 1; r <= o.runs; r++) {
      for (const n of names) {
        const lab = labs.get(n)!;
        const b = await lab.boot('blade1');
        const s = sample(b, lab);
        results[n]!.push(s);
        console.log(`run ${r} ${n.padEnd(16)} configured ${f(s.configured)}  init ${f(s.init)}  ready ${f(s.ready)}`);
        await lab.kill('blade1', { awaitDrop: true });
      }
    }
    for (const lab of labs.values()) lab.succeeded();
  } finally {
    for (const lab of labs.values()) await lab.close();
  }

  const med = (n: string, k: keyof Sample) => median(results[n]!.map((s) => s[k]));
  const range = (n: string, k: keyof Sample) => {
    const xs = results[n]!.map((s) => s[k]).filter(Number.isFinite);
    return xs.length ? `${f(Math.min(...xs))}-${f(Math.max(...xs))}` : '-';
  };
  console.log(`\nmedians of ${o.runs} run(s), one blade, seconds since power-on:`);
  console.log(`${'server'.padEnd(58)} ${'configured'.padStart(10)} ${'init'.padStart(20)} ${'ready'.padStart(20)}`);
  for (const n of names) {
    console.log(`${all[n]!.label.padEnd(58)} ${f(med(n, 'configured')).padStart(10)} ${`${f(med(n, 'init'))} (${range(n, 'init')})`.padStart(20)} ${`${f(med(n, 'ready'))} (${range(n, 'ready')})`.padStart(20)}`);
  }
  const verdicts: Array<{ what: string; ratio: number; met: boolean }> = [];
  console.log('\nbars (issue 17):');
  for (const l of o.loaders) {
    const shorter = med(`${l}-after`, 'ready') / med(`${l}-before`, 'ready');
    const vsRef = med(`${l}-after`, 'init') / med('dnsmasq', 'init');
    const a = { what: `${l}: ready, after / before`, ratio: shorter, met: Math.round(shorter * 100) <= 70 };
    const b = { what: `${l}: init, after / dnsmasq`, ratio: vsRef, met: Math.round(vsRef * 100) <= 100 };
    verdicts.push(a, b);
    console.log(`  ${a.what}: ${f(shorter)}x (${f((1 - shorter) * 100, 0)}% shorter); bar <= 0.70x: ${a.met ? 'met' : 'MISSED'}`);
    console.log(`  ${b.what}: ${f(vsRef)}x; bar <= 1.00x: ${b.met ? 'met' : 'MISSED'}`);
  }
  const minutes = (Date.now() - t0) / 60_000;
  console.log(`\nbench/ipv6wait took ${minutes.toFixed(1)} min`);
  printResult('ipv6wait', `${verdicts.map((v) => `${v.what} ${f(v.ratio)}x${v.met ? '' : ' (bar MISSED)'}`).join(', ')}; medians of ${o.runs} run(s)`);
  if (o.json) writeFileSync(o.json, JSON.stringify({ runs: o.runs, kernel: kernel.version, results, verdicts, minutes }, null, 2));
}

runLabBench('ipv6wait', USAGE, main);
