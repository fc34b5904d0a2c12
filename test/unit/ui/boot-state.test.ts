// The rack's node states and the node page's boot bars, read off timelines
// shaped as rackboot records them (DHCP, TFTP and HTTP, renders, reports).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { advance, bootBars, EMPTY_BOOT, releaseOf, replay, type BootEvent } from '../../../web/shared/boot-state.js';
import { noteUnknown, UNKNOWN_LIMIT, type LiveEvent, type UnknownMac } from '../../../web/shared/rack.js';

let t = 1_000_000;
const ev = (kind: string, detail: Record<string, unknown> = {}, dt = 100): BootEvent => ({ ts: (t += dt), kind, mac: '52:54:00:00:0a:01', detail });
const pxe = { request: 'DISCOVER', arch: 0, firmware: 'bios', vendorClass: 'PXEClient:Arch:00000:UNDI:002001' };
const udhcpc = { request: 'DISCOVER', vendorClass: 'udhcp 1.35.0' };

/** A whole PXELINUX boot as the TFTP, render and report paths record it. */
function pxelinuxBoot(): BootEvent[] {
  return [
    ev('dhcp.offer', pxe),
    ev('dhcp.ack', { ...pxe, request: 'REQUEST', reason: 'selecting' }),
    ev('tftp.transfer', { file: 'pxelinux.0', kind: 'loader', bytes: 42000, size: 42000, durationMs: 300, blksize: 1468 }, 400),
    ev('tftp.transfer', { file: 'ldlinux.c32', kind: 'loader', bytes: 120000, size: 120000, durationMs: 200 }),
    ev('tftp.not-found', { file: 'pxelinux.cfg/01-52-54-00-00-0a-01' }),
    ev('render', { loader: 'pxelinux', path: 'pxelinux.cfg/C0A8000B' }),
    ev('tftp.transfer', { file: 'pxelinux.cfg/C0A8000B', kind: 'config', bytes: 500, size: 500, durationMs: 5 }),
    ev('tftp.transfer', { file: 'boot/blade1/kernel', kind: 'kernel', bytes: 8e6, size: 8e6, durationMs: 2000 }, 2100),
    // The last ACK of the RAM disk never came: every byte was sent.
    ev('tftp.failed', { file: 'boot/blade1/initrd', kind: 'initrd', outcome: 'timeout', bytes: 30e6 - 1000, size: 30e6, blksize: 1468, durationMs: 5000 }, 5100),
    ev('dhcp.offer', udhcpc, 3000),
    ev('dhcp.ack', { ...udhcpc, request: 'REQUEST', reason: 'selecting' }),
    ev('waiting-content', { export: 'www' }, 500),
    ev('ready', { web: 'apache2', image: 'web-blade', version: 'abcdef0123456789', docroot: '/var/www/releases/20261126T160624254Z-1d7655' }, 4000),
    ev('director.up', { service: 'web', check: 'GET /: 200' }, 2000),
  ];
}

