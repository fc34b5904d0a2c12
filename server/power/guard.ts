// No retry storm against a BMC that refused a credential: BMCs lock an
// account out after a few failed logins, and a script or a dashboard asking
// again and again would lock the operator out too. After a refusal, the
// same credential (BMC address, user, password) is not sent to that BMC
// again for the backoff; a changed password is tried at once. Only a hash
// of the credential is kept, in memory.
import { createHash } from 'node:crypto';
import type { EffectiveBmc } from './bmc.js';

export class AuthGuard {
  private readonly refused = new Map<string, number>();

  constructor(private readonly backoffMs: number, private readonly now: () => number = Date.now) {}

  private key(b: EffectiveBmc, password: string): string {
    return createHash('sha256').update(JSON.stringify([b.type, b.address, b.port, b.username, password])).digest('base64url');
  }

  /** Why this credential must not be tried now, or undefined. */
  blocked(b: EffectiveBmc, password: string): { sinceMs: number; leftMs: number } | undefined {
    const k = this.key(b, password);
    const at = this.refused.get(k);
    if (at === undefined) return undefined;
    const since = this.now() - at;
    if (since >= this.backoffMs) {
      this.refused.delete(k);
      return undefined;
    }
    return { sinceMs: since, leftMs: this.backoffMs - since };
  }

  noteRefused(b: EffectiveBmc, password: string): void {
    this.refused.set(this.key(b, password), this.now());
  }

  noteAccepted(b: EffectiveBmc, password: string): void {
    this.refused.delete(this.key(b, password));
  }
}
