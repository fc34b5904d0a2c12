// Bearer-token auth for /api/v1. The token comes from the config, then
// RACKBOOT_API_TOKEN, else one generated on first start into the data dir
// (mode 0600). A booted node may report its own events with a node token
// derived from the API token (boot/report-token.ts), so blades never carry
// the admin token.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Role } from '../service.js';

export interface TokenSource {
  token: string;
  /** Where a generated token was written, when it was. */
  generatedFile?: string;
  from: 'config' | 'env' | 'file' | 'generated';
}

export function resolveApiToken(configured: string, tokenFile: string, env: NodeJS.ProcessEnv = process.env): TokenSource {
  if (configured) return { token: configured, from: configured === env.RACKBOOT_API_TOKEN ? 'env' : 'config' };
  if (env.RACKBOOT_API_TOKEN) return { token: env.RACKBOOT_API_TOKEN, from: 'env' };
  if (existsSync(tokenFile)) {
    const token = readFileSync(tokenFile, 'utf8').trim();
    if (token) return { token, from: 'file', generatedFile: tokenFile };
  }
  const token = randomBytes(24).toString('base64url');
  mkdirSync(dirname(tokenFile), { recursive: true });
  writeFileSync(tokenFile, token + '\n', { mode: 0o600 });
  chmodSync(tokenFile, 0o600);
  return { token, from: 'generated', generatedFile: tokenFile };
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function bearer(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}


const READS = new Set(['GET', 'HEAD', 'OPTIONS']);
// A node's boot config carries its report token (and the discovery config the
// discovery token): a viewer reading one could post events as that node.
const SECRET_READS = /^\/api\/v1\/(nodes\/[^/]+\/(render|scope)|templates\/discovery)(\/|$)/;

/** Why `role` may not make this request (a 403 message), or undefined when it may. */
export function roleRefusal(role: Role, method: string, path: string): string | undefined {
  if (role === 'admin') return undefined;
  if (!READS.has(method)) return `the viewer role is read-only: ${method} ${path} needs the API token`;
  if (SECRET_READS.test(path)) return 'boot configs carry node report tokens: the viewer role cannot read them';
  return undefined;
}
