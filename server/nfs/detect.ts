// Backend 'auto': the kernel server where this kernel has nfsd and exportfs
// is installed, else nfs-ganesha where it is installed (with its VFS FSAL),
// else none. The probe is injectable so every branch is unit-tested.
import { accessSync, constants, existsSync, readFileSync, readdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { delimiter, isAbsolute, join } from 'node:path';
import type { BackendKind } from './backends/backend.js';

export interface HostProbe {
  readFile(p: string): string | undefined;
  exists(p: string): boolean;
  /** Absolute path of a command found on PATH (or given absolute), else undefined. */
  which(cmd: string): string | undefined;
  /** Directories matching /usr/lib/<anything>/ganesha etc. */
  listDir(p: string): string[];
}

export const hostProbe: HostProbe = {
  readFile(p) {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      return undefined;
    }
  },
  exists: existsSync,
  which(cmd) {
    const candidates = isAbsolute(cmd) ? [cmd] : [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'].map((d) => join(d, cmd));
    for (const c of candidates) {
      try {
        accessSync(c, constants.X_OK);
        return c;
      } catch {
        /* next */
      }
    }
    return undefined;
  },
  listDir(p) {
    try {
      return readdirSync(p);
    } catch {
      return [];
    }
  },
};

/** nfsd is there when the kernel lists its file system (module loaded or built in) or /proc/fs/nfsd is populated. */
export function kernelHasNfsd(p: HostProbe): { yes: boolean; why: string } {
  const fss = p.readFile('/proc/filesystems') ?? '';
  if (/\bnfsd\b/.test(fss)) return { yes: true, why: '/proc/filesystems lists nfsd' };
  // An empty /proc/fs/nfsd directory exists on kernels without nfsd (seen on the test machines): look for a file in it.
  if (p.exists('/proc/fs/nfsd/exports')) return { yes: true, why: '/proc/fs/nfsd is mounted' };
  return { yes: false, why: 'this kernel has no nfsd (/proc/filesystems does not list it)' };
}

export function findGaneshaVfs(p: HostProbe): string | undefined {
  const dirs = ['/usr/lib64/ganesha', '/usr/lib/ganesha', ...p.listDir('/usr/lib').map((d) => join('/usr/lib', d, 'ganesha'))];
  return dirs.map((d) => join(d, 'libfsalvfs.so')).find((f) => p.exists(f));
}

export interface Pick {
  backend: BackendKind;
  why: string;
}

export function pickBackend(p: HostProbe, cmds: { exportfs: string; ganesha: string }): Pick {
  const nfsd = kernelHasNfsd(p);
  const exportfs = p.which(cmds.exportfs);
  if (nfsd.yes && exportfs) return { backend: 'kernel', why: `${nfsd.why} and ${exportfs} is installed` };
  const reasons = [nfsd.yes ? `${nfsd.why} but '${cmds.exportfs}' is not installed (package nfs-kernel-server)` : nfsd.why];
  const ganesha = p.which(cmds.ganesha);
  if (ganesha) {
    const vfs = findGaneshaVfs(p);
    if (vfs) return { backend: 'ganesha', why: `${reasons[0]}; ${ganesha} and its VFS FSAL are installed` };
    reasons.push(`${ganesha} is installed without its VFS FSAL (package nfs-ganesha-vfs)`);
  } else {
    reasons.push(`'${cmds.ganesha}' is not installed (packages nfs-ganesha, nfs-ganesha-vfs)`);
  }
  return { backend: 'none', why: `${reasons.join('; ')}: exports are only written to a file` };
}

/** True when rpcbind answers on its local socket (NFSv3 needs it to register). */
export function rpcbindRunning(socket = '/run/rpcbind.sock', timeoutMs = 300): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(socket);
    const done = (v: boolean) => {
      clearTimeout(t);
      s.destroy();
      resolve(v);
    };
    const t = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}
