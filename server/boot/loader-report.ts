// What `templates check` and `config check` say about the loaders in use:
// an error per missing file (naming the Debian package that has it), and a
// note where a loader truly cannot boot some machines (and what boots them
// instead). Pure over LoaderFiles' answers.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadedConfig } from '../config/loaded.js';
import type { Loader } from '../store/types.js';
import { BUILD_NAMES, CANNOT, GRUB_HTTP_IMAGE, LOADER_NEEDS, LoaderFiles, missingFileText, SECURE_BOOT, SIGNED_ALIASES, STAND_IN, type LoaderBuild } from './loader-files.js';
import { DEFAULT_LOADER } from './loaders.js';
import { GRUB_EFI_MODULES } from './grub-http.js';

export interface LoaderProblem {
  loader: Loader;
  file: string;
  message: string;
}

export interface LoaderNote {
  loader: Loader;
  message: string;
}

/** Who uses each loader, for the messages: node and group names, "unknown machines". */
export type LoaderUsers = ReadonlyMap<Loader, readonly string[]>;

function who(names: readonly string[]): string {
  return names.length > 4 ? `${names.slice(0, 4).join(', ')} and ${names.length - 4} more` : names.join(', ');
}

/** The builds a UEFI or BIOS machine may start (with dhcp.secureBoot every UEFI machine starts the signed chain). */
function buildsFor(secureBoot: boolean): LoaderBuild[] {
  return secureBoot ? ['bios', 'secure-boot'] : ['bios', 'efi64', 'efi-http'];
}

export function loaderReport(files: Pick<LoaderFiles, 'has'> | undefined, users: LoaderUsers, secureBoot: boolean): { errors: LoaderProblem[]; notes: LoaderNote[] } {
  const errors: LoaderProblem[] = [];
  const notes: LoaderNote[] = [];
  for (const [loader, names] of users) {
    if (!names.length) continue;
    const missingBy = new Map<string, LoaderBuild[]>();
    const need = (file: string, build: LoaderBuild) => missingBy.set(file, [...(missingBy.get(file) ?? []), build]);
    for (const build of buildsFor(secureBoot)) {
      // Under Secure Boot every loader's UEFI machines start Debian's signed chain.
      const list = build === 'secure-boot' ? LOADER_NEEDS.grub['secure-boot'] : LOADER_NEEDS[loader][build];
      if (build === 'secure-boot' && loader !== 'grub') {
        notes.push({ loader, message: `loader ${loader} (${who(names)}): ${CANNOT[loader]?.['secure-boot'] ?? 'not signed'}: with dhcp.secureBoot, UEFI machines get Debian's signed shim and GRUB (${SECURE_BOOT.shim}), which boot the node's kernel with its GRUB config` });
      }
      if (list) {
        for (const f of list) if (files && !files.has(f)) need(f, build);
        continue;
      }
      const why = CANNOT[loader]?.[build];
      if (!why) continue;
      notes.push({ loader, message: `loader ${loader} (${who(names)}): ${why}: such ${BUILD_NAMES[build]} machines get iPXE (${STAND_IN.file}), which boots the node's kernel with its iPXE config` });
      if (files && !files.has(STAND_IN.file)) need(STAND_IN.file, build);
    }
    for (const [file, builds] of missingBy) {
      errors.push({ loader, file, message: `loader ${loader} (${who(names)}): ${missingFileText(file)}: needed for ${builds.map((b) => BUILD_NAMES[b]).join(', ')}` });
    }
  }
  return { errors, notes };
}

/** Adds a user of a loader (a node, a group, unknown machines) to the map loaderReport reads. */
export function addLoaderUser(users: Map<Loader, string[]>, loader: Loader, name: string): void {
  const list = users.get(loader);
  if (!list) users.set(loader, [name]);
  else if (!list.includes(name)) list.push(name);
}

/**
 * `config check`: the loaders the seed groups and nodes use (and the default
 * loader, for unknown machines) against the files on this machine, as note
 * lines. Not config errors: the registry can change loaders at run time, and
 * a file can be installed without touching the config.
 */
export function configLoaderNotes(cfg: LoadedConfig): string[] {
  const c = cfg.config;
  if (!c.dhcp.enabled || !cfg.networks.length) return [];
  const users = new Map<Loader, string[]>();
  const groupLoader = new Map(c.groups.map((g) => [g.name, g.loader]));
  for (const g of c.groups) addLoaderUser(users, g.loader ?? DEFAULT_LOADER, `group ${g.name}`);
  for (const n of c.nodes) addLoaderUser(users, n.loader ?? (n.group ? groupLoader.get(n.group) : undefined) ?? DEFAULT_LOADER, n.name);
  if (c.dhcp.bootUnknown && !c.dhcp.discovery && cfg.networks.some((n) => n.dynamicRange)) addLoaderUser(users, DEFAULT_LOADER, 'unknown machines');
  if (!users.size) addLoaderUser(users, DEFAULT_LOADER, 'nodes without a loader');
  const modules = join(GRUB_EFI_MODULES, 'moddep.lst');
  const files = new LoaderFiles({
    root: cfg.paths.tftpRoot,
    loaderDirs: c.tftp.loaderDirs,
    aliases: SIGNED_ALIASES,
    // rackboot makes it at start from the installed GRUB modules.
    generated: (f) => (f === GRUB_HTTP_IMAGE && existsSync(modules) ? modules : undefined),
  });
  const r = loaderReport(files, users, c.dhcp.secureBoot);
  return [...r.errors.map((e) => e.message), ...r.notes.map((n) => n.message)];
}
