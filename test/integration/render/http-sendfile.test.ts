// HTTP boot bodies by sendfile (native/tftp-pump's http_sendfile, issue 22):
// a file made of a descriptor range, in-memory bytes and zeros (as an image's
// RAM disk with its node overlay is) comes out byte for byte with curl, whole,
// by Range across the parts, several on one kept-alive connection and many at
// once; a client that goes mid-body leaves the server serving; small bodies
// and templates.httpSendfile false take the Node path. The event's `via` says
// which path sent it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { BootFile, FileSegment } from '../../../server/boot/content.js';
import type { ServiceFactory } from '../../../server/service.js';
import { httpBootService } from '../../../server/render/http.js';
import { loadSendfile } from '../../../server/render/http-sendfile.js';
import { requireLab } from '../../helpers/env.js';
import { run } from '../../helpers/netns.js';
import { startTestServer, TEST_NETWORKS, type TestServer } from '../../helpers/server.js';

const MiB = 1 << 20;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const addon = loadSendfile();

test('the sendfile addon is built (CI builds it; elsewhere its absence is only reported)', (t) => {
  if (addon.addon) return;
  if (process.env.CI) assert.fail(`http_sendfile did not load in CI: ${addon.error}`);
  t.skip(`not built here (${addon.error}); the Node path serves every body`);
});

/** boot/b1/big: 3 MiB + 5 of a file, a 70,001-byte overlay, 24 MiB of zeros, the file's first MiB again. boot/b1/small: 1,000 bytes of the file. */
function provider(path: string): ServiceFactory {
  const base = randomBytes(3 * MiB + 5);
  writeFileSync(path, base);
  const overlay = randomBytes(70_001);
  const big = Buffer.concat([base, overlay, Buffer.alloc(24 * MiB), base.subarray(0, MiB)]);
  expected.big = big;
  expected.small = base.subarray(0, 1000);
  return (ctx) => ({
    name: 'images',
    async start() {
      ctx.boot.addProvider({
        name: 'segments',
        async lookup(p): Promise<BootFile | undefined> {
          const m = /^boot\/b1\/(big|small)$/.exec(p);
          if (!m) return undefined;
          const fd = openSync(path, 'r');
          const segments: FileSegment[] =
            m[1] === 'big' ? [{ fd, offset: 0, length: base.length }, { data: overlay }, { zero: 24 * MiB }, { fd, offset: 0, length: MiB }] : [{ fd, offset: 0, length: 1000 }];
          const bytes = m[1] === 'big' ? big : expected.small!;
          return {
            size: bytes.length,
            kind: 'initrd',
            node: 'b1',
            etag: `"${sha(bytes).slice(0, 16)}"`,
            segments,
            read: async (a, b) => bytes.subarray(a, b),
            stream: (a = 0, b = bytes.length) => Readable.from([bytes.subarray(a, b)]),
            close: () => closeSync(fd),
          };
        },
      });
    },
    async stop() {},
  });
}
const expected: { big?: Buffer; small?: Buffer } = {};

