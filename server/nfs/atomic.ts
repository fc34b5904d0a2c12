// Replace a file so a reader sees the old bytes or the new, never half:
// write a temporary file beside it, fsync, rename over, fsync the directory.
// And flush a whole new tree to disk before a name points at it.
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { runCommand } from './run.js';

export async function writeFileAtomic(file: string, data: string, mode = 0o644): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await fsyncDir(dirname(file));
}

export async function fsyncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } catch {
    /* some file systems refuse fsync on a directory; the rename is still atomic */
  } finally {
    await d.close();
  }
}

/**
 * Everything written to the file system holding `dir` reaches the disk
 * (syncfs(2), through `sync -f`; Node has no binding for it). One call for a
 * whole tree: an fsync per file would be one journal commit per file, 20,000
 * of them for a large site. Falls back to a plain `sync` where `sync -f` is
 * missing (coreutils before 8.24).
 */
export async function flushFileSystem(dir: string): Promise<void> {
  let r = await runCommand('sync', ['-f', dir]);
  if (r.code !== 0) r = await runCommand('sync', []);
  if (r.code !== 0) throw new Error(`cannot flush ${dir} to disk: ${r.stderr.trim() || `sync exited ${r.code}`}`);
}
