#!/usr/bin/env node
// npm run lab [-- --blades N --loader pxelinux|ipxe --server rackboot|dnsmasq ...]
// npm run lab -- --cleanup [--force]
import { parseArgs } from 'node:util';
import { cleanupLeftovers } from './state.js';
import { DEFAULT_OPTIONS, runLab, type LabFirmwareChoice, type LabLoader, type LabOptions, type LabServer } from './lab.js';
import { formatDrill, formatLoad, formatTimeline } from './timeline.js';
import { exitWhenClean, signalCleanup } from './run.js';
import { runPairDrill } from './pair-drill.js';
import { formatPairDrill } from './pair-report.js';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const USAGE = `usage: npm run lab -- [options]

Boots the paper's cluster in QEMU VMs inside network namespaces (root).

  --blades N            blades to boot (default ${DEFAULT_OPTIONS.blades})
  --loader L            pxelinux (TFTP, default), ipxe (chains to HTTP) or grub
  --firmware F          bios (default: SeaBIOS, iPXE ROM), uefi (OVMF's own PXE or HTTP
                        boot), mixed (blade1 BIOS, blade2 UEFI, ...)
  --http-boot           UEFI blades boot by UEFI HTTP boot instead of PXE
  --secure-boot         UEFI blades with Secure Boot on (OVMF's Secure Boot build, Microsoft's
                        keys); rackboot's dhcp.secureBoot: Debian's signed shim, GRUB, kernel
  --no-ra               rackboot does not answer IPv6 router solicitations (iPXE then waits
                        ~16 s on every boot, as before issue 17)
  --server S            rackboot (default); dnsmasq (the reference: its DHCP+TFTP boot
                        the same kernel and a busybox RAM disk); rackboot-tftp (dnsmasq's
                        DHCP, rackboot's TFTP: the TFTP servers compared alone)
  --image I             web-blade (default: rackboot builds its shipped image through its
                        API, content over NFS) or busybox (the lab's small RAM disk as
                        static TFTP files: the same boot for every server)
  --boot-timeout S      seconds a blade may take to come up (default ${DEFAULT_OPTIONS.bootTimeout})
  --load S              seconds of wrk through the VIP after the boot (default ${DEFAULT_OPTIONS.loadSeconds}; 0: none)
  --drill               then the failure drill: power the last blade off under load through
                        rackboot's API and its BMC (without BMCs: kill its VM), watch the
                        director drop it, power it on again, watch it return
  --pair                two disk nodes (a pair: keepalived, PostgreSQL replication, conntrackd)
                        instead of one director; the blades boot from the floating address
  --drill-server        with --pair: the server drill: disk-a's plug pulled under load, a blade
                        powered on during the outage, disk-a's return and a switchover back
  --json FILE           with --pair: write the results there as JSON (default:
                        rblab-pair.json in the temporary directory, e.g. /tmp)
  --no-bmc              start the QEMU VMs directly instead of through a BMC per blade
                        (ipmi_sim, powered through rackboot's API; rackboot servers only)
  --hold                keep the cluster running at the end (or after a failure) until Ctrl-C
  --verbose             echo the blades' serial consoles
  --keep                keep the work directory (configs, logs, consoles)
  --cleanup             remove what crashed lab runs left (namespaces rblab*, their
                        processes and work directories), then exit
  --force               with --cleanup: also runs whose owner is still alive
  -h, --help`;

