// A BMC from what an operator gives to what a power action uses: the
// password sealed (and kept when a change omits it), node fields over group
// fields, config defaults, and what is missing named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bmcLabel, effectiveBmc } from '../../../server/power/bmc.js';
import { bmcView, mergeBmc, sealBmc } from '../../../server/store/bmc.js';
import { POWER_DEFAULTS } from '../../../server/power/config.js';
import { BmcKeyring, SecretError } from '../../../server/store/bmc-keyring.js';
import { InvalidError } from '../../../server/store/types.js';

function withKeys(fn: (k: BmcKeyring, dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'rackboot-keys-'));
  try {
    fn(new BmcKeyring(join(dir, 'bmc-key')), dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('sealing: AES-GCM round trip, a fresh IV each time, a 0600 key made on first use; another key or a changed byte is refused', () =>
  withKeys((k, dir) => {
    const a = k.seal('s3cret');
    assert.notEqual(a, k.seal('s3cret'), 'a fresh IV per seal');
    assert.ok(!a.includes('s3cret'));
    assert.equal(k.open(a), 's3cret');
    assert.equal(statSync(join(dir, 'bmc-key')).mode & 0o777, 0o600);
    assert.equal(new BmcKeyring(join(dir, 'bmc-key')).open(a), 's3cret', 'the key file is read back');
    const other = new BmcKeyring(join(dir, 'other-key'));
    assert.throws(() => other.open(a), (e: Error) => e instanceof SecretError && /other-key .*restore that key or set the password again/.test(e.message));
    const raw = Buffer.from(a.slice(3), 'base64url');
    raw[raw.length - 1]! ^= 1;
    assert.throws(() => k.open('v1.' + raw.toString('base64url')), SecretError, 'a changed byte fails the tag');
    assert.throws(() => k.open('plain'), /not a sealed value/);
    writeFileSync(join(dir, 'short-key'), 'AAAA');
    assert.throws(() => new BmcKeyring(join(dir, 'short-key')).seal('x'), /32-byte/);
  }));

test('sealBmc: the password sealed; omitted, the stored secret stays; a passwordFile replaces it; both at once refused', () =>
  withKeys((k) => {
    const s = sealBmc({ type: 'ipmi', address: '10.0.2.11', username: 'admin', password: 'pw' }, null, k)!;
    assert.equal(k.open(s.passwordSealed!), 'pw');
    assert.ok(!('password' in s));
    const moved = sealBmc({ type: 'ipmi', address: '10.0.2.12', username: 'admin' }, s, k)!;
    assert.equal(moved.passwordSealed, s.passwordSealed, 'a change without the password keeps it');
    const file = sealBmc({ passwordFile: '/etc/rackboot/bmc.pw' }, s, k)!;
    assert.deepEqual(file, { passwordFile: '/etc/rackboot/bmc.pw' });
    assert.deepEqual(sealBmc({ address: 'x' }, file, k), { address: 'x', passwordFile: '/etc/rackboot/bmc.pw' });
    assert.throws(() => sealBmc({ password: 'a', passwordFile: '/f' }, null, k, 'groups[0].bmc'), (e: Error) => e instanceof InvalidError && e.field === 'groups[0].bmc.passwordFile');
    assert.equal(sealBmc(undefined, s, k), undefined);
    assert.equal(sealBmc(null, s, k), null);
    assert.deepEqual(bmcView(s), { type: 'ipmi', address: '10.0.2.11', username: 'admin', passwordSet: true });
  }));

test('node over group: fields, ipmi/redfish key by key; the secret whole from the node when it has one', () => {
  const group = { type: 'ipmi' as const, username: 'admin', passwordSealed: 'v1.group', ipmi: { cipherSuite: 17, privilege: 'administrator' as const } };
  assert.deepEqual(mergeBmc({ address: '10.0.2.11', ipmi: { interface: 'lan' as const } }, group), {
    type: 'ipmi',
    username: 'admin',
    address: '10.0.2.11',
    passwordSealed: 'v1.group',
    ipmi: { cipherSuite: 17, privilege: 'administrator', interface: 'lan' },
  });
  assert.deepEqual(mergeBmc({ address: 'a', passwordFile: '/pw' }, group), { type: 'ipmi', username: 'admin', address: 'a', passwordFile: '/pw', ipmi: group.ipmi }, "the node's file, not the group's sealed password");
  assert.equal(mergeBmc(null, null), null);
});

test('effective BMC: config defaults and ports per type; what is missing is named', () => {
  const power = { ...POWER_DEFAULTS, ipmi: { tool: 'ipmitool' as const, cipherSuite: 17 } };
  const e = effectiveBmc({ address: '10.0.2.11' }, { type: 'ipmi', username: 'admin', passwordSealed: 'v1.x' }, power);
  assert.ok(!('problem' in e));
  assert.equal(e.port, 623);
  assert.deepEqual(e.ipmi, { interface: 'lanplus', cipherSuite: 17, privilege: 'operator', workaroundFlags: '' });
  assert.deepEqual(e.secret, { sealed: 'v1.x' });
  assert.equal(bmcLabel(e), 'ipmi 10.0.2.11:623');
  const r = effectiveBmc({ type: 'redfish', address: 'fe80::1', username: 'root', passwordFile: '/pw' }, null, power);
  assert.ok(!('problem' in r));
  assert.equal(r.port, 443);
  assert.deepEqual(r.redfish, { systemId: undefined, auth: 'session', caFile: undefined, insecure: false });
  assert.equal(bmcLabel(r), 'redfish [fe80::1]:443');
  assert.deepEqual(effectiveBmc(null, null, power), { problem: 'has no BMC (set bmc on the node or its group)' });
  assert.deepEqual(effectiveBmc({ address: 'x' }, null, power), { problem: 'has an incomplete BMC: no type, username, password or passwordFile (on the node or its group)' });
});