describe('node state from its timeline', () => {
  test('a whole boot walks DHCP, loader, kernel, RAM disk, ready, in the pool', () => {
    const seen: string[] = [];
    let b = EMPTY_BOOT;
    for (const e of pxelinuxBoot()) {
      b = advance(b, e);
      if (seen.at(-1) !== b.state) seen.push(b.state);
    }
    assert.deepEqual(seen, ['dhcp', 'loader', 'kernel', 'initrd', 'ready', 'pool']);
    assert.equal(b.booted?.version, 'abcdef0123456789');
    assert.equal(releaseOf(b.booted?.docroot), '20261126T160624254Z-1d7655');
    assert.equal(b.lastKind, 'director.up');
  });

  test("the RAM disk's own DHCP, and lease renewals once up, change nothing", () => {
    const events = pxelinuxBoot();
    const b = replay(events);
    assert.equal(b.state, 'pool');
    const renewed = advance(b, ev('dhcp.ack', { ...udhcpc, request: 'REQUEST', reason: 'renewing' }, 1800_000));
    assert.equal(renewed.state, 'pool');
    assert.equal(renewed.since, b.since, 'since: when it entered the pool, not the renewal');
    assert.equal(renewed.last, t, 'the renewal is still its newest event');
  });

  test("an OS's DHCP client moves an unknown node to DHCP; firmware DHCP starts a new boot even from the pool", () => {
    const first = advance(EMPTY_BOOT, ev('dhcp.offer', udhcpc));
    assert.equal(first.state, 'dhcp');
    const up = replay(pxelinuxBoot());
    const reboot = advance(up, ev('dhcp.offer', pxe, 60_000));
    assert.equal(reboot.state, 'dhcp');
    assert.equal(reboot.bootStart, t);
  });

  test('a failed check fails a node that was up, not one that is rebooting; a refusal or render error fails it with the reason', () => {
    const up = replay(pxelinuxBoot());
    const down = advance(up, ev('director.down', { service: 'web', check: 'GET /: ECONNREFUSED', failures: 3 }));
    assert.equal(down.state, 'failed');
    assert.equal(down.reason, 'left the pool of web: GET /: ECONNREFUSED');
    const rebooting = advance(advance(up, ev('dhcp.offer', pxe)), ev('director.down', { service: 'web', check: 'timeout' }));
    assert.equal(rebooting.state, 'dhcp');
    const broken = advance(advance(EMPTY_BOOT, ev('dhcp.offer', pxe)), ev('render.error', { message: 'pxelinux.cfg.hbs:7: node.vars.webroot is not defined for node blade1' }));
    assert.equal(broken.state, 'failed');
    assert.match(broken.reason!, /webroot is not defined/);
    assert.equal(advance(up, ev('web-exited', { web: 'apache2', code: 1 })).state, 'failed');
    assert.equal(advance(up, ev('power.off', {})).state, 'off');
  });

  test("a transfer that really failed (blocks unsent) is a failure, not the RAM disk's arrival", () => {
    const b = replay([ev('dhcp.offer', pxe), ev('tftp.failed', { file: 'boot/blade1/initrd', kind: 'initrd', outcome: 'timeout', bytes: 1000, size: 30e6, blksize: 1468, reason: 'client stopped acknowledging' })]);
    assert.equal(b.state, 'failed');
    assert.match(b.reason!, /client stopped acknowledging/);
  });

  test('a content switch the blade followed updates the release it serves', () => {
    const b = advance(replay(pxelinuxBoot()), ev('content', { web: 'apache2', docroot: '/var/www/releases/r2' }));
    assert.equal(releaseOf(b.booted?.docroot), 'r2');
    assert.equal(b.state, 'pool');
  });
});

describe('boot bars of the last boot', () => {
  test('each step with its duration, on the boot axis', () => {
    const events = [...pxelinuxBoot(), ...pxelinuxBoot()];
    const { start, bars } = bootBars(events);
    // The second boot's first DHCP.
    assert.equal(start, events[14]!.ts);
    const by = Object.fromEntries(bars.map((b) => [b.step, b]));
    assert.deepEqual(Object.keys(by), ['dhcp', 'loader', 'config', 'kernel', 'initrd', 'nfs', 'ready']);
    assert.equal(by.dhcp!.duration, 100, 'offer to ack');
    assert.equal(by.kernel!.duration, 2000, 'the transfer time');
    assert.equal(by.initrd!.duration, 5000);
    // From the RAM disk's arrival to "ready".
    assert.equal(by.nfs!.duration, 3000 + 100 + 500 + 4000);
    assert.equal(by.ready!.duration, 2000, 'ready to the pool');
    assert.ok(by.kernel!.start > by.config!.start);
  });

  test('no boot yet: no bars', () => {
    assert.deepEqual(bootBars([ev('director.excluded', { reason: 'x' })]), { start: null, bars: [] });
  });
});

describe('unknown MACs', () => {
  test('counted, with the network and client they asked from, oldest dropped past the limit', () => {
    const table = new Map<string, UnknownMac>();
    const le = (mac: string, detail: Record<string, unknown>): LiveEvent => ({ ts: (t += 10), time: '', node: null, mac, kind: 'dhcp.offer', detail });
    noteUnknown(table, le('52:54:00:99:00:01', { network: 'inside', address: '10.0.0.200', vendorClass: 'PXEClient', arch: 7 }));
    noteUnknown(table, le('52:54:00:99:00:01', { network: 'inside' }));
    const u = table.get('52:54:00:99:00:01')!;
    assert.equal(u.count, 2);
    assert.equal(u.address, '10.0.0.200');
    assert.equal(u.arch, 7);
    for (let i = 0; i < UNKNOWN_LIMIT + 5; i++) noteUnknown(table, le(`02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, {}));
    assert.equal(table.size, UNKNOWN_LIMIT);
    assert.equal(table.has('52:54:00:99:00:01'), false);
  });
});
