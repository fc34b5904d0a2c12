// The GRUB image UEFI HTTP boot hands grub nodes. The core.efi that
// grub-mknetdir makes has no http module: started by HTTP boot, GRUB cannot
// reach its own prefix ("error: disk 'http,...' not found"). This one is
// made from the installed modules (/usr/lib/grub/x86_64-efi, package
// grub-efi-amd64-bin) with grub-mkimage (grub-common), with the modules the
// shipped templates use built in (each module GRUB fetches over HTTP costs
// about 0.45 s) and the prefix /boot/files/grub: GRUB reads its grub.cfg from
// rackboot's HTTP server; a module an operator's template loads comes from
// tftp.root/grub/x86_64-efi (grub-mknetdir). Made into <dataDir>/loaders at
// start, again when the package changes. The shipped template loads the
// kernel over TFTP, which GRUB does about 3x faster than over its HTTP
// (docs/benchmarks.md).
import { execFile } from 'node:child_process';
import { mkdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../log.js';
import type { BootClient, BootContentProvider, BootFile } from './content.js';
import { GRUB_HTTP_IMAGE } from './loader-files.js';
import { HTTP_BOOT_FILES } from './loaders.js';
import { StaticFiles } from './static-files.js';

const run = promisify(execFile);
const IMAGE_NAME = 'grubx64-http.efi';
/** Built in: network, both protocols, and what the shipped GRUB templates run. */
const MODULES = ['efinet', 'http', 'tftp', 'normal', 'configfile', 'echo', 'test', 'linux', 'efi_gop', 'sleep', 'true', 'halt', 'reboot'];
/** Debian's grub-efi-amd64-bin. */
export const GRUB_EFI_MODULES = '/usr/lib/grub/x86_64-efi';

export class GrubHttpImage implements BootContentProvider {
  readonly name = 'grub-http';
  private readonly modules: string;
  private readonly out: string;
  private readonly files: StaticFiles;
  private making: Promise<string | undefined> | undefined;
  private lastError: string | undefined;

  constructor(private readonly opts: { outDir: string; modules?: string; log?: Logger }) {
    this.modules = opts.modules ?? GRUB_EFI_MODULES;
    this.out = join(opts.outDir, IMAGE_NAME);
    this.files = new StaticFiles({ root: opts.outDir, loaderDirs: [] });
  }

  /** The image's path when it is made and not older than the modules; undefined otherwise. */
  made(): string | undefined {
    const img = statSync(this.out, { throwIfNoEntry: false });
    const dep = statSync(join(this.modules, 'moddep.lst'), { throwIfNoEntry: false });
    return img && dep && img.mtimeMs >= dep.mtimeMs ? this.out : undefined;
  }

  /** Why there is no image (for the start-up line), when there is none. */
  problem(): string | undefined {
    if (this.made()) return undefined;
    if (!statSync(join(this.modules, 'moddep.lst'), { throwIfNoEntry: false })) return `no GRUB modules in ${this.modules} (Debian package grub-efi-amd64-bin)`;
    return this.lastError ?? 'not made yet';
  }

  /** Makes the image when the modules are there and it is missing or stale; one run at a time. */
  ensure(): Promise<string | undefined> {
    const done = this.made();
    if (done) return Promise.resolve(done);
    if (!statSync(join(this.modules, 'moddep.lst'), { throwIfNoEntry: false })) return Promise.resolve(undefined);
    this.making ??= this.make().finally(() => (this.making = undefined));
    return this.making;
  }

  private async make(): Promise<string | undefined> {
    mkdirSync(this.opts.outDir, { recursive: true });
    const tmp = `${this.out}.${process.pid}.tmp`;
    const prefix = HTTP_BOOT_FILES.file('grub');
    try {
      await run('grub-mkimage', ['-O', 'x86_64-efi', '-d', this.modules, '-p', prefix, '-o', tmp, ...MODULES], { timeout: 60_000 });
      renameSync(tmp, this.out);
      this.lastError = undefined;
      this.opts.log?.info(`boot: made ${GRUB_HTTP_IMAGE} (GRUB for UEFI HTTP boot, prefix ${prefix}) from ${this.modules}`);
      return this.out;
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { stderr?: string };
      this.lastError = err.code === 'ENOENT' ? 'grub-mkimage is not installed (Debian package grub-common)' : `grub-mkimage failed: ${(err.stderr || err.message).trim().split('\n')[0]}`;
      this.opts.log?.warn(`boot: cannot make ${GRUB_HTTP_IMAGE}: ${this.lastError}`);
      return undefined;
    }
  }

  async lookup(path: string, client: BootClient): Promise<BootFile | undefined> {
    if (path !== GRUB_HTTP_IMAGE) return undefined;
    if (!(await this.ensure())) return undefined;
    return this.files.lookup(IMAGE_NAME, client);
  }
}
