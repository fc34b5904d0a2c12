// The kernel backend: the exports file it writes and the exportfs calls it
// makes, with the command runner injected and answered like a real exportfs.
// These golden tests are the kernel tests that always run: this machine and
// CI run kernels without nfsd, where exportfs cannot export anything, so the
// test against a real exportfs below skips there (it prints why).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KernelBackend } from '../../../server/nfs/backends/kernel.js';
import { BackendError } from '../../../server/nfs/backends/backend.js';
import { kernelHasNfsd, hostProbe } from '../../../server/nfs/detect.js';
import { kernelOptions } from '../../../server/nfs/exports-file.js';
import type { ResolvedExport } from '../../../server/nfs/model.js';
import { runCommand, type CommandResult } from '../../../server/nfs/run.js';
import { silentLogger } from '../../../server/log.js';
import { golden, sampleExports } from './fixtures.js';
import { tempDir } from '../../helpers/tmp.js';

/** A stand-in exportfs: -ra "exports" the file's lines, -v lists them the way exportfs -v does. */
function fakeExportfs(file: string, o: { raFails?: boolean; dropClient?: string } = {}) {
  const calls: string[] = [];
  let live = '';
  const run = async (cmd: string, args: string[]): Promise<CommandResult> => {
    calls.push([cmd, ...args].join(' '));
    if (args[0] === '-ra') {
      if (o.raFails) return { code: 1, stdout: '', stderr: `exportfs: ${file}:4: unknown keyword "bogus"\n` };
      live = existsSync(file) ? readFileSync(file, 'utf8') : '';
      return { code: 0, stdout: '', stderr: '' };
    }
    const out: string[] = [];
    for (const line of live.split('\n')) {
      if (!line || line.startsWith('#')) continue;
      const [path, ...clients] = line.split(' ');
      for (const c of clients) {
        const m = /^(.+)\((.*)\)$/.exec(c)!;
        if (m[1] === o.dropClient) continue;
        out.push(`${path}\n\t\t${m[1]}(${m[2]},wdelay,hide,sec=sys,secure,no_all_squash)`);
      }
    }
    return { code: 0, stdout: out.join('\n') + '\n', stderr: '' };
  };
  return { run, calls };
}

function setup(t: TestContext) {
  const dir = tempDir(t, 'rb-kernel-');
  const file = join(dir, 'exports.d', 'rackboot.exports');
  return { dir, file };
}

test('kernel: writes the file atomically, runs exportfs -ra, confirms with exportfs -v', async (t) => {
  const { dir, file } = setup(t);
  const fake = fakeExportfs(file);
  const k = new KernelBackend({ exportsFile: file, exportfs: 'exportfs', run: fake.run, log: silentLogger() });
  await k.start(sampleExports());
  golden('kernel-apply.exports', readFileSync(file, 'utf8'));
  golden('kernel-apply.calls', fake.calls.join('\n') + '\n');
  assert.deepEqual(readdirSync(join(dir, 'exports.d')), ['rackboot.exports'], 'no temporary file left');
  assert.ok(k.status().ok);
});

test('kernel: exportfs -ra failing puts the previous file back and says why', async (t) => {
  const { file } = setup(t);
  const good = fakeExportfs(file);
  await new KernelBackend({ exportsFile: file, exportfs: 'exportfs', run: good.run, log: silentLogger() }).apply(sampleExports().slice(0, 1));
  const before = readFileSync(file, 'utf8');
  const bad = fakeExportfs(file, { raFails: true });
  const k = new KernelBackend({ exportsFile: file, exportfs: 'exportfs', run: bad.run, log: silentLogger() });
  await assert.rejects(k.apply(sampleExports()), (e: Error) => e instanceof BackendError && /exportfs -ra failed \(exit 1\): .*unknown keyword/.test(e.message));
  assert.equal(readFileSync(file, 'utf8'), before, 'previous exports file restored');
  assert.deepEqual(bad.calls, ['exportfs -ra', 'exportfs -ra']);
  assert.equal(k.status().ok, false);
});

test('kernel: a client missing from exportfs -v is a failure, and a first apply that fails leaves no file', async (t) => {
  const { file } = setup(t);
  const fake = fakeExportfs(file, { dropClient: '10.0.1.0/24' });
  const k = new KernelBackend({ exportsFile: file, exportfs: 'exportfs', run: fake.run, log: silentLogger() });
  await assert.rejects(k.apply(sampleExports()), /exportfs -v does not list \/srv\/content\/scratch for 10\.0\.1\.0\/24 \(export 'scratch'\)/);
  assert.equal(existsSync(file), false);
});

test('kernel: against the real exportfs (needs a kernel with nfsd)', async (t) => {
  const nfsd = kernelHasNfsd(hostProbe);
  const exportfs = hostProbe.which('exportfs');
  if (!nfsd.yes || !exportfs || process.getuid?.() !== 0) {
    // Not requireLab: CI runs on kernels without nfsd too, so this skips there as well; the golden tests above always run.
    const why = !nfsd.yes ? nfsd.why : !exportfs ? 'exportfs is not installed (nfs-kernel-server)' : 'needs root';
    console.log(`# skipped: real exportfs: ${why}`);
    return t.skip(why);
  }
  const { dir } = setup(t);
  const file = '/etc/exports.d/rackboot-test-' + process.pid + '.exports';
  try {
    const content = join(dir, 'content');
    const e: ResolvedExport = { ...sampleExports()[0]!, path: content, realPath: content, exportId: 4242 };
    writeFileSync(join(dir, 'x'), '');
    const k = new KernelBackend({ exportsFile: file, exportfs, run: runCommand, log: silentLogger() });
    await import('node:fs/promises').then((f) => f.mkdir(content, { recursive: true }));
    await k.apply([e]);
    const v = await runCommand(exportfs, ['-v']);
    assert.match(v.stdout, new RegExp(content.replace(/[/.]/g, '\\$&')));
    assert.match(kernelOptions(e), /fsid=4242/);
    await k.apply([]);
  } finally {
    rmSync(file, { force: true });
    await runCommand(exportfs, ['-ra']);
  }
});