function fail(msg: string): never {
  console.error(`lab: ${msg}\n\n${USAGE}`);
  process.exit(2);
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        blades: { type: 'string' },
        loader: { type: 'string' },
        firmware: { type: 'string' },
        'http-boot': { type: 'boolean' },
        'secure-boot': { type: 'boolean' },
        'no-ra': { type: 'boolean' },
        server: { type: 'string' },
        image: { type: 'string' },
        'boot-timeout': { type: 'string' },
        load: { type: 'string' },
        drill: { type: 'boolean' },
        pair: { type: 'boolean' },
        'drill-server': { type: 'boolean' },
        json: { type: 'string' },
        'no-bmc': { type: 'boolean' },
        hold: { type: 'boolean' },
        verbose: { type: 'boolean', short: 'v' },
        keep: { type: 'boolean' },
        cleanup: { type: 'boolean' },
        force: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    fail((e as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (process.getuid?.() !== 0) fail('needs root (network namespaces, tap devices)');
  if (values.cleanup) {
    const r = cleanupLeftovers({ force: values.force });
    for (const ns of r.removed) console.log(`removed namespace ${ns}`);
    for (const d of r.dirs) console.log(`removed ${d}`);
    for (const s of r.skipped) console.log(`kept ${s.ns}: ${s.reason}`);
    if (!r.removed.length && !r.dirs.length) console.log('nothing to clean up');
    return 0;
  }
  if (values['drill-server'] && !values.pair) fail('--drill-server needs --pair');
  if (values.json !== undefined && !values.pair) fail('--json is for --pair runs');
  const opts: LabOptions = { ...DEFAULT_OPTIONS };
  if (values.blades !== undefined) {
    const n = Number(values.blades);
    if (!Number.isInteger(n) || n < 1 || n > 16) fail(`--blades '${values.blades}': a whole number from 1 to 16`);
    opts.blades = n;
  }
  if (values.loader !== undefined) {
    if (!['pxelinux', 'ipxe', 'grub'].includes(values.loader)) fail(`--loader '${values.loader}': pxelinux, ipxe or grub`);
    opts.loader = values.loader as LabLoader;
  }
  if (values.firmware !== undefined) {
    if (!['bios', 'uefi', 'mixed'].includes(values.firmware)) fail(`--firmware '${values.firmware}': bios, uefi or mixed`);
    opts.firmware = values.firmware as LabFirmwareChoice;
  }
  opts.httpBoot = !!values['http-boot'];
  opts.secureBoot = !!values['secure-boot'];
  opts.routerAdvertisements = !values['no-ra'];
  if ((opts.httpBoot || opts.secureBoot) && opts.firmware === 'bios') {
    if (values.firmware !== undefined) fail(`--${opts.httpBoot ? 'http-boot' : 'secure-boot'} is for UEFI blades: --firmware uefi or mixed`);
    opts.firmware = 'uefi';
  }
  if (values.server !== undefined) {
    if (!['rackboot', 'dnsmasq', 'rackboot-tftp'].includes(values.server)) fail(`--server '${values.server}': rackboot, dnsmasq or rackboot-tftp`);
    opts.server = values.server as LabServer;
  }
  if (values.image !== undefined) {
    if (values.image !== 'web-blade' && values.image !== 'busybox') fail(`--image '${values.image}': web-blade or busybox`);
    opts.image = values.image;
  }
  if (values['boot-timeout'] !== undefined) {
    const s = Number(values['boot-timeout']);
    if (!(s > 0)) fail(`--boot-timeout '${values['boot-timeout']}': seconds, above 0`);
    opts.bootTimeout = s;
  }
  if (values.load !== undefined) {
    const s = Number(values.load);
    if (!(s >= 0 && s <= 600)) fail(`--load '${values.load}': seconds from 0 to 600`);
    opts.loadSeconds = s;
  }
  opts.verbose = !!values.verbose;
  opts.drill = !!values.drill;
  // A blade is powered through its BMC and rackboot's API unless asked not to (dnsmasq has no API).
  opts.bmc = !values['no-bmc'] && opts.server !== 'dnsmasq';
  opts.hold = !!values.hold;
  opts.keepWorkDir = !!values.keep;
  if (opts.server !== 'rackboot' && opts.loader !== 'pxelinux') fail(`--server ${opts.server} boots PXELINUX over TFTP only`);
  if (opts.server !== 'rackboot' && opts.firmware !== 'bios') fail(`--server ${opts.server} boots BIOS blades only (the reference hands out pxelinux.0)`);
  if (opts.server !== 'rackboot' && values.image === undefined) opts.image = 'busybox';
  if (opts.server !== 'rackboot' && opts.image !== 'busybox') fail(`--server ${opts.server} boots --image busybox only`);

  if (values.pair) {
    const other = (['loader', 'firmware', 'server', 'image', 'drill', 'http-boot', 'secure-boot', 'no-ra', 'hold'] as const).filter((k) => values[k] !== undefined);
    if (other.length) fail(`--pair runs PXELINUX blades (BIOS) with the web-blade image, no BMC: drop --${other.join(', --')}`);
    const json = values.json ?? join(tmpdir(), 'rblab-pair.json');
    await runPairDrill({ ...opts, drill: !!values['drill-server'] }, (r) => {
      console.log(`\n${formatPairDrill(r)}\n`);
      writeFileSync(json, JSON.stringify(r, null, 2));
      console.log(`results: ${json}`);
    });
    return 0;
  }
  await runLab(opts, undefined, (r) => {
    console.log(`\nlab ${r.id}: ${r.boots.length} blade(s) booted by ${r.server} (${r.loader}), kernel ${r.kernel}\n`);
    for (const b of r.boots) {
      const pool = b.poolAfter !== undefined ? `, in the pool after ${b.poolAfter.toFixed(2)} s` : '';
      console.log(formatTimeline(`${b.name}: up ${b.upAfter.toFixed(2)} s after power-on${pool}`, b.rows) + '\n');
    }
    if (r.load) console.log(formatLoad(r.load) + '\n');
    if (r.drill) console.log(formatDrill(r.drill) + '\n');
  });
  return 0;
}

// After Ctrl-C the step in flight fails as soon as rackboot is stopped: wait for the signal's cleanup, not just exit.
main().then(
  (code) => exitWhenClean(code),
  (e: unknown) => {
    if (!signalCleanup()) console.error(`lab: FAILED: ${(e as Error).message}`);
    return exitWhenClean(1);
  },
);
