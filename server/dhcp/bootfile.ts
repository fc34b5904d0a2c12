// Which boot file a client gets, from its firmware (option 93, classes 60/77,
// option 175), the node's effective loader, dhcp.secureBoot and which loader
// files are on this machine. Pure (file presence comes in as a function). The
// names come from server/boot/loaders.ts and loader-files.ts.
//
// The node's loader decides first: QEMU's NIC ROM is iPXE from its very first
// DISCOVER, so "the client is iPXE -> HTTP script" only applies when the node's
// loader is ipxe; a pxelinux node still gets pxelinux.0 over TFTP.
//
// Where the node's loader cannot boot the machine (CANNOT: syslinux.efi from
// UEFI HTTP boot or under iPXE, bpbatch on UEFI, anything unsigned under
// Secure Boot) or its files are missing, the machine gets a stand-in that
// boots the node's kernel: iPXE with the node's iPXE config, or under Secure
// Boot Debian's signed shim and GRUB with its GRUB config.
import { BPBATCH, HTTP_BOOT, HTTP_BOOT_FILES, PXELINUX, type Firmware } from '../boot/loaders.js';
import { BUILD_NAMES, CANNOT, LOADER_NEEDS, missingFileText, SECURE_BOOT, STAND_IN, type LoaderBuild } from '../boot/loader-files.js';
import type { Loader } from '../store/types.js';
import { secureBootImagePath } from '../boot/secureboot-image.js';
import { firmwareOf } from './asker.js';

export { firmwareOf };

export interface BootClientInfo {
  arch: number | undefined;
  isIpxe: boolean;
  vendorClass: string | undefined;
}

export interface BootContext {
  /**
   * Base URL of rackboot's HTTP server as seen from the client's network;
   * undefined when it serves no /boot (templates.httpBoot false): no HTTP URL is handed out.
   */
  httpBase: string | undefined;
  /** dhcp.secureBoot: UEFI machines boot through Debian's signed shim and GRUB. */
  secureBoot?: boolean;
  /** This server's address on the client's network (the Secure Boot HTTP image names it). */
  server?: string;
  /** Whether a loader file is on this machine; absent: assume every file is. */
  has?: (file: string) => boolean;
}

export interface BootChoice {
  firmware: Firmware | 'unsupported';
  /** TFTP path or HTTP URL; undefined when the machine gets no boot file (reason says why). */
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
  /** The node's loader cannot boot this machine: what boots it instead, and why (event, and a WARN once per node). */
  standIn?: { loader: Loader | 'shim+grub'; reason: string };
}

const PXE_CLASS = (c: BootClientInfo) => (c.vendorClass?.startsWith('PXEClient') ? ('PXEClient' as const) : undefined);

