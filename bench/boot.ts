// bench/boot: how fast blades boot from the network, rackboot against the
// dnsmasq reference, in the same run on the same machine (lab topology,
// QEMU TCG blades). Every server boots the same blade repeatedly, the servers
// taking turns, and the medians are compared.
//
//   node dist/bench/boot.js [--runs 3] [--servers dnsmasq,rackboot-tftp,rackboot,rackboot-http]
//                           [--together 2,4] [--load 10] [--json FILE]
//
// Figures per boot, from the blade's own console (the same clock for every
// server), seconds since power-on:
//   configured  the NIC ROM has its DHCP address (and has waited out IPv6)
//   files       from then until the RAM disk is loaded: loader, its config,
//               kernel and RAM disk, i.e. the boot server's whole part
//   initrd      power-on until the RAM disk is loaded
//   up          power-on until the blade is up (reference RAM disk: both NICs
//               addressed and httpd started; rackboot image: ready reported)
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { DEFAULT_OPTIONS, Lab, type BladeBoot, type LabImage, type LabLoader, type LabServer } from '../test/lab/lab.js';
import { ensureKernel } from '../test/lab/kernel.js';

interface Variant {
  label: string;
  server: LabServer;
  loader: LabLoader;
  image: LabImage;
}

const VARIANTS: Record<string, Variant> = {
  dnsmasq: { label: 'dnsmasq DHCP+TFTP (reference)', server: 'dnsmasq', loader: 'pxelinux', image: 'busybox' },
  'rackboot-tftp': { label: 'dnsmasq DHCP + rackboot TFTP', server: 'rackboot-tftp', loader: 'pxelinux', image: 'busybox' },
  rackboot: { label: 'rackboot DHCP+TFTP', server: 'rackboot', loader: 'pxelinux', image: 'busybox' },
  'rackboot-http': { label: 'rackboot, iPXE over HTTP', server: 'rackboot', loader: 'ipxe', image: 'busybox' },
  // dnsmasq serving rackboot's own web-blade kernel and RAM disk (from boot/_image/web-blade/*): the same bytes.
  'dnsmasq-web-blade': { label: 'dnsmasq DHCP+TFTP, web-blade files', server: 'dnsmasq', loader: 'pxelinux', image: 'busybox' },
  'web-blade-tftp': { label: 'rackboot web-blade, PXELINUX/TFTP', server: 'rackboot', loader: 'pxelinux', image: 'web-blade' },
  'web-blade-http': { label: 'rackboot web-blade, iPXE/HTTP', server: 'rackboot', loader: 'ipxe', image: 'web-blade' },
};

interface Sample {
  configured: number;
  files: number;
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
  return { configured, files: initrd - configured, initrd, up: b.upAfter, pool: b.poolAfter };
}

const median = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const f = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '-');

