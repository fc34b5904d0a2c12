// bench/storm: the servers a storm is run against, each set up as an
// operator would for a rack of this size, on the same files:
//   rackboot       its DHCP, TFTP and HTTP boot; N registered nodes; the
//                  web-blade image (kernel + RAM disk of the real sizes) in its
//                  image store; each node's RAM disk gets its overlay appended
//   dnsmasq        DHCP + TFTP, a --dhcp-host per MAC, a PXELINUX config per
//                  MAC; the HTTP clients' script, kernel and RAM disk from Apache
//   kea            kea-dhcp4 (a reservation per MAC) + tftpd-hpa + Apache
// Dials an operator must turn for a storm of N (they are in the configs and
// said in docs/operations.md): dnsmasq's --tftp-max (50) and
// --dhcp-lease-max (1,000) and its open-file limit; rackboot's tftp.maxTransfers.
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, createWriteStream, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NetLab } from '../../test/helpers/netns.js';
import { NET, type StormClient } from './clients.js';

export interface BootFiles {
  kernel: string;
  initrd: string;
  cmdline: string;
}

export interface StormServer {
  name: 'rackboot' | 'dnsmasq' | 'kea';
  /** What serves what, for the report. */
  label: string;
  start(clients: readonly StormClient[]): Promise<void>;
  stop(): Promise<void>;
  /** The main process (rackboot: its peak RSS is read from it). */
  mainPid(): number | undefined;
  /** Where its log went. */
  logFile(): string;
}

const LOADERS = {
  'pxelinux.0': '/usr/lib/PXELINUX/pxelinux.0',
  'ldlinux.c32': '/usr/lib/syslinux/modules/bios/ldlinux.c32',
  'syslinux.efi': '/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi',
  'ldlinux.e64': '/usr/lib/syslinux/modules/efi64/ldlinux.e64',
};
const CLI = new URL('../../server/cli/main.js', import.meta.url).pathname;
const APACHE_PORT = 80;
export const RACKBOOT_HTTP_PORT = 8080;

async function waitFor(what: string, child: ChildProcess, log: () => string, ok: () => boolean, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!ok()) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}):\n${log().slice(-2000)}`);
    if (Date.now() > until) throw new Error(`${what} was not ready within ${timeoutMs / 1000} s:\n${log().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function stopChild(child: ChildProcess | undefined, timeoutMs = 10_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await gone;
  clearTimeout(t);
}

const readLog = (file: string) => () => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
};

/** Listening on a port in the namespace (ss), TCP or UDP. */
function listening(lab: NetLab, ns: string, proto: 'tcp' | 'udp', port: number): boolean {
  const r = lab.execSync(ns, 'ss', [proto === 'tcp' ? '-ltnH' : '-lunH'], { check: false });
  return new RegExp(`:${port}\\s`).test(r.stdout);
}

/** The iPXE script the references hand out (rackboot renders its own per node). */
function referenceScript(cmdline: string): string {
  return `#!ipxe\n:boot\nkernel --name kernel http://${NET.server}/vmlinuz initrd=initrd ${cmdline} || goto retry\ninitrd --name initrd http://${NET.server}/initrd.img || goto retry\nboot || goto retry\n:retry\nsleep 10\ngoto boot\n`;
}

/**
 * The references' files: a TFTP root (loaders, a PXELINUX config per MAC,
 * kernel, RAM disk) and an Apache document root (script, kernel, RAM disk).
 */
export function writeReferenceFiles(dir: string, files: BootFiles, clients: readonly StormClient[]): { tftpRoot: string; www: string } {
  const tftpRoot = join(dir, 'tftp');
  const www = join(dir, 'www');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(tftpRoot, 'pxelinux.cfg'), { recursive: true });
  mkdirSync(join(www, 'boot', 'ipxe'), { recursive: true });
  for (const [name, from] of Object.entries(LOADERS)) copyFileSync(from, join(tftpRoot, name));
  for (const base of [tftpRoot, www]) {
    copyFileSync(files.kernel, join(base, 'vmlinuz'));
    copyFileSync(files.initrd, join(base, 'initrd.img'));
  }
  const cfg = `DEFAULT linux\nPROMPT 0\nTIMEOUT 0\nLABEL linux\n  KERNEL vmlinuz\n  INITRD initrd.img\n  APPEND ${files.cmdline}\n`;
  for (const c of clients) if (c.kind !== 'http') writeFileSync(join(tftpRoot, 'pxelinux.cfg', `01-${c.mac.replaceAll(':', '-')}`), cfg);
  writeFileSync(join(www, 'boot', 'ipxe', 'storm.ipxe'), referenceScript(files.cmdline));
  // tftpd-hpa serves as nobody, Apache as www-data.
  for (const d of [dir, tftpRoot, www]) chmodSync(d, 0o755);
  return { tftpRoot, www };
}

