/**
 * The server under test runs as a child process (`node server/src/main.ts`), so the load generator in this
 * process does not share its event loop. Each run gets scratch storage: a temporary DATA_DIR for PGlite, or
 * a PostgreSQL database with a random name, dropped afterwards (the same pattern as the test harness).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { freePort } from '../server/src/test-support/free-port.ts';
import { join } from 'node:path';
import pg from 'pg';

export type StorageKind = 'embedded' | 'postgres';

/** Scratch storage for one server run. */
export interface BenchStorage {
  readonly kind: StorageKind;
  /** Temporary directory: DATA_DIR, server log, CPU profiles. */
  readonly dir: string;
  readonly dataDir: string;
  readonly databaseUrl: string | undefined;
  /** Bytes on disk (embedded: DATA_DIR; postgres: pg_database_size). */
  sizeBytes(): Promise<number>;
  /** Server version and the settings that change write throughput. */
  describe(): Promise<Record<string, string>>;
  /**
   * Which tables have planner statistics (postgres: ANALYZE or autovacuum has run). Search plans depend on
   * them; PGlite has no autovacuum, so there it is undefined (unknown from outside the server).
   */
  statistics(): Promise<string | undefined>;
  /** Runs ANALYZE (postgres only: PGlite belongs to the server process). Returns false when not possible. */
  analyze(): Promise<boolean>;
  /** Statements running in the scratch database (postgres), undefined where unknown (embedded). */
  activeQueries(): Promise<number | undefined>;
  /**
   * PostgreSQL processes working for the scratch database: its backends plus the shared background
   * processes (WAL writer, checkpointer…), not other databases' backends. Undefined for embedded.
   */
  postgresPids(): Promise<Set<number> | undefined>;
  /** Cancels the statements running in the scratch database (postgres); returns how many. */
  cancelActive(): Promise<number>;
  drop(): Promise<void>;
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function dirSize(path: string): number {
  let total = 0;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, entry.name);
    if (entry.isDirectory()) total += dirSize(p);
    else if (entry.isFile()) total += statSync(p).size;
  }
  return total;
}

