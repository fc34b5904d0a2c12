// Polls for a condition instead of sleeping a fixed time: a loaded CI machine
// is late by more than any margin a fixed sleep leaves.

/** Resolves true once `cond()` holds, or false after `timeoutMs`. */
export async function waitUntil(cond: () => boolean, timeoutMs = 10_000, everyMs = 10): Promise<boolean> {
  const t0 = Date.now();
  for (;;) {
    if (cond()) return true;
    if (Date.now() - t0 >= timeoutMs) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Polls `fn` until it gives a value (a throw counts as "not yet") and
 * resolves with it; rejects naming `what` after `timeoutMs`.
 */
export async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