/** Apache (mpm_event, sendfile) on NET.server:80 in the server namespace, as bench/httpboot runs it. */
class Apache {
  private child: ChildProcess | undefined;
  constructor(private readonly lab: NetLab, private readonly ns: string, private readonly dir: string, private readonly www: string) {}

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const mods = '/usr/lib/apache2/modules';
    const conf = join(this.dir, 'apache2.conf');
    writeFileSync(
      conf,
      [
        `ServerRoot ${this.dir}`,
        `PidFile ${this.dir}/apache2.pid`,
        `ErrorLog ${this.dir}/apache-error.log`,
        `Listen ${NET.server}:${APACHE_PORT}`,
        `LoadModule mpm_event_module ${mods}/mod_mpm_event.so`,
        `LoadModule authz_core_module ${mods}/mod_authz_core.so`,
        'User www-data',
        'Group www-data',
        'ServerName storm',
        `DocumentRoot ${this.www}`,
        `<Directory ${this.www}>\n  Require all granted\n</Directory>`,
        'EnableSendfile On',
        'KeepAlive On',
        'StartServers 2',
        'ServerLimit 4',
        'ThreadsPerChild 64',
        'MaxRequestWorkers 256',
      ].join('\n') + '\n',
    );
    chmodSync(this.dir, 0o755);
    this.child = this.lab.spawn(this.ns, 'apache2', ['-f', conf, '-DFOREGROUND'], { stdio: ['ignore', 'ignore', 'ignore'] });
    await waitFor('apache2', this.child, readLog(join(this.dir, 'apache-error.log')), () => listening(this.lab, this.ns, 'tcp', APACHE_PORT));
  }

  async stop(): Promise<void> {
    await stopChild(this.child);
  }
}

