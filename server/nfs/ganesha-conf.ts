// ganesha.conf from the exports: the template rackboot writes for the
// nfs-ganesha it supervises. Pure: same input, same bytes (golden-tested).
//
// Choices, each tried against ganesha 4.3 here:
// - Protocols 4 only unless rpcbind runs (without rpcbind NFSv3 cannot
//   register); Enable_UDP false; NLM and RQUOTA off (they need rpcbind too).
// - NFSV4 Graceless: after a restart clients are served at once instead of
//   waiting out a 90 s grace period (read-mostly content has no locks to reclaim).
// - EXPORT Access_Type = None plus one CLIENT block per allowed network: a
//   host outside them does not even see the export in the pseudo file system.
// - MDCACHE Use_Getattr_Directory_Invalidation + Attr_Expiration_Time 0: a
//   directory changed behind ganesha's back (the `current` symlink switched
//   by a content sync) is re-read at once; with the defaults ganesha served
//   the old entry for 60 s and then NFS4ERR_STALE.
import type { ResolvedExport } from './model.js';

export interface GaneshaCoreOptions {
  bindAddress: string;
  port: number;
  nfsv3: boolean;
  /** NFSv4 recovery state directory. */
  recoveryRoot: string;
  attrCacheSeconds: number;
}

const SQUASH: Record<ResolvedExport['squash'], string> = {
  root_squash: 'root_squash',
  all_squash: 'all_squash',
  no_root_squash: 'no_root_squash',
};

export function renderGaneshaConf(exports: readonly ResolvedExport[], o: GaneshaCoreOptions): string {
  const protocols = o.nfsv3 ? '3, 4' : '4';
  const out: string[] = [];
  out.push(
    '# Written by rackboot: changes here are overwritten. Change exports with',
    '# `rackboot export` or the nfs section of the rackboot config.',
    'NFS_CORE_PARAM {',
    // Every address is ganesha's default; written out, 0.0.0.0 goes through getaddrinfo,
    // which fails on a host with no IPv4 address but loopback yet (ganesha then exits).
    ...(o.bindAddress === '0.0.0.0' ? ['    # Bind_addr: every address'] : [`    Bind_addr = ${o.bindAddress};`]),
    `    NFS_Port = ${o.port};`,
    `    Protocols = ${protocols};`,
    '    Enable_UDP = false;',
    '    Enable_NLM = false;',
    '    Enable_RQUOTA = false;',
    // NFSv3 clients mount the same /pseudo path as NFSv4 ones.
    '    mount_path_pseudo = true;',
    '}',
    '',
    'NFSV4 {',
    '    Graceless = true;',
    `    RecoveryRoot = "${o.recoveryRoot}";`,
    '}',
    '',
    'MDCACHE {',
    '    Use_Getattr_Directory_Invalidation = true;',
    '}',
    '',
    'EXPORT_DEFAULTS {',
    `    Protocols = ${protocols};`,
    '    Transports = TCP;',
    '    SecType = sys;',
    '}',
  );
  for (const e of [...exports].sort((a, b) => a.exportId - b.exportId)) {
    out.push(
      '',
      `# export ${e.name} (${e.origin})`,
      'EXPORT {',
      `    Export_Id = ${e.exportId};`,
      `    Path = "${e.realPath}";`,
      `    Pseudo = "${e.pseudo}";`,
      '    Access_Type = None;',
      `    Squash = ${SQUASH[e.squash]};`,
      `    Attr_Expiration_Time = ${o.attrCacheSeconds};`,
      '    FSAL {',
      '        Name = VFS;',
      '    }',
    );
    for (const c of e.clients) {
      out.push(
        `    CLIENT {`,
        `        # network ${c.network}`,
        `        Clients = ${c.cidr};`,
        `        Access_Type = ${e.access === 'rw' ? 'RW' : 'RO'};`,
        '    }',
      );
    }
    out.push('}');
  }
  return out.join('\n') + '\n';
}