/** rackboot's built web-blade kernel and RAM disk (no node overlay) over its public HTTP boot path, with the image's command line. */
async function imageFiles(lab: Lab, dir: string): Promise<{ kernel: string; initrd: string; cmdline: string }> {
  const api = lab.rb!.api;
  const out: Record<string, string> = {};
  for (const part of ['kernel', 'initrd']) {
    const r = await api.rawBuffer('GET', `/boot/_image/web-blade/${part}`);
    if (r.status !== 200) throw new Error(`GET /boot/_image/web-blade/${part}: ${r.status}`);
    out[part] = join(dir, `rblab-bench-web-blade-${process.pid}.${part}`);
    writeFileSync(out[part]!, r.body);
  }
  const img = await api.call<{ current: string; versions: Array<{ version: string; cmdline: string }> }>('GET', '/images/web-blade');
  // Without `quiet`: PXELINUX prints "Loading ... ok" only then, and that line is the reference's clock for "RAM disk loaded".
  const cmdline = (img.versions.find((v) => v.version === img.current)?.cmdline ?? '').replace(/console=\S+|\bquiet\b/g, '').replace(/\s+/g, ' ').trim();
  return { kernel: out.kernel!, initrd: out.initrd!, cmdline };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      servers: { type: 'string', default: 'dnsmasq,rackboot' },
      together: { type: 'string', default: '2,4' },
      load: { type: 'string', default: '10' },
      json: { type: 'string' },
      verbose: { type: 'boolean' },
    },
  });
  if (process.getuid?.() !== 0) throw new Error('bench/boot needs root (network namespaces, taps)');
  const runs = Number(values.runs);
  const names = values.servers!.split(',').filter(Boolean);
  for (const n of names) if (!VARIANTS[n]) throw new Error(`unknown server '${n}' (${Object.keys(VARIANTS).join(', ')})`);
  const together = values.together!.split(',').filter(Boolean).map(Number);
  const maxBlades = Math.max(1, ...together);
  const log = (l: string) => console.log(l);
  const kernel = ensureKernel(log);
  console.log(`bench/boot: ${cpus().length} cores, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}, kernel ${kernel.version}, ${runs} run(s)`);

  const labs = new Map<string, Lab>();
  const results: Record<string, { single: Sample[]; together: Record<number, { allUp: number; allPool?: number; each: Sample[] }[]> }> = {};
  const quiet = { ...DEFAULT_OPTIONS, log: () => {}, verbose: !!values.verbose, bootTimeout: 240 };
  try {
    // Labs with rackboot's image first: the dnsmasq-web-blade reference takes its files from one of them.
    const order = [...names].sort((a, b) => Number(a === 'dnsmasq-web-blade') - Number(b === 'dnsmasq-web-blade'));
    for (const n of order) {
      const v = VARIANTS[n]!;
      let extra = {};
      if (n === 'dnsmasq-web-blade') {
        const src = [...labs.values()].find((l) => l.rb && l.opts.image === 'web-blade');
        if (!src) throw new Error('dnsmasq-web-blade needs a web-blade variant in --servers (it takes the image from that lab)');
        extra = { referenceFiles: await imageFiles(src, '/tmp'), upLine: /rackboot: web-blade on /, loadSeconds: 0 };
      }
      labs.set(n, await Lab.start({ ...quiet, server: v.server, loader: v.loader, image: v.image, blades: maxBlades, ...extra }, kernel));
      results[n] = { single: [], together: {} };
    }
    // One blade at a time, the servers taking turns so that machine noise hits them alike.
    for (let r = 1; r <= runs; r++) {
      for (const n of names) {
        const lab = labs.get(n)!;
        const b = await lab.boot('blade1');
        const s = sample(b);
        results[n]!.single.push(s);
        console.log(`run ${r} ${n.padEnd(14)} configured ${f(s.configured)}  files ${f(s.files)}  initrd ${f(s.initrd)}  up ${f(s.up)}${s.pool !== undefined ? `  pool ${f(s.pool)}` : ''}`);
        await lab.kill('blade1', { awaitDrop: true });
      }
    }
    // Several blades powered on at once.
    for (const k of together) {
      for (const n of names) {
        const lab = labs.get(n)!;
        const list = lab.vms.slice(0, k).map((v) => v.name);
        const t0 = Date.now();
        const boots = await Promise.all(list.map((name) => lab.boot(name)));
        const allUp = Math.max(...boots.map((b) => (b.poweredOnAt - t0) / 1000 + b.upAfter));
        const allPool = boots.every((b) => b.poolAfter !== undefined) ? Math.max(...boots.map((b) => (b.poweredOnAt - t0) / 1000 + b.poolAfter!)) : undefined;
        (results[n]!.together[k] ??= []).push({ allUp, allPool, each: boots.map(sample) });
        console.log(`${k} at once ${n.padEnd(14)} all up after ${f(allUp)} s${allPool !== undefined ? `, all in the pool after ${f(allPool)} s` : ''}; files ${boots.map((b) => f(sample(b).files)).join(' ')}`);
        if (Number(values.load) > 0 && lab.rb && k === Math.max(...together)) {
          const l = await lab.load(Number(values.load));
          console.log(`load through the VIP with ${k} blades (${n}): ${l.wrk.requestsPerSec.toFixed(0)} requests/s, ${(l.wrk.bytesPerSec / 1024).toFixed(1)} KiB/s, p99 ${l.wrk.latencyP99Ms?.toFixed(1)} ms, spread ${JSON.stringify(l.spread.byBlade)}, failed ${l.spread.failed}`);
          (results[n] as Record<string, unknown>).load = { blades: k, ...l.wrk, raw: undefined, spread: l.spread };
        }
        for (const name of list) await lab.kill(name, { awaitDrop: true });
      }
    }
    for (const lab of labs.values()) lab.succeeded();
  } finally {
    for (const lab of labs.values()) await lab.close();
  }

  console.log(`\nmedians of ${runs} run(s), one blade, seconds since power-on:`);
  console.log(`${'server'.padEnd(34)} ${'configured'.padStart(10)} ${'files'.padStart(7)} ${'initrd'.padStart(7)} ${'up'.padStart(7)}`);
  const med: Record<string, Sample> = {};
  for (const n of names) {
    const s = results[n]!.single;
    med[n] = { configured: median(s.map((x) => x.configured)), files: median(s.map((x) => x.files)), initrd: median(s.map((x) => x.initrd)), up: median(s.map((x) => x.up)) };
    console.log(`${VARIANTS[n]!.label.padEnd(34)} ${f(med[n]!.configured).padStart(10)} ${f(med[n]!.files).padStart(7)} ${f(med[n]!.initrd).padStart(7)} ${f(med[n]!.up).padStart(7)}`);
  }
  const ref = med.dnsmasq;
  if (ref) {
    for (const n of names.filter((x) => x !== 'dnsmasq')) {
      console.log(`${n}: files ${f(med[n]!.files / ref.files)}x dnsmasq's (${f(med[n]!.files)} s vs ${f(ref.files)} s); RAM disk loaded ${f(med[n]!.initrd / ref.initrd)}x`);
    }
  }
  if (values.json) writeFileSync(values.json, JSON.stringify({ runs, kernel: kernel.version, results, medians: med }, null, 2));
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`bench/boot: ${(e as Error).stack ?? e}`);
    process.exit(1);
  },
);
