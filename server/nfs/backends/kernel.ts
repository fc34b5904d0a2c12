// Backend 'kernel': the Linux NFS server. rackboot owns one file in
// /etc/exports.d, replaces it atomically, runs `exportfs -ra`, then reads
// `exportfs -v` back to confirm every export and client is live. On any
// failure the previous file is put back and re-exported.
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../../log.js';
import { writeFileAtomic } from '../atomic.js';
import { parseExportfsVerbose, renderExportsFile } from '../exports-file.js';
import type { ResolvedExport } from '../model.js';
import type { CommandRunner } from '../run.js';
import { BackendError, type BackendStatus, type NfsBackend } from './backend.js';

export interface KernelOptions {
  exportsFile: string;
  exportfs: string;
  run: CommandRunner;
  log: Logger;
}

export class KernelBackend implements NfsBackend {
  readonly kind = 'kernel' as const;
  private last: { ok: boolean; detail: string } = { ok: true, detail: 'not started' };

  constructor(private readonly o: KernelOptions) {}

  async start(exports: readonly ResolvedExport[]): Promise<void> {
    await this.apply(exports);
  }

  async apply(exports: readonly ResolvedExport[]): Promise<void> {
    const { exportsFile, log } = this.o;
    const previous = await readFile(exportsFile, 'utf8').catch(() => undefined);
    try {
      await mkdir(dirname(exportsFile), { recursive: true });
      await writeFileAtomic(exportsFile, this.render(exports));
      await this.exportAll();
      await this.confirm(exports);
    } catch (err) {
      const why = (err as Error).message;
      this.last = { ok: false, detail: why };
      log.error(`nfs: kernel backend: ${why}; putting the previous exports back`);
      try {
        if (previous === undefined) await rm(exportsFile, { force: true });
        else await writeFileAtomic(exportsFile, previous);
        await this.exportAll();
      } catch (e2) {
        log.error(`nfs: kernel backend: restoring the previous exports failed too: ${(e2 as Error).message}`);
      }
      throw err instanceof BackendError ? err : new BackendError(why);
    }
    this.last = { ok: true, detail: `kernel nfsd: ${exports.length} export(s) in ${exportsFile}, confirmed by exportfs -v` };
    log.info(`nfs: kernel backend: ${exports.length} export(s) written to ${exportsFile} and confirmed by exportfs -v`);
  }

  private async exportAll(): Promise<void> {
    const r = await this.o.run(this.o.exportfs, ['-ra']);
    if (r.code !== 0) throw new BackendError(`${this.o.exportfs} -ra failed (exit ${r.code}): ${(r.stderr || r.stdout).trim() || 'no output'}`);
    // exportfs -ra may exit 0 while skipping a bad line of our file; it names the file on stderr.
    const warn = r.stderr.split('\n').find((l) => l.includes(this.o.exportsFile));
    if (warn) throw new BackendError(`${this.o.exportfs} -ra: ${warn.trim()}`);
  }

  private async confirm(exports: readonly ResolvedExport[]): Promise<void> {
    const r = await this.o.run(this.o.exportfs, ['-v']);
    if (r.code !== 0) throw new BackendError(`${this.o.exportfs} -v failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
    const live = parseExportfsVerbose(r.stdout);
    for (const e of exports) {
      const clients = live.get(e.realPath);
      for (const c of e.clients) {
        const opts = clients?.get(c.cidr);
        if (!opts) throw new BackendError(`exportfs -v does not list ${e.realPath} for ${c.cidr} (export '${e.name}') after exportfs -ra`);
        if (!opts.includes(e.access)) throw new BackendError(`exportfs -v shows ${e.realPath} to ${c.cidr} without '${e.access}' (export '${e.name}'): ${opts.join(',')}`);
      }
    }
  }

  async stop(): Promise<void> {
    // The exports stay: the kernel serves them without rackboot, and blades keep their mounts across a rackboot restart.
  }

  status(): BackendStatus {
    return { ...this.last, files: { exports: this.o.exportsFile } };
  }

  render(exports: readonly ResolvedExport[]): string {
    return renderExportsFile(exports);
  }

  mountSource(e: ResolvedExport, serverAddress: string): string {
    return `${serverAddress}:${e.realPath}`;
  }

  mountOptions(): string[] {
    return [];
  }
}
