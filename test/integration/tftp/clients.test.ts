// The TFTP service on loopback against the real clients (tftp-hpa, atftp,
// curl) and a raw UDP client for the protocol's edge cases. The server is the
// real rackboot server (SQLite registry, events, metrics) with the static
// provider and a generated-content provider on the boot hub.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireLab } from '../../helpers/env.js';
import { waitUntil } from '../../helpers/wait.js';
import { startTestServer, TEST_NETWORKS, type TestServer } from '../../helpers/server.js';
import { configText, patternBytes, patternSha256, RawClient, runClient, sha256, sha256File, testProviderFactory, tftpPort } from '../../helpers/tftp.js';
import { tftpService } from '../../../server/tftp/service.js';
import { decode, encodeAck, encodeData, encodeError, encodeRequest } from '../../../server/tftp/codec.js';
import { toNetascii } from '../../../server/tftp/netascii.js';
import { loadPump } from '../../../server/tftp/native.js';
import { suiteTempDir } from '../../helpers/tmp.js';

const CLIENTS = ['tftp', 'atftp', 'curl'];
const MiB = 1 << 20;

function parse(msg: Buffer) {
  const d = decode(msg);
  assert.ok(d.ok, `undecodable reply ${msg.toString('hex')}`);
  return d.value;
}

/** Fetch a whole file by hand (lockstep), returning the bytes and the OACK. */
async function rawGet(port: number, name: string, opts: { mode?: string; options?: Array<[string, string]>; from?: string } = {}) {
  const c = await RawClient.open(opts.from);
  try {
    c.send(encodeRequest('RRQ', name, opts.mode ?? 'octet', opts.options ?? []), port);
    const parts: Buffer[] = [];
    let oack: Array<[string, string]> | undefined;
    let blksize = 512;
    for (let expect = 1; ; ) {
      const r = await c.next(3000);
      assert.ok(r, `no reply for ${name}`);
      const p = parse(r.msg);
      if (p.op === 'ERROR') return { error: p, parts: Buffer.alloc(0), oack };
      if (p.op === 'OACK') {
        oack = p.options;
        blksize = Number(p.options.find(([k]) => k === 'blksize')?.[1] ?? 512);
        c.send(encodeAck(0), r.rinfo.port);
        continue;
      }
      assert.equal(p.op, 'DATA');
      if (p.op !== 'DATA') break;
      if (p.block === (expect & 0xffff)) {
        parts.push(Buffer.from(p.data));
        expect++;
      }
      c.send(encodeAck(p.block), r.rinfo.port);
      if (p.data.length < blksize) break;
    }
    return { error: undefined, data: Buffer.concat(parts), oack };
  } finally {
    await c.close();
  }
}

// Every test of the suite below runs on each data path this build has: the
// native one (native/tftp-pump) with a thread per transfer, the native one
// with every transfer on the shared event threads (tftp.nativeThreads 0, as
// in a boot storm), and the Node one.
const pump = loadPump();
type DataPath = 'native' | 'native-shared' | 'node';
const DATA_PATHS: DataPath[] = pump.pump ? ['native', 'native-shared', 'node'] : ['node'];
/** The tftp config keys that select a data path. */
const pathConfig = (p: DataPath) => (p === 'native-shared' ? { dataPath: 'native' as const, nativeThreads: 0 } : { dataPath: p });

test('the native TFTP data path is built (CI builds it; elsewhere its absence is only reported)', (t) => {
  if (pump.pump) return;
  if (process.env.CI) assert.fail(`rackboot-tftp-pump did not load in CI: ${pump.error}`);
  t.skip(`native data path not built here (${pump.error}); only the Node data path is tested`);
});

for (const dataPath of DATA_PATHS) clientSuite(dataPath);

