// The files each boot loader needs on each kind of firmware, which Debian
// package has each (or how an operator makes it), and whether rackboot can
// find them now. One table for the DHCP policy (which file to hand out, and
// what to hand instead when a build is missing), `templates check` (an error
// per missing file of a loader in use) and the TFTP service's start-up line.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Loader } from '../store/types.js';

/**
 * A way a machine starts a loader: BIOS PXE, UEFI PXE, UEFI HTTP boot, and
 * UEFI with Secure Boot (PXE; dhcp.secureBoot).
 */
export type LoaderBuild = 'bios' | 'efi64' | 'efi-http' | 'secure-boot';

export const BUILD_NAMES: Record<LoaderBuild, string> = {
  bios: 'BIOS',
  efi64: 'UEFI',
  'efi-http': 'UEFI HTTP boot',
  'secure-boot': 'UEFI Secure Boot',
};

/** Hub paths of the Secure Boot chain: shim loads grubx64.efi from its own directory. */
export const SECURE_BOOT = {
  shim: 'sb/shimx64.efi',
  grub: 'sb/grubx64.efi',
};

/** The GRUB image for UEFI HTTP boot (http module, prefix /boot/files/grub), made by rackboot with grub-mkimage. */
export const GRUB_HTTP_IMAGE = 'grub/grubx64-http.efi';

const GRUB_NETDIR = 'grub-mknetdir --net-directory=<tftp.root> --subdir=grub';

/** Where each file comes from: the Debian package that has it, or what makes it. */
export const FILE_ORIGINS: Readonly<Record<string, { package: string | null; how?: string }>> = {
  'pxelinux.0': { package: 'pxelinux' },
  'ldlinux.c32': { package: 'syslinux-common' },
  'syslinux.efi': { package: 'syslinux-efi' },
  'ldlinux.e64': { package: 'syslinux-common' },
  'undionly.kpxe': { package: 'ipxe' },
  'ipxe.efi': { package: 'ipxe' },
  'grub/i386-pc/core.0': { package: 'grub-pc-bin', how: GRUB_NETDIR },
  'grub/i386-pc/normal.mod': { package: 'grub-pc-bin', how: GRUB_NETDIR },
  'grubx64.efi': { package: 'grub-efi-amd64-bin', how: `${GRUB_NETDIR}, then cp <tftp.root>/grub/x86_64-efi/core.efi <tftp.root>/grubx64.efi` },
  'grub/x86_64-efi/normal.mod': { package: 'grub-efi-amd64-bin', how: GRUB_NETDIR },
  [GRUB_HTTP_IMAGE]: { package: 'grub-efi-amd64-bin', how: 'made by rackboot at start with grub-mkimage (package grub-common) from /usr/lib/grub/x86_64-efi' },
  [SECURE_BOOT.shim]: { package: 'shim-signed' },
  [SECURE_BOOT.grub]: { package: 'grub-efi-amd64-signed' },
  'bpbatch.P': { package: null, how: 'bpbatch is not packaged: put bpbatch.P and bpbatch.ovl in tftp.root' },
  'bpbatch.ovl': { package: null, how: 'bpbatch is not packaged: put bpbatch.P and bpbatch.ovl in tftp.root' },
};

/** The boot file first, then what the loader fetches by a fixed name. A build a loader lacks is absent. */
export const LOADER_NEEDS: Readonly<Record<Loader, Partial<Record<LoaderBuild, readonly string[]>>>> = {
  pxelinux: { bios: ['pxelinux.0', 'ldlinux.c32'], efi64: ['syslinux.efi', 'ldlinux.e64'] },
  ipxe: { bios: ['undionly.kpxe'], efi64: ['ipxe.efi'], 'efi-http': ['ipxe.efi'] },
  grub: {
    bios: ['grub/i386-pc/core.0', 'grub/i386-pc/normal.mod'],
    efi64: ['grubx64.efi', 'grub/x86_64-efi/normal.mod'],
    'efi-http': [GRUB_HTTP_IMAGE],
    'secure-boot': [SECURE_BOOT.shim, SECURE_BOOT.grub],
  },
  bpbatch: { bios: ['bpbatch.P', 'bpbatch.ovl'] },
};

/**
 * Why a loader has no build for a way of booting, where it truly cannot (a
 * missing file is another matter: install the package). The machine gets
 * iPXE instead, which boots the node's kernel with its iPXE config.
 */
