// netascii conversion, read-ahead, rate limits and the static provider
// (real files and symlinks in a temporary directory).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { BootRefused, bufferFile, type BootFile } from '../../../server/boot/content.js';
import { BlockSource, FileChangedError } from '../../../server/tftp/blocks.js';
import { convertedLength, netasciiFile, toNetascii } from '../../../server/tftp/netascii.js';
import { RateLimiter } from '../../../server/tftp/ratelimit.js';
import { StaticFiles } from '../../../server/boot/static-files.js';

const client = { address: '127.0.0.1', protocol: 'tftp' as const };

test('netascii: LF -> CR LF, CR -> CR NUL; size counted; any range readable', async () => {
  assert.deepEqual(toNetascii(Buffer.from('a\nb\rc\r\n')), Buffer.from('a\r\nb\r\0c\r\0\r\n', 'latin1'));
  // A file with conversions spread over several 64 KiB checkpoints.
  const src = Buffer.alloc(200_000);
  for (let i = 0; i < src.length; i++) src[i] = i % 97 === 0 ? 10 : i % 89 === 0 ? 13 : 65 + (i % 26);
  const whole = toNetascii(src);
  const f = await netasciiFile(bufferFile(src, 'config'));
  assert.equal(f.size, whole.length);
  assert.equal(f.size, convertedLength(src));
  for (const [s, e] of [[0, 10], [65530, 65545], [131070, 140000], [whole.length - 3, whole.length + 50], [5, 5]] as const) {
    assert.deepEqual(await f.read(s, e), whole.subarray(s, Math.min(e, whole.length)), `${s}-${e}`);
  }
});

test('read-ahead: blocks across chunks, short last block, empty final block', async () => {
  const data = Buffer.alloc(1000 * 300);
  for (let i = 0; i < data.length; i++) data[i] = i & 0xff;
  let reads = 0;
  const f: BootFile = { ...bufferFile(data, 'file'), read: async (s, e) => (reads++, data.subarray(s, e)) };
  const src = new BlockSource(f, data.length, 1000, 4);
  assert.equal(src.get(1), undefined, 'not loaded yet');
  await src.wait(1);
  const total = 301; // 300 full blocks and an empty one
  for (let b = 1; b <= total; b++) {
    await src.wait(b);
    const p = src.get(b)!;
    assert.deepEqual(p, data.subarray((b - 1) * 1000, Math.min(data.length, b * 1000)), `block ${b}`);
    src.release(b);
  }
  assert.ok(reads <= 4, `${reads} reads for 300 KB in ~128 KiB chunks`);
});

test('read-ahead: a short read (file changed) fails the transfer with the reason', async () => {
  const f: BootFile = { ...bufferFile(Buffer.alloc(10), 'file'), size: 5000, read: async () => Buffer.alloc(10) };
  const src = new BlockSource(f, 5000, 512, 1);
  await assert.rejects(src.wait(1), FileChangedError);
});

test('rate limiter: burst, then the sustained rate; idle clients forgotten', () => {
  const r = new RateLimiter(10, 5, 4);
  let ok = 0;
  for (let i = 0; i < 20; i++) if (r.take('a', 0)) ok++;
  assert.equal(ok, 5);
  assert.equal(r.take('a', 50), false);
  assert.equal(r.take('a', 100), true, 'one token after 100 ms at 10/s');
  for (const k of ['b', 'c', 'd']) r.take(k, 100);
  r.take('e', 10_000); // full map: sweep forgets the idle ones
  assert.ok(r.size <= 4);
});

