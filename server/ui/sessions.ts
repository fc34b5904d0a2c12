// Dashboard sign-ins: the API token (or the viewer token) is exchanged once
// for a random session id in an HttpOnly, SameSite=Strict cookie, so the
// token never sits in the browser's storage. Sessions live in memory: a
// restart signs everyone out, and sign-out really ends one. Every state
// change also needs the session's CSRF token in a header (or form field).
import { randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Role } from '../service.js';
import { safeEqual } from '../api/auth.js';

export const COOKIE = 'rackboot_session';
export const CSRF_HEADER = 'x-csrf-token';
/** More than any rack's operators; the oldest go first. */
const MAX_SESSIONS = 10_000;

export interface Session {
  id: string;
  csrf: string;
  role: Role;
  expires: number;
}

export class Sessions {
  private readonly byId = new Map<string, Session>();

  constructor(private readonly ttlMs: number) {}

  create(role: Role, now = Date.now()): Session {
    const s: Session = { id: randomBytes(32).toString('base64url'), csrf: randomBytes(24).toString('base64url'), role, expires: now + this.ttlMs };
    this.byId.set(s.id, s);
    while (this.byId.size > MAX_SESSIONS) this.byId.delete(this.byId.keys().next().value!);
    return s;
  }

  get(id: string | undefined, now = Date.now()): Session | undefined {
    if (!id) return undefined;
    const s = this.byId.get(id);
    if (s && s.expires <= now) {
      this.byId.delete(id);
      return undefined;
    }
    return s;
  }

  /** The request's session, from its cookie. */
  of(req: FastifyRequest): Session | undefined {
    return this.get(readCookie(req.headers.cookie, COOKIE));
  }

  delete(id: string): void {
    this.byId.delete(id);
  }

  sweep(now = Date.now()): void {
    for (const [id, s] of this.byId) if (s.expires <= now) this.byId.delete(id);
  }

  get size(): number {
    return this.byId.size;
  }
}

/** One cookie's value from a Cookie header (RFC 6265 pairs; the first of a repeated name wins). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return undefined;
}

export function sessionCookie(value: string, opts: { maxAgeS: number; secure: boolean }): string {
  return [`${COOKIE}=${value}`, 'Path=/', `Max-Age=${opts.maxAgeS}`, 'HttpOnly', 'SameSite=Strict', ...(opts.secure ? ['Secure'] : [])].join('; ');
}

/** A session's state change carries its CSRF token: a page of another site cannot read it. */
export function csrfMatches(s: Session, given: unknown): boolean {
  return typeof given === 'string' && safeEqual(given, s.csrf);
}
