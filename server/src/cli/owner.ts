/**
 * Ownership of an embedded DATA_DIR. PGlite is one WASM Postgres with no shared-memory locking of its
 * own: two processes opening the same folder corrupt it. So exactly one process (a server or a CLI) may
 * hold `DATA_DIR/.lock`, and a running server publishes `DATA_DIR/admin.json` (mode 0600) so that CLI
 * commands can go through it instead of opening the data a second time.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Name of the exclusive lock file inside DATA_DIR. */
export const LOCK_FILE = '.lock';
/** Name of the admin credential file inside DATA_DIR. */
export const ADMIN_FILE = 'admin.json';

/** What a server publishes about its admin channel. */
export interface AdminCredential {
  /** Loopback base URL of the admin listener, e.g. http://127.0.0.1:43121 */
  url: string;
  /** Random bearer token, valid for the life of that process. */
  token: string;
  pid: number;
}

/** Thrown when another live process owns DATA_DIR. */
export class DataDirBusyError extends Error {
  readonly pid: number;
  constructor(dataDir: string, pid: number) {
    super(
      `DATA_DIR ${dataDir} is in use by process ${pid} (lock ${join(dataDir, LOCK_FILE)}); ` +
        'stop that process, or remove the lock file if you are sure no process uses it',
    );
    this.pid = pid;
  }
}

/** True when a process with this pid exists (EPERM: it exists but belongs to another user). */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readPid(path: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes `DATA_DIR/.lock` for this process, or throws {@link DataDirBusyError}. `O_CREAT|O_EXCL` makes the
 * take atomic. A lock left by a dead process (crash, kill -9) is removed and taken once more; two processes
 * recovering the same stale lock at the same instant could race, which needs a crash and two starts
 * within microseconds, an accepted risk for a single-machine embedded store.
 * @returns a release function (idempotent; removes the file only while it still names this process).
 */
export function acquireDataDirLock(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        if (readPid(path) === process.pid) unlinkSync(path);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readPid(path);
      if (holder !== undefined && holder !== process.pid && isProcessAlive(holder)) throw new DataDirBusyError(dataDir, holder);
      if (holder === process.pid) throw new Error(`DATA_DIR ${dataDir} is already open in this process`);
      try {
        unlinkSync(path);
      } catch {
        /* another process removed it first */
      }
    }
  }
  throw new DataDirBusyError(dataDir, readPid(path) ?? 0);
}

/** Writes admin.json atomically with mode 0600 (a temp file renamed into place). */
export function writeAdminCredential(dataDir: string, cred: AdminCredential): void {
  const path = join(dataDir, ADMIN_FILE);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(cred)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

/** Removes admin.json if it still belongs to this process (a newer owner's file is left alone). */
export function removeAdminCredential(dataDir: string): void {
  const cred = readAdminCredential(dataDir);
  if (cred?.pid === process.pid) {
    try {
      unlinkSync(join(dataDir, ADMIN_FILE));
    } catch {
      /* already gone */
    }
  }
}

/** Reads admin.json; undefined when absent or unreadable. */
export function readAdminCredential(dataDir: string): AdminCredential | undefined {
  const path = join(dataDir, ADMIN_FILE);
  if (!existsSync(path)) return undefined;
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as Partial<AdminCredential>;
    if (typeof v.url !== 'string' || typeof v.token !== 'string' || typeof v.pid !== 'number') return undefined;
    return { url: v.url, token: v.token, pid: v.pid };
  } catch {
    return undefined;
  }
}

/** The credential of a live server owning `dataDir`, if there is one. */
export function liveAdminCredential(dataDir: string): AdminCredential | undefined {
  const cred = readAdminCredential(dataDir);
  return cred && isProcessAlive(cred.pid) ? cred : undefined;
}
