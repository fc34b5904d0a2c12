// The CLI's registry commands as a user runs them (a real `rackboot`
// process against a real server): groups, `node set`, `node events`,
// networks, lease filters and --json. The server's DHCP sockets are fakes
// (as in dhcp/cli.test.ts: no network needed), so a blade's DHCP exchange
// is real protocol handling that leaves real leases and timeline events.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type dgram from 'node:dgram';
import { MSG } from '../../server/dhcp/options.js';
import type { DhcpServer } from '../../server/dhcp/server.js';
import { dhcpService } from '../../server/dhcp/service.js';
import { run } from '../helpers/netns.js';
import { startTestServer, TEST_NETWORKS, type TestServer } from '../helpers/server.js';
import { ip, rawRequest, str } from '../unit/dhcp/packets.js';

const CLI = new URL('../../server/cli/main.js', import.meta.url).pathname;

describe('rackboot CLI: groups, node set and events, networks, leases', () => {
  let s: TestServer;
  let env: Record<string, string>;
  let dhcp: DhcpServer | undefined;
  const sock = Object.assign(new EventEmitter(), { sent: [] as Buffer[], send(b: Buffer) { sock.sent.push(b); }, close: (cb?: () => void) => cb?.(), setBroadcast() {} });
  const cli = (...args: string[]) => run(process.execPath, [CLI, ...args], { env, timeoutMs: 20_000 });
  const ok = async (...args: string[]) => {
    const r = await cli(...args);
    assert.equal(r.code, 0, `rackboot ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  /** A failed command: exit 1 and the API's message on one line. */
  const fails = async (args: string[], message: RegExp) => {
    const r = await cli(...args);
    assert.equal(r.code, 1, `rackboot ${args.join(' ')} should fail: ${r.stdout}`);
    assert.match(r.stderr.trimEnd(), message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(r.stdout, '');
  };

  before(async () => {
    const networks = [{ ...TEST_NETWORKS[0]!, interface: 'eth1' }, TEST_NETWORKS[1]!];
    s = await startTestServer(
      { networks, dhcp: { enabled: true } },
      { factories: [dhcpService({ opener: { open: async () => sock as unknown as dgram.Socket }, onServer: (d) => (dhcp = d) })] },
    );
    env = { PATH: process.env.PATH!, RACKBOOT_API: s.url, RACKBOOT_API_TOKEN: s.token };
  });
  after(async () => s.stop());

  test('group add / list / show / set / delete', async () => {
    assert.match(await ok('group', 'add', 'web', '--loader', 'ipxe', '--var', 'rack=1'), /^created group web: loader ipxe, image -, vars rack=1$/m);
    assert.match(await ok('group', 'list'), /^NAME\s+LOADER\s+IMAGE\s+NODES\s+BMC\s+VARS\nweb\s+ipxe\s+-\s+0\s+-\s+rack=1$/m);
    const json = JSON.parse(await ok('group', 'list', '--json'));
    assert.deepEqual(json, (await s.api('GET', '/api/v1/groups')).body);

    // --var keeps the other variables; --unset-var removes one; --no-loader inherits again.
    assert.match(await ok('group', 'set', 'web', '--var', 'row=2', '--image', 'web-blade'), /^group web: loader ipxe, image web-blade, vars rack=1 row=2$/m);
    assert.match(await ok('group', 'set', 'web', '--unset-var', 'rack', '--no-loader'), /^group web: loader -, image web-blade, vars row=2$/m);
    const g = (await s.api<{ loader: string | null; vars: Record<string, unknown> }>('GET', '/api/v1/groups/web')).body;
    assert.equal(g.loader, null);
    assert.deepEqual(g.vars, { row: '2' });

    await fails(['group', 'set', 'web', '--loader', 'floppy'], /^rackboot: 400 body\.loader: /);
    await fails(['group', 'set', 'web'], /^rackboot: group set web: nothing to change/);
    await fails(['group', 'show', 'nope'], /^rackboot: 404 no group named 'nope'$/);
    await fails(['group', 'add', 'web'], /^rackboot: 409 /);

    await ok('node', 'add', 'gblade', '-g', 'web', '-i', 'eth0,52:54:00:00:0c:01,inside');
    assert.match(await ok('group', 'show', 'web'), /^group web: loader - \(pxelinux\), image web-blade\nvars: row=2\nbmc: -\nnodes \(1\): gblade$/m);
    assert.equal(JSON.parse(await ok('group', 'show', 'web', '--json')).image, 'web-blade');
    await fails(['group', 'delete', 'web'], /^rackboot: 409 .*gblade|^rackboot: 409 .*node/);
    await ok('node', 'rm', 'gblade');
    assert.match(await ok('group', 'rm', 'web'), /^deleted group web$/m);
    assert.equal((await s.api('GET', '/api/v1/groups/web')).status, 404);
  });

  test('node set: group, image, loader, vars merged, interfaces replaced; API errors as its message', async () => {
    await ok('group', 'add', 'db');
    await ok('node', 'add', 'sblade', '-i', 'eth0,52:54:00:00:0d:01,inside', '--var', 'rack=7');
    const out = await ok('node', 'set', 'sblade', '--group', 'db', '--image', 'web-blade', '--loader', 'grub', '--var', 'row=3');
    assert.match(out, /^sblade: group db, image web-blade, loader grub, vars rack=7 row=3; eth0 52:54:00:00:0d:01 inside 10\.0\.0\.\d+$/m);
    const addr = /inside (10\.0\.0\.\d+)/.exec(out)![1];

    // A re-listed interface without an address keeps it; a new one gets the next free one.
    const ifs = await ok('node', 'set', 'sblade', '-i', 'eth0,52:54:00:00:0d:01,inside', '-i', 'eth1,52-54-00-00-0E-01,inside2', '--no-group', '--no-loader', '--unset-var', 'rack');
    assert.match(ifs, new RegExp(`^sblade: group -, image web-blade, loader -, vars row=3; eth0 52:54:00:00:0d:01 inside ${addr!.replace(/\./g, '\\.')}; eth1 52:54:00:00:0e:01 inside2 10\\.0\\.1\\.\\d+$`, 'm'));
    const n = (await s.api<{ group: string | null; loader: string | null; vars: Record<string, unknown>; interfaces: unknown[] }>('GET', '/api/v1/nodes/sblade')).body;
    assert.deepEqual([n.group, n.loader, n.vars, n.interfaces.length], [null, null, { row: '3' }, 2]);

    await fails(['node', 'set', 'sblade', '--group', 'nope'], /^rackboot: 400 body\.group: no group named 'nope'/);
    await fails(['node', 'set', 'nope', '--image', 'x'], /^rackboot: 404 no node named 'nope'$/);
    await fails(['node', 'set', 'sblade', '--unset-var', 'zz'], /^rackboot: --unset-var 'zz': no variable 'zz' is set here$/);
    await fails(['node', 'set', 'sblade'], /^rackboot: node set sblade: nothing to change/);
    await fails(['node', 'set', 'sblade', '-i', 'eth0,zz,inside'], /^rackboot: 400 body\.interfaces\[0\]\.mac: /);
    await ok('node', 'rm', 'sblade');
    await ok('group', 'rm', 'db');
  });

  test('network list / show, with --json', async () => {
    const out = await ok('network', 'list');
    assert.match(out, /^NAME\s+INTERFACE\s+CIDR\s+SERVER\s+ROUTER\s+STATIC RANGE\s+DYNAMIC RANGE\s+DNS\s+DOMAIN$/m);
    assert.match(out, /^inside\s+eth1\s+10\.0\.0\.0\/24\s+10\.0\.0\.1\s+10\.0\.0\.254\s+10\.0\.0\.10-10\.0\.0\.199\s+10\.0\.0\.200-10\.0\.0\.250\s+10\.0\.0\.1\s+\S+$/m);
    assert.match(out, /^inside2\s+-\s+10\.0\.1\.0\/24\s+10\.0\.1\.1\s+-\s+10\.0\.1\.10-10\.0\.1\.199\s+-\s+/m);
    assert.deepEqual(JSON.parse(await ok('network', 'list', '--json')), (await s.api('GET', '/api/v1/networks')).body);
    assert.equal(JSON.parse(await ok('network', 'show', 'inside2')).netmask, '255.255.255.0');
    await fails(['network', 'show', 'nope'], /^rackboot: 404 no network named 'nope'$/);
  });

  test('a blade boots: lease list filters and node events as a timeline table', async () => {
    await ok('node', 'add', 'eblade', '-i', 'eth0,52:54:00:00:0f:01,inside,10.0.0.77', '-i', 'eth1,52:54:00:00:0f:02,inside2');
    // An event before the boot: --boot leaves it out.
    assert.equal((await s.api('POST', '/api/v1/nodes/eblade/events', { kind: 'note', detail: { said: 'hello' } })).status, 201);
    await new Promise((r) => setTimeout(r, 20));
    const mac = [0x52, 0x54, 0, 0, 0x0f, 1];
    const pxe = [60, 32, ...str('PXEClient:Arch:00000:UNDI:002001'), 93, 2, 0, 0];
    const rinfo = { address: '0.0.0.0', port: 68, family: 'IPv4', size: 300 };
    sock.emit('message', rawRequest({ type: MSG.DISCOVER, mac, options: pxe }), rinfo);
    sock.emit('message', rawRequest({ type: MSG.REQUEST, mac, options: [...pxe, 54, 4, ...ip('10.0.0.1'), 50, 4, ...ip('10.0.0.77')] }), rinfo);
    // An unknown machine takes a dynamic lease too.
    const other = [2, 0, 0, 0, 0, 9];
    sock.emit('message', rawRequest({ type: MSG.DISCOVER, mac: other }), rinfo);
    sock.emit('message', rawRequest({ type: MSG.REQUEST, mac: other, options: [54, 4, ...ip('10.0.0.1'), 50, 4, ...ip('10.0.0.200')] }), rinfo);
    await dhcp!.settle();
    assert.equal((await s.api('POST', '/api/v1/nodes/eblade/events', { kind: 'ready', detail: { image: 'web-blade', version: 'abcd' } })).status, 201);

    const all = await ok('lease', 'list');
    assert.match(all, /^inside\s+10\.0\.0\.77\s+52:54:00:00:0f:01\s+bound\s+eblade\s/m);
    assert.match(all, /^inside\s+10\.0\.0\.200\s+02:00:00:00:00:09\s+bound\s+-\s/m);
    const byMac = await ok('lease', 'list', '--mac', '5254.0000.0f01');
    assert.equal(byMac.trim().split('\n').length, 2, byMac);
    assert.match(byMac, /eblade/);
    const bound = JSON.parse(await ok('lease', 'list', '--state', 'bound', '--json'));
    assert.equal(bound.length, 2);
    assert.deepEqual(bound, (await s.api('GET', '/api/v1/leases?state=bound')).body);
    assert.equal(JSON.parse(await ok('lease', 'list', '--state', 'released', '--json')).length, 0);
    assert.equal(JSON.parse(await ok('lease', 'list', '--network', 'inside2', '--json')).length, 0);
    await fails(['lease', 'list', '--mac', 'zz'], /^rackboot: 400 querystring\.mac: /);
    await fails(['lease', 'list', '--state', 'lost'], /^rackboot: 400 querystring\.state/);

    const api = (await s.api<Array<{ kind: string; ts: number }>>('GET', '/api/v1/nodes/eblade/events')).body;
    assert.deepEqual(
      api.map((e) => e.kind),
      ['note', 'dhcp.offer', 'dhcp.ack', 'ready'],
    );
    const table = await ok('node', 'events', 'eblade');
    const lines = table.trim().split('\n');
    assert.match(lines[0]!, /^eblade: 4 event\(s\), /);
    assert.match(lines[1]!, /^TIME\s+\+PREV\s+BOOT\s+TOOK\s+STEP\s+EVENT\s+IFACE\s+DETAIL$/);
    assert.match(lines[2]!, /^\d\d:\d\d:\d\d\.\d{3}\s+note\s+-\s+said=hello source=127\.0\.0\.1$/);
    // The boot starts at the firmware's DISCOVER: BOOT counts from there, +PREV from the row before.
    const offerGap = ((api[1]!.ts - api[0]!.ts) / 1000).toFixed(3);
    assert.match(lines[3]!, new RegExp(`^\\S+\\s+\\+${offerGap} s\\s+0\\.000 s\\s+dhcp\\s+dhcp\\.offer\\s+eth0\\s+discover -> 10\\.0\\.0\\.77 \\(bios\\) boot file pxelinux\\.0$`));
    assert.match(lines[4]!, /\s+dhcp\s+dhcp\.ack\s+eth0\s+request -> 10\.0\.0\.77 \(bios\)/);
    const readyAt = ((api[3]!.ts - api[1]!.ts) / 1000).toFixed(3);
    assert.match(lines[5]!, new RegExp(`\\s${readyAt} s\\s+ready\\s+ready\\s+-\\s+web-blade abcd$`));
    assert.match(lines[6]!, new RegExp(`^state: ready since \\S+, ${readyAt} s after its boot began$`));

    const boot = await ok('node', 'events', 'eblade', '--boot');
    assert.match(boot, /^eblade: 3 event\(s\)/);
    assert.doesNotMatch(boot, /note/);
    assert.match(await ok('node', 'events', 'eblade', '--kind', 'ready'), /^eblade: 1 event\(s\)/);
    assert.match(await ok('node', 'events', 'eblade', '--since', '1h', '--limit', '2'), /^eblade: 2 event\(s\)[\s\S]*dhcp\.ack[\s\S]*ready/);
    assert.deepEqual(JSON.parse(await ok('node', 'events', 'eblade', '--json')), (await s.api('GET', '/api/v1/nodes/eblade/events')).body);
    await fails(['node', 'events', 'eblade', '--since', 'yesterday'], /^rackboot: --since 'yesterday': a duration ago/);
    await fails(['node', 'events', 'nope'], /^rackboot: 404 no node named 'nope'$/);
    await fails(['node', 'events', 'eblade', '--limit', '0'], /^rackboot: 400 querystring\.limit/);
    await ok('node', 'rm', 'eblade');
  });
});
