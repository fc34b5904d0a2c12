// The cpio newc writer against the real cpio and bsdtar: names, modes,
// symlink targets, device numbers, contents; byte-for-byte determinism.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpioBuffer, cpioStream, sortEntries, type CpioEntry } from '../../../server/images/cpio.js';
import { requireLab } from '../../helpers/env.js';
import { tempDir } from '../../helpers/tmp.js';

function sample(dir: string): CpioEntry[] {
  const src = join(dir, 'src.bin');
  writeFileSync(src, Buffer.from('host file\n'));
  return sortEntries<CpioEntry>([
    { type: 'dir', path: 'etc', mode: 0o755 },
    { type: 'file', path: 'etc/motd', mode: 0o644, size: 5, data: Buffer.from('hello') },
    { type: 'file', path: 'etc/empty', mode: 0o600, size: 0, data: Buffer.alloc(0) },
    { type: 'file', path: 'usr/bin/tool', mode: 0o4755, size: 10, source: src },
    { type: 'dir', path: 'usr', mode: 0o755 },
    { type: 'dir', path: 'usr/bin', mode: 0o755 },
    { type: 'symlink', path: 'bin', target: 'usr/bin' },
    { type: 'symlink', path: 'usr/bin/sh', target: '/bin/busybox' },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
    { type: 'char', path: 'dev/console', mode: 0o600, major: 5, minor: 1 },
    { type: 'dir', path: 'dev', mode: 0o755 },
    { type: 'file', path: 'odd name é', mode: 0o644, size: 3, data: Buffer.from('abc') },
  ]);
}

describe('cpio newc writer', () => {
  test('cpio -t and bsdtar list every entry with its mode, owner, symlink target and device', async (t) => {
    if (!requireLab(t, { commands: ['cpio', 'bsdtar'] })) return;
    const dir = tempDir(t, 'rb-cpio-');
    {
      const archive = await cpioBuffer(sample(dir));
      const file = join(dir, 'a.cpio');
      writeFileSync(file, archive);
      const list = spawnSync('cpio', ['-itv', '--quiet', '-F', file], { encoding: 'utf8' });
      assert.equal(list.status, 0, list.stderr);
      const lines = list.stdout.trim().split('\n');
      assert.equal(lines.length, 12);
      const byName = new Map(lines.map((l) => [l.replace(/^.* (\S+)( -> .*)?$/, '$1'), l]));
      assert.match(byName.get('etc')!, /^drwxr-xr-x +2 root +root +0 /);
      assert.match(byName.get('usr/bin/tool')!, /^-rwsr-xr-x +1 root +root +10 /);
      assert.match(byName.get('tmp')!, /^drwxrwxrwt /);
      assert.match(lines.find((l) => l.includes(' bin -> '))!, /^lrwxrwxrwx .* bin -> usr\/bin$/);
      assert.match(lines.find((l) => l.includes('usr/bin/sh'))!, /usr\/bin\/sh -> \/bin\/busybox$/);
      assert.match(byName.get('dev/console')!, /^crw------- +1 root +root +5, +1 /);
      // Extract with bsdtar and compare contents.
      const out = join(dir, 'x');
      spawnSync('mkdir', [out]);
      const x = spawnSync('bsdtar', ['-xf', file, '-C', out], { encoding: 'utf8' });
      assert.equal(x.status, 0, x.stderr);
      assert.equal(readFileSync(join(out, 'etc/motd'), 'utf8'), 'hello');
      assert.equal(readFileSync(join(out, 'usr/bin/tool'), 'utf8'), 'host file\n');
      assert.equal(readFileSync(join(out, 'odd name é'), 'utf8'), 'abc');
      assert.equal(readlinkSync(join(out, 'bin')), 'usr/bin');
      assert.equal(statSync(join(out, 'etc/empty')).size, 0);
      const tv = spawnSync('bsdtar', ['-tvf', file], { encoding: 'utf8' });
      assert.match(tv.stdout, /-rw-r--r-- +1 0 +0 +5 Jan +1 +1970 etc\/motd/);
    }
  });

  test('same entries give the same bytes; every header sits on a 4-byte boundary; ends with TRAILER!!!', async (t) => {
    const dir = tempDir(t, 'rb-cpio-');
    const a = await cpioBuffer(sample(dir));
    const b = await cpioBuffer(sample(dir));
    assert.ok(a.equals(b));
    assert.equal(a.length % 4, 0);
    let off = 0;
    let names = 0;
    for (;;) {
      assert.equal(off % 4, 0);
      assert.equal(a.toString('latin1', off, off + 6), '070701');
      const field = (i: number) => parseInt(a.toString('latin1', off + 6 + i * 8, off + 14 + i * 8), 16);
      assert.equal(field(2), 0, 'uid 0');
      assert.equal(field(3), 0, 'gid 0');
      assert.equal(field(5), 0, 'mtime fixed');
      const size = field(6);
      const nameSize = field(11);
      const name = a.toString('utf8', off + 110, off + 110 + nameSize - 1);
      names++;
      off = (off + 110 + nameSize + 3) & ~3;
      off = (off + size + 3) & ~3;
      if (name === 'TRAILER!!!') break;
    }
    assert.equal(off, a.length);
    assert.equal(names, 13);
  });

  test('refuses paths that would escape or are not relative, and a file that changed size', async (t) => {
    for (const path of ['/etc/x', '../x', 'a/../b', 'a//b', '']) {
      await assert.rejects(cpioBuffer([{ type: 'dir', path, mode: 0o755 }]), /bad entry path/);
    }
    const dir = tempDir(t, 'rb-cpio-');
    writeFileSync(join(dir, 'f'), 'longer than said');
    await assert.rejects(cpioBuffer([{ type: 'file', path: 'f', mode: 0o644, size: 4, source: join(dir, 'f') }]), /changed while the image was built/);
    // The stream stays usable to the end when nothing is wrong, and reads ahead without reordering.
    const entries: CpioEntry[] = [];
    for (let i = 0; i < 50; i++) {
      writeFileSync(join(dir, `n${i}`), `${i}`.repeat(i + 1));
      entries.push({ type: 'file', path: `n${String(i).padStart(2, '0')}`, mode: 0o644, size: String(i).length * (i + 1), source: join(dir, `n${i}`) });
    }
    let total = 0;
    for await (const b of cpioStream(entries, { readAhead: 7 })) total += b.length;
    assert.equal(total, (await cpioBuffer(entries)).length);
  });
});
