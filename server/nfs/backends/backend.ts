// What the export manager needs from an NFS server: take the full set of
// exports (never a diff: each backend works out what changed), confirm it is
// served, and say how it is doing.
import type { ResolvedExport } from '../model.js';

export type BackendKind = 'kernel' | 'ganesha' | 'none';

export interface BackendStatus {
  ok: boolean;
  detail: string;
  pid?: number;
  restarts?: number;
  /** Files the backend owns (config, log, exports file). */
  files: Record<string, string>;
}

export interface NfsBackend {
  readonly kind: BackendKind;
  /** Serve this set; throws ServiceStartError-worthy errors with a one-line reason. */
  start(exports: readonly ResolvedExport[]): Promise<void>;
  /** After start: exports the server would not set up (name -> its words); they are then dropped. */
  refusedAtStart?(exports: readonly ResolvedExport[]): Map<string, string>;
  /** Replace the served set. Throws BackendError and leaves the previous set served when the server refuses. */
  apply(exports: readonly ResolvedExport[]): Promise<void>;
  stop(): Promise<void>;
  status(): BackendStatus;
  /** The file the backend would write for this set (shown by `rackboot export render`). */
  render(exports: readonly ResolvedExport[]): string;
  /** The address blades on a network mount from, and the path they name. */
  mountSource(e: ResolvedExport, serverAddress: string): string;
  /** Extra mount options this server needs (a non-default port). */
  mountOptions(): string[];
}

/** The NFS server refused or failed a change; the previous exports are still served. */
export class BackendError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendError';
  }
}