export function rackbootServer(lab: NetLab, ns: string, work: string, files: BootFiles, o: { maxTransfers?: number; profileDir?: string; extraConfig?: Record<string, unknown>; logLevel?: string }): StormServer {
  let child: ChildProcess | undefined;
  const dir = join(work, 'rackboot');
  const log = join(dir, 'rackboot.log');
  return {
    name: 'rackboot',
    label: 'rackboot (DHCP, TFTP, HTTP)',
    async start(clients) {
      rmSync(dir, { recursive: true, force: true });
      const data = join(dir, 'data');
      // The web-blade image as if built: kernel and RAM disk of the real sizes in the content-addressed store.
      const kernel = readFileSync(files.kernel);
      const initrd = readFileSync(files.initrd);
      const version = createHash('sha256').update(kernel).update(initrd).digest('hex').slice(0, 16);
      const vdir = join(data, 'images', 'web-blade', version);
      mkdirSync(vdir, { recursive: true });
      writeFileSync(join(vdir, 'kernel'), kernel);
      writeFileSync(join(vdir, 'initrd'), initrd);
      const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
      writeFileSync(
        join(vdir, 'manifest.json'),
        JSON.stringify({
          name: 'web-blade',
          version,
          builtAt: new Date().toISOString(),
          cmdline: files.cmdline,
          description: 'bench/storm: files of the web-blade sizes',
          compression: 'none',
          recipe: { file: 'bench/storm', sha256: '' },
          kernel: { origin: files.kernel, release: 'storm', sha256: sha(kernel), size: kernel.length },
          initrd: { sha256: sha(initrd), size: initrd.length, uncompressedSize: initrd.length, entries: 0 },
          modules: { load: [], files: [], builtin: [], skipped: [] },
          skipped: [],
          buildMs: 0,
          contents: [],
          nodeOverlay: null,
        }),
      );
      writeFileSync(join(data, 'images', 'web-blade', 'current'), version + '\n');
      const tftpRoot = join(dir, 'tftpboot');
      mkdirSync(tftpRoot, { recursive: true });
      const config = {
        dataDir: data,
        api: { listen: `${NET.server}:${RACKBOOT_HTTP_PORT}`, token: 'storm-bench-token' },
        networks: [{ name: 'storm', interface: 'eth1', cidr: NET.cidr, serverAddress: NET.server, staticRange: '10.10.1.1-10.10.250.250' }],
        dhcp: { enabled: true },
        tftp: { enabled: true, root: tftpRoot, ...(o.maxTransfers ? { maxTransfers: o.maxTransfers } : {}) },
        nfs: { enabled: false },
        director: { enabled: false },
        images: { enabled: true, discoveryImage: null },
        groups: [
          { name: 'pxe', loader: 'pxelinux', image: 'web-blade' },
          { name: 'ipxe', loader: 'ipxe', image: 'web-blade' },
        ],
        nodes: clients.map((c) => ({ name: c.node, group: c.kind === 'http' ? 'ipxe' : 'pxe', interfaces: [{ name: 'eth0', mac: c.mac, network: 'storm', ipv4: c.ipv4 }] })),
        ...o.extraConfig,
      };
      const cfgFile = join(dir, 'rackboot.json');
      writeFileSync(cfgFile, JSON.stringify(config, null, 1));
      const out = createWriteStream(log);
      const node = [...(o.profileDir ? ['--cpu-prof', '--cpu-prof-dir', o.profileDir] : []), CLI, 'serve', '--config', cfgFile];
      child = lab.spawn(ns, process.execPath, node, {
        env: { PATH: process.env.PATH, RACKBOOT_LOG: o.logLevel ?? 'info', RACKBOOT_LOG_FORMAT: 'json' },
        stdio: ['ignore', 'pipe', 'pipe'],
        cwd: dir,
      });
      child.stdout!.pipe(out);
      child.stderr!.pipe(out);
      await waitFor('rackboot', child, readLog(log), () => listening(lab, ns, 'tcp', RACKBOOT_HTTP_PORT) && listening(lab, ns, 'udp', 69) && listening(lab, ns, 'udp', 67), 120_000);
    },
    async stop() {
      // SIGINT: a --cpu-prof profile is written on a clean exit.
      if (child && child.exitCode === null) {
        const c = child;
        const gone = new Promise((r) => c.once('exit', r));
        c.kill('SIGINT');
        const t = setTimeout(() => c.kill('SIGKILL'), 30_000);
        await gone;
        clearTimeout(t);
      }
    },
    mainPid: () => child?.pid,
    logFile: () => log,
  };
}