function clientSuite(dataPath: DataPath): void {
const dir = suiteTempDir('rackboot-tftp-');
describe(`tftp on loopback with real clients (data path ${dataPath})`, () => {
  let s: TestServer;
  let port: number;
  let root: string;
  const files: Record<string, Buffer> = {};

  before(async () => {
    root = join(dir, 'tftpboot');
    mkdirSync(join(root, 'boot'), { recursive: true });
    files['static.bin'] = randomBytes(3 * MiB + 123);
    files['boot/hello.txt'] = Buffer.from('first line\nsecond\r\nbare\rcr\n\nend');
    for (const [k, v] of Object.entries(files)) writeFileSync(join(root, k), v);
    writeFileSync(join(dir, 'outside'), 'not for clients');
    symlinkSync(join(dir, 'outside'), join(root, 'escape'));
    s = await startTestServer(
      {
        networks: [...TEST_NETWORKS, { name: 'lo', cidr: '127.0.0.0/8', serverAddress: '127.0.0.1', staticRange: '127.0.0.2-127.0.0.200' }],
        tftp: { enabled: true, address: '127.0.0.1', port: 0, root, maxBlksize: 65464, maxWindowsize: 64, timeout: '200ms', retries: 3, giveUp: '1s', clientRate: 10_000, clientBurst: 10_000, ...pathConfig(dataPath) },
      },
      { factories: [testProviderFactory, tftpService] },
    );
    port = tftpPort(s.server.services.find((x) => x.name === 'tftp'));
    const node = (n: number) => ({ name: `blade${n}`, interfaces: [{ name: 'eth0', mac: `52:54:00:00:00:0${n}`, network: 'lo', ipv4: `127.0.0.${n}` }] });
    assert.equal((await s.api('POST', '/api/v1/nodes', node(2))).status, 201);
  });
  after(async () => {
    await s?.stop();
  });

  const out = (name: string) => join(dir, `out-${name}`);

  test('tftp-hpa, atftp and curl fetch static, generated and distro-loader files; checksums match', async (t) => {
    if (!requireLab(t, { commands: CLIENTS })) return;
    const pattern = 'gen/pattern-2000000-blade1';
    const want: Record<string, string> = {
      'static.bin': sha256(files['static.bin']!),
      [pattern]: patternSha256(2_000_000),
      'gen/config-blade1': sha256(configText('blade1')),
      '/static.bin': sha256(files['static.bin']!), // PXE-style leading slash
    };
    const runs: Array<Parameters<typeof runClient>[0]> = [];
    let i = 0;
    for (const remote of Object.keys(want)) {
      runs.push({ client: 'tftp-hpa', host: '127.0.0.1', port, remote, local: out(`hpa${i++}`) });
      runs.push({ client: 'curl', host: '127.0.0.1', port, remote: remote.replace(/^\//, ''), local: out(`curl${i++}`) });
      runs.push({ client: 'curl', host: '127.0.0.1', port, remote: remote.replace(/^\//, ''), local: out(`curl${i++}`), blksize: 1468 });
    }
    for (const blksize of [512, 1468, 8192]) {
      for (const windowsize of [1, 16, 64]) runs.push({ client: 'atftp', host: '127.0.0.1', port, remote: pattern, local: out(`atftp${i++}`), blksize, windowsize });
    }
    runs.push({ client: 'atftp', host: '127.0.0.1', port, remote: 'static.bin', local: out(`atftp${i++}`), blksize: 1468, windowsize: 16 });
    // A few at a time: the server must also keep concurrent transfers apart.
    for (let k = 0; k < runs.length; k += 4) {
      await Promise.all(
        runs.slice(k, k + 4).map(async (r) => {
          const t0 = Date.now();
          const res = await runClient(r);
          const label = `${r.client} ${r.remote} blksize ${r.blksize ?? '-'} windowsize ${r.windowsize ?? '-'}`;
          t.diagnostic(`${label}: ${Date.now() - t0} ms`);
          assert.equal(res.code, 0, `${label}: ${res.stderr}`);
          assert.equal(await sha256File(r.local), want[r.remote] ?? want[`/${r.remote}`], label);
          rmSync(r.local);
        }),
      );
    }
    for (const [name, dirs] of [['pxelinux.0', '/usr/lib/PXELINUX'], ['ldlinux.c32', '/usr/lib/syslinux/modules/bios']] as const) {
      if (!existsSync(join(dirs, name))) {
        if (process.env.CI) assert.fail(`${dirs}/${name} missing: .ci/run installs pxelinux and syslinux-common`);
        continue;
      }
      const res = await runClient({ client: 'tftp-hpa', host: '127.0.0.1', port, remote: name, local: out(name) });
      assert.equal(res.code, 0, res.stderr);
      assert.equal(await sha256File(out(name)), sha256(readFileSync(join(dirs, name))), `${name} from the distro loader dir`);
    }
  });

  test('tsize in the OACK for static, generated and netascii content', async () => {
    const st = await rawGet(port, 'static.bin', { options: [['tsize', '0'], ['blksize', '1468']] });
    assert.deepEqual(st.oack, [['tsize', String(files['static.bin']!.length)], ['blksize', '1468']]);
    assert.equal(sha256(st.data!), sha256(files['static.bin']!));
    const gen = await rawGet(port, 'gen/pattern-70001', { options: [['tsize', '0']] });
    assert.deepEqual(gen.oack, [['tsize', '70001']]);
    assert.deepEqual(gen.data, patternBytes(0, 70001));
    const text = files['boot/hello.txt']!;
    const na = await rawGet(port, 'boot/hello.txt', { mode: 'netascii', options: [['tsize', '0']] });
    assert.deepEqual(na.oack, [['tsize', String(toNetascii(text).length)]]);
    assert.deepEqual(na.data, toNetascii(text));
    assert.ok(toNetascii(text).length > text.length);
  });

  test('waves of short transfers: more at once than the native path keeps idle threads for, then again; all intact', async () => {
    // The native path keeps up to 32 finished threads for the next transfers; 48 at once makes
    // some leave, and the second wave runs on the kept ones.
    for (let wave = 0; wave < 2; wave++) {
      const got = await Promise.all(Array.from({ length: 48 }, (_, i) => rawGet(port, `gen/pattern-${5000 + i * 997}`, { options: [['blksize', '1468']] })));
      got.forEach((g, i) => assert.deepEqual(g.data, patternBytes(0, 5000 + i * 997), `wave ${wave}, transfer ${i}`));
    }
  });

  test('netascii with tftp-hpa round-trips the text', async (t) => {
    if (!requireLab(t, { commands: ['tftp'] })) return;
    const r = await runClient({ client: 'tftp-hpa', host: '127.0.0.1', port, remote: 'boot/hello.txt', local: out('na'), netascii: true });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readFileSync(out('na')), files['boot/hello.txt']);
  });

  test('hostile input: the right ERROR comes back, the process stays up, a concurrent transfer completes', async (t) => {
    if (!requireLab(t, { commands: ['tftp'] })) return;
    const size = 12 * MiB;
    const bg = runClient({ client: 'tftp-hpa', host: '127.0.0.1', port, remote: `gen/pattern-${size}`, local: out('bg') });
    const c = await RawClient.open();
    const expectError = async (buf: Buffer, code: number, re: RegExp, what: string) => {
      c.send(buf, port);
      const r = await c.next(2000);
      assert.ok(r, `${what}: no reply`);
      const p = parse(r.msg);
      assert.ok(p.op === 'ERROR', `${what}: got ${p.op}`);
      assert.equal(p.code, code, `${what}: ${p.message}`);
      assert.match(p.message, re, what);
    };
    try {
      await expectError(Buffer.from([1]), 4, /malformed/, 'stray 1-byte datagram');
      await expectError(encodeRequest('WRQ', 'static.bin', 'octet'), 2, /read-only/, 'WRQ');
      await expectError(encodeRequest('RRQ', '../etc/passwd', 'octet'), 2, /'\.\.'/, '../etc/passwd');
      await expectError(encodeRequest('RRQ', '/etc/passwd', 'octet'), 1, /not found/, '/etc/passwd (inside the root)');
      await expectError(encodeRequest('RRQ', 'a\\..\\b', 'octet'), 2, /backslash/, 'a\\..\\b');
      await expectError(Buffer.from('\x00\x01static.bin\x00../../etc/passwd\x00octet\x00', 'latin1'), 4, /malformed/, 'NUL inside the name');
      await expectError(Buffer.from('\x00\x01static.bin\x00../../etc/passwd\x00', 'latin1'), 4, /mode/, 'NUL then a path');
      await expectError(encodeRequest('RRQ', 'escape', 'octet'), 2, /^access violation: 'escape' is a symlink leading outside the TFTP root$/, 'symlink out of the root (its target is for the log only)');
      await expectError(encodeRequest('RRQ', 'nonexistent', 'octet'), 1, /not found/, 'missing file');
      await expectError(encodeRequest('RRQ', 'static.bin', 'octet', [['blksize', 'lots']]), 8, /blksize/, 'garbage blksize');
      await expectError(Buffer.from('\x00\x01static.bin\x00octet\x00blksize\x00', 'latin1'), 4, /no value/, 'option without value');
      await expectError(encodeRequest('RRQ', 'static.bin', 'mail'), 4, /mode 'mail'/, 'mail mode');
      await expectError(encodeData(3, Buffer.from('x')), 4, /expected a read request/, 'DATA to the request port');
      // tftp-hpa's client ACKs the ERROR of a failed request, which left from this port: not answered.
      c.send(encodeAck(3), port);
      assert.equal((await c.collect(200)).length, 0, 'an ACK at the request port is not answered');
      c.send(encodeError(0, 'stranger error'), port);
      assert.equal((await c.collect(200)).length, 0, 'an ERROR is never answered');
      // Unknown options are ignored: no OACK, DATA 1 straight away.
      c.send(encodeRequest('RRQ', 'boot/hello.txt', 'octet', [['x-garbage', '\u00ff\u00fe'], ['multicast', '']]), port);
      const r1 = (await c.next())!;
      const d = parse(r1.msg);
      assert.ok(d.op === 'DATA' && d.block === 1 && d.data.length === files['boot/hello.txt']!.length);
      c.send(encodeAck(1), r1.rinfo.port);
    } finally {
      await c.close();
    }
    const r = await bg;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await sha256File(out('bg')), patternSha256(size));
    rmSync(out('bg'));
  });

  test('transfer ids: a stranger gets ERROR 5 and the transfer goes on; duplicate ACKs and RRQs send nothing twice', async () => {
    // Its own server with a 2 s timeout: the suite's 200 ms one would resend
    // DATA inside the 150 ms windows below on a stalled machine, and a timer's
    // resend is not the duplicate these checks are about.
    const s2 = await startTestServer(
      { tftp: { enabled: true, address: '127.0.0.1', port: 0, root, timeout: '2s', clientRate: 1000, clientBurst: 1000, ...pathConfig(dataPath) } },
      { factories: [testProviderFactory, tftpService] },
    );
    const p2 = tftpPort(s2.server.services.find((x) => x.name === 'tftp'));
    const c = await RawClient.open();
    const stranger = await RawClient.open();
    try {
      const name = 'gen/pattern-5000';
      c.send(encodeRequest('RRQ', name, 'octet'), p2);
      const first = await c.next();
      assert.ok(first);
      const tid = first.rinfo.port;
      assert.notEqual(tid, p2, 'a new port per transfer');
      c.send(encodeRequest('RRQ', name, 'octet'), p2); // retransmitted RRQ: ignored
      assert.equal((await c.collect(150)).length, 0, 'a duplicate RRQ starts no second transfer');
      stranger.send(encodeAck(1), tid);
      const e = await stranger.next();
      assert.ok(e);
      const ep = parse(e.msg);
      assert.ok(ep.op === 'ERROR' && ep.code === 5, 'ERROR 5 to the stranger');
      stranger.send(encodeError(0, 'stray'), tid);
      assert.equal((await stranger.collect(150)).length, 0, "a stranger's ERROR is not answered");
      const p1 = parse(first.msg);
      assert.ok(p1.op === 'DATA' && p1.block === 1);
      const data: Buffer[] = [Buffer.from(p1.data)];
      await c.collect(0); // a DATA 1 resent meanwhile, had the machine stalled past 2 s
      c.send(encodeAck(1), tid);
      c.send(encodeAck(1), tid);
      c.send(encodeAck(1), tid);
      const got = (await c.collect(150)).map((g) => parse(g.msg));
      assert.deepEqual(got.map((p) => p.op === 'DATA' && p.block), [2], "three ACK 1 -> one DATA 2 (no Sorcerer's Apprentice)");
      // A retransmitted RRQ that arrives late, with the transfer under way (a storm: the first one
      // waited in the server's queue past the client's timer): ignored, the transfer goes on.
      c.send(encodeRequest('RRQ', name, 'octet'), p2);
      const late = await c.collect(150);
      assert.ok(late.every((g) => g.rinfo.port === tid), 'no second transfer for a late duplicate RRQ');
      for (let b = 2; ; b++) {
        let p = b === 2 ? got[0]! : parse((await c.next())!.msg);
        // The timeout adapts to loopback's round trip, so a stalled test may
        // see the previous block again from the timer: legal, skipped.
        while (b > 2 && p.op === 'DATA' && p.block === b - 1) p = parse((await c.next())!.msg);
        assert.ok(p.op === 'DATA' && p.block === b);
        data.push(Buffer.from(p.data));
        c.send(encodeAck(b), tid);
        if (p.data.length < 512) break;
      }
      assert.deepEqual(Buffer.concat(data), patternBytes(0, 5000));
    } finally {
      await c.close();
      await stranger.close();
      await s2.stop();
    }
  });

  test('a client that never answers is dropped silently; one that vanishes is retried with backoff for tftp.giveUp, then reaped; events; metrics', async () => {
    const tftp = s.server.services.find((x) => x.name === 'tftp') as unknown as { active: number };
    const silent = await RawClient.open('127.0.0.2');
    try {
      silent.send(encodeRequest('RRQ', 'static.bin', 'octet'), port, '127.0.0.1');
      // DATA 1 at 0, 0.2, 0.6, 1.4 s; dropped at 3 s (3 retransmissions), without an ERROR: a
      // request nobody answers may come from a forged address.
      const first = await silent.next(2000);
      assert.ok(first, 'DATA 1');
      const got: ReturnType<typeof parse>[] = [parse(first.msg)];
      for (const until = Date.now() + 8000; Date.now() < until && tftp.active !== 0; ) {
        const g = await silent.next(50);
        if (g) got.push(parse(g.msg));
      }
      for (let g = await silent.next(300); g; g = await silent.next(300)) got.push(parse(g.msg));
      assert.equal(tftp.active, 0, 'the unanswered transfer is gone');
      assert.deepEqual(got.map((p) => `${p.op} ${p.op === 'DATA' ? p.block : ''}`), ['DATA 1', 'DATA 1', 'DATA 1', 'DATA 1'], 'DATA 1 and 3 retransmissions, no ERROR');
    } finally {
      await silent.close();
    }
    const c = await RawClient.open('127.0.0.2');
    try {
      c.send(encodeRequest('RRQ', 'static.bin', 'octet'), port, '127.0.0.1');
      const first = await c.next(2000);
      assert.ok(first && parse(first.msg).op === 'DATA');
      // Answered: from now on the transfer outlasts a client's own retry clock.
      const t0 = Date.now();
      c.send(encodeAck(1), first.rinfo.port);
      const blocks: ReturnType<typeof parse>[] = [];
      for (const until = Date.now() + 8000; Date.now() < until && blocks.at(-1)?.op !== 'ERROR'; ) {
        const g = await c.next(Math.max(1, until - Date.now()));
        if (g) blocks.push(parse(g.msg));
      }
      const last = blocks.at(-1)!;
      assert.ok(last.op === 'ERROR' && /timed out/.test(last.message), 'gives up with ERROR 0');
      assert.ok(Date.now() - t0 >= 1000, `given up after tftp.giveUp (1 s), not before: ${Date.now() - t0} ms`);
      assert.ok(blocks.filter((p) => p.op === 'DATA' && p.block === 2).length >= 4, `DATA 2 sent and retransmitted at least retries (3) times: ${blocks.length}`);
    } finally {
      await c.close();
    }
    // The native path reports the end from its thread a moment after the ERROR left.
    for (let i = 0; i < 50 && tftp.active !== 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(tftp.active, 0);
    // A node known by address (blade2 = 127.0.0.2) and one named by the generated file (blade1).
    const ok = await rawGet(port, 'static.bin', { from: '127.0.0.2', options: [['blksize', '1468']] });
    assert.equal(ok.data!.length, files['static.bin']!.length);
    const refused = await rawGet(port, '../../x', { from: '127.0.0.2' });
    assert.equal(refused.error?.code, 2);
    type Ev = { kind: string; detail: Record<string, unknown> };
    // A transfer's record reaches the timeline after its last ACK (on the native path from the
    // transfer's thread, then a node lookup): read until the three events are there.
    let list: Ev[] = [];
    for (let i = 0; i < 100 && !['tftp.failed', 'tftp.transfer', 'tftp.refused'].every((k) => list.some((e) => e.kind === k)); i++) {
      if (i) await new Promise((r) => setTimeout(r, 20));
      await s.server.events.flush();
      const ev = (await s.api<{ items?: Ev[] } | Ev[]>('GET', '/api/v1/nodes/blade2/events')).body;
      list = Array.isArray(ev) ? ev : (ev.items ?? []);
    }
    const failed = list.find((e) => e.kind === 'tftp.failed');
    assert.ok(failed, JSON.stringify(list));
    assert.equal(failed.detail.outcome, 'timeout');
    assert.ok((failed.detail.retries as number) >= 4, JSON.stringify(failed.detail));
    const done = list.find((e) => e.kind === 'tftp.transfer');
    assert.ok(done);
    assert.equal(done.detail.file, 'static.bin');
    assert.equal(done.detail.bytes, files['static.bin']!.length);
    assert.equal(done.detail.blksize, 1468);
    assert.equal(done.detail.windowsize, 1);
    assert.equal(typeof done.detail.durationMs, 'number');
    assert.ok(list.find((e) => e.kind === 'tftp.refused'));
    const m = await (await fetch(`${s.url}/metrics`)).text();
    assert.match(m, /rackboot_tftp_transfers_total\{outcome="complete",kind="file"\} \d+/);
    assert.match(m, /rackboot_tftp_transfers_total\{outcome="timeout",kind="file"\} 2$/m);
    assert.match(m, /rackboot_tftp_bytes_total\{kind="file"\} \d+/);
    assert.match(m, /rackboot_tftp_errors_total\{code="2"\} \d+/);
    assert.match(m, /rackboot_tftp_retransmits_total [1-9]/);
    assert.match(m, /rackboot_tftp_active_transfers 0/);
  });

  test("UEFI PXE's size probe (tsize, then ERROR 8 after the OACK, as OVMF does) is a tftp.probe event, not a failure", async () => {
    const c = await RawClient.open('127.0.0.2');
    try {
      c.send(encodeRequest('RRQ', 'static.bin', 'octet', [['tsize', '0'], ['blksize', '1468']]), port, '127.0.0.1');
      const r = await c.next(3000);
      assert.ok(r);
      const oack = parse(r.msg);
      assert.equal(oack.op, 'OACK');
      assert.deepEqual(oack.op === 'OACK' ? oack.options.find(([k]) => k === 'tsize') : undefined, ['tsize', String(files['static.bin']!.length)]);
      c.send(encodeError(8, 'User aborted the transfer'), r.rinfo.port, '127.0.0.1');
    } finally {
      await c.close();
    }
    type Ev = { kind: string; detail: Record<string, unknown> };
    let list: Ev[] = [];
    for (let i = 0; i < 100 && !list.some((e) => e.kind === 'tftp.probe'); i++) {
      if (i) await new Promise((r) => setTimeout(r, 20));
      await s.server.events.flush();
      list = (await s.api<Ev[]>('GET', '/api/v1/nodes/blade2/events?kind=tftp.probe')).body;
    }
    const probe = list.find((e) => e.kind === 'tftp.probe');
    assert.ok(probe, JSON.stringify(list));
    assert.deepEqual([probe.detail.file, probe.detail.outcome, probe.detail.bytes], ['static.bin', 'client-error', 0]);
    const failed = (await s.api<Ev[]>('GET', '/api/v1/nodes/blade2/events?kind=tftp.failed')).body;
    assert.ok(!failed.some((e) => e.detail.outcome === 'client-error'), JSON.stringify(failed));
    const m = await (await fetch(`${s.url}/metrics`)).text();
    assert.match(m, /rackboot_tftp_transfers_total\{outcome="probe",kind="file"\} 1$/m);
  });

  test('a file that shrinks under a transfer: ERROR 0 naming a read error, a read-error record, the server goes on', async () => {
    const file = join(root, 'shrink.bin');
    writeFileSync(file, randomBytes(MiB));
    const c = await RawClient.open();
    try {
      c.send(encodeRequest('RRQ', 'shrink.bin', 'octet'), port);
      let r = await c.next();
      assert.ok(r);
      writeFileSync(file, Buffer.alloc(1000)); // truncated in place: the open descriptor sees it
      let last = parse(r.msg);
      for (let i = 0; i < 4000 && last.op === 'DATA'; i++) {
        c.send(encodeAck(last.block), r.rinfo.port);
        r = await c.next();
        assert.ok(r, `no answer after block ${last.op === 'DATA' ? last.block : '?'}`);
        last = parse(r.msg);
      }
      assert.ok(last.op === 'ERROR' && last.code === 0 && /error reading the file/.test(last.message), JSON.stringify(last));
    } finally {
      await c.close();
      rmSync(file, { force: true });
    }
    const ok = await rawGet(port, 'static.bin', { options: [['blksize', '1468']] });
    assert.equal(sha256(ok.data!), sha256(files['static.bin']!));
    const m = await (await fetch(`${s.url}/metrics`)).text();
    assert.match(m, /rackboot_tftp_transfers_total\{outcome="read-error",kind="file"\} 1$/m);
  });

  test('stop() during transfers: each client gets ERROR 0, stop() returns, nothing is left running', async () => {
    const s2 = await startTestServer(
      { tftp: { enabled: true, address: '127.0.0.1', port: 0, root, timeout: '5s', clientRate: 1000, clientBurst: 1000, ...pathConfig(dataPath) } },
      { factories: [testProviderFactory, tftpService] },
    );
    const p2 = tftpPort(s2.server.services.find((x) => x.name === 'tftp'));
    const held = [await RawClient.open(), await RawClient.open()];
    try {
      held[0]!.send(encodeRequest('RRQ', 'static.bin', 'octet'), p2);
      held[1]!.send(encodeRequest('RRQ', 'gen/pattern-100000', 'octet', [['blksize', '1024']]), p2);
      assert.equal(parse((await held[0]!.next())!.msg).op, 'DATA');
      assert.equal(parse((await held[1]!.next())!.msg).op, 'OACK');
      const t0 = Date.now();
      await s2.stop();
      assert.ok(Date.now() - t0 < 3000, `stop() took ${Date.now() - t0} ms`);
      for (const h of held) {
        const got = (await h.collect(300)).map((g) => parse(g.msg));
        const err = got.find((p) => p.op === 'ERROR');
        assert.ok(err && err.op === 'ERROR' && err.code === 0 && /shutting down/.test(err.message), JSON.stringify(got));
      }
    } finally {
      for (const h of held) await h.close();
    }
  });

  test('a 100 MiB generated file at blksize 512 (block numbers roll over) with tftp-hpa, atftp and curl', async (t) => {
    if (!requireLab(t, { commands: CLIENTS })) return;
    const size = 100 * MiB;
    const name = `gen/pattern-${size}`;
    const want = patternSha256(size);
    // Its own server with more retries: after loopback's round trip the
    // timeout sits at its 50 ms floor, and three clients writing 300 MiB on
    // two cores can fall silent for longer than the suite's 3 retries allow.
    const big = await startTestServer(
      { tftp: { enabled: true, address: '127.0.0.1', port: 0, root, maxBlksize: 65464, maxWindowsize: 64, timeout: '1s', retries: 8, clientRate: 1000, clientBurst: 1000, ...pathConfig(dataPath) } },
      { factories: [testProviderFactory, tftpService] },
    );
    t.after(() => big.stop());
    const port = tftpPort(big.server.services.find((x) => x.name === 'tftp'));
    const runs = [
      { client: 'tftp-hpa' as const, host: '127.0.0.1', port, remote: name, local: out('big-hpa') },
      { client: 'atftp' as const, host: '127.0.0.1', port, remote: name, local: out('big-atftp'), blksize: 512, windowsize: 64 },
      { client: 'curl' as const, host: '127.0.0.1', port, remote: name, local: out('big-curl'), blksize: 512 },
    ];
    await Promise.all(
      runs.map(async (r) => {
        const res = await runClient({ ...r, timeoutMs: 300_000 });
        assert.equal(res.code, 0, `${r.client}: ${res.stderr}`);
        assert.equal(statSync(r.local).size, size, r.client);
        assert.equal(await sha256File(r.local), want, r.client);
        rmSync(r.local);
      }),
    );
  });
});
}

describe('tftp limits', () => {
  for (const dataPath of DATA_PATHS) test(`unanswered transfers never take an answered one's slot: the oldest makes room; real clients are served (data path ${dataPath})`, async () => {
    const s = await startTestServer(
      { tftp: { enabled: true, address: '127.0.0.1', port: 0, root: tmpdir(), maxTransfers: 2, maxUnanswered: 4, clientRate: 10_000, clientBurst: 10_000, timeout: '5s', ...pathConfig(dataPath) } },
      { factories: [testProviderFactory, tftpService] },
    );
    const tftp = s.server.services.find((x) => x.name === 'tftp') as unknown as { active: number; unanswered: number };
    const quiet: RawClient[] = [];
    try {
      const port = tftpPort(s.server.services.find((x) => x.name === 'tftp'));
      // One real transfer answered and held (its client ACKs DATA 1, then waits).
      const holder = await RawClient.open();
      quiet.push(holder);
      holder.send(encodeRequest('RRQ', 'gen/pattern-100000', 'octet'), port);
      const d1 = (await holder.next())!;
      holder.send(encodeAck(1), d1.rinfo.port);
      assert.equal(parse((await holder.next())!.msg).op, 'DATA');
      // Twenty requests nobody answers (a forger's): four wait at a time, the oldest dropped for each new one.
      for (let i = 0; i < 20; i++) {
        const q = await RawClient.open();
        quiet.push(q);
        q.send(encodeRequest('RRQ', 'gen/pattern-100000', 'octet'), port);
        assert.equal(parse((await q.next())!.msg).op, 'DATA');
      }
      assert.equal(tftp.unanswered, 4);
      assert.equal(tftp.active, 5, 'one answered + four waiting');
      // A real client still gets its file whole, and so does a second one: the answered pool had room.
      for (const n of [1, 2]) {
        const r = await rawGet(port, `gen/pattern-${200_000 + n}`);
        assert.equal(r.error, undefined, JSON.stringify(r.error));
        assert.ok(r.data!.equals(patternBytes(0, 200_000 + n)), `file ${n} intact`);
      }
      // Dropped waiting transfers were told nothing: no ERROR reached the first forgers.
      const early = await quiet[1]!.collect(200);
      assert.ok(early.every((g) => parse(g.msg).op === 'DATA'), 'only DATA 1 (and its retransmissions), no ERROR');
      const m = await (await fetch(`${s.url}/metrics`)).text();
      assert.match(m, /rackboot_tftp_requests_total\{result="unanswered-evicted"\} (1[6-9]|[2-9]\d)/);
    } finally {
      for (const q of quiet) await q.close();
      await s.stop();
    }
  });

  test('maxTransfers: a request over the bound gets ERROR 0 busy; per-client rate limit drops the excess', async () => {
    const s = await startTestServer(
      { tftp: { enabled: true, address: '127.0.0.1', port: 0, root: tmpdir(), maxTransfers: 2, maxWaiting: 0, clientRate: 0.05, clientBurst: 4, timeout: '5s' } },
      { factories: [testProviderFactory, tftpService] },
    );
    const c = await RawClient.open();
    try {
      const port = tftpPort(s.server.services.find((x) => x.name === 'tftp'));
      // Two transfers held open from different client ports: each client answered DATA 1, then went quiet.
      const holders = [await RawClient.open(), await RawClient.open()];
      for (const h of holders) h.send(encodeRequest('RRQ', 'gen/pattern-100000', 'octet'), port);
      for (const h of holders) {
        const d = (await h.next())!;
        assert.equal(parse(d.msg).op, 'DATA');
        h.send(encodeAck(1), d.rinfo.port);
        assert.equal(parse((await h.next())!.msg).op, 'DATA', 'DATA 2 after ACK 1');
      }
      c.send(encodeRequest('RRQ', 'gen/pattern-100', 'octet'), port);
      const busy = parse((await c.next())!.msg);
      assert.ok(busy.op === 'ERROR' && busy.code === 0 && /busy/.test(busy.message), JSON.stringify(busy));
      // Burst of 4 used up (2 holders, the busy one, this one); the next is dropped silently
      // (a token comes back only every 20 s: a slow machine cannot refill the bucket in between).
      c.send(encodeRequest('RRQ', 'gen/pattern-100', 'octet'), port);
      assert.ok(await c.next());
      c.send(encodeRequest('RRQ', 'gen/pattern-100', 'octet'), port);
      assert.equal(await c.next(400), undefined, 'over the rate: no answer');
      for (const h of holders) await h.close();
    } finally {
      await c.close();
      await s.stop();
    }
  });

  test('maxWaiting: forged requests at the head of the wait list never take the answered slot and hold it back only briefly', async () => {
    const s = await startTestServer(
      { tftp: { enabled: true, address: '127.0.0.1', port: 0, root: tmpdir(), maxTransfers: 1, maxWaiting: 8, maxUnanswered: 4, clientRate: 1000, clientBurst: 1000, timeout: '500ms' } },
      { factories: [testProviderFactory, tftpService] },
    );
    const tftp = s.server.services.find((x) => x.name === 'tftp') as unknown as { active: number; unanswered: number };
    const clients: RawClient[] = [];
    const open = async () => {
      const c = await RawClient.open();
      clients.push(c);
      return c;
    };
    try {
      const port = tftpPort(s.server.services.find((x) => x.name === 'tftp'));
      // The only slot, held by a client that answered.
      const holder = await open();
      holder.send(encodeRequest('RRQ', 'gen/pattern-100000', 'octet'), port);
      const h1 = (await holder.next())!;
      holder.send(encodeAck(1), h1.rinfo.port);
      assert.equal(parse((await holder.next())!.msg).op, 'DATA');
      assert.ok(await waitUntil(() => tftp.active - tftp.unanswered === 1), 'the holder answered');
      // Three requests nobody will answer wait first, then a real client.
      const forgers = [await open(), await open(), await open()];
      for (const f of forgers) f.send(encodeRequest('RRQ', 'gen/pattern-300', 'octet'), port);
      const real = await open();
      real.send(encodeRequest('RRQ', 'gen/pattern-100', 'octet'), port);
      assert.equal(await real.next(300), undefined, 'waiting behind the slot holder');
      holder.send(Buffer.from([0, 5, 0, 0, 0x78, 0]), h1.rinfo.port);
      // The forgers are started in turn, each promised the slot until its promise lapses;
      // the real client, resending as a ROM does, gets its file after them.
      let d: { msg: Buffer; rinfo: { port: number } } | undefined;
      for (let i = 0; i < 40 && !d; i++) {
        d = await real.next(250);
        if (!d) real.send(encodeRequest('RRQ', 'gen/pattern-100', 'octet'), port);
        assert.ok(tftp.active - tftp.unanswered <= 1, 'never more answered transfers than maxTransfers');
      }
      assert.ok(d, 'the real client was started within 10 s');
      const d1 = parse(d.msg);
      assert.ok(d1.op === 'DATA' && d1.block === 1 && d1.data.length === 100, JSON.stringify(d1));
      assert.equal(parse((await forgers[0]!.next(1000))!.msg).op, 'DATA', 'the first forger was started before it');
      // None of the forgers holds the answered slot: the real client's transfer takes it.
      assert.equal(tftp.active - tftp.unanswered, 0);
    } finally {
      for (const c of clients) await c.close();
      await s.stop();
    }
  });

  test('maxWaiting: requests over maxTransfers wait, their resends keep their place, and start as slots free; beyond the list, busy', async () => {
    const s = await startTestServer(
      { tftp: { enabled: true, address: '127.0.0.1', port: 0, root: tmpdir(), maxTransfers: 2, maxWaiting: 2, clientRate: 1000, clientBurst: 1000, timeout: '5s' } },
      { factories: [testProviderFactory, tftpService] },
    );
    const clients: RawClient[] = [];
    const open = async () => {
      const c = await RawClient.open();
      clients.push(c);
      return c;
    };
    const tftp = s.server.services.find((x) => x.name === 'tftp') as unknown as { active: number; unanswered: number };
    try {
      const port = tftpPort(s.server.services.find((x) => x.name === 'tftp'));
      // Two holders whose clients answered (ACK of DATA 1): only answered transfers take the slots.
      const holders = [await open(), await open()];
      const firstData: Array<{ msg: Buffer; rinfo: { port: number } }> = [];
      for (const h of holders) h.send(encodeRequest('RRQ', 'gen/pattern-100000', 'octet'), port);
      for (const h of holders) {
        const d = (await h.next())!;
        assert.equal(parse(d.msg).op, 'DATA');
        firstData.push(d);
        h.send(encodeAck(1), d.rinfo.port);
        assert.equal(parse((await h.next())!.msg).op, 'DATA');
      }
      assert.ok(await waitUntil(() => tftp.active - tftp.unanswered === 2), 'both holders answered');
      // Two wait (one resends meanwhile: still one entry), the fifth finds the list full.
      const [w1, w2, over] = [await open(), await open(), await open()];
      w1.send(encodeRequest('RRQ', 'gen/pattern-100', 'octet'), port);
      w2.send(encodeRequest('RRQ', 'gen/pattern-200', 'octet'), port);
      w1.send(encodeRequest('RRQ', 'gen/pattern-100', 'octet'), port);
      over.send(encodeRequest('RRQ', 'gen/pattern-100', 'octet'), port);
      const busy = parse((await over.next())!.msg);
      assert.ok(busy.op === 'ERROR' && busy.code === 0 && /busy/.test(busy.message), JSON.stringify(busy));
      assert.equal(await w1.next(300), undefined, 'waiting: no answer yet');
      // A holder ends its transfer (ERROR to its transfer id): the oldest waiting request starts.
      holders[0]!.send(Buffer.from([0, 5, 0, 0, 0x78, 0]), firstData[0]!.rinfo.port);
      const d1 = parse((await w1.next(5000))!.msg);
      assert.ok(d1.op === 'DATA' && d1.block === 1 && d1.data.length === 100, JSON.stringify(d1));
      assert.equal(await w1.next(300), undefined, 'its resend started nothing twice');
      assert.equal(await w2.next(200), undefined, 'the second still waits: both slots are taken');
      holders[1]!.send(Buffer.from([0, 5, 0, 0, 0x78, 0]), firstData[1]!.rinfo.port);
      const d2 = parse((await w2.next(5000))!.msg);
      assert.ok(d2.op === 'DATA' && d2.block === 1 && d2.data.length === 200, JSON.stringify(d2));
    } finally {
      for (const c of clients) await c.close();
      await s.stop();
    }
  });
});
