// The ELF reader on this host's real binaries and on made-up and damaged
// files: correct answers, and never an exception out of it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { bzImageVersion, readElfDynamic, readElfSection, readModInfo } from '../../../server/images/elf.js';
import { fakeModule } from './fake-elf.js';

const SH = ['/usr/bin/dash', '/bin/sh', '/usr/bin/env'].find((p) => existsSync(p))!;

describe('ELF reader', () => {
  test('a dynamic executable: interpreter and DT_NEEDED (same answer as the loader: libc)', () => {
    const r = readElfDynamic(readFileSync(SH));
    assert.ok(r.ok, !r.ok ? r.error : '');
    assert.equal(r.value.class, 64);
    assert.match(r.value.interpreter ?? '', /ld-linux.*\.so\.\d/);
    assert.ok(r.value.needed.includes('libc.so.6'), JSON.stringify(r.value.needed));
  });

  test('a static binary has no interpreter and no needed libraries', (t) => {
    if (!existsSync('/bin/busybox')) return void t.skip('no /bin/busybox');
    const r = readElfDynamic(readFileSync('/bin/busybox'));
    assert.ok(r.ok);
    assert.equal(r.value.interpreter, null);
    assert.deepEqual(r.value.needed, []);
  });

  test('.modinfo of a module: name, depends, aliases', () => {
    const m = fakeModule({ name: 'virtio_net', depends: 'virtio,virtio_ring,net_failover', alias: ['virtio:d00000001v*', 'net-pf-x'], softdep: 'pre: crc32c' });
    const r = readModInfo(m);
    assert.ok(r.ok, !r.ok ? r.error : '');
    assert.equal(r.value.name, 'virtio_net');
    assert.deepEqual(r.value.depends, ['virtio', 'virtio_ring', 'net_failover']);
    assert.deepEqual(r.value.aliases, ['virtio:d00000001v*', 'net-pf-x']);
    assert.deepEqual(r.value.softdeps, ['crc32c']);
    const none = readElfSection(m, '.text');
    assert.ok(none.ok && none.value === null);
  });

  test('truncated, corrupted and non-ELF input gives an error result, never a throw', () => {
    const real = readFileSync(SH);
    const mod = fakeModule({ name: 'x', depends: '' });
    const inputs: Buffer[] = [Buffer.alloc(0), Buffer.from('not an elf at all, just text'), randomBytes(4096)];
    for (const n of [4, 16, 52, 63, 64, 100, 1000, 5000]) inputs.push(real.subarray(0, n), mod.subarray(0, Math.min(n, mod.length - 1)));
    for (let i = 0; i < 200; i++) {
      const b = Buffer.from(i % 2 ? real.subarray(0, 8192) : mod);
      for (let k = 0; k < 8; k++) b[Math.floor(Math.random() * b.length)] = Math.floor(Math.random() * 256);
      inputs.push(b);
    }
    for (const b of inputs) {
      assert.doesNotThrow(() => readElfDynamic(b));
      assert.doesNotThrow(() => readModInfo(b));
      assert.doesNotThrow(() => readElfSection(b, '.dynstr'));
      assert.doesNotThrow(() => bzImageVersion(b));
    }
    const r = readElfDynamic(Buffer.from('plain text file'));
    assert.ok(!r.ok && /not an ELF/.test(r.error));
  });

  test('bzImage header version', () => {
    const b = Buffer.alloc(0x400);
    b.write('HdrS', 0x202, 'latin1');
    b.writeUInt16LE(0x100, 0x20e); // string at 0x300
    b.write('6.1.0-56-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP\0', 0x300, 'latin1');
    assert.equal(bzImageVersion(b), '6.1.0-56-cloud-amd64');
    assert.equal(bzImageVersion(Buffer.alloc(0x400)), null);
  });
});
