// `rackboot lease list|clear` as a user runs them, against a server whose
// DHCP sockets are fakes (no network needed): a declined address is listed,
// cleared, and offered again.
import { strict as assert } from 'node:assert';
import { EventEmitter } from 'node:events';
import type dgram from 'node:dgram';
import { it } from 'node:test';
import { decode } from '../../../server/dhcp/codec.js';
import { MSG } from '../../../server/dhcp/options.js';
import type { DhcpServer } from '../../../server/dhcp/server.js';
import { dhcpService } from '../../../server/dhcp/service.js';
import { run } from '../../helpers/netns.js';
import { startTestServer } from '../../helpers/server.js';
import { ip, rawRequest } from '../../unit/dhcp/packets.js';

const CLI = new URL('../../../server/cli/main.js', import.meta.url).pathname;

it('rackboot lease list shows a declined address; lease clear frees it and it is offered again', async () => {
  const sock = Object.assign(new EventEmitter(), { sent: [] as Buffer[], send(b: Buffer) { sock.sent.push(b); }, close: (cb?: () => void) => cb?.(), setBroadcast() {} });
  let dhcp: DhcpServer | undefined;
  const ts = await startTestServer(
    { networks: [{ name: 'inside', interface: 'eth1', cidr: '10.0.0.0/24', serverAddress: '10.0.0.1', dynamicRange: '10.0.0.200-10.0.0.200' }], dhcp: { enabled: true } },
    { factories: [dhcpService({ opener: { open: async () => sock as unknown as dgram.Socket }, onServer: (s) => (dhcp = s) })] },
  );
  const env = { PATH: process.env.PATH!, RACKBOOT_API: ts.url, RACKBOOT_API_TOKEN: ts.token };
  const cli = (args: string[]) => run(process.execPath, [CLI, ...args], { env, timeoutMs: 20_000 });
  const rinfo = { address: '10.0.0.9', port: 68, family: 'IPv4', size: 300 };
  const mac = [2, 0, 0, 0, 0, 1];
  try {
    sock.emit('message', rawRequest({ type: MSG.DISCOVER, mac }), rinfo);
    sock.emit('message', rawRequest({ type: MSG.REQUEST, mac, options: [54, 4, ...ip('10.0.0.1'), 50, 4, ...ip('10.0.0.200')] }), rinfo);
    sock.emit('message', rawRequest({ type: MSG.DECLINE, mac, options: [54, 4, ...ip('10.0.0.1'), 50, 4, ...ip('10.0.0.200')] }), rinfo);
    await dhcp!.settle();
    const list = await cli(['lease', 'list', '--state', 'declined']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /inside\s+10\.0\.0\.200\s+02:00:00:00:00:01\s+declined/);
    // The only address is declined: a new client gets nothing.
    const before = sock.sent.length;
    sock.emit('message', rawRequest({ type: MSG.DISCOVER, mac: [2, 0, 0, 0, 0, 2] }), rinfo);
    assert.equal(sock.sent.length, before);
    const clear = await cli(['lease', 'clear', 'inside', '10.0.0.200']);
    assert.equal(clear.code, 0, clear.stderr);
    assert.match(clear.stdout, /cleared the lease of 10\.0\.0\.200 on inside/);
    const again = await cli(['lease', 'clear', 'inside', '10.0.0.200']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /404 no lease for 10\.0\.0\.200 on 'inside'/);
    sock.emit('message', rawRequest({ type: MSG.DISCOVER, mac: [2, 0, 0, 0, 0, 3] }), rinfo);
    const offer = decode(sock.sent.at(-1)!);
    assert.ok(offer.ok && offer.value.yiaddr === 0x0a0000c8);
  } finally {
    await ts.stop();
  }
});
