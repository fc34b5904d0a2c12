// Sessions and their cookie, without a server: expiry, sign-out, the
// cookie's attributes, reading it back among others, CSRF comparison.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { csrfMatches, readCookie, sessionCookie, Sessions } from '../../../server/ui/sessions.js';
import { safeNext } from '../../../server/ui/pages.js';

test('a session lives its time, ends at sign-out, and is found by its cookie only', () => {
  const s = new Sessions(60_000);
  const a = s.create('admin', 1000);
  const v = s.create('viewer', 1000);
  assert.notEqual(a.id, v.id);
  assert.notEqual(a.csrf, a.id);
  assert.equal(s.get(a.id, 60_999)?.role, 'admin');
  assert.equal(s.get(a.id, 61_000), undefined, 'expired');
  assert.equal(s.get(a.id, 1000), undefined, 'and gone');
  s.delete(v.id);
  assert.equal(s.get(v.id, 1000), undefined);
  assert.equal(s.get(undefined), undefined);
  assert.equal(s.get('made-up'), undefined);
});

test('the cookie: HttpOnly, SameSite=Strict, Secure when asked; read back from a header with others', () => {
  assert.equal(sessionCookie('abc', { maxAgeS: 60, secure: false }), 'rackboot_session=abc; Path=/; Max-Age=60; HttpOnly; SameSite=Strict');
  assert.equal(sessionCookie('abc', { maxAgeS: 60, secure: true }), 'rackboot_session=abc; Path=/; Max-Age=60; HttpOnly; SameSite=Strict; Secure');
  assert.equal(readCookie('theme=dark; rackboot_session=abc; other=1', 'rackboot_session'), 'abc');
  assert.equal(readCookie('xrackboot_session=abc', 'rackboot_session'), undefined);
  assert.equal(readCookie(undefined, 'rackboot_session'), undefined);
});

test('CSRF tokens compare in constant time and only as strings; next= stays on this server', () => {
  const s = new Sessions(60_000).create('admin');
  assert.equal(csrfMatches(s, s.csrf), true);
  assert.equal(csrfMatches(s, s.csrf.slice(1)), false);
  assert.equal(csrfMatches(s, [s.csrf]), false);
  assert.equal(csrfMatches(s, undefined), false);
  assert.equal(safeNext('/nodes/blade1?x=1'), '/nodes/blade1?x=1');
  for (const bad of ['//evil.example/', '/\\evil.example', 'https://evil.example/', '/signin?next=/', 'nodes', undefined, 42]) assert.equal(safeNext(bad), '/', String(bad));
});
