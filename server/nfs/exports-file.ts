// The exports(5) file for the kernel NFS server (and for backend 'none',
// which only writes it). Pure: golden-tested.
import type { ResolvedExport } from './model.js';

/** The option list exportfs gets for every client of an export. */
export function kernelOptions(e: ResolvedExport): string {
  return [
    e.access,
    e.squash,
    e.sync ? 'sync' : 'async',
    // Subtree checking breaks renamed files and buys nothing for whole-directory exports.
    'no_subtree_check',
    // A stable id: the file system's device number may change across reboots.
    `fsid=${e.exportId}`,
  ].join(',');
}

/** One line per directory: exports of the same directory (validated to agree) merge their clients. */
export function renderExportsFile(exports: readonly ResolvedExport[]): string {
  const lines = [
    '# Written by rackboot: changes here are overwritten. Change exports with',
    '# `rackboot export` or the nfs section of the rackboot config.',
  ];
  const byPath = new Map<string, ResolvedExport[]>();
  for (const e of [...exports].sort((a, b) => a.exportId - b.exportId)) {
    const list = byPath.get(e.realPath) ?? [];
    list.push(e);
    byPath.set(e.realPath, list);
  }
  for (const [path, list] of byPath) {
    const first = list[0]!;
    const cidrs = [...new Set(list.flatMap((e) => e.clients.map((c) => c.cidr)))];
    lines.push(`# export ${list.map((e) => `${e.name} (${e.origin})`).join(', ')}`);
    lines.push(`${path} ${cidrs.map((c) => `${c}(${kernelOptions(first)})`).join(' ')}`);
  }
  return lines.join('\n') + '\n';
}

/** `exportfs -v` output -> directory -> client -> options. */
export function parseExportfsVerbose(text: string): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  let path: string | undefined;
  for (const raw of text.split('\n')) {
    if (!raw.trim()) continue;
    let rest = raw;
    if (!/^\s/.test(raw)) {
      const m = /^(\S+)\s*(.*)$/.exec(raw)!;
      path = m[1]!;
      rest = m[2]!;
    }
    if (!path) continue;
    for (const m of rest.matchAll(/(\S+?)\(([^)]*)\)/g)) {
      const clients = out.get(path) ?? new Map<string, string[]>();
      clients.set(m[1]!, m[2]!.split(','));
      out.set(path, clients);
    }
  }
  return out;
}
