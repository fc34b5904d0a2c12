// One `rackboot serve` per data directory. A second one on the same
// directory would take over what the first one runs: it stops the nfs-ganesha
// "left running by an earlier rackboot", opens the same DHCP ports, writes the
// same database. So serve holds a lock for its lifetime, and a second serve
// stops before it touches anything, naming the first one's pid.
//
// The lock is SQLite's own file lock (a POSIX fcntl lock, through
// better-sqlite3, which the store already uses) on a small file in the data
// directory, kept by locking_mode=EXCLUSIVE: the kernel releases it when the
// process dies in any way, SIGKILL included, so a crash never leaves a stale
// lock behind. The pid file beside it only names the holder in the message.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';


export class DataDirBusyError extends Error {
  constructor(readonly dataDir: string, readonly holder: number | undefined) {
    super(
      `another rackboot${holder ? ` (pid ${holder})` : ''} is serving the data directory ${dataDir}: stop it first, ` +
        `or give this one its own dataDir (two servers on one directory would share its database, NFS server and ports)`,
    );
    this.name = 'DataDirBusyError';
  }
}

export interface DataDirLock {
  release(): void;
}

export function lockDataDir(dataDir: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true });
  const lockFile = join(dataDir, 'serve.lock');
  const pidFile = join(dataDir, 'serve.pid');
  const db = new Database(lockFile);
  try {
    db.pragma('busy_timeout = 0');
    db.pragma('locking_mode = EXCLUSIVE');
    // The first write takes the exclusive lock; in EXCLUSIVE mode it is kept until close.
    db.exec('BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS holder (pid INTEGER); COMMIT;');
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code === 'SQLITE_BUSY') throw new DataDirBusyError(dataDir, readPid(pidFile));
    throw err;
  }
  try {
    writeFileSync(pidFile, `${process.pid}\n`);
  } catch (err) {
    db.close();
    throw err;
  }
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      db.close();
    },
  };
}

function readPid(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}
