// Which boot file a client gets, from its firmware (option 93, classes 60/77,
// option 175) and the node's effective loader. Pure. The names come from
// server/boot/loaders.ts, the single place boot file names live.
//
// The node's loader decides first: QEMU's NIC ROM is iPXE from its very first
// DISCOVER, so "the client is iPXE -> HTTP script" only applies when the node's
// loader is ipxe; a pxelinux node still gets pxelinux.0 over TFTP.
import { BPBATCH, HTTP_BOOT, HTTP_BOOT_FILES, LOADER_FILES, PXELINUX, type Firmware } from '../boot/loaders.js';
import type { Loader } from '../store/types.js';
import { ARCH } from './options.js';

export interface BootClientInfo {
  arch: number | undefined;
  isIpxe: boolean;
  vendorClass: string | undefined;
}

export interface BootChoice {
  firmware: Firmware | 'unsupported';
  /** TFTP path or HTTP URL; undefined when the loader has no build for this firmware. */
  file: string | undefined;
  /** The file is an HTTP URL (iPXE script or UEFI HTTP boot). */
  http: boolean;
  /** Option 60 to send back: PXEClient / HTTPClient (clients check it). */
  vendorClass: 'PXEClient' | 'HTTPClient' | undefined;
  /** Options 209/210 for PXELINUX. */
  pxelinux: { configFile: string; pathPrefix: string } | undefined;
  /** Option 155 for bpbatch. */
  bpbatch: string | undefined;
  /** Why there is no boot file, for the event. */
  reason?: string;
}

export function firmwareOf(c: BootClientInfo): Firmware | 'unsupported' {
  const httpClass = c.vendorClass?.startsWith('HTTPClient') ?? false;
  const arch = c.arch ?? ARCH.BIOS;
  if (arch === ARCH.EFI_X64_HTTP || (httpClass && (arch === ARCH.EFI_BC || arch === ARCH.EFI_X64))) return 'efi-http';
  if (arch === ARCH.BIOS) return 'bios';
  if (arch === ARCH.EFI_BC || arch === ARCH.EFI_X64) return 'efi64';
  return 'unsupported';
}

/**
 * @param httpBase base URL of rackboot's HTTP server as seen from the client's network;
 *   undefined when it serves no /boot (templates.httpBoot false): no HTTP URL is handed out
 */
export function chooseBoot(c: BootClientInfo, node: { mac: string; loader: Loader }, httpBase: string | undefined): BootChoice {
  const firmware = firmwareOf(c);
  const pxeClass = c.vendorClass?.startsWith('PXEClient') ? ('PXEClient' as const) : undefined;
  const none = (reason: string): BootChoice => ({ firmware, file: undefined, http: false, vendorClass: pxeClass, pxelinux: undefined, bpbatch: undefined, reason });
  if (firmware === 'unsupported') return none(`client architecture ${c.arch} is not one rackboot has boot loaders for (BIOS 0, UEFI x64 7/9, UEFI HTTP 16)`);

  // iPXE already running and the node boots with iPXE: its script over HTTP.
  if (c.isIpxe && node.loader === 'ipxe') {
    if (httpBase === undefined) return none('the iPXE script is served over HTTP, and templates.httpBoot is false');
    return { firmware, file: httpBase + HTTP_BOOT.ipxeScript(node.mac), http: true, vendorClass: firmware === 'efi-http' ? 'HTTPClient' : pxeClass, pxelinux: undefined, bpbatch: undefined };
  }
  const files = LOADER_FILES[node.loader];
  if (firmware === 'efi-http') {
    if (httpBase === undefined) return { ...none('UEFI HTTP boot needs /boot over HTTP, and templates.httpBoot is false'), vendorClass: 'HTTPClient' };
    const efi = files.efi64;
    if (!efi) return { ...none(`loader ${node.loader} has no UEFI build for HTTP boot`), vendorClass: 'HTTPClient' };
    return {
      firmware,
      file: httpBase + HTTP_BOOT_FILES.file(efi),
      http: true,
      vendorClass: 'HTTPClient',
      pxelinux: node.loader === 'pxelinux' ? { configFile: PXELINUX.configFile(node.mac), pathPrefix: PXELINUX.pathPrefix } : undefined,
      bpbatch: undefined,
    };
  }
  const file = firmware === 'bios' ? files.bios : files.efi64;
  if (!file) return none(`loader ${node.loader} has no ${firmware === 'bios' ? 'BIOS' : 'UEFI x64'} build`);
  return {
    firmware,
    file,
    http: false,
    vendorClass: pxeClass,
    pxelinux: node.loader === 'pxelinux' ? { configFile: PXELINUX.configFile(node.mac), pathPrefix: PXELINUX.pathPrefix } : undefined,
    bpbatch: node.loader === 'bpbatch' ? BPBATCH.commandLine(node.mac) : undefined,
  };
}