for (const httpSendfile of [true, false]) {
  describe(`HTTP boot bodies (templates.httpSendfile ${httpSendfile})`, () => {
    let s: TestServer;
    let dir: string;
    let n = 0;
    const via = httpSendfile && addon.addon ? 'sendfile' : 'node';

    async function curl(...args: string[]): Promise<Buffer[]> {
      const outs: string[] = [];
      const a: string[] = [];
      for (const x of args) {
        if (x.startsWith('/')) {
          const o = join(dir, `out-${n++}`);
          outs.push(o);
          a.push(`${s.url}${x}`, '-o', o);
        } else a.push(x);
      }
      const r = await run('curl', ['-sf', ...a], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, `curl ${args.join(' ')}: ${r.stderr}`);
      return outs.map((o) => readFileSync(o));
    }
    async function events(): Promise<Array<{ detail: { path?: string; bytes?: number; status?: number; via?: string; range?: string } }>> {
      await s.server.events.flush();
      return (await s.api<Array<{ detail: { path?: string; bytes?: number; status?: number; via?: string; range?: string } }>>('GET', '/api/v1/nodes/b1/events?kind=http.get&limit=1000')).body;
    }

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'rackboot-sendfile-'));
      s = await startTestServer(
        {
          networks: [...TEST_NETWORKS, { name: 'lo', cidr: '127.0.0.0/8', serverAddress: '127.0.0.1', staticRange: '127.0.0.2-127.0.0.200' }],
          nodes: [{ name: 'b1', interfaces: [{ name: 'eth0', mac: '52:54:00:00:0c:01', network: 'lo', ipv4: '127.0.0.9' }] }],
          templates: { httpSendfile },
          images: { overlayClients: 'any' },
        },
        { factories: [httpBootService, provider(join(mkdtempSync(join(tmpdir(), 'rackboot-sendfile-src-')), 'base'))] },
      );
    });
    after(async () => {
      await s?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    test('whole file, ranges across its parts, and several on one kept-alive connection: byte for byte', async (t) => {
      if (!requireLab(t, { commands: ['curl'] })) return;
      const big = expected.big!;
      const [whole] = await curl('/boot/b1/big');
      assert.equal(sha(whole!), sha(big));
      // Ranges that start and end inside the file, the overlay, the zeros and the repeat.
      const cuts: Array<[number, number]> = [[3 * MiB, 3 * MiB + 80_000], [3 * MiB + 70_000, 20 * MiB], [27 * MiB, big.length - 1], [0, 0]];
      for (const [a, b] of cuts) {
        const [part] = await curl('-r', `${a}-${b}`, '/boot/b1/big');
        assert.equal(sha(part!), sha(big.subarray(a, b + 1)), `range ${a}-${b}`);
      }
      // One curl, three URLs: one connection (the next request is read after a sendfile body).
      const r = await run('curl', ['-sv', '-o', join(dir, 'k1'), `${s.url}/boot/b1/big`, '-o', join(dir, 'k2'), `${s.url}/boot/b1/small`, '-o', join(dir, 'k3'), `${s.url}/boot/b1/big`], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /Re-using existing connection/i);
      assert.equal(sha(readFileSync(join(dir, 'k1'))), sha(big));
      assert.equal(sha(readFileSync(join(dir, 'k2'))), sha(expected.small!));
      assert.equal(sha(readFileSync(join(dir, 'k3'))), sha(big));
      const ev = await events();
      const bigs = ev.filter((e) => e.detail.path === 'boot/b1/big' && e.detail.status === 200 && !e.detail.range);
      assert.ok(bigs.length >= 3 && bigs.every((e) => e.detail.bytes === big.length && e.detail.via === via), JSON.stringify(bigs));
      const smalls = ev.filter((e) => e.detail.path === 'boot/b1/small');
      assert.ok(smalls.length && smalls.every((e) => e.detail.via === 'node'), 'a body under 64 KiB goes through Node');
    });

    test('16 downloads at once, all intact', async (t) => {
      if (!requireLab(t, { commands: ['curl'] })) return;
      const got = await curl('--parallel', '--parallel-max', '16', ...Array.from({ length: 16 }, () => '/boot/b1/big'));
      assert.equal(got.length, 16);
      for (const b of got) assert.equal(sha(b), sha(expected.big!));
    });

    test('a client that goes mid-body: the body stops, the event says how much went, the server goes on', async (t) => {
      if (!requireLab(t, { commands: ['curl'] })) return;
      const before = (await events()).length;
      const port = Number(new URL(s.url).port);
      await new Promise<void>((resolve, reject) => {
        const c = connect(port, '127.0.0.1', () => c.write(`GET /boot/b1/big HTTP/1.1\r\nHost: x\r\n\r\n`));
        let got = 0;
        c.on('data', (d) => {
          got += d.length;
          if (got > 256 * 1024) {
            c.resetAndDestroy();
            resolve();
          }
        });
        c.on('error', reject);
      });
      let cut: { detail: { bytes?: number } } | undefined;
      for (let i = 0; i < 100 && !cut; i++) {
        cut = (await events()).slice(before).find((e) => e.detail.bytes !== undefined && e.detail.bytes < expected.big!.length);
        if (!cut) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(cut, 'an http.get event with fewer bytes than the file');
      const [again] = await curl('/boot/b1/big');
      assert.equal(sha(again!), sha(expected.big!));
    });
  });
}
