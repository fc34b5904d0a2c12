// The hardening lab (issue 16): one rackboot process in a namespace serving
// DHCP, TFTP and the API on a bridge, a registered blade (udhcpc), a TFTP
// client fetching a 16 MiB file, a new unknown machine, and an attacker, all
// on that bridge. Each attack runs for a while; throughout, the registered
// blade must get its lease within 5 s, every 16 MiB fetch must arrive
// intact, and the server's RSS must stay under twice its idle value.
//
// Used by attacks.test.ts (short runs) and test/lab/attacks.ts (60 s each).
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { NetLab } from '../../helpers/netns.js';
import { runClient } from '../../helpers/tftp.js';
import { waitUntil } from '../../helpers/wait.js';
import { readEnvFile, udhcpcScript } from '../dhcp/setup.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..', '..', '..', '..');
const CLI = join(REPO, 'dist', 'server', 'cli', 'main.js');
const FLOOD = join(HERE, 'flood.js');
const SPOOF = join(REPO, 'test', 'integration', 'attacks', 'spoof.py');

export const LAB_COMMANDS = ['udhcpc', 'atftp', 'curl', 'nft', 'python3', 'qemu-system-x86_64'];
const BLADE_MAC = '52:54:00:00:0a:01';
const TOKEN = 'attack-lab-token';
const BIG = 16 << 20;
const MID = 4 << 20;
const VM_MAC = '52:54:00:12:34:99';
/** What virtio-net-pci loads by default (package ipxe-qemu). */
const IPXE_ROM = '/usr/lib/ipxe/qemu/efi-virtio.rom';

/** Whether QEMU and its iPXE ROM are here (the iPXE part of the loss test needs them). */
export const HAVE_QEMU = existsSync(IPXE_ROM);

export type AttackName = 'inform-flood' | 'tftp-spoof' | 'api-hostile' | 'loss' | 'discover-flood';
export const ATTACKS: AttackName[] = ['inform-flood', 'tftp-spoof', 'api-hostile', 'loss', 'discover-flood'];

export interface PhaseReport {
  attack: AttackName;
  seconds: number;
  /** Registered blade: seconds to each lease (undefined: none within the try). */
  leases: Array<number | undefined>;
  /** 16 MiB fetches: seconds each, and whether intact. */
  fetches: Array<{ seconds: number; intact: boolean; output?: string }>;
  maxRssKiB: number;
  attacker: Record<string, unknown>;
  /** Phase-specific findings (a new machine's lease, packets reflected outside...). */
  notes: Record<string, unknown>;
}

export class AttackLab {
  readonly lab = new NetLab('rbx');
  readonly dir = mkdtempSync(join(tmpdir(), 'rackboot-attacks-'));
  srv = '';
  cli = '';
  tcl = '';
  nwc = '';
  atk = '';
  private server: ChildProcess | undefined;
  private log = '';
  private bigSha = '';
  idleRssKiB = 0;