export function dnsmasqServer(lab: NetLab, ns: string, work: string, ref: { tftpRoot: string; www: string }): StormServer {
  let child: ChildProcess | undefined;
  const dir = join(work, 'dnsmasq');
  const log = join(dir, 'dnsmasq.log');
  const apache = new Apache(lab, ns, join(dir, 'apache'), ref.www);
  return {
    name: 'dnsmasq',
    label: 'dnsmasq (DHCP, TFTP) + Apache (HTTP clients)',
    async start(clients) {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      const n = clients.length;
      const lines = [
        'port=0',
        'bind-interfaces',
        'interface=eth1',
        'except-interface=lo',
        `dhcp-leasefile=${join(dir, 'leases')}`,
        `pid-file=${join(dir, 'dnsmasq.pid')}`,
        `dhcp-range=${NET.cidr.split('/')[0]},static,${NET.mask},1h`,
        // The storm's dials: defaults 1,000 leases and 50 TFTP transfers at once.
        `dhcp-lease-max=${n + 100}`,
        'enable-tftp',
        `tftp-root=${ref.tftpRoot}`,
        `tftp-max=${n + 100}`,
        'dhcp-match=set:efi64,option:client-arch,7',
        'dhcp-userclass=set:ipxe,iPXE',
        `dhcp-boot=tag:ipxe,http://${NET.server}/boot/ipxe/storm.ipxe`,
        'dhcp-boot=tag:efi64,tag:!ipxe,syslinux.efi',
        'dhcp-boot=tag:!efi64,tag:!ipxe,pxelinux.0',
        ...clients.map((c) => `dhcp-host=${c.mac},${c.ipv4}`),
      ];
      const conf = join(dir, 'dnsmasq.conf');
      writeFileSync(conf, lines.join('\n') + '\n');
      if (clients.some((c) => c.kind === 'http')) await apache.start();
      const out = createWriteStream(log);
      // One descriptor per transfer: raise the limit it inherits (tftp-max is checked against it).
      child = lab.spawn(ns, 'sh', ['-c', 'ulimit -n 65536; exec dnsmasq --no-daemon --conf-file="$0"', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.pipe(out);
      child.stderr!.pipe(out);
      await waitFor('dnsmasq', child, readLog(log), () => listening(lab, ns, 'udp', 67) && listening(lab, ns, 'udp', 69));
    },
    async stop() {
      await stopChild(child);
      await apache.stop();
    },
    mainPid: () => child?.pid,
    logFile: () => log,
  };
}

export function keaServer(lab: NetLab, ns: string, work: string, ref: { tftpRoot: string; www: string }): StormServer {
  let kea: ChildProcess | undefined;
  let hpa: ChildProcess | undefined;
  const dir = join(work, 'kea');
  const log = join(dir, 'kea.log');
  const apache = new Apache(lab, ns, join(dir, 'apache'), ref.www);
  return {
    name: 'kea',
    label: 'Kea (DHCP) + tftpd-hpa (TFTP) + Apache (HTTP)',
    async start(clients) {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      mkdirSync('/run/kea', { recursive: true });
      const bootFile = (c: StormClient) => (c.kind === 'http' ? `http://${NET.server}/boot/ipxe/storm.ipxe` : c.kind === 'uefi' ? 'syslinux.efi' : 'pxelinux.0');
      const conf = join(dir, 'kea-dhcp4.json');
      writeFileSync(
        conf,
        JSON.stringify({
          Dhcp4: {
            'interfaces-config': { interfaces: ['eth1'] },
            'lease-database': { type: 'memfile', persist: true, name: join(dir, 'leases4.csv'), 'lfc-interval': 0 },
            'valid-lifetime': 3600,
            'host-reservation-identifiers': ['hw-address'],
            subnet4: [
              {
                id: 1,
                subnet: NET.cidr,
                'next-server': NET.server,
                reservations: clients.map((c) => ({ 'hw-address': c.mac, 'ip-address': c.ipv4, 'boot-file-name': bootFile(c) })),
              },
            ],
            loggers: [{ name: 'kea-dhcp4', output_options: [{ output: log }], severity: 'WARN' }],
          },
        }),
      );
      if (clients.some((c) => c.kind === 'http')) await apache.start();
      kea = lab.spawn(ns, 'kea-dhcp4', ['-c', conf], { env: { ...process.env, KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir }, stdio: ['ignore', 'ignore', 'ignore'] });
      await waitFor('kea-dhcp4', kea, readLog(log), () => listening(lab, ns, 'udp', 67));
      // -L: stays in the foreground, a process per transfer (its normal way).
      hpa = lab.spawn(ns, 'in.tftpd', ['-L', '-s', ref.tftpRoot, '-a', `${NET.server}:69`], { stdio: ['ignore', 'ignore', 'ignore'] });
      await waitFor('in.tftpd', hpa, () => '', () => listening(lab, ns, 'udp', 69));
    },
    async stop() {
      await stopChild(hpa);
      await stopChild(kea);
      await apache.stop();
    },
    mainPid: () => kea?.pid,
    logFile: () => log,
  };
}


/**
 * How rackboot's TFTP transfers ended, from its log (--verbose: at debug, so
 * transfers whose client never answered are there too): counts by file,
 * outcome and reason, numbers and names folded, the largest first.
 */
export function tftpOutcomes(logFile: string, n = 8): string[] {
  const counts = new Map<string, number>();
  let text = '';
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return [];
  }
  for (const m of text.matchAll(/"msg":"tftp: [\d.:]+ '([^']*)' ([a-z-]+): [^"]*?(?:\(([^"]*)\))?"/g)) {
    if (m[2] === 'complete') continue;
    const file = m[1]!.replace(/([0-9a-f]{2}[-:]){5,}[0-9a-f]{2}/gi, 'MAC').replace(/\bblade\d+\//, 'NODE/');
    const key = `${file} ${m[2]}${m[3] ? ` (${m[3].replace(/\d+/g, 'N')})` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, c]) => `${c} x ${k}`);
}