test('static provider: root files, loader fallback, confinement', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rackboot-static-'));
  try {
    const root = join(dir, 'tftpboot');
    const loaders = join(dir, 'loaders');
    mkdirSync(join(root, 'sub'), { recursive: true });
    mkdirSync(loaders);
    writeFileSync(join(root, 'pxelinux.0'), 'operator build');
    writeFileSync(join(root, 'sub', 'f.txt'), 'hello world');
    writeFileSync(join(loaders, 'pxelinux.0'), 'distro build');
    writeFileSync(join(loaders, 'ldlinux.c32'), 'ldlinux');
    writeFileSync(join(dir, 'secret'), 'secret');
    symlinkSync(join(dir, 'secret'), join(root, 'escape'));
    symlinkSync('..', join(root, 'up'));
    symlinkSync('sub/f.txt', join(root, 'inside-link'));
    execFileSync('mkfifo', [join(root, 'fifo')]);
    writeFileSync(join(root, 'noread'), 'x');
    chmodSync(join(root, 'noread'), 0o000);
    const p = new StaticFiles({ root, loaderDirs: [join(dir, 'missing'), loaders] });
    const text = async (f: BootFile | undefined) => {
      if (!f) return undefined;
      const t = (await f.read(0, f.size)).toString();
      await f.close?.();
      return t;
    };

    const own = await p.lookup('pxelinux.0', client);
    assert.equal(own!.kind, 'loader');
    assert.equal(await text(own), 'operator build', 'tftp.root wins over the loader dirs');
    const ld = await p.lookup('ldlinux.c32', client);
    assert.equal(ld!.kind, 'loader');
    assert.equal(await text(ld), 'ldlinux');
    const sub = await p.lookup('sub/f.txt', client);
    assert.equal(sub!.size, 11);
    assert.equal((await sub!.read(6, 100)).toString(), 'world');
    const chunks: Buffer[] = [];
    for await (const c of sub!.stream(0, 5)) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), 'hello');
    assert.equal(sub!.kind, 'file');
    await sub!.close!();
    assert.equal(await text(await p.lookup('inside-link', client)), 'hello world', 'symlinks inside the root are fine');

    assert.equal(await p.lookup('nope', client), undefined);
    assert.equal(await p.lookup('sub', client), undefined, 'a directory is not a file');
    assert.equal(await p.lookup('sub/ldlinux.c32', client), undefined, 'loader fallback is for plain names only');
    assert.equal(await p.lookup('fifo', client), undefined, 'a FIFO neither hangs nor is served');
    // The client is told it is refused; only the log learns where the link leads.
    await assert.rejects(
      p.lookup('escape', client),
      (e: unknown) => e instanceof BootRefused && e.status === 403 && /outside the TFTP root/.test(e.message) && !e.message.includes(dir) && e.logDetail === `it leads to ${join(dir, 'secret')}`,
    );
    await assert.rejects(p.lookup('up/secret', client), (e: unknown) => e instanceof BootRefused && e.status === 403);
    await assert.rejects(p.lookup('../secret', client), (e: unknown) => e instanceof BootRefused && e.status === 403);
    if (process.getuid?.() !== 0) await assert.rejects(p.lookup('noread', client), (e: unknown) => e instanceof BootRefused && e.status === 403);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('static provider: close() waits for a read still using the descriptor, then refuses more', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rackboot-static-'));
  try {
    const data = Buffer.alloc(3 << 20);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    writeFileSync(join(dir, 'big'), data);
    const p = new StaticFiles({ root: dir, loaderDirs: [] });
    const f = (await p.lookup('big', client))!;
    const fd = (f.segments![0] as { fd: number }).fd;
    const chunks: Buffer[] = [];
    for await (const c of f.stream(0, data.length)) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).equals(data), true, 'stream() reads the whole file');
    const reading = f.read(1 << 20, 3 << 20);
    let closed = false;
    const closing = Promise.resolve(f.close!()).then(() => (closed = true));
    // A descriptor number closed under the read could be handed to the next open meanwhile.
    assert.equal(closed, false);
    assert.deepEqual(await reading, data.subarray(1 << 20, 3 << 20));
    await closing;
    assert.equal(closed, true);
    await assert.rejects(f.read(0, 10), /closed/);
    await assert.rejects(async () => {
      for await (const c of f.stream(0, 10)) void c;
    }, /closed/);
    // The descriptor is really gone.
    assert.throws(() => execFileSync('sh', ['-c', `test -e /proc/${process.pid}/fd/${fd} && readlink /proc/${process.pid}/fd/${fd} | grep -q big`]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
