// Which file each boot loader starts from, per client firmware, and where the
// HTTP boot paths live. Shared by the DHCP policy (boot file, options 209/210,
// 155), the template scope and the HTTP routes, so the three agree.
import type { LoadedConfig } from '../config/loaded.js';
import { SERVED } from '../config/bind.js';
import type { ResolvedNetwork } from '../config/networks.js';
import { formatIpv4 } from '../net/ipv4.js';
import type { Loader } from '../store/types.js';

// The registry settles a node's loader, so the default lives with the store's loader names.
export { DEFAULT_LOADER } from '../store/types.js';

export type Firmware = 'bios' | 'efi64' | 'efi-http';

/** Boot file names, relative to the TFTP root. undefined: the loader has no build for that firmware. */
export const LOADER_FILES: Record<Loader, Partial<Record<'bios' | 'efi64', string>>> = {
  pxelinux: { bios: 'pxelinux.0', efi64: 'syslinux.efi' },
  ipxe: { bios: 'undionly.kpxe', efi64: 'ipxe.efi' },
  grub: { bios: 'grub/i386-pc/core.0', efi64: 'grubx64.efi' },
  bpbatch: { bios: 'bpbatch.P' },
};

/** Base URL a blade on this network uses to reach rackboot's HTTP server. */
export function httpBase(cfg: LoadedConfig, net: ResolvedNetwork | undefined): string {
  if (cfg.config.api.publicUrl) return cfg.config.api.publicUrl.replace(/\/+$/, '');
  const listen = cfg.config.api.listen;
  const port = Number(listen.slice(listen.lastIndexOf(':') + 1));
  const bound = listen.slice(0, listen.lastIndexOf(':'));
  const host = net ? formatIpv4(net.server) : bound === SERVED ? '127.0.0.1' : bound;
  return `http://${host}${port === 80 ? '' : `:${port}`}`;
}

/** Public (no auth) HTTP boot paths. */
export const HTTP_BOOT = {
  /** iPXE script for the client with this MAC. */
  ipxeScript: (mac: string) => `/boot/ipxe/${mac}`,
  /** The node's kernel and RAM disk (with its overlay), also reachable over TFTP as boot/<node>/... */
  kernel: (node: string) => `/boot/${node}/kernel`,
  initrd: (node: string) => `/boot/${node}/initrd`,
};

/** TFTP paths for the same files (no leading slash). */
export const TFTP_BOOT = {
  kernel: (node: string) => `boot/${node}/kernel`,
  initrd: (node: string) => `boot/${node}/initrd`,
};

/**
 * PXELINUX config names. DHCP options 209/210 (RFC 5071): the per-MAC config
 * file, relative to the path prefix, which is the TFTP root (TFTP servers
 * drop the leading '/'). Without 209 PXELINUX walks pxelinux.cfg/01-<mac>,
 * then the client address in upper-case hex shortened one digit at a time,
 * then pxelinux.cfg/default; the templates service answers those names.
 */
export const PXELINUX = {
  configFile: (mac: string) => `pxelinux.cfg/01-${mac.toLowerCase().replaceAll(':', '-')}`,
  pathPrefix: '/',
  dir: 'pxelinux.cfg',
  default: 'pxelinux.cfg/default',
};

/**
 * bpbatch: DHCP option 155 carries its command line, the name of the script it
 * runs; bpbatch fetches `<name>.bpb` over TFTP from the directory of its own
 * boot file. The templates service renders the script at scriptPath (node by
 * the MAC in the name), and at `rackboot.bpb` for the node at the requesting
 * address (for an operator who sets option 155 to `rackboot` by hand).
 */
export const BPBATCH = {
  commandLine: (mac: string) => `bpb-${mac.toLowerCase().replaceAll(':', '')}`,
  scriptPath: (mac: string) => `bpb-${mac.toLowerCase().replaceAll(':', '')}.bpb`,
  byAddress: 'rackboot.bpb',
};

/** HTTP path of a file under the boot hub (loaders for UEFI HTTP boot), served by the HTTP boot routes. */
export const HTTP_BOOT_FILES = {
  prefix: '/boot/files/',
  file: (path: string) => `/boot/files/${path.replace(/^\/+/, '')}`,
};

/**
 * GRUB 2 network configs: GRUB (2.04+) tries $prefix/grub.cfg-01-<mac>, then
 * grub.cfg-<HEXIP> shortened digit by digit, then grub.cfg; $prefix is
 * (tftp,<server>)/grub for the shipped netboot images.
 */
export const GRUB = {
  dir: 'grub',
  configFile: (mac: string) => `grub/grub.cfg-01-${mac.toLowerCase().replaceAll(':', '-')}`,
  default: 'grub/grub.cfg',
};

/** The hub path of a node's iPXE script (HTTP_BOOT.ipxeScript without its leading '/'). */
export const IPXE = {
  script: (mac: string) => `boot/ipxe/${mac.toLowerCase()}`,
};

/**
 * What a machine the registry does not know boots: the discovery image
 * (images.discoveryImage) with the discovery overlay, served by the images
 * service. '_' cannot start a node name, so this never collides with a node.
 */
export const DISCOVER_BOOT = {
  node: '_discover',
  kernel: 'boot/_discover/kernel',
  initrd: 'boot/_discover/initrd',
};
