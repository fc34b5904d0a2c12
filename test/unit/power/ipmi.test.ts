// The IPMI tools' command lines (the password never on them) and the reading
// of what they answer, from output captured against ipmi_sim.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EffectiveBmc } from '../../../server/power/bmc.js';
import { freeipmiCommand, freeipmiConfig, ipmiFailure, ipmitoolCommand, parseIpmi } from '../../../server/power/ipmi.js';
import { BmcError } from '../../../server/power/types.js';

const bmc: EffectiveBmc = {
  type: 'ipmi',
  address: '10.0.2.11',
  port: 623,
  username: 'admin',
  secret: { sealed: 'v1.x' },
  ipmi: { interface: 'lanplus', cipherSuite: 3, privilege: 'operator', workaroundFlags: 'opensesspriv' },
  redfish: { systemId: undefined, auth: 'session', caFile: undefined, insecure: false },
};
const o = { timeoutMs: 15_000, retries: 2 };

test('ipmitool: lanplus with the cipher suite and privilege, the password in IPMI_PASSWORD (-E), never in argv', () => {
  const c = ipmitoolCommand(bmc, 'pw-xyz', { kind: 'bootdev', device: 'pxe', persistent: true }, o);
  assert.equal(c.cmd, 'ipmitool');
  assert.deepEqual(c.args, ['-v', '-I', 'lanplus', '-H', '10.0.2.11', '-p', '623', '-U', 'admin', '-E', '-L', 'OPERATOR', '-N', '3', '-R', '2', '-C', '3', 'chassis', 'bootdev', 'pxe', 'options=persistent']);
  assert.deepEqual(c.env, { IPMI_PASSWORD: 'pw-xyz' });
  assert.ok(!c.args.join(' ').includes('pw-xyz'));
  assert.equal(c.shown, 'ipmitool -I lanplus chassis bootdev pxe options=persistent');
  const lan = ipmitoolCommand({ ...bmc, ipmi: { ...bmc.ipmi, interface: 'lan' } }, 'pw', { kind: 'power', action: 'cycle' }, { timeoutMs: 2000, retries: 1 });
  assert.ok(!lan.args.includes('-C'), 'no cipher suite for IPMI 1.5');
  assert.deepEqual(lan.args.slice(-3), ['chassis', 'power', 'cycle']);
  assert.equal(lan.args[lan.args.indexOf('-N') + 1], '1');
});

test('FreeIPMI: ipmipower and ipmi-chassis-config with the config file, workaround flags and the session timeout', () => {
  const p = freeipmiCommand(bmc, '/dev/shm/x/freeipmi.conf', { kind: 'power', action: 'soft' }, o);
  assert.equal(p.cmd, 'ipmipower');
  assert.deepEqual(p.args, ['--config-file=/dev/shm/x/freeipmi.conf', '-D', 'LAN_2_0', '-h', '10.0.2.11:623', '-u', 'admin', '-l', 'OPERATOR', '--session-timeout=14000', '-I', '3', '-W', 'opensesspriv', '--soft']);
  const b = freeipmiCommand(bmc, '/f', { kind: 'bootdev', device: 'disk', persistent: false }, o);
  assert.equal(b.cmd, 'ipmi-chassis-config');
  assert.deepEqual(b.args.slice(-5), ['--commit', '-e', 'Chassis_Boot_Flags:Boot_Device=HARD-DRIVE', '-e', 'Chassis_Boot_Flags:Boot_Flags_Persistent=No']);
  assert.equal(freeipmiConfig('pw'), 'password pw\n');
  assert.throws(() => freeipmiConfig('pass word'), (e: Error) => e instanceof BmcError && e.kind === 'tool' && !e.message.includes('pass word'));
});

test('reading answers: the power state; a refused password, a silent BMC, a missing tool, a timeout', () => {
  const c = ipmitoolCommand(bmc, 'pw', { kind: 'status' }, o);
  const ok = (stdout: string) => ({ code: 0, stdout, stderr: 'Loading IANA PEN Registry...\nGet HPM.x Capabilities request failed, compcode = d4\n' });
  assert.equal(parseIpmi('ipmitool', { kind: 'status' }, ok('Chassis Power is on\n'), c, bmc, 15_000), 'on');
  assert.equal(parseIpmi('ipmitool', { kind: 'status' }, ok('Chassis Power is off\n'), c, bmc, 15_000), 'off');
  const fail = (stderr: string, extra = {}) => ipmiFailure({ code: 1, stdout: '', stderr, ...extra }, c, bmc, 15_000);
  const auth = fail('Loading IANA PEN Registry...\n> RAKP 2 HMAC is invalid\nError: Unable to establish IPMI v2 / RMCP+ session\n');
  assert.equal(auth.kind, 'auth');
  assert.equal(auth.message, "refused the credentials of user 'admin' (RAKP 2 HMAC is invalid | Error: Unable to establish IPMI v2 / RMCP+ session)");
  assert.equal(fail('RAKP 2 message indicates an error : unauthorized name\n').kind, 'auth');
  assert.equal(fail('Activate Session command failed\nError: Unable to establish LAN session\n').kind, 'auth', 'IPMI 1.5 wrong password');
  assert.equal(fail('Get Auth Capabilities error\nError issuing Get Channel Authentication Capabilities request\n').kind, 'timeout');
  assert.equal(fail('', { timedOut: true }).message, 'did not answer within 15 s');
  assert.equal(fail('spawn ipmitool ENOENT', { code: 127 }).kind, 'tool');
  assert.match(fail('Set Chassis Power Control to Up/On failed: Invalid data field in request\n').message, /^answered with an error: Set Chassis Power Control/);
  const f = freeipmiCommand(bmc, '/f', { kind: 'status' }, o);
  assert.equal(parseIpmi('freeipmi', { kind: 'status' }, { code: 0, stdout: '10.0.2.11: off\n', stderr: '' }, f, bmc, 15_000), 'off');
  assert.throws(() => parseIpmi('freeipmi', { kind: 'status' }, { code: 1, stdout: '10.0.2.11: password invalid\n', stderr: '' }, f, bmc, 15_000), (e: Error) => e instanceof BmcError && e.kind === 'auth');
  assert.throws(() => parseIpmi('freeipmi', { kind: 'status' }, { code: 1, stdout: '10.0.2.11: connection timeout\n', stderr: '' }, f, bmc, 15_000), (e: Error) => e instanceof BmcError && e.kind === 'timeout');
  assert.throws(() => parseIpmi('freeipmi', { kind: 'power', action: 'on' }, { code: 0, stdout: '10.0.2.11: BMC busy\n', stderr: '' }, f, bmc, 15_000), (e: Error) => e instanceof BmcError && /BMC busy/.test(e.message));
});