/** Creates scratch storage under `tmpRoot`. For postgres, `adminUrl` must allow CREATE DATABASE. */
export async function createStorage(kind: StorageKind, tmpRoot: string, adminUrl: string): Promise<BenchStorage> {
  const dir = join(tmpRoot, kind);
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  if (kind === 'embedded') {
    return {
      kind,
      dir,
      dataDir,
      databaseUrl: undefined,
      async sizeBytes() {
        return existsSync(dataDir) ? dirSize(dataDir) : 0;
      },
      async describe() {
        return { engine: 'PGlite (PostgreSQL in WASM, in the server process)' };
      },
      async statistics() {
        return undefined;
      },
      async analyze() {
        return false;
      },
      async activeQueries() {
        return undefined;
      },
      async cancelActive() {
        return 0;
      },
      async postgresPids() {
        return undefined;
      },
      async drop() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const name = `haven_bench_${randomBytes(6).toString('hex')}`;
  await withClient(adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    kind,
    dir,
    dataDir,
    databaseUrl: url.toString(),
    async sizeBytes() {
      return withClient(adminUrl, async (c) => Number((await c.query('SELECT pg_database_size($1) AS n', [name])).rows[0].n));
    },
    async describe() {
      return withClient(adminUrl, async (c) => {
        const out: Record<string, string> = { engine: 'PostgreSQL (local server)' };
        out.version = String((await c.query('SHOW server_version')).rows[0].server_version);
        for (const s of ['shared_buffers', 'synchronous_commit', 'fsync', 'max_connections', 'autovacuum']) {
          out[s] = String((await c.query(`SHOW ${s}`)).rows[0][s]);
        }
        return out;
      });
    },
    async statistics() {
      return withClient(url.toString(), async (c) => {
        const { rows } = await c.query<{ relname: string; analyzed: boolean }>(
          `SELECT relname, (last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL) AS analyzed
           FROM pg_stat_user_tables WHERE relname = 'resources' OR relname LIKE 'sp\\_%' ORDER BY relname`,
        );
        const done = rows.filter((r) => r.analyzed).map((r) => r.relname);
        return `${done.length}/${rows.length} of resources and sp_* tables analyzed${done.length ? ` (${done.join(', ')})` : ''}`;
      });
    },
    async analyze() {
      await withClient(url.toString(), (c) => c.query('ANALYZE'));
      return true;
    },
    async activeQueries() {
      return withClient(adminUrl, async (c) =>
        Number(
          (
            await c.query(
              `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND state <> 'idle' AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
              [name],
            )
          ).rows[0].n,
        ),
      );
    },
    async postgresPids() {
      return withClient(
        adminUrl,
        async (c) =>
          new Set(
            (
              await c.query<{ pid: number }>(
                `SELECT pid FROM pg_stat_activity WHERE (datname = $1 OR datname IS NULL) AND pid <> pg_backend_pid()`,
                [name],
              )
            ).rows.map((r) => r.pid),
          ),
      );
    },
    async cancelActive() {
      return withClient(
        adminUrl,
        async (c) =>
          (
            await c.query(
              `SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
              [name],
            )
          ).rowCount ?? 0,
      );
    },
    async drop() {
      if (dropped) return;
      dropped = true;
      try {
        await withClient(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** utime + stime of a process in seconds, from /proc (0 when unavailable, e.g. not Linux). */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ": state is field 3, so utime (14) and stime (15) are at offsets 11 and 12.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** Current and peak resident memory of a process in bytes. */
export function processMemory(pid: number): { rss: number; peak: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), peak: kb('VmHWM') };
  } catch {
    return { rss: 0, peak: 0 };
  }
}

/** CPU seconds per pid of the given PostgreSQL processes (those still alive). */
export function postgresCpuByPid(pids: Iterable<number>): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of pids) {
    const cpu = processCpuSeconds(pid);
    if (cpu > 0) out.set(pid, cpu);
  }
  return out;
}

/** Machine-wide busy and total CPU seconds (all cores) from /proc/stat. */
export function machineCpuSeconds(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const n = line.trim().split(/\s+/).slice(1).map(Number);
    const total = n.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = n[3] + n[4];
    return { busy: (total - idle) / CLOCK_TICKS, total: total / CLOCK_TICKS };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/** A running server child process. */
export interface ServerProcess {
  readonly url: string;
  readonly fhirBase: string;
  readonly port: number;
  readonly pid: number;
  readonly logFile: string;
  /** performance.now() when the child was spawned: phase windows in its CPU profile are relative to it. */
  readonly spawnedAt: number;
  /** Non-null once the child has exited. */
  exitCode(): number | null;
  /** SIGTERM (graceful: the server closes its database), SIGKILL after 60 s. */
  stop(): Promise<void>;
  /** SIGKILL at once (Ctrl-C of the bench: the data is scratch anyway). */
  kill(): Promise<void>;
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Starts `node server/src/main.ts` on a free port and waits until /readyz answers 200 (/healthz answers 200 while it starts). */
export async function startServerProcess(opts: {
  repoRoot: string;
  storage: BenchStorage;
  cpuProfDir?: string;
  startTimeoutMs?: number;
  /** Settings over the defaults below (e.g. `HAVEN_AUTH: 'on'` for a run with real sign-in). */
  env?: NodeJS.ProcessEnv;
}): Promise<ServerProcess> {
  const port = await freePort();
  const logFile = join(opts.storage.dir, 'server.log');
  const out = openSync(logFile, 'a');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    BASE_URL: `http://127.0.0.1:${port}`,
    HAVEN_AUTH: 'off',
    DATA_DIR: opts.storage.dataDir,
    ...opts.env,
  };
  delete env.DATABASE_URL;
  if (opts.storage.databaseUrl) env.DATABASE_URL = opts.storage.databaseUrl;
  const nodeArgs = opts.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`] : [];
  const spawnedAt = performance.now();
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, 'server/src/main.ts'], {
    cwd: opts.repoRoot,
    env,
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  let code: number | null = null;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (c, signal) => {
      code = c ?? (signal ? 128 : 1);
      resolve();
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const proc: ServerProcess = {
    url,
    fhirBase: `${url}/fhir`,
    port,
    pid: child.pid ?? 0,
    logFile,
    spawnedAt,
    exitCode: () => code,
    async stop() {
      if (code !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      if (code !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
  const deadline = Date.now() + (opts.startTimeoutMs ?? 180_000);
  while (Date.now() < deadline) {
    if (code !== null) {
      throw new Error(`server exited with code ${code} before it was ready; last log lines:\n${tail(logFile, 15)}`);
    }
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return proc;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await proc.stop();
  throw new Error(`server was not ready (/readyz) within ${(opts.startTimeoutMs ?? 180_000) / 1000} s; see ${logFile}`);
}
