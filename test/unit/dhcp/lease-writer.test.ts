// The DHCP server's lease writes (fake sockets, a real SQLite store): an
// address the store says another client holds (another server wrote it) is
// not acknowledged, and the table learns the holder; while the store is
// unavailable, ACKs wait in a bounded journal and the writes reach the store
// when it is back; a journal left by a stopped server is written at start.
// The outage is the store failing as the PostgreSQL store does (StoreUnavailableError);
// the real database going away is test/integration/store/outage-lab.test.ts.
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decode } from '../../../server/dhcp/codec.js';
import type { DhcpServer } from '../../../server/dhcp/server.js';
import { dhcpService } from '../../../server/dhcp/service.js';
import { MSG, OPT } from '../../../server/dhcp/options.js';
import { StoreUnavailableError, type LeaseWrite } from '../../../server/store/types.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { waitUntil } from '../../helpers/wait.js';
import { fakeOpener, type FakeSocket } from './fake-socket.js';
import { ip, rawRequest } from './packets.js';

const NET = { name: 'inside', interface: 'eth1', cidr: '10.0.0.0/24', serverAddress: '10.0.0.1', dynamicRange: '10.0.0.200-10.0.0.210' };
const typeOf = (b: Buffer) => {
  const d = decode(b);
  return d.ok ? d.value.options.get(OPT.MESSAGE_TYPE)?.[0] : undefined;
};
const request = (mac: number[], want: string) => rawRequest({ type: MSG.REQUEST, mac, options: [54, 4, ...ip('10.0.0.1'), 50, 4, ...ip(want)] });

async function withDhcp(dataDir: string, extra: Record<string, unknown>, fn: (c: { ts: TestServer; dhcp: DhcpServer; eth1: FakeSocket }) => Promise<void>): Promise<void> {
  const opener = fakeOpener(['eth1']);
  let dhcp: DhcpServer | undefined;
  const ts = await startTestServer({ networks: [NET], dhcp: { enabled: true, io: 'node', ...extra } }, { dataDir, factories: [dhcpService({ opener, onServer: (s) => (dhcp = s) })] });
  try {
    await fn({ ts, dhcp: dhcp!, eth1: opener.sockets.get('eth1')! });
  } finally {
    await ts.stop();
  }
}

describe('dhcp lease writes', () => {
  it("a lease the store refuses (another server's client holds the address) gets no ACK; the next REQUEST a NAK", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-lw-'));
    try {
      await withDhcp(dir, {}, async ({ ts, dhcp, eth1 }) => {
        const mac = [2, 0, 0, 0, 0, 1];
        eth1.deliver(rawRequest({ type: MSG.DISCOVER, mac }));
        const offer = decode(eth1.sent[0]!.bytes);
        assert.ok(offer.ok);
        const addr = [24, 16, 8, 0].map((s) => (offer.value.yiaddr >>> s) & 255).join('.');
        // Another server sharing the store gave it to another client meanwhile.
        await ts.server.store.putLease({ network: 'inside', ipv4: addr, mac: '02:00:00:00:00:99', clientId: null, hostname: null, state: 'bound', expiresAt: Date.now() + 3600_000, updatedAt: Date.now() });
        eth1.deliver(request(mac, addr));
        await dhcp.settle();
        assert.equal(eth1.sent.length, 1, 'no ACK for a lease the store refused');
        assert.equal((await ts.server.store.getLease('inside', addr))?.mac, '02:00:00:00:00:99');
        // The table takes the holder's lease from the store.
        assert.ok(await waitUntil(() => dhcp.leases.get('inside', offer.value.yiaddr)?.mac === '02:00:00:00:00:99', 5000));
        eth1.deliver(request(mac, addr));
        await dhcp.settle();
        assert.equal(typeOf(eth1.sent[1]!.bytes), MSG.NAK);
        const m = await (await fetch(`${ts.url}/metrics`)).text();
        assert.match(m, /rackboot_dhcp_lease_refused_total 1\b/);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('store unavailable: ACKs go out for what fits the queue (journaled), the rest get none; all is written when it is back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-lw-'));
    try {
      await withDhcp(dir, { outageQueue: 2 }, async ({ ts, dhcp, eth1 }) => {
        const store = ts.server.store;
        const real = store.putLeases.bind(store);
        let down = true;
        (store as { putLeases: (l: readonly LeaseWrite[]) => Promise<LeaseWrite[]> }).putLeases = async (l) => {
          if (down) throw new StoreUnavailableError('store test is unavailable: stopped for the test');
          return real(l);
        };
        const journal = join(dir, 'dhcp-outage-queue.jsonl');
        const acked: string[] = [];
        for (let k = 1; k <= 3; k++) {
          const mac = [2, 0, 0, 0, 1, k];
          eth1.deliver(rawRequest({ type: MSG.DISCOVER, mac, xid: k }));
          const o = decode(eth1.sent.at(-1)!.bytes);
          assert.ok(o.ok);
          const addr = [24, 16, 8, 0].map((s) => (o.value.yiaddr >>> s) & 255).join('.');
          const before = eth1.sent.length;
          eth1.deliver(request(mac, addr));
          await dhcp.settle();
          if (eth1.sent.length > before) {
            assert.equal(typeOf(eth1.sent.at(-1)!.bytes), MSG.ACK);
            acked.push(addr);
          }
        }
        assert.equal(acked.length, 2, 'the queue holds two writes: two ACKs, the third request unanswered');
        assert.ok(existsSync(journal));
        assert.equal(await store.getLease('inside', acked[0]!), undefined, 'not in the store yet');
        down = false;
        assert.ok(await waitUntil(() => !existsSync(journal), 10_000), 'the journal is emptied once written');
        for (const a of acked) assert.equal((await store.getLease('inside', a))?.state, 'bound');
        const m = await (await fetch(`${ts.url}/metrics`)).text();
        assert.match(m, /rackboot_dhcp_outage_dropped_total 1\b/);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a journal a stopped server left is written to the store at the next start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rb-lw-'));
    try {
      const lease = { network: 'inside', ipv4: '10.0.0.205', mac: '02:00:00:00:02:01', clientId: null, hostname: null, state: 'bound', expiresAt: Date.now() + 3600_000, updatedAt: Date.now() };
      writeFileSync(join(dir, 'dhcp-outage-queue.jsonl'), JSON.stringify(lease) + '\n{"cut by a cra');
      await withDhcp(dir, {}, async ({ ts }) => {
        assert.ok(await waitUntil(() => !existsSync(join(dir, 'dhcp-outage-queue.jsonl')), 10_000));
        assert.equal((await ts.server.store.getLease('inside', '10.0.0.205'))?.mac, '02:00:00:00:02:01');
        assert.ok(!existsSync(join(dir, 'dhcp-outage-queue.jsonl')));
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
