// Backend 'none': rackboot only writes the exports(5) file, for operators who
// run their own NFS server (copy it to /etc/exports.d/ and run exportfs -ra).
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../../log.js';
import { writeFileAtomic } from '../atomic.js';
import { renderExportsFile } from '../exports-file.js';
import type { ResolvedExport } from '../model.js';
import type { BackendStatus, NfsBackend } from './backend.js';

export class NoneBackend implements NfsBackend {
  readonly kind = 'none' as const;
  private count = 0;

  constructor(private readonly file: string, private readonly log: Logger) {}

  async start(exports: readonly ResolvedExport[]): Promise<void> {
    await this.apply(exports);
  }

  async apply(exports: readonly ResolvedExport[]): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true });
    await writeFileAtomic(this.file, this.render(exports));
    this.count = exports.length;
    this.log.info(`nfs: backend none: wrote ${exports.length} export(s) to ${this.file}; no NFS server is driven (serve that file with your own)`);
  }

  async stop(): Promise<void> {}

  status(): BackendStatus {
    return { ok: true, detail: `backend none: ${this.count} export(s) rendered to ${this.file}, no server driven`, files: { exports: this.file } };
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
