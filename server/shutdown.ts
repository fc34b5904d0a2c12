// Whether the whole process is shutting down (serve got SIGINT or SIGTERM).
// Ctrl-C reaches every process of the group, so a supervised child (ganesha,
// keepalived) may die of it before rackboot's own shutdown has come to stop
// its supervisor: such a death is neither a failure to report nor one to
// restart from.
let stopping = false;

export function noteProcessStopping(): void {
  stopping = true;
}

export function processIsStopping(): boolean {
  return stopping;
}

/** Signals a terminal or a service manager sends to the whole process group. */
export const GROUP_SIGNALS: ReadonlySet<string> = new Set(['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT']);

/** How long to wait, after a child died of a group signal, before asking processIsStopping(): the child may die first. */
export const GROUP_SIGNAL_GRACE_MS = 200;
