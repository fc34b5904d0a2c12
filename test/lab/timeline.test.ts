// The lab's pure parts: console milestones, timeline building, run-id parsing, QEMU and dnsmasq arguments.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { classify, cleanLine, firstMilestones, LineSplitter } from './serial.js';
import { buildTimeline, describeEvent, formatTimeline, phaseTimes, type EventView } from './timeline.js';
import { runIdOf } from './state.js';
import { bladeAddr } from './topology.js';
import { qemuArgs } from './vm.js';
import { dnsmasqArgs } from './dnsmasq.js';
import { bmcQemuArgv } from './bmc.js';
import { bladeFirmware, DEFAULT_OPTIONS } from './lab.js';

const ev = (ts: number, kind: string, detail: Record<string, unknown> = {}, mac: string | null = null): EventView => ({ id: ts, node: 'blade1', mac, ts, kind, detail });

describe('serial console', () => {
  test('milestones from real console lines (SeaBIOS, iPXE, PXELINUX, Linux)', () => {
    assert.equal(classify('SeaBIOS (version 1.16.2-debian-1.16.2-1)'), 'firmware');
    assert.equal(classify('iPXE (PCI 00:03.0) starting execution...ok'), 'rom');
    assert.equal(classify('Configuring (net0 52:54:00:00:0a:01).................. ok'), 'dhcp');
    assert.equal(classify('PXELINUX 6.04 PXE 20200816 Copyright (C) 1994-2015 H. Peter Anvin et al'), 'loader');
    assert.equal(classify('Loading vmlinuz...Loading vmlinuz...  ookk'), 'kernel');
    assert.equal(classify('Loading boot/blade1/kernel... ok'), 'kernel');
    assert.equal(classify('Loading initrd.gz..Loading initrd.gz....ookk'), 'initrd');
    assert.equal(classify('http://10.0.0.1:8080/boot/blade1/kernel... ok'), 'kernel');
    assert.equal(classify('http://10.0.0.1:8080/boot/blade1/initrd... ok'), 'initrd');
    assert.equal(classify('[    0.000000] Linux version 6.1.0-56-cloud-amd64 (debian-kernel@lists.debian.org)'), 'linux');
    assert.equal(classify('[    2.018664] Run /init as init process'), 'init');
    assert.equal(classify('Configuring (net0 52:54:00:00:0a:01)......'), undefined, 'no ok yet: not configured');
    assert.equal(classify('random text'), undefined);
  });

  test('milestones of UEFI blades (OVMF PXE and HTTP boot, GRUB)', () => {
    assert.equal(classify('>>Start PXE over IPv4.'), 'rom');
    assert.equal(classify('>>Start HTTP Boot over IPv4....'), 'rom');
    assert.equal(classify('  Station IP address is 10.0.0.11'), 'dhcp');
    assert.equal(classify('Welcome to GRUB!'), 'loader');
    // The BIOS ROM prints this too, before its DHCP: no loader yet (iPXE's script is the loader milestone).
    assert.equal(classify('iPXE initialising devices...ok'), undefined);
    assert.equal(classify('rackboot: loading the RAM disk'), 'kernel');
    assert.equal(classify('>>Start HTTP Boot over IPv6.'), undefined, 'the IPv6 try after a failed IPv4 one is no milestone');
  });

  test('escape sequences stripped, CR/LF split with the tail kept', () => {
    assert.equal(cleanLine('\x1b[0;1miPXE 1.0\x1b[0m -- Open'), 'iPXE 1.0 -- Open');
    const s = new LineSplitter();
    assert.deepEqual(s.push('a\r\nb\rc'), ['a', 'b']);
    assert.deepEqual(s.push('d\n'), ['cd']);
    assert.deepEqual(s.flush(), []);
  });

  test('first occurrence of each milestone only (PXELINUX prints its banner twice)', () => {
    const m = firstMilestones([
      { t: 1, milestone: 'loader', line: 'a' },
      { t: 2, milestone: 'loader', line: 'b' },
      { t: 3, milestone: 'kernel', line: 'c' },
    ]);
    assert.deepEqual(m.map((x) => x.t), [1, 3]);
  });
});

