// The lab's progress lines: each boot stage once, in order, as the timeline grows; the drill's report kept short.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BootEvent } from '../../web/shared/boot-state.js';
import { bootStages, watchBoot } from './progress.js';
import { formatDrill } from './timeline.js';

const MAC = '52:54:00:00:0a:01';
const T = Date.UTC(2024, 4, 1, 10);
const ev = (dt: number, kind: string, detail: Record<string, unknown> = {}, mac: string | null = MAC): BootEvent => ({ ts: T + dt, kind, detail, mac });
const BOOT = [
  ev(-60_000, 'ready', { image: 'web-blade' }, null), // the boot before this power-on
  ev(400, 'dhcp.offer', { request: 'discover', address: '10.0.0.11', firmware: 'bios', bootFile: 'pxelinux.0' }),
  ev(450, 'dhcp.ack', { request: 'request', address: '10.0.0.11', firmware: 'bios', bootFile: 'pxelinux.0' }),
  ev(900, 'tftp.transfer', { file: 'pxelinux.0', kind: 'loader', bytes: 46_000, size: 46_000 }),
  ev(5_000, 'tftp.transfer', { file: 'boot/blade1/kernel', kind: 'kernel', bytes: 8_388_608, size: 8_388_608 }),
  ev(9_000, 'tftp.transfer', { file: 'boot/blade1/initrd', kind: 'initrd', bytes: 20_000_000, size: 20_000_000 }),
  ev(60_000, 'ready', { image: 'web-blade', version: 'abcd' }, null),
  ev(61_500, 'director.up', { service: 'web', address: '10.0.0.11' }, null),
];

test('bootStages: one line per stage reached since power-on, with the time and the event that moved it', () => {
  assert.deepEqual(
    bootStages('blade1', BOOT, T).map((s) => s.line),
    [
      'blade1: DHCP (+0.4 s, dhcp.offer)',
      'blade1: loader (+0.9 s, tftp.transfer)',
      'blade1: kernel (+5.0 s, tftp.transfer)',
      'blade1: RAM disk (+9.0 s, tftp.transfer)',
      'blade1: ready (+60.0 s, ready)',
      'blade1: in the pool (+61.5 s, director.up)',
    ],
  );
  const failed = bootStages('blade2', [...BOOT.slice(1, 4), ev(30_000, 'tftp.failed', { file: 'boot/blade2/kernel', kind: 'kernel', outcome: 'timeout', bytes: 1000, size: 8_388_608 })], T);
  assert.match(failed.at(-1)!.line, /^blade2: failed: .*kernel.* \(\+30\.0 s, tftp\.failed\)$/);
  assert.deepEqual(bootStages('blade1', [], T), []);
});

test('watchBoot: prints each stage once as the timeline grows, and the last one at stop', async () => {
  let seen = 2;
  const lines: string[] = [];
  let reads = 0;
  const w = watchBoot(
    'blade1',
    T,
    async () => {
      reads++;
      if (reads === 2) throw new Error('API busy'); // skipped, not fatal
      return BOOT.slice(0, seen);
    },
    (l) => lines.push(l),
    5,
  );
  const until = async (n: number) => {
    for (let i = 0; i < 400 && lines.length < n; i++) await new Promise((r) => setTimeout(r, 5));
  };
  await until(1);
  seen = 5;
  await until(3);
  seen = BOOT.length - 1;
  await until(5);
  seen = BOOT.length;
  await w.stop();
  assert.deepEqual(lines, bootStages('blade1', BOOT, T).map((s) => s.line));
  assert.ok(reads >= 4);
});

test('formatDrill: the first 20 failed requests, then how many more and the last', () => {
  const spread = { requests: 0, ok: 0, failed: 0, byBlade: {}, errors: {} };
  const failures = Array.from({ length: 9661 }, (_, i) => ({ sinceKillMs: 10_000 + i * 10, error: 'ECONNREFUSED', ms: 1 }));
  const out = formatDrill({ blade: 'blade1', detectionMs: 2900, beforeKill: spread, window: spread, afterDrop: spread, afterReturn: spread, failures, reboot: { upAfter: 80, rows: [] } });
  const line = out.split('\n').at(-1)!;
  assert.equal(line.match(/ECONNREFUSED/g)!.length, 20);
  assert.match(line, /^ {2}failed requests \(start relative to the kill\): 10\.00 s ECONNREFUSED; .*; 10\.19 s ECONNREFUSED; \.\.\. and 9641 more, the last at 106\.60 s$/);
});
