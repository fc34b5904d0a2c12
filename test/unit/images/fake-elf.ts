// Small ELF files made in the test: a kernel module (ET_REL with a
// .modinfo section) and fake module trees, so module resolution is tested
// without a kernel package.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** An ELF64 little-endian relocatable object whose only content is a .modinfo section. */
export function fakeModule(info: Record<string, string | string[]>): Buffer {
  const kv: string[] = [];
  for (const [k, v] of Object.entries(info)) for (const one of Array.isArray(v) ? v : [v]) kv.push(`${k}=${one}`);
  const modinfo = Buffer.from(kv.join('\0') + '\0');
  const shstr = Buffer.from('\0.modinfo\0.shstrtab\0');
  const modOff = 64;
  const strOff = modOff + modinfo.length;
  const shOff = (strOff + shstr.length + 7) & ~7;
  const out = Buffer.alloc(shOff + 3 * 64);
  out.writeUInt32BE(0x7f454c46, 0);
  out[4] = 2; // ELFCLASS64
  out[5] = 1; // little endian
  out[6] = 1; // version
  out.writeUInt16LE(1, 16); // ET_REL
  out.writeUInt16LE(62, 18); // x86-64
  out.writeUInt32LE(1, 20);
  out.writeBigUInt64LE(BigInt(shOff), 40);
  out.writeUInt16LE(64, 52); // ehsize
  out.writeUInt16LE(64, 58); // shentsize
  out.writeUInt16LE(3, 60); // shnum
  out.writeUInt16LE(2, 62); // shstrndx
  modinfo.copy(out, modOff);
  shstr.copy(out, strOff);
  const sec = (i: number, name: number, type: number, off: number, size: number) => {
    const o = shOff + i * 64;
    out.writeUInt32LE(name, o);
    out.writeUInt32LE(type, o + 4);
    out.writeBigUInt64LE(BigInt(off), o + 24);
    out.writeBigUInt64LE(BigInt(size), o + 32);
  };
  sec(1, 1, 1 /* PROGBITS */, modOff, modinfo.length);
  sec(2, 10, 3 /* STRTAB */, strOff, shstr.length);
  return out;
}

/**
 * A modules directory without modules.dep (like a Debian linux-image .deb):
 * name -> {path under kernel/, depends, aliases}.
 */
export function fakeModulesDir(dir: string, mods: Record<string, { path: string; depends?: string[]; alias?: string[] }>, builtin: string[] = []): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, m] of Object.entries(mods)) {
    const p = join(dir, 'kernel', m.path, `${name}.ko`);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, fakeModule({ name, depends: (m.depends ?? []).join(','), alias: m.alias ?? [], license: 'GPL' }));
  }
  writeFileSync(join(dir, 'modules.builtin'), builtin.map((b) => `kernel/${b}.ko\n`).join(''));
}

/** The blade's module set in miniature (same dependency shape as Debian's 6.1 cloud kernel). */
export const BLADE_MODULES = {
  virtio: { path: 'drivers/virtio' },
  virtio_ring: { path: 'drivers/virtio' },
  virtio_pci: { path: 'drivers/virtio', depends: ['virtio', 'virtio_ring', 'virtio_pci_modern_dev'] },
  virtio_pci_modern_dev: { path: 'drivers/virtio' },
  failover: { path: 'net/core' },
  net_failover: { path: 'drivers/net', depends: ['failover'] },
  virtio_net: { path: 'drivers/net', depends: ['virtio', 'virtio_ring', 'net_failover'], alias: ['virtio:d00000001v*'] },
  sunrpc: { path: 'net/sunrpc' },
  grace: { path: 'fs/nfs_common' },
  lockd: { path: 'fs/lockd', depends: ['sunrpc', 'grace'] },
  nfs: { path: 'fs/nfs', depends: ['sunrpc', 'lockd'], alias: ['fs-nfs'] },
  nfsv4: { path: 'fs/nfs', depends: ['nfs', 'sunrpc'], alias: ['fs-nfs4', 'nfs4'] },
};
