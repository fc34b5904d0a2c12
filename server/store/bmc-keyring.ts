// BMC passwords at rest: sealed with AES-256-GCM under a key kept in the
// data directory (like api-token: generated on first use, mode 0600), so a
// copy of the database alone does not give the BMCs away. A sealed value is
// "v1." + base64url(iv 12 bytes | tag 16 bytes | ciphertext).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const PREFIX = 'v1.';
const IV = 12;
const TAG = 16;

/** A sealed value that this key cannot open (another key, or damaged). */
export class SecretError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretError';
  }
}

export class BmcKeyring {
  private key: Buffer | undefined;

  constructor(readonly file: string) {}

  /** The key, read or generated (32 random bytes, base64, mode 0600) on first use. */
  private get(): Buffer {
    if (this.key) return this.key;
    if (existsSync(this.file)) {
      const k = Buffer.from(readFileSync(this.file, 'utf8').trim(), 'base64');
      if (k.length !== 32) throw new SecretError(`${this.file} does not hold a 32-byte base64 key`);
      return (this.key = k);
    }
    const k = randomBytes(32);
    mkdirSync(dirname(this.file), { recursive: true });
    // wx: two servers starting at once on one data directory must not overwrite each other's key.
    try {
      writeFileSync(this.file, k.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return this.get();
      throw e;
    }
    chmodSync(this.file, 0o600);
    return (this.key = k);
  }

  seal(plain: string): string {
    const iv = randomBytes(IV);
    const c = createCipheriv('aes-256-gcm', this.get(), iv);
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return PREFIX + Buffer.concat([iv, c.getAuthTag(), body]).toString('base64url');
  }

  open(sealed: string): string {
    const raw = sealed.startsWith(PREFIX) ? Buffer.from(sealed.slice(PREFIX.length), 'base64url') : undefined;
    if (!raw || raw.length < IV + TAG) throw new SecretError('the stored BMC password is not a sealed value; set it again');
    try {
      const d = createDecipheriv('aes-256-gcm', this.get(), raw.subarray(0, IV));
      d.setAuthTag(raw.subarray(IV, IV + TAG));
      return Buffer.concat([d.update(raw.subarray(IV + TAG)), d.final()]).toString('utf8');
    } catch (e) {
      if (e instanceof SecretError) throw e;
      throw new SecretError(`the stored BMC password cannot be opened with the key in ${this.file} (sealed under another key?): restore that key or set the password again`);
    }
  }
}
