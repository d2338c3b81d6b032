/**
 * DATA_DIR ownership: the exclusive lock file and the admin credential file.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ADMIN_FILE,
  DataDirBusyError,
  LOCK_FILE,
  acquireDataDirLock,
  liveAdminCredential,
  readAdminCredential,
  removeAdminCredential,
  writeAdminCredential,
} from './owner.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'haven-lock-'));
  dirs.push(d);
  return d;
}
/** A pid that no process has (above Linux's pid_max default). */
const DEAD_PID = 4_194_305;

describe('acquireDataDirLock', () => {
  it('takes the lock once, refuses a second taker, and releases it', () => {
    const dir = dataDir();
    const release = acquireDataDirLock(dir);
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8').trim()).toBe(String(process.pid));
    expect(() => acquireDataDirLock(dir)).toThrow(/already open in this process/);
    release();
    release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    acquireDataDirLock(dir)();
  });

  it('refuses a lock held by another live process', () => {
    const dir = dataDir();
    writeFileSync(join(dir, LOCK_FILE), `${process.ppid}\n`);
    expect(() => acquireDataDirLock(dir)).toThrow(DataDirBusyError);
    expect(() => acquireDataDirLock(dir)).toThrow(new RegExp(`in use by process ${process.ppid}`));
  });

  it('recovers a lock left by a dead process', () => {
    const dir = dataDir();
    writeFileSync(join(dir, LOCK_FILE), `${DEAD_PID}\n`);
    const release = acquireDataDirLock(dir);
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8').trim()).toBe(String(process.pid));
    release();
  });
});

describe('admin credential', () => {
  it('is written with mode 0600, read back, ignored when its process is dead, removed only by its owner', () => {
    const dir = dataDir();
    writeAdminCredential(dir, { url: 'http://127.0.0.1:1', token: 't', pid: process.pid });
    expect(statSync(join(dir, ADMIN_FILE)).mode & 0o777).toBe(0o600);
    expect(liveAdminCredential(dir)).toEqual({ url: 'http://127.0.0.1:1', token: 't', pid: process.pid });
    removeAdminCredential(dir);
    expect(readAdminCredential(dir)).toBeUndefined();

    writeFileSync(join(dir, ADMIN_FILE), JSON.stringify({ url: 'http://127.0.0.1:1', token: 't', pid: DEAD_PID }));
    expect(readAdminCredential(dir)?.pid).toBe(DEAD_PID);
    expect(liveAdminCredential(dir)).toBeUndefined();
    removeAdminCredential(dir);
    expect(existsSync(join(dir, ADMIN_FILE))).toBe(true);
  });
});
