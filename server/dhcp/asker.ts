// Who is asking for an address: the firmware's network boot (PXE, or UEFI
// HTTP boot), iPXE, a boot loader that does DHCP of its own, or an operating
// system's DHCP client. The same machine asks several times in one boot, and
// each asker needs a different answer (a boot file for firmware, the script
// URL for iPXE, a plain lease for Linux). Pure, except for the small per-MAC
// memory of the boot stage (BootStages), which the server keeps.
//
// What each sends (captured from QEMU's iPXE ROM, OVMF and the shipped images):
//   firmware PXE       60 "PXEClient:Arch:000NN:...", 93 (0 BIOS, 7/9 UEFI)
//   UEFI HTTP boot     60 "HTTPClient:Arch:00016:...", 93 = 16
//   iPXE               77 "iPXE" and 175 (also 60 "PXEClient" and 93)
//   syslinux.efi       nothing but 55 = [1, 3, 6], right after the firmware
//                      was handed syslinux.efi
//   GRUB (net_bootp)   none of them either, right after the firmware was
//                      handed the Secure Boot HTTP image
//   Linux (udhcpc)     60 "udhcp 1.35.0"; dhclient and others: no 60 at all
import type { Firmware } from '../boot/loaders.js';
import { ARCH } from './options.js';

export type Asker = 'pxe-firmware' | 'http-firmware' | 'ipxe' | 'syslinux' | 'grub' | 'os';

export const ASKER_NAMES: Record<Asker, string> = {
  'pxe-firmware': 'firmware PXE',
  'http-firmware': 'UEFI HTTP boot',
  ipxe: 'iPXE',
  syslinux: 'syslinux.efi',
  grub: 'GRUB',
  os: "the operating system's DHCP client",
};

export interface AskerRequest {
  arch: number | undefined;
  isIpxe: boolean;
  vendorClass: string | undefined;
  macNum: number;
  xid: number;
}

/** What the server remembers of a MAC's boot: the loader its firmware was handed, when. */
export interface BootStage {
  at: number;
  firmware: Firmware;
  /** The loader handed out does DHCP of its own (syslinux.efi; GRUB from the Secure Boot HTTP image): its next exchange is the loader's, not the OS's. */
  loaderDhcp: 'syslinux' | 'grub' | undefined;
  /** The xid of that loader's exchange, once seen (its DISCOVER and REQUEST share it). */
  loaderXid: number | undefined;
}

/** A loader asks within this long of its firmware's exchange (syslinux.efi: well under a second after its download). */
export const STAGE_MS = 120_000;

/** The firmware a network-boot client's option 93 and vendor class say it runs (RFC 4578). */
export function firmwareOf(c: { arch: number | undefined; vendorClass: string | undefined }): Firmware | 'unsupported' {
  const httpClass = c.vendorClass?.startsWith('HTTPClient') ?? false;
  const arch = c.arch ?? ARCH.BIOS;
  if (arch === ARCH.EFI_X64_HTTP || (httpClass && (arch === ARCH.EFI_BC || arch === ARCH.EFI_X64))) return 'efi-http';
  if (arch === ARCH.BIOS) return 'bios';
  if (arch === ARCH.EFI_BC || arch === ARCH.EFI_X64) return 'efi64';
  return 'unsupported';
}

export interface Classified {
  asker: Asker;
  /** The machine's firmware, when the request (or its boot stage) tells; undefined for the OS. */
  firmware: Firmware | 'unsupported' | undefined;
}

export function classify(req: AskerRequest, stage: BootStage | undefined, now: number): Classified {
  if (req.isIpxe) return { asker: 'ipxe', firmware: firmwareOf(req) };
  const vc = req.vendorClass;
  if (vc?.startsWith('HTTPClient')) return { asker: 'http-firmware', firmware: firmwareOf(req) };
  // Option 93 is sent only by network-boot firmware (PXE 2.1, RFC 4578), with or without its class.
  if (vc?.startsWith('PXEClient') || req.arch !== undefined) return { asker: 'pxe-firmware', firmware: firmwareOf(req) };
  if (stage?.loaderDhcp && now - stage.at < STAGE_MS && (stage.loaderXid === undefined || stage.loaderXid === req.xid)) {
    return { asker: stage.loaderDhcp, firmware: stage.firmware };
  }
  return { asker: 'os', firmware: undefined };
}

/** The loader that does DHCP of its own once the boot file handed out runs (by its last path segment). */
function ownDhcp(bootFile: string | undefined): BootStage['loaderDhcp'] {
  const name = bootFile?.slice(bootFile.lastIndexOf('/') + 1);
  if (name === 'syslinux.efi') return 'syslinux';
  if (name && /^http-[\d.]+\.img$/.test(name)) return 'grub';
  return undefined;
}

/** A bounded per-MAC memory of the boot stage (a flood of MACs clears it rather than growing it). */
export class BootStages {
  private readonly stages = new Map<number, BootStage>();

  constructor(private readonly max = 65_536) {}

  get(macNum: number): BootStage | undefined {
    return this.stages.get(macNum);
  }

  /** After an answer: firmware handed a loader starts a stage; the loader's own exchange is pinned by its xid. */
  note(macNum: number, xid: number, c: Classified, bootFile: string | undefined, now: number): void {
    if (c.asker === 'syslinux' || c.asker === 'grub') {
      const s = this.stages.get(macNum);
      if (s) s.loaderXid = xid;
      return;
    }
    if (c.asker === 'os' || c.firmware === undefined || c.firmware === 'unsupported') return;
    if (this.stages.size >= this.max) this.stages.clear();
    this.stages.set(macNum, { at: now, firmware: c.firmware, loaderDhcp: ownDhcp(bootFile), loaderXid: undefined });
  }
}