describe('timeline', () => {
  test('DHCP rows say who asked (rackboot\'s client); router advertisements and size probes have rows; HEADs do not', () => {
    assert.equal(describeEvent(ev(0, 'dhcp.ack', { address: '10.0.0.11', client: 'syslinux' }, '52:54:00:00:0a:01'))?.what, 'DHCP 52:54:00:00:0a:01 10.0.0.11 (syslinux.efi)');
    assert.equal(describeEvent(ev(0, 'dhcp.ack', { address: '10.0.0.11', client: 'os', vendorClass: 'udhcp 1.35.0' }))?.what, 'DHCP 10.0.0.11 (Linux udhcpc)');
    assert.equal(describeEvent(ev(0, 'dhcp.ack', { address: '10.0.0.11', client: 'http-firmware' }))?.what, 'DHCP 10.0.0.11 (UEFI HTTP boot)');
    assert.match(describeEvent(ev(0, 'ra.sent', { interface: 'eth1' }, '52:54:00:00:0a:01'), new Map([['52:54:00:00:0a:01', 'eth0']]))!.what, /IPv6 router advertisement to eth0/);
    assert.equal(describeEvent(ev(0, 'tftp.probe', { file: 'syslinux.efi' }))?.what, 'TFTP size probe syslinux.efi');
    assert.equal(describeEvent(ev(0, 'http.head', { path: 'ipxe.efi' })), undefined);
  });

  test('transfers classified by file, with duration and size', () => {
    assert.equal(describeEvent(ev(0, 'tftp.transfer', { file: 'pxelinux.0', bytes: 42430, durationMs: 12, blksize: 1432 }))?.phase, 'loader');
    assert.equal(describeEvent(ev(0, 'tftp.transfer', { file: 'pxelinux.cfg/01-52-54-00-00-0a-01', bytes: 200 }))?.phase, 'config');
    const k = describeEvent(ev(0, 'tftp.transfer', { file: 'boot/blade1/kernel', bytes: 14 * 1024 * 1024, durationMs: 4100, blksize: 1408 }));
    assert.equal(k?.phase, 'kernel');
    assert.equal(k?.took, 4100);
    assert.match(k!.what, /TFTP boot\/blade1\/kernel 14\.0 MiB, blksize 1408/);
    assert.equal(describeEvent(ev(0, 'http.transfer', { path: '/boot/blade1/initrd', bytes: 5000 }))?.phase, 'initrd');
    const h = describeEvent(ev(0, 'http.get', { path: '/boot/blade1/kernel', kind: 'kernel', status: 200, bytes: 14e6, ms: 380 }));
    assert.equal(h?.phase, 'kernel');
    assert.equal(h?.took, 380);
    assert.match(h!.what, /^HTTP \/boot\/blade1\/kernel 13\.4 MiB$/);
    assert.equal(describeEvent(ev(0, 'http.get', { path: '/boot/ipxe/52:54:00:00:0a:01', kind: 'script', bytes: 670, ms: 3 }))?.phase, 'config');
    assert.equal(describeEvent(ev(0, 'ready', { web: 'apache2', content: 'nfs' }))?.phase, 'ready');
    assert.equal(describeEvent(ev(0, 'director.up', { service: 'web' }))?.phase, 'pool');
    assert.equal(describeEvent(ev(0, 'director.down', { service: 'web' }))?.phase, 'out');
  });

  test('rackboot events and console merged on the power-on clock; misses folded; earlier boots left out', () => {
    const on = 1_000_000;
    const rows = buildTimeline({
      poweredOnAt: on,
      since: on,
      events: [
        ev(on - 60_000, 'ready'), // a previous boot
        ev(on + 18_500, 'dhcp.ack', { ipv4: '10.0.0.11' }, '52:54:00:00:0a:01'),
        ev(on + 18_600, 'tftp.transfer', { file: 'pxelinux.0', bytes: 42430, durationMs: 20 }),
        ev(on + 18_700, 'tftp.not-found', { file: 'pxelinux.cfg/01-52-54-00-00-0a-01' }),
        ev(on + 18_710, 'tftp.not-found', { file: 'pxelinux.cfg/0A00000B' }),
        ev(on + 18_720, 'tftp.transfer', { file: 'pxelinux.cfg/default', bytes: 112, durationMs: 1 }),
        ev(on + 22_800, 'tftp.transfer', { file: 'vmlinuz', bytes: 14e6, durationMs: 4100 }),
        ev(on + 30_000, 'ready', {}),
        ev(on + 31_000, 'director.up', {}),
      ],
      serial: [{ t: 0.1, milestone: 'firmware', line: 'SeaBIOS' }],
      notes: [{ t: 29, line: 'rackboot: mounted 10.0.0.1:/www on /var/www' }],
      macNames: new Map([['52:54:00:00:0a:01', 'eth0']]),
    });
    assert.deepEqual(
      rows.map((r) => r.phase),
      ['power', 'dhcp', 'loader', 'config', 'config', 'kernel', 'nfs', 'ready', 'pool'],
    );
    assert.match(rows[1]!.what, /DHCP eth0 10\.0\.0\.11/);
    assert.match(rows[3]!.what, /not found: 2 names/);
    const p = phaseTimes(rows);
    assert.equal(p.ready, 30_000);
    assert.equal(p.pool, 31_000);
    const text = formatTimeline('blade1', rows);
    assert.match(text, /^blade1\n/);
    assert.match(text, /31\.00 s/);
  });
});

