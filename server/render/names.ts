// Which boot-config names the renderer answers, and how each identifies the
// client (pure; the provider does the registry lookups):
//   pxelinux.cfg/01-<mac>      PXELINUX per MAC             -> node by MAC
//   pxelinux.cfg/<HEXIP>       PXELINUX per address (8 hex)  -> node by address
//   pxelinux.cfg/<1-7 hex>     shortened fallbacks           -> not ours (PXELINUX moves on)
//   pxelinux.cfg/default       last fallback                 -> node by requester address, else discovery
//   grub/grub.cfg-01-<mac>, grub/grub.cfg-<HEXIP>, grub/grub.cfg (also at the root)
//   boot/ipxe/<mac>            iPXE script                   -> node by MAC (discovery for unknown MACs)
//   boot/ipxe                  iPXE script, MAC from ?mac= or the requester address
//   bpb-<12 hex>.bpb           bpbatch script (DHCP option 155 bpb-<mac>) -> node by MAC
//   rackboot.bpb               bpbatch script                -> node by requester address
import { BPBATCH, PXELINUX } from '../boot/loaders.js';
import { canonicalMac } from '../net/mac.js';
import type { Loader } from '../store/types.js';

export type ConfigRequest =
  | { loader: Loader; by: 'mac'; mac: string }
  | { loader: Loader; by: 'hexip'; address: string }
  /** Identify by the requester (address, or a MAC the request carried); unknown: discovery. */
  | { loader: Loader; by: 'requester' };

const HEX8 = /^[0-9a-fA-F]{8}$/;

function macFrom01(name: string): string | undefined {
  if (!/^01-/.test(name)) return undefined;
  // 01-aa-bb-cc-dd-ee-ff, also 01-aa:bb:... (GRUB's ${net_default_mac} has colons).
  return canonicalMac(name.slice(3));
}

function hexToAddress(hex: string): string {
  const n = parseInt(hex, 16);
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** Classify a hub path; undefined when it is not a boot-config name the renderer serves. */
export function parseConfigPath(path: string): ConfigRequest | undefined {
  if (path.startsWith(PXELINUX.dir + '/')) {
    const name = path.slice(PXELINUX.dir.length + 1);
    if (path === PXELINUX.default) return { loader: 'pxelinux', by: 'requester' };
    const mac = macFrom01(name);
    if (mac) return { loader: 'pxelinux', by: 'mac', mac };
    if (HEX8.test(name)) return { loader: 'pxelinux', by: 'hexip', address: hexToAddress(name) };
    return undefined;
  }
  const grub = /^(?:grub\/|boot\/grub\/)?grub\.cfg(?:-(.+))?$/.exec(path);
  if (grub) {
    const suffix = grub[1];
    if (suffix === undefined) return { loader: 'grub', by: 'requester' };
    const mac = macFrom01(suffix);
    if (mac) return { loader: 'grub', by: 'mac', mac };
    if (HEX8.test(suffix)) return { loader: 'grub', by: 'hexip', address: hexToAddress(suffix) };
    return undefined;
  }
  if (path === 'boot/ipxe') return { loader: 'ipxe', by: 'requester' };
  if (path.startsWith('boot/ipxe/')) {
    const mac = canonicalMac(path.slice('boot/ipxe/'.length));
    return mac ? { loader: 'ipxe', by: 'mac', mac } : undefined;
  }
  if (path === BPBATCH.byAddress) return { loader: 'bpbatch', by: 'requester' };
  const bpb = /^bpb-([0-9a-fA-F]{12})\.bpb$/.exec(path);
  if (bpb) return { loader: 'bpbatch', by: 'mac', mac: canonicalMac(bpb[1]!)! };
  return undefined;
}
