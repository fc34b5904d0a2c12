// `rackboot node events`: events in the shapes the services record them,
// read as boot steps with durations; --since and --boot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventText, formatEvents, lastBootStart, type EventRow } from '../../../server/cli/timeline.js';
import { sinceMs } from '../../../server/cli/commands/node.js';

const MAC = '52:54:00:00:0a:01';
let id = 0;
const ev = (ts: number, kind: string, detail: Record<string, unknown> = {}, mac: string | null = MAC): EventRow => ({
  id: ++id,
  node: 'blade1',
  mac,
  ts,
  time: new Date(ts).toISOString(),
  kind,
  detail,
});

const T = Date.UTC(2024, 4, 1, 10, 0, 0);
const boot = (t0: number) => [
  ev(t0, 'dhcp.offer', { request: 'discover', address: '10.0.0.11', firmware: 'bios', bootFile: 'pxelinux.0' }),
  ev(t0 + 40, 'dhcp.ack', { request: 'request', address: '10.0.0.11', firmware: 'bios', bootFile: 'pxelinux.0' }),
  ev(t0 + 300, 'tftp.transfer', { file: 'pxelinux.0', kind: 'loader', bytes: 46_000, size: 46_000, durationMs: 120, blksize: 1468, windowsize: 1 }),
  ev(t0 + 500, 'render', { loader: 'pxelinux', template: 'pxelinux.cfg.hbs', origin: 'shipped', protocol: 'tftp' }),
  // PXELINUX's last ACK lost: every block was sent, so it counts as the kernel step, not a failure.
  ev(t0 + 2600, 'tftp.failed', { file: 'boot/blade1/kernel', kind: 'kernel', outcome: 'timeout', bytes: 8_388_000, size: 8_388_608, blksize: 1468, durationMs: 2000 }),
  ev(t0 + 4000, 'http.get', { path: '/boot/blade1/initrd', kind: 'initrd', status: 200, bytes: 20 * 1048576, ms: 1300 }, null),
  ev(t0 + 9000, 'ready', { image: 'web-blade', version: '0123abcd', docroot: '/srv/www/releases/r1' }, null),
  ev(t0 + 9500, 'director.up', { service: 'web', address: '10.0.0.11', check: 'http 200' }, null),
];

test('eventText: each service\'s detail in words', () => {
  const b = boot(T);
  assert.equal(eventText(b[0]!), 'discover -> 10.0.0.11 (bios) boot file pxelinux.0');
  assert.equal(eventText(b[2]!), 'pxelinux.0 44.9 KiB blksize 1468');
  assert.equal(eventText(b[4]!), 'boot/blade1/kernel 8.0 MiB of 8.0 MiB (timeout) blksize 1468');
  assert.equal(eventText(b[5]!), '/boot/blade1/initrd 200 20.0 MiB');
  assert.equal(eventText(b[3]!), 'pxelinux pxelinux.cfg.hbs (shipped) over tftp');
  assert.equal(eventText(b[7]!), 'web 10.0.0.11 http 200');
  assert.equal(eventText(ev(T, 'power.failed', { action: 'on', bmc: 'ipmi 10.0.2.11:623', error: 'no answer' })), 'on via ipmi 10.0.2.11:623 no answer');
  assert.equal(eventText(ev(T, 'custom', { a: 1, nested: { x: 1 }, b: 'two' })), 'a=1 b=two');
});

test('formatEvents: durations between rows and from the boot start, steps, interfaces, the state reached', () => {
  const out = formatEvents('blade1', [ev(T - 60_000, 'power.requested', { action: 'on', bmc: 'ipmi 10.0.2.11:623' }, null), ...boot(T)], new Map([[MAC, 'eth0']]));
  const lines = out.split('\n');
  assert.match(lines[0]!, /^blade1: 9 event\(s\), .* \(69\.50 s\)$/);
  const cols = (i: number) => lines[i]!.split(/\s{2,}/);
  assert.deepEqual(cols(1), ['TIME', '+PREV', 'BOOT', 'TOOK', 'STEP', 'EVENT', 'IFACE', 'DETAIL']);
  // Before any boot: no BOOT column, no step.
  assert.deepEqual(cols(2).slice(1), ['power.requested', '-', 'on via ipmi 10.0.2.11:623']);
  assert.deepEqual(cols(3).slice(1, 5), ['+60.00 s', '0.000 s', 'dhcp', 'dhcp.offer']);
  assert.deepEqual(cols(5).slice(1, 6), ['+0.260 s', '0.300 s', '0.120 s', 'loader', 'tftp.transfer']);
  assert.deepEqual(cols(7).slice(1, 6), ['+2.100 s', '2.600 s', '2.000 s', 'kernel', 'tftp.failed']);
  assert.deepEqual(cols(8).slice(1, 6), ['+1.400 s', '4.000 s', '1.300 s', 'initrd', 'http.get']);
  assert.equal(cols(3)[5], 'eth0');
  assert.equal(cols(8)[6], '-');
  assert.match(lines.at(-1)!, /^state: in the pool since \d\d:\d\d:\d\d\.500, 9\.500 s after its boot began$/);
  assert.equal(formatEvents('blade2', []), 'blade2: no events');
});

test('lastBootStart: a second boot starts at its firmware DHCP; renewals and OS DHCP do not restart it', () => {
  const first = boot(T);
  const renew = ev(T + 20_000, 'dhcp.ack', { request: 'request', reason: 'renewing', address: '10.0.0.11' });
  const second = boot(T + 60_000);
  const all = [...first, renew, ...second];
  assert.equal(lastBootStart(all), first.length + 1);
  assert.equal(lastBootStart([...first, renew]), 0);
  assert.equal(lastBootStart([]), 0);
  const failed = formatEvents('blade1', [...first, ev(T + 30_000, 'director.down', { service: 'web', check: 'timeout' }, null)]);
  assert.match(failed, /\s+out\s+director\.down\s+-\s+web timeout\n/);
  assert.match(failed.split('\n').at(-1)!, /^state: failed since .*: left the pool of web: timeout$/);
});

test('--since: a duration ago or a time', () => {
  const now = Date.UTC(2024, 4, 1, 12, 0, 0);
  assert.equal(sinceMs('10m', now), now - 600_000);
  assert.equal(sinceMs('1.5h', now), now - 5_400_000);
  assert.equal(sinceMs('2024-05-01T10:00:00Z', now), Date.UTC(2024, 4, 1, 10));
  assert.throws(() => sinceMs('yesterday', now), /--since 'yesterday': a duration ago/);
});