describe('names and arguments', () => {
  test('only lab namespaces are claimed by --cleanup', () => {
    assert.equal(runIdOf('rblab1234x0-fabric'), 'rblab1234x0');
    assert.equal(runIdOf('rb1234x0-server'), undefined, "another test's NetLab");
    assert.equal(runIdOf('rblab-foo'), undefined);
    assert.equal(runIdOf('mynet'), undefined);
  });

  test('blade addressing and QEMU arguments: two virtio NICs on the blade taps, network boot, TCG', () => {
    const b = bladeAddr(9);
    assert.equal(b.name, 'blade10');
    assert.deepEqual(b.macs, ['52:54:00:00:0a:0a', '52:54:00:00:0b:0a']);
    assert.deepEqual(b.ipv4, ['10.0.0.20', '10.0.1.20']);
    const a = qemuArgs({ blade: b, memoryMb: 512 }).join(' ');
    assert.match(a, /-accel tcg/);
    assert.match(a, /-boot n/);
    assert.match(a, /-no-reboot/);
    assert.match(a, /tap,id=n0,ifname=b10e0,script=no,downscript=no/);
    assert.match(a, /virtio-net-pci,netdev=n1,mac=52:54:00:00:0b:0a/);
  });

  test('UEFI blades: OVMF code read-only, a vars copy, no NIC ROM, the first NIC boots; HTTP boot turns PXE off; Secure Boot: q35, SMM, MS vars', () => {
    const b = bladeAddr(1);
    const uefi = qemuArgs({ blade: b, memoryMb: 512, firmware: { firmware: 'uefi', httpBoot: false, secureBoot: false }, varsFile: '/w/blade2.vars.fd' }).join(' ');
    assert.match(uefi, /-drive if=pflash,format=raw,unit=0,readonly=on,file=\/usr\/share\/OVMF\/OVMF_CODE_4M\.fd/);
    assert.match(uefi, /-drive if=pflash,format=raw,unit=1,file=\/w\/blade2\.vars\.fd/);
    assert.match(uefi, /virtio-net-pci,netdev=n0,mac=52:54:00:00:0a:02,romfile=,bootindex=1 /);
    assert.match(uefi, /virtio-net-pci,netdev=n1,mac=52:54:00:00:0b:02,romfile=$/);
    assert.doesNotMatch(uefi, /-boot n|IPv4PXESupport|q35/);
    const http = qemuArgs({ blade: b, memoryMb: 512, firmware: { firmware: 'uefi', httpBoot: true, secureBoot: false }, varsFile: '/v' }).join(' ');
    assert.match(http, /name=opt\/org\.tianocore\/IPv4PXESupport,string=n/);
    const sb = qemuArgs({ blade: b, memoryMb: 512, firmware: { firmware: 'uefi', httpBoot: false, secureBoot: true }, varsFile: '/v' }).join(' ');
    assert.match(sb, /-machine q35,smm=on -global driver=cfi\.pflash01,property=secure,value=on/);
    assert.match(sb, /OVMF_CODE_4M\.secboot\.fd/);
  });

  test('--firmware mixed: blade1 BIOS, blade2 UEFI; a blade of its own overrides', () => {
    const o = { ...DEFAULT_OPTIONS, firmware: 'mixed' as const, httpBoot: true };
    assert.equal(bladeFirmware(o, bladeAddr(0)).firmware, 'bios');
    assert.deepEqual(bladeFirmware(o, bladeAddr(1)), { firmware: 'uefi', httpBoot: true, secureBoot: false });
    assert.equal(bladeFirmware({ ...o, bladeOverrides: { blade1: { firmware: 'uefi' } } }, bladeAddr(0)).firmware, 'uefi');
    assert.equal(bladeFirmware({ ...DEFAULT_OPTIONS, bladeOverrides: { blade3: { firmware: 'uefi', loader: 'pxelinux' } } }, bladeAddr(2)).firmware, 'uefi');
  });

  test('dnsmasq reference: static leases for both NICs, TFTP unless DHCP only', () => {
    const blades = [bladeAddr(0), bladeAddr(1)];
    const full = dnsmasqArgs({ tftpRoot: '/t', workDir: '/w', blades });
    assert.ok(full.includes('--enable-tftp'));
    assert.ok(full.includes('--dhcp-host=52:54:00:00:0b:02,10.0.1.12,blade2'));
    assert.ok(full.includes('--port=0'));
    const dhcp = dnsmasqArgs({ tftpRoot: '/t', workDir: '/w', blades, dhcpOnly: true });
    assert.ok(!dhcp.includes('--enable-tftp'));
    assert.ok(dhcp.includes('--dhcp-boot=pxelinux.0,,10.0.0.1'));
  });
});