export const CANNOT: Readonly<Partial<Record<Loader, Partial<Record<LoaderBuild, string>>>>> = {
  pxelinux: {
    'efi-http': 'syslinux.efi cannot run from UEFI HTTP boot (it needs the firmware\'s PXE protocol, which HTTP boot does not start)',
    'secure-boot': 'syslinux.efi is not signed',
  },
  bpbatch: { efi64: 'bpbatch has no UEFI build', 'efi-http': 'bpbatch has no UEFI build', 'secure-boot': 'bpbatch has no UEFI build' },
  ipxe: { 'secure-boot': 'ipxe.efi is not signed by a key UEFI firmware trusts' },
};

/** The loader UEFI machines get when their node's loader cannot boot them (CANNOT): iPXE, which then boots the node's kernel. */
export const STAND_IN = { loader: 'ipxe' as const, file: 'ipxe.efi' };

/** One line naming a missing file and where to get it. */
export function missingFileText(file: string): string {
  const o = FILE_ORIGINS[file];
  if (!o) return `${file} is missing`;
  const pkg = o.package ? `Debian package ${o.package}` : undefined;
  return `${file} is missing (${[pkg, o.how].filter(Boolean).join('; ')})`;
}

export interface LoaderFileSources {
  /** tftp.root: the operator's files win. */
  root: string;
  /** tftp.loaderDirs: plain names only. */
  loaderDirs: readonly string[];
  /** Hub path -> a file outside the roots (signed binaries under their package names). */
  aliases: Readonly<Record<string, string>>;
  /** Files another provider makes (the GRUB HTTP image): where it is once made, else undefined. */
  generated?: (file: string) => string | undefined;
}

/** How long an answer of locate() holds: the DHCP hot path asks per packet, an operator's copy is seen within this. */
const TTL_MS = 5000;

/** Where rackboot finds each loader file now (stat results cached a few seconds). */
export class LoaderFiles {
  private readonly cache = new Map<string, { at: number; path: string | undefined }>();

  constructor(readonly sources: LoaderFileSources) {}

  /** The file's path on this machine, or undefined. `fresh`: look again now (an operator's check), not within the cache's seconds. */
  locate(file: string, fresh = false, now = Date.now()): string | undefined {
    const hit = this.cache.get(file);
    if (hit && !fresh && now - hit.at < TTL_MS) return hit.path;
    const path = this.find(file);
    this.cache.set(file, { at: now, path });
    return path;
  }

  has(file: string): boolean {
    return this.locate(file) !== undefined;
  }

  private find(file: string): string | undefined {
    const isFile = (p: string) => statSync(p, { throwIfNoEntry: false })?.isFile() ?? false;
    const s = this.sources;
    const inRoot = join(s.root, file);
    if (isFile(inRoot)) return inRoot;
    const alias = s.aliases[file];
    if (alias && isFile(alias)) return alias;
    const made = s.generated?.(file);
    if (made) return made;
    if (file.includes('/')) return undefined;
    for (const dir of s.loaderDirs) {
      const p = join(dir, file);
      if (isFile(p)) return p;
    }
    return undefined;
  }

  /** Missing files of a loader's build (empty: all there, or the loader has no such build). */
  missing(loader: Loader, build: LoaderBuild): string[] {
    return (LOADER_NEEDS[loader][build] ?? []).filter((f) => !this.has(f));
  }
}

/** Debian's signed binaries, under the names the Secure Boot chain is served by. */
export const SIGNED_ALIASES: Readonly<Record<string, string>> = {
  [SECURE_BOOT.shim]: '/usr/lib/shim/shimx64.efi.signed',
  [SECURE_BOOT.grub]: '/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed',
};

/**
 * The start-up line's list: every loader file by loader and build, with where
 * it was found or the package that has it. The Secure Boot chain only when
 * dhcp.secureBoot is on.
 */
export function loaderFilesSummary(files: LoaderFiles, secureBoot: boolean): string {
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const [loader, builds] of Object.entries(LOADER_NEEDS) as Array<[Loader, Partial<Record<LoaderBuild, readonly string[]>>]>) {
    const items: string[] = [];
    for (const [build, list] of Object.entries(builds) as Array<[LoaderBuild, readonly string[]]>) {
      if (build === 'secure-boot' && !secureBoot) continue;
      for (const f of list) {
        if (seen.has(f)) continue;
        seen.add(f);
        const at = files.locate(f);
        const o = FILE_ORIGINS[f];
        items.push(at ? `${f} (${at.slice(0, at.length - f.length - 1) || at})` : `${f} (MISSING${o?.package ? `: Debian package ${o.package}` : o?.how ? `: ${o.how}` : ''})`);
      }
    }
    parts.push(`${loader}: ${items.join(', ')}`);
  }
  return parts.join('; ');
}
