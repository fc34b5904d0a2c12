// Where boot subsystems meet without importing each other: providers of boot
// files in lookup order, and slots each subsystem fills when it starts (the
// image catalog, the node renderer, the export catalog). A slot left empty
// means that subsystem is not running; callers say so instead of failing.
import type { BootClient, BootContentProvider, BootFile } from './content.js';
import type { LoaderFiles } from './loader-files.js';

export interface ImageDescription {
  name: string;
  /** Content hash of the current build; null when the image was never built. */
  version: string | null;
  /** Kernel command line from the recipe (node-specific parts added by templates). */
  cmdline: string;
  kernelSize: number | null;
  initrdSize: number | null;
}

export interface ImageCatalog {
  describe(image: string): Promise<ImageDescription | undefined>;
}

/** A rendered boot config: exactly what a node gets. */
export interface NodeRenderer {
  /** Render a loader's config for a node; throws with template, line and variable on a template error. */
  render(node: string, loader: string): Promise<{ contentType: string; body: string; template: string }>;
}

export interface ExportMount {
  /** host:path a blade mounts, e.g. 10.0.0.1:/www */
  source: string;
  /** mount options, e.g. "vers=4,ro" */
  options: string;
  /**
   * Directory inside the mount that holds the live content, when the export
   * is switched atomically by content syncs (`current`, a symlink to the
   * release): a blade serves <mountpoint>/<contentDir>. Absent: the mount root.
   */
  contentDir?: string;
}

export interface ExportCatalog {
  /** How a node on a network mounts an export; undefined when that network may not. */
  mountFor(exportName: string, network: string): ExportMount | undefined;
  names(): string[];
}

/** Copies of content releases on another node (a pair's peer): a sync is complete once it has them too. */
export interface ContentMirror {
  /** A new release is complete here, not live yet: copy it. Per node: 'ok', or why it lacks the release. */
  push(exportName: string, release: string, dir: string): Promise<Record<string, string>>;
  /** `current` switched here (a sync or a rollback): the other node follows. Per node: 'ok' or why not. */
  activated(exportName: string, release: string): Promise<Record<string, string>>;
}

export class BootHub {
  private readonly providers: BootContentProvider[] = [];
  images: ImageCatalog | undefined;
  renderer: NodeRenderer | undefined;
  exports: ExportCatalog | undefined;
  contentMirror: ContentMirror | undefined;
  /** Where the loader files are (set with the static files): DHCP hands out only what is here, templates check names what is not. */
  loaderFiles: LoaderFiles | undefined;

  /** Providers are asked in registration order; `first` puts one ahead of the rest. */
  addProvider(p: BootContentProvider, opts: { first?: boolean } = {}): void {
    if (opts.first) this.providers.unshift(p);
    else this.providers.push(p);
  }

  removeProvider(p: BootContentProvider): void {
    const i = this.providers.indexOf(p);
    if (i >= 0) this.providers.splice(i, 1);
  }

  async lookup(path: string, client: BootClient): Promise<BootFile | undefined> {
    for (const p of this.providers) p.veto?.(path, client);
    for (const p of this.providers) {
      const f = await p.lookup(path, client);
      if (f) return f;
    }
    return undefined;
  }
}
