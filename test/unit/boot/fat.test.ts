// The FAT16 image writer and the Secure Boot HTTP image, read back by
// independent tools: mtools (mdir, mcopy) and dosfstools' fsck.fat.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fatImage, shortName } from '../../../server/boot/fat.js';
import { SecureBootImages, secureBootGrubCfg, secureBootImagePath } from '../../../server/boot/secureboot-image.js';
import { SIGNED_ALIASES, SECURE_BOOT } from '../../../server/boot/loader-files.js';
import { requireLab } from '../../helpers/env.js';
import { sh } from '../../helpers/netns.js';

describe('FAT16 image', () => {
  it('8.3 names only', () => {
    assert.equal(shortName('bootx64.efi').toString('latin1'), 'BOOTX64 EFI');
    assert.equal(shortName('EFI').toString('latin1'), 'EFI        ');
    assert.throws(() => shortName('grubnetx64.efi'), /not an 8\.3 file name/);
    assert.throws(() => fatImage([{ path: ['A.TXT'], data: Buffer.alloc(1) }, { path: ['a.txt'], data: Buffer.alloc(1) }]), /twice/);
  });

  it('a FAT16 superfloppy: boot signature, 512-byte clusters, at least 4096 of them', () => {
    const img = fatImage([{ path: ['A.TXT'], data: Buffer.from('x') }]);
    assert.equal(img.readUInt16LE(510), 0xaa55);
    assert.equal(img.readUInt16LE(11), 512);
    assert.equal(img.toString('latin1', 54, 62), 'FAT16   ');
    assert.ok(img.length >= 4096 * 512);
  });

  it('reads back whole with mtools, and fsck.fat finds nothing to fix', (t) => {
    if (!requireLab(t, { commands: ['mdir', 'mcopy', 'fsck.fat'] })) return;
    const dir = mkdtempSync(join(tmpdir(), 'rackboot-fat-'));
    try {
      const big = randomBytes(3 * 1024 * 1024 + 17);
      const small = Buffer.from('set timeout=0\n');
      const img = join(dir, 'x.img');
      writeFileSync(img, fatImage([
        { path: ['EFI', 'BOOT', 'BOOTX64.EFI'], data: big },
        { path: ['EFI', 'BOOT', 'GRUBX64.EFI'], data: small },
        { path: ['GRUB', 'GRUB.CFG'], data: small },
        { path: ['EMPTY'], data: Buffer.alloc(0) },
      ]));
      const fsck = sh('fsck.fat', ['-n', img], { check: false });
      assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
      assert.match(sh('mdir', ['-i', img, '::/EFI/BOOT']).stdout, /BOOTX64\s+EFI\s+3145745/);
      sh('mcopy', ['-i', img, '::/EFI/BOOT/BOOTX64.EFI', join(dir, 'out')]);
      assert.ok(readFileSync(join(dir, 'out')).equals(big));
      assert.equal(sh('mtype', ['-i', img, '::/GRUB/GRUB.CFG']).stdout, small.toString());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Secure Boot HTTP image', () => {
  it('shim as BOOTX64.EFI, the signed GRUB beside it, a grub.cfg that reads the node\'s config over TFTP', async (t) => {
    if (!requireLab(t, { commands: ['mcopy', 'mtype'] })) return;
    const shim = SIGNED_ALIASES[SECURE_BOOT.shim]!;
    const grub = SIGNED_ALIASES[SECURE_BOOT.grub]!;
    if (!existsSync(shim) || !existsSync(grub)) return void requireLab(t, { commands: ['shim-signed-and-grub-efi-amd64-signed-missing'] });
    const images = new SecureBootImages(new Set(['10.0.0.1']));
    const client = { address: '10.0.0.11', protocol: 'http' as const };
    assert.equal(await images.lookup(secureBootImagePath('10.9.9.9'), client), undefined, 'only for a server address of its own');
    assert.equal(await images.lookup('sb/other.img', client), undefined);
    const f = await images.lookup(secureBootImagePath('10.0.0.1'), client);
    assert.ok(f);
    const dir = mkdtempSync(join(tmpdir(), 'rackboot-sbimg-'));
    try {
      const img = join(dir, 'sb.img');
      writeFileSync(img, await f.read(0, f.size));
      sh('mcopy', ['-i', img, '::/EFI/BOOT/BOOTX64.EFI', join(dir, 'shim')]);
      sh('mcopy', ['-i', img, '::/EFI/BOOT/GRUBX64.EFI', join(dir, 'grub')]);
      assert.ok(readFileSync(join(dir, 'shim')).equals(readFileSync(shim)));
      assert.ok(readFileSync(join(dir, 'grub')).equals(readFileSync(grub)));
      const cfg = sh('mtype', ['-i', img, '::/GRUB/GRUB.CFG']).stdout;
      assert.equal(cfg, secureBootGrubCfg('10.0.0.1'));
      assert.match(cfg, /^net_bootp$/m);
      assert.match(cfg, /^configfile \(tftp,10\.0\.0\.1\)\/grub\/grub\.cfg$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