export function chooseBoot(c: BootClientInfo, node: { mac: string; loader: Loader }, ctx: BootContext): BootChoice {
  const firmware = firmwareOf(c);
  const has = ctx.has ?? (() => true);
  const pxeClass = PXE_CLASS(c);
  const vendorClass = firmware === 'efi-http' ? ('HTTPClient' as const) : pxeClass;
  const none = (reason: string): BootChoice => ({ firmware, file: undefined, http: false, vendorClass, pxelinux: undefined, bpbatch: undefined, reason });
  if (firmware === 'unsupported') return none(`client architecture ${c.arch} is not one rackboot has boot loaders for (BIOS 0, UEFI x64 7/9, UEFI HTTP 16)`);
  const { httpBase } = ctx;
  const script = (standIn?: BootChoice['standIn']): BootChoice =>
    httpBase === undefined
      ? none(`the iPXE script is served over HTTP, and templates.httpBoot is false${standIn ? ` (${standIn.reason})` : ''}`)
      : { firmware, file: httpBase + HTTP_BOOT.ipxeScript(node.mac), http: true, vendorClass, pxelinux: undefined, bpbatch: undefined, ...(standIn ? { standIn } : {}) };

  if (c.isIpxe) {
    // iPXE already running: its script for an ipxe node; on UEFI also for a loader that cannot run under it.
    if (node.loader === 'ipxe') return script();
    const why = firmware !== 'bios' ? (node.loader === 'pxelinux' ? 'syslinux.efi cannot run under iPXE' : CANNOT[node.loader]?.efi64) : undefined;
    if (why) return script({ loader: 'ipxe', reason: `${why}: iPXE boots the node's kernel with its iPXE config` });
  }
  const uefi = firmware !== 'bios';
  if (uefi && ctx.secureBoot) return secureBoot(c, node, firmware, has, ctx);
  const build: LoaderBuild = firmware;
  const files = LOADER_NEEDS[node.loader][build];
  const missing = (files ?? []).filter((f) => !has(f));
  const problem = !files ? (CANNOT[node.loader]?.[build] ?? `loader ${node.loader} has no ${BUILD_NAMES[build]} build`) : missing.length ? missing.map(missingFileText).join('; ') : undefined;
  if (problem) {
    if (!uefi) return none(problem);
    if (c.isIpxe) return script({ loader: 'ipxe', reason: `${problem}: iPXE boots the node's kernel with its iPXE config` });
    // A UEFI machine gets iPXE, which asks DHCP again and is sent the node's iPXE script (above).
    if (!has(STAND_IN.file)) return none(`${problem}; and ${missingFileText(STAND_IN.file)}, which would boot it instead`);
    if (httpBase === undefined) return none(`${problem}; iPXE would boot it instead, over HTTP, and templates.httpBoot is false`);
    return loaderFile(STAND_IN.file, { loader: STAND_IN.loader, reason: `${problem}: iPXE boots the node's kernel with its iPXE config` });
  }
  return loaderFile(files![0]!);

  function loaderFile(file: string, standIn?: BootChoice['standIn']): BootChoice {
    const own = !standIn;
    if (firmware === 'efi-http') {
      if (httpBase === undefined) return none('UEFI HTTP boot needs /boot over HTTP, and templates.httpBoot is false');
      return {
        firmware,
        file: httpBase + HTTP_BOOT_FILES.file(file),
        http: true,
        vendorClass: 'HTTPClient',
        pxelinux: undefined,
        bpbatch: undefined,
        ...(standIn ? { standIn } : {}),
      };
    }
    return {
      firmware,
      file,
      http: false,
      vendorClass: pxeClass,
      pxelinux: own && node.loader === 'pxelinux' ? { configFile: PXELINUX.configFile(node.mac), pathPrefix: PXELINUX.pathPrefix } : undefined,
      bpbatch: own && node.loader === 'bpbatch' ? BPBATCH.commandLine(node.mac) : undefined,
      ...(standIn ? { standIn } : {}),
    };
  }
}

/**
 * dhcp.secureBoot, a UEFI machine: Debian's signed shim (Microsoft's key),
 * which loads Debian's signed GRUB from its own directory, which reads the
 * node's GRUB config (grub/grub.cfg) and boots Debian's signed kernel. Every
 * loader's node boots this way: nothing else is signed by a key the
 * firmware trusts. That GRUB has no http module: UEFI HTTP boot gets a RAM
 * disk image with shim and GRUB on it (boot/secureboot-image.ts), and GRUB
 * then reads over TFTP.
 */
function secureBoot(c: BootClientInfo, node: { loader: Loader }, firmware: Firmware, has: (f: string) => boolean, ctx: BootContext): BootChoice {
  const http = firmware === 'efi-http';
  const base = { firmware, http, vendorClass: http ? ('HTTPClient' as const) : PXE_CLASS(c), pxelinux: undefined, bpbatch: undefined };
  const missing = (LOADER_NEEDS.grub['secure-boot'] ?? []).filter((f) => !has(f));
  if (missing.length) return { ...base, http: false, file: undefined, reason: `dhcp.secureBoot: ${missing.map(missingFileText).join('; ')}` };
  const standIn = node.loader === 'grub' ? undefined : { loader: 'shim+grub' as const, reason: `${CANNOT[node.loader]?.['secure-boot'] ?? `loader ${node.loader} is not signed`}: Debian's signed shim and GRUB boot the node's kernel with its GRUB config` };
  if (http) {
    if (ctx.httpBase === undefined || ctx.server === undefined) return { ...base, http: false, file: undefined, reason: 'UEFI HTTP boot needs /boot over HTTP, and templates.httpBoot is false' };
    return { ...base, file: ctx.httpBase + HTTP_BOOT_FILES.file(secureBootImagePath(ctx.server)), ...(standIn ? { standIn } : {}) };
  }
  return { ...base, file: SECURE_BOOT.shim, ...(standIn ? { standIn } : {}) };
}