  async start(): Promise<void> {
    const L = this.lab;
    this.srv = L.addNs('srv');
    this.cli = L.addNs('cli');
    this.tcl = L.addNs('tcl');
    this.nwc = L.addNs('nwc');
    this.atk = L.addNs('atk');
    L.bridge(this.srv, 'br0', '10.0.0.1/24');
    // Forged sources must reach the server for the attack to mean anything.
    L.execSync(this.srv, 'sysctl', ['-qw', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0', 'net.ipv4.conf.br0.rp_filter=0']);
    const port = (ns: string, name: string, mac?: string, addr?: string) => {
      L.veth({ ns: this.srv, name: `p-${name}` }, { ns, name: 'eth0', mac, addr });
      L.enslave(this.srv, `p-${name}`, 'br0');
    };
    port(this.cli, 'cli', BLADE_MAC);
    port(this.tcl, 'tcl', '52:54:00:00:0e:01', '10.0.0.20/24');
    port(this.nwc, 'nwc', '52:54:00:77:00:01');
    port(this.atk, 'atk', '52:54:00:66:00:01', '10.0.0.250/24');
    // The limited broadcast (255.255.255.255) leaves by the default route's interface.
    L.execSync(this.atk, 'ip', ['route', 'add', 'default', 'dev', 'eth0']);
    mkdirSync(join(this.dir, 'tftpboot'));
    // The VM's boot file (pxelinux.0, a name tftp.root wins for) is an iPXE script: iPXE's own TFTP client
    // then fetches a 4 MiB file and says how long it is.
    writeFileSync(
      join(this.dir, 'tftpboot', 'pxelinux.0'),
      '#!ipxe\nimgfetch tftp://10.0.0.1/mid.bin || goto failed\nimgstat\necho IPXE-FETCH-DONE\nsleep 600\n:failed\necho IPXE-FETCH-FAILED\nsleep 600\n',
    );
    writeFileSync(join(this.dir, 'tftpboot', 'mid.bin'), randomBytes(MID));
    const big = randomBytes(BIG);
    writeFileSync(join(this.dir, 'tftpboot', 'big.bin'), big);
    this.bigSha = createHash('sha256').update(big).digest('hex');
    const config = {
      dataDir: join(this.dir, 'var'),
      // api.listen and tftp.address at their defaults (served): 10.0.0.1 and loopback.
      api: { token: TOKEN },
      networks: [{ name: 'inside', interface: 'br0', cidr: '10.0.0.0/24', serverAddress: '10.0.0.1', staticRange: '10.0.0.10-10.0.0.99', dynamicRange: '10.0.0.200-10.0.0.240' }],
      dhcp: { enabled: true },
      tftp: { root: join(this.dir, 'tftpboot'), ...(process.env.ATTACK_TFTP_DATAPATH ? { dataPath: process.env.ATTACK_TFTP_DATAPATH } : {}) },
      nfs: { backend: 'none' },
      nodes: [
        { name: 'blade1', interfaces: [{ name: 'eth0', mac: BLADE_MAC, network: 'inside', ipv4: '10.0.0.11' }] },
        // A QEMU VM whose iPXE ROM fetches over TFTP (ipxeFetch).
        { name: 'vm1', loader: 'pxelinux', interfaces: [{ name: 'eth0', mac: VM_MAC, network: 'inside', ipv4: '10.0.0.12' }] },
      ],
    };
    writeFileSync(join(this.dir, 'config.json'), JSON.stringify(config, null, 2));
    this.server = L.spawn(this.srv, process.execPath, [CLI, 'serve', '--config', join(this.dir, 'config.json')], {
      cwd: this.dir,
      env: { PATH: process.env.PATH, RACKBOOT_LOG_FORMAT: 'json' },
    });
    this.server.stdout!.on('data', (d: Buffer) => (this.log = (this.log + d.toString()).slice(-200_000)));
    this.server.stderr!.on('data', (d: Buffer) => (this.log = (this.log + d.toString()).slice(-200_000)));
    if (!(await waitUntil(() => /api: listening on/.test(this.log) || this.server!.exitCode !== null, 30_000))) throw new Error(`rackboot did not start:\n${this.log.slice(-3000)}`);
    if (this.server.exitCode !== null) throw new Error(`rackboot exited:\n${this.log.slice(-3000)}`);
    // Warm up (first lease, first fetch), then the idle figure.
    const l = await this.lease(this.cli, 8);
    if (l === undefined) throw new Error(`the registered blade got no lease before any attack:\n${this.log.slice(-3000)}`);
    const f = await this.fetch('warm');
    if (!f.intact) throw new Error(`the first fetch failed: ${f.output}`);
    await new Promise((r) => setTimeout(r, 1000));
    this.idleRssKiB = this.rssKiB();
  }

  get pid(): number {
    return this.server!.pid!;
  }

  serverLog(): string {
    return this.log;
  }

  /** The server's CPU time so far (user + system), in seconds. */
  cpuSeconds(): number {
    const f = readFileSync(`/proc/${this.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // Fields 14 and 15 of stat (utime, stime), here 11 and 12 after the comm field; clock ticks of 1/100 s.
    return (Number(f[11]) + Number(f[12])) / 100;
  }

  /** UDP datagrams the server's namespace dropped for a full receive buffer (the server not keeping up). */
  udpRcvbufErrors(): number {
    const snmp = this.lab.execSync(this.srv, 'cat', ['/proc/net/snmp']).stdout.split('\n').filter((l) => l.startsWith('Udp:'));
    const [names, values] = snmp.map((l) => l.trim().split(/\s+/));
    return Number(values?.[names?.indexOf('RcvbufErrors') ?? -1] ?? NaN);
  }

  rssKiB(): number {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    return Number(m?.[1] ?? 0);
  }

  /** udhcpc in `ns` on eth0; seconds to the lease, or undefined. */
  async lease(ns: string, tries = 5): Promise<number | undefined> {
    const { script, out } = udhcpcScript(this.dir);
    const t0 = performance.now();
    await this.lab.exec(ns, 'udhcpc', ['-i', 'eth0', '-f', '-q', '-n', '-t', String(tries), '-T', '1', '-A', '1', '-s', script], { timeoutMs: 30_000 });
    const took = (performance.now() - t0) / 1000;
    if (!existsSync(out)) return undefined;
    const env = readEnvFile(out);
    rmSync(out, { force: true });
    return env.ip ? took : undefined;
  }

  /** atftp (blksize 1468, windowsize 16) fetches the 16 MiB file from the TFTP client's namespace. */
  async fetch(tag: string): Promise<{ seconds: number; intact: boolean; output?: string }> {
    const local = join(this.dir, `got-${tag}-${Math.random().toString(36).slice(2)}`);
    const t0 = performance.now();
    let r = await runClient({ client: 'atftp', host: '10.0.0.1', port: 69, remote: 'big.bin', local, ns: this.tcl, blksize: 1468, windowsize: 16, timeoutMs: 180_000 });
    // atftp gives up when an OACK comes again after its ACK 0 was lost (a client bug, see
    // test/integration/tftp/netns.test.ts): under loss such a run is started over once.
    if (r.code !== 0 && /unexpected OACK/.test(r.stderr)) r = await runClient({ client: 'atftp', host: '10.0.0.1', port: 69, remote: 'big.bin', local, ns: this.tcl, blksize: 1468, windowsize: 16, timeoutMs: 180_000 });
    const seconds = (performance.now() - t0) / 1000;
    const intact = r.code === 0 && existsSync(local) && createHash('sha256').update(readFileSync(local)).digest('hex') === this.bigSha;
    rmSync(local, { force: true });
    return intact ? { seconds, intact } : { seconds, intact, output: `${r.code} ${r.stdout} ${r.stderr}`.slice(0, 500) };
  }

  /**
   * A QEMU VM (TCG) whose iPXE ROM gets its DHCP lease and boot file (an iPXE
   * script) from rackboot and fetches a 4 MiB file with iPXE's own TFTP
   * client. With `loss`, 5% of the UDP packets to the VM are dropped too (the
   * server's input drops the other way, see phase 'loss').
   */
  async ipxeFetch(loss: boolean): Promise<{ ok: boolean; seconds: number; serial: string }> {
    const L = this.lab;
    if (!this.tap) {
      L.execSync(this.srv, 'ip', ['tuntap', 'add', 'dev', 'tap0', 'mode', 'tap']);
      L.enslave(this.srv, 'tap0', 'br0');
      L.execSync(this.srv, 'ip', ['link', 'set', 'tap0', 'up']);
      this.tap = true;
    }
    if (loss) {
      // Bridged towards the VM: a drop here is a lost packet, the server's sendto() still succeeds.
      this.nft(this.srv, 'table bridge vmloss {\n chain out {\n  type filter hook output priority 0;\n  oifname "tap0" meta l4proto udp numgen random mod 100 < 5 counter drop\n }\n}\n');
    }
    let serial = '';
    const t0 = performance.now();
    const vm = L.spawn(this.srv, 'qemu-system-x86_64', ['-accel', 'tcg', '-m', '256', '-smp', '1', '-nographic', '-no-reboot', '-boot', 'n', '-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no', '-device', `virtio-net-pci,netdev=n0,mac=${VM_MAC}`]);
    vm.stdout!.on('data', (d: Buffer) => (serial += d.toString('latin1')));
    try {
      await waitUntil(() => /IPXE-FETCH-(DONE|FAILED)|No bootable device/.test(serial) || vm.exitCode !== null, 240_000, 200);
      const size = /mid\.bin\s*:\s*(\d+) bytes/.exec(serial)?.[1];
      return { ok: /IPXE-FETCH-DONE/.test(serial) && Number(size) === MID, seconds: (performance.now() - t0) / 1000, serial: serial.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '') };
    } finally {
      vm.kill('SIGKILL');
      if (loss) L.execSync(this.srv, 'nft', ['delete', 'table', 'bridge', 'vmloss'], { check: false });
    }
  }

  private tap = false;

  /** Prometheus text from inside the namespaces (the API listens on 10.0.0.1 and loopback there). */
  async metrics(): Promise<string> {
    return (await this.lab.exec(this.tcl, 'curl', ['-sS', '--max-time', '5', 'http://10.0.0.1:8080/metrics'], { timeoutMs: 10_000 })).stdout;
  }

  private nft(ns: string, rules: string): void {
    this.lab.execSync(ns, 'nft', ['-f', '-'], { input: rules });
  }

  /** Run one attack for `seconds` while the blade leases and the client fetches, back to back. */
  async phase(attack: AttackName, seconds: number): Promise<PhaseReport> {
    const L = this.lab;
    const notes: Record<string, unknown> = {};
    const undo: Array<() => void> = [];
    // Packets the server sends to addresses that never asked: outside the network, or the forged off-network ciaddrs.
    this.nft(this.srv, 'table inet watch {\n counter outside {}\n chain out { type filter hook output priority 0; oifname "br0" ip daddr != { 10.0.0.0/24, 255.255.255.255 } counter name outside; }\n}\n');
    undo.push(() => L.execSync(this.srv, 'nft', ['delete', 'table', 'inet', 'watch'], { check: false }));
    let attacker: Promise<{ stdout: string }> | undefined;
    const flood = (kind: string, rate: number, arg?: string) => L.exec(this.atk, process.execPath, [FLOOD, kind, String(rate), String(seconds), ...(arg ? [arg] : [])], { timeoutMs: (seconds + 60) * 1000 });
    switch (attack) {
      case 'inform-flood':
        attacker = flood('inform', 2000);
        break;
      case 'discover-flood':
        attacker = flood('discover', 2000);
        break;
      case 'api-hostile':
        attacker = flood('api', 20, `http://10.0.0.1:8080,${TOKEN}`);
        break;
      case 'tftp-spoof':
        attacker = L.exec(this.atk, 'python3', [SPOOF, '10.0.0.1', '1000', String(seconds), 'big.bin'], { timeoutMs: (seconds + 60) * 1000 });
        break;
      case 'loss':
        // 5% of packets dropped on the way in, both ways (an output-hook drop would fail sendto() instead).
        for (const ns of [this.srv, this.cli, this.tcl]) {
          this.nft(ns, 'table inet loss {\n chain in {\n  type filter hook input priority 0;\n  meta l4proto udp numgen random mod 100 < 5 counter drop\n }\n}\n');
          undo.push(() => L.execSync(ns, 'nft', ['delete', 'table', 'inet', 'loss'], { check: false }));
        }
        attacker = new Promise((r) => setTimeout(() => r({ stdout: '{"kind":"loss"}' }), seconds * 1000));
        break;
    }
    const t0 = performance.now();
    const cpu0 = this.cpuSeconds();
    const drops0 = this.udpRcvbufErrors();
    const running = () => performance.now() - t0 < seconds * 1000;
    let maxRss = 0;
    const rssTimer = setInterval(() => (maxRss = Math.max(maxRss, this.rssKiB())), 250);
    const leases: Array<number | undefined> = [];
    const fetches: PhaseReport['fetches'] = [];
    const dhcpLoop = (async () => {
      // A moment for the attack to get going.
      await new Promise((r) => setTimeout(r, 500));
      while (running()) {
        leases.push(await this.lease(this.cli, 5));
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    const tftpLoop = (async () => {
      await new Promise((r) => setTimeout(r, 500));
      let n = 0;
      do fetches.push(await this.fetch(`${attack}-${n++}`));
      while (running());
    })();
    // Under loss, iPXE's own TFTP client too (QEMU's NIC ROM in a VM on the bridge).
    const ipxe =
      attack === 'loss' && HAVE_QEMU
        ? this.ipxeFetch(true).then((r) => {
            notes.ipxe = { ok: r.ok, seconds: Math.round(r.seconds), ...(r.ok ? {} : { console: r.serial.slice(-1500) }) };
          })
        : Promise.resolve();
    const newMachine =
      attack === 'discover-flood'
        ? (async () => {
            // A machine nobody registered, booting during the flood: it must still get a dynamic address.
            await new Promise((r) => setTimeout(r, Math.min(3000, (seconds * 1000) / 3)));
            const t = performance.now();
            const got = await this.lease(this.nwc, 20);
            notes.newMachineLeaseSeconds = got;
            notes.newMachineStartedAfter = (t - t0) / 1000;
          })()
        : Promise.resolve();
    try {
      const [a] = await Promise.all([attacker!, dhcpLoop, tftpLoop, newMachine, ipxe]);
      try {
        Object.assign(notes, { attackerReport: JSON.parse(a.stdout.trim().split('\n').at(-1) ?? '{}') });
      } catch {
        notes.attackerOutput = a.stdout.slice(0, 500);
      }
    } finally {
      clearInterval(rssTimer);
      // What the attack cost the server: its CPU share over the phase, and datagrams the kernel dropped for it.
      notes.serverCpuPercent = Math.round(((this.cpuSeconds() - cpu0) / ((performance.now() - t0) / 1000)) * 100);
      notes.udpRcvbufErrors = this.udpRcvbufErrors() - drops0;
      const counters = L.execSync(this.srv, 'nft', ['list', 'table', 'inet', 'watch'], { check: false }).stdout;
      notes.sentOutsideNetwork = Number(/packets (\d+)/.exec(counters)?.[1] ?? NaN);
      for (const u of undo.reverse()) u();
    }
    return { attack, seconds, leases, fetches, maxRssKiB: Math.max(maxRss, this.rssKiB()), attacker: (notes.attackerReport as Record<string, unknown>) ?? {}, notes };
  }

  /** The bars of issue 16 for one phase; the failures, in words. */
  judge(r: PhaseReport): string[] {
    const bad: string[] = [];
    if (!r.leases.length) bad.push('the registered blade never tried');
    r.leases.forEach((s, i) => {
      if (s === undefined || s > 5) bad.push(`lease ${i + 1}: ${s === undefined ? 'none' : `${s.toFixed(1)} s`}`);
    });
    if (!r.fetches.length) bad.push('no 16 MiB fetch');
    r.fetches.forEach((f, i) => {
      if (!f.intact) bad.push(`fetch ${i + 1} failed after ${f.seconds.toFixed(1)} s: ${f.output}`);
    });
    if (r.maxRssKiB >= 2 * this.idleRssKiB) bad.push(`RSS ${r.maxRssKiB} KiB, idle ${this.idleRssKiB} KiB`);
    if (r.attack === 'discover-flood' && r.notes.newMachineLeaseSeconds === undefined) bad.push('the new machine got no address during the flood');
    const ipxe = r.notes.ipxe as { ok: boolean; console?: string } | undefined;
    if (r.attack === 'loss' && HAVE_QEMU && !ipxe?.ok) bad.push(`iPXE's fetch of 4 MiB did not complete: ${ipxe?.console ?? 'not run'}`);
    if (r.notes.sentOutsideNetwork !== 0) bad.push(`${String(r.notes.sentOutsideNetwork)} packet(s) sent to addresses outside the network`);
    return bad;
  }

  async close(): Promise<void> {
    await this.lab.cleanup();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function describePhase(r: PhaseReport, idle: number): string {
  const l = r.leases.filter((x): x is number => x !== undefined);
  const f = r.fetches.filter((x) => x.intact).map((x) => x.seconds);
  const fmt = (xs: number[]) => (xs.length ? `${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)} s` : '-');
  return `${r.attack} ${r.seconds} s: ${l.length}/${r.leases.length} leases (${fmt(l)}), ${f.length}/${r.fetches.length} fetches intact (${fmt(f)}), RSS max ${r.maxRssKiB} KiB (idle ${idle}), attacker ${JSON.stringify(r.attacker)}, ${JSON.stringify({ ...r.notes, attackerReport: undefined })}`;
}
