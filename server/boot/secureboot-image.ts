// Secure Boot over UEFI HTTP boot. Debian's signed GRUB has no http module
// (and cannot load one under lockdown), so started by HTTP boot it cannot
// read anything. But UEFI HTTP boot can also fetch a disk image: the
// firmware downloads an .img into a RAM disk and starts
// \EFI\BOOT\BOOTX64.EFI from it. This image holds Debian's signed shim as
// BOOTX64.EFI, Debian's signed netboot GRUB beside it (shim loads
// grubx64.efi from its own directory) and a grub.cfg at GRUB's prefix
// (/grub) that takes an address by DHCP and reads the node's GRUB config
// from this server over TFTP, as on Secure Boot PXE. Made on first request,
// one per server address (the config names it), kept in memory.
import { readFileSync, statSync } from 'node:fs';
import { bufferFile, type BootClient, type BootContentProvider, type BootFile } from './content.js';
import { fatImage } from './fat.js';
import { SECURE_BOOT, SIGNED_ALIASES } from './loader-files.js';
import { GRUB } from './loaders.js';

/** Hub path of the image for a server address: sb/http-10.0.0.1.img (.img: the firmware mounts it as a disk). */
export const secureBootImagePath = (server: string) => `sb/http-${server}.img`;
const PATH = /^sb\/http-(\d{1,3}(?:\.\d{1,3}){3})\.img$/;

/** The grub.cfg on the image: an address by DHCP, then the node's config from this server. */
export function secureBootGrubCfg(server: string): string {
  return [
    '# rackboot: Secure Boot over UEFI HTTP boot. Debian\'s signed GRUB cannot read over HTTP:',
    '# it takes an address by DHCP and reads the node\'s GRUB config over TFTP.',
    'net_bootp',
    `configfile (tftp,${server})/${GRUB.default}`,
    '',
  ].join('\n');
}

export class SecureBootImages implements BootContentProvider {
  readonly name = 'secureboot-image';
  private readonly made = new Map<string, { key: string; file: Buffer }>();

  /** @param servers the networks' server addresses: the only images made */
  constructor(private readonly servers: ReadonlySet<string>) {}

  async lookup(path: string, _client: BootClient): Promise<BootFile | undefined> {
    const m = PATH.exec(path);
    if (!m || !this.servers.has(m[1]!)) return undefined;
    const shim = SIGNED_ALIASES[SECURE_BOOT.shim]!;
    const grub = SIGNED_ALIASES[SECURE_BOOT.grub]!;
    const stamp = [shim, grub].map((p) => statSync(p, { throwIfNoEntry: false })?.mtimeMs);
    if (stamp.some((t) => t === undefined)) return undefined;
    const key = stamp.join('/');
    let hit = this.made.get(m[1]!);
    if (!hit || hit.key !== key) {
      const file = fatImage([
        { path: ['EFI', 'BOOT', 'BOOTX64.EFI'], data: readFileSync(shim) },
        { path: ['EFI', 'BOOT', 'GRUBX64.EFI'], data: readFileSync(grub) },
        { path: ['GRUB', 'GRUB.CFG'], data: Buffer.from(secureBootGrubCfg(m[1]!)) },
      ]);
      this.made.set(m[1]!, (hit = { key, file }));
    }
    return bufferFile(hit.file, 'loader', { etag: `"sb-${key}"` });
  }
}
