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