describe('power through a BMC', () => {
  test('the power events are the first rows of a timeline; a failure says why; the BMC VM argv keeps the lab VM and adds the KCS wiring', () => {
    const rows = buildTimeline({
      poweredOnAt: 1000,
      since: 1000,
      events: [
        ev(1010, 'power.requested', { action: 'on', bmc: 'ipmi 10.0.2.11:623', via: 'ipmitool lanplus -C 3' }),
        ev(1150, 'power.ok', { action: 'on', ms: 140 }),
        ev(1200, 'power.failed', { action: 'off', error: 'blade1: the BMC at ipmi 10.0.2.11:623 did not answer' }),
      ],
      serial: [],
      notes: [],
      macNames: new Map(),
    });
    assert.deepEqual(
      rows.map((r) => [r.phase, r.what]),
      [
        ['power', 'power on requested from ipmi 10.0.2.11:623 via ipmitool lanplus -C 3'],
        ['power', 'BMC: power on done'],
        ['other', 'BMC: power off FAILED: blade1: the BMC at ipmi 10.0.2.11:623 did not answer'],
      ],
    );
    assert.equal(rows[1]!.took, 140);
    const argv = bmcQemuArgv(bladeAddr(0), { memoryMb: 512, vmPort: 9100, consoleSock: '/w/blade1.console.sock' });
    assert.ok(!argv.includes('-boot'), 'the boot device comes from the BMC');
    for (const a of ['ipmi-bmc-extern,id=bmc0,chardev=ipmi0', 'isa-ipmi-kcs,bmc=bmc0', 'socket,id=ipmi0,host=127.0.0.1,port=9100,reconnect=10', 'socket,id=con0,path=/w/blade1.console.sock', 'chardev:con0']) {
      assert.ok(argv.includes(a), a);
    }
    assert.deepEqual(argv.slice(1, 4), ['-accel', 'tcg', '-m']);
  });
});
