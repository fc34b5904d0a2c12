// BMCs asked at the same moment share ipmipower runs: which share (same
// credentials and options, distinct addresses, at most maxHosts), and how
// one run's output becomes each BMC's own answer. The runner is a stand-in
// that answers as ipmipower did against ipmi_sim (test/integration/power
// runs the real tool).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EffectiveBmc } from '../../../server/power/bmc.js';
import { CommandRunner, type RunOptions, type RunResult } from '../../../server/director/exec.js';
import { IpmipowerBatcher } from '../../../server/power/ipmipower-batch.js';
import { BmcError } from '../../../server/power/types.js';

const bmc = (address: string, over: Partial<EffectiveBmc> = {}): EffectiveBmc => ({
  type: 'ipmi',
  address,
  port: 623,
  username: 'admin',
  secret: { sealed: 'v1.x' },
  ipmi: { interface: 'lanplus', cipherSuite: 3, privilege: 'operator', workaroundFlags: '' },
  redfish: { systemId: undefined, auth: 'session', caFile: undefined, insecure: false },
  ...over,
});

/** Answers each host of -h with `said(host)`; records every run's host list. */
class FakeIpmipower extends CommandRunner {
  readonly runs: string[][] = [];
  constructor(private readonly said: (host: string) => string | undefined, private readonly result: Partial<RunResult> = {}) {
    super();
  }
  override async run(cmd: string, args: readonly string[], _opts: RunOptions = {}): Promise<RunResult> {
    assert.equal(cmd, 'ipmipower');
    const hosts = args[args.indexOf('-h') + 1]!.split(',').map((h) => h.replace(/:\d+$/, ''));
    this.runs.push(hosts);
    const lines = hosts.map((h) => [h, this.said(h)] as const).filter(([, w]) => w !== undefined);
    return { code: lines.every(([, w]) => w === 'on' || w === 'off' || w === 'ok') ? 0 : 1, stdout: lines.map(([h, w]) => `${h}: ${w}\n`).join(''), stderr: '', ...this.result };
  }
}

const O = { timeoutMs: 5000, retries: 2, windowMs: 5, maxHosts: 64 };
const status = { kind: 'status' } as const;

test('status reads asked together share one run; each BMC gets its own state or its own error', async () => {
  const runner = new FakeIpmipower((h) => ({ '10.0.2.11': 'on', '10.0.2.12': 'off', '10.0.2.13': 'password invalid' })[h]);
  const b = new IpmipowerBatcher(runner, O);
  const [a, c, d, e] = await Promise.allSettled([
    b.submit(bmc('10.0.2.11'), 'pw', status),
    b.submit(bmc('10.0.2.12'), 'pw', status),
    b.submit(bmc('10.0.2.13'), 'pw', status),
    b.submit(bmc('10.0.2.14'), 'pw', status),
  ]);
  assert.deepEqual(runner.runs, [['10.0.2.11', '10.0.2.12', '10.0.2.13', '10.0.2.14']]);
  assert.deepEqual([a.status === 'fulfilled' && a.value, c.status === 'fulfilled' && c.value], ['on', 'off']);
  assert.ok(d.status === 'rejected' && d.reason instanceof BmcError && d.reason.kind === 'auth', String(d.status === 'rejected' && d.reason));
  // A host the tool said nothing about is an error of its own, not a silent success.
  assert.ok(e.status === 'rejected' && e.reason instanceof BmcError && /no answer|answered with an error/.test(e.reason.message), String(e.status === 'rejected' && e.reason));
});

test('different credentials, options or actions never share a run; nor do two BMCs on one address', async () => {
  const runner = new FakeIpmipower(() => 'ok');
  const b = new IpmipowerBatcher(runner, O);
  const on = { kind: 'power', action: 'on' } as const;
  await Promise.all([
    b.submit(bmc('10.0.2.11'), 'pw', on),
    b.submit(bmc('10.0.2.12'), 'other', on),
    b.submit(bmc('10.0.2.13', { username: 'root' }), 'pw', on),
    b.submit(bmc('10.0.2.14', { ipmi: { interface: 'lanplus', cipherSuite: 17, privilege: 'operator', workaroundFlags: '' } }), 'pw', on),
    b.submit(bmc('10.0.2.15'), 'pw', { kind: 'power', action: 'off' }),
    b.submit(bmc('10.0.2.11', { port: 624 }), 'pw', on),
  ]);
  assert.equal(runner.runs.length, 6, JSON.stringify(runner.runs));
});

test('a batch is cut at maxHosts', async () => {
  const runner = new FakeIpmipower(() => 'off');
  const b = new IpmipowerBatcher(runner, { ...O, maxHosts: 4 });
  const states = await Promise.all(Array.from({ length: 10 }, (_, i) => b.submit(bmc(`10.0.3.${i + 1}`), 'pw', status)));
  assert.deepEqual(states, Array(10).fill('off'));
  assert.deepEqual(runner.runs.map((r) => r.length), [4, 4, 2]);
});

test('a run that times out fails every BMC of it as a timeout; a password FreeIPMI cannot hold fails before any run', async () => {
  const runner = new FakeIpmipower(() => undefined, { code: null, timedOut: true });
  const b = new IpmipowerBatcher(runner, O);
  const r = await Promise.allSettled([b.submit(bmc('10.0.2.11'), 'pw', status), b.submit(bmc('10.0.2.12'), 'pw', status)]);
  for (const x of r) assert.ok(x.status === 'rejected' && x.reason instanceof BmcError && x.reason.kind === 'timeout');
  await assert.rejects(b.submit(bmc('10.0.2.11'), 'pass word', status), (e: Error) => e instanceof BmcError && e.kind === 'tool');
  assert.equal(runner.runs.length, 1);
});
