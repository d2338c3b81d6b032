/**
 * Test support: a Haven server as a real child process (`node server/src/main.ts`), for tests that must kill a
 * server mid-work (`kill -9`) or run two servers on one database. The child gets its own storage settings
 * (DATA_DIR, or DATABASE_URL for a scratch PostgreSQL database) and development auth on loopback, and its
 * stderr log lines (JSON, one per line: ../server.ts `logEvent`) are kept so that tests can see what each
 * process did (e.g. `bots.run`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../test-support/free-port.ts';
import { fileURLToPath } from 'node:url';

/** The repository root: main.ts is started from there, like `npm start`. */
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Storage a child server runs on (the shape of ../test-support/harness.ts `ScratchStorage`). */
export interface ChildStorage {
  readonly dataDir: string;
  /** Unset: embedded PGlite in `dataDir`. */
  readonly databaseUrl: string | undefined;
}

/** How to start a child server. */
export interface ChildServerOptions {
  readonly storage: ChildStorage;
  /** Extra environment (HAVEN_EVENT_POLL_MS, …); wins over the defaults set here. */
  readonly env?: Readonly<Record<string, string>>;
  /** A name for error messages when a test runs several children. */
  readonly name?: string;
  /**
   * Overall deadline for the child to report `server.ready` (default {@link CHILD_READY_DEADLINE_MS}). It is a
   * safety net, not a measure: the wait ends as soon as the child is ready or exits.
   */
  readonly startTimeoutMs?: number;
}

/** A response from {@link ChildServer.req}. */
export interface ChildResponse {
  readonly status: number;
  readonly body: any;
  readonly text: string;
}

/** A running child server. */
export interface ChildServer {
  readonly name: string;
  readonly pid: number;
  /** Server root, e.g. `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** When the child logged `server.ready` (epoch ms): migrated, Questionnaires installed, dispatcher running, serving. */
  readonly readyAt: number;
  /** Every JSON log line the child wrote to stderr so far, parsed. */
  readonly logs: readonly Record<string, unknown>[];
  /** fetch relative to the server root, with a JSON body helper (development auth: no token needed). */
  req(path: string, init?: RequestInit & { json?: unknown }): Promise<ChildResponse>;
  /** Non-null once the child has exited: its exit code, or the signal that ended it. */
  exit(): number | NodeJS.Signals | null;
  /** `kill -9`: no shutdown code runs (no cursor saved, no lease released, no database closed). */
  kill(): Promise<void>;
  /** SIGTERM (the server closes its dispatcher and database), SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * The Node binary for the child. Inside vitest `process.execPath` is the Node that runs vitest, which is Node 24
 * when started through npm or npx (node_modules/.bin first on PATH); main.ts needs type stripping (Node ≥ 22.18),
 * so an older one is refused with a clear message instead of a syntax error from the child.
 */
function nodeBinary(): string {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 22 || (major === 22 && minor < 18)) {
    throw new Error(`child servers need Node >= 22.18 (type stripping); this is ${process.version} at ${process.execPath}`);
  }
  return process.execPath;
}

function childEnv(opts: ChildServerOptions, port: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOST: '127.0.0.1',
    PORT: String(port),
    BASE_URL: `http://127.0.0.1:${port}`,
    // Development mode: refused unless HOST is loopback, which it is.
    HAVEN_AUTH: 'off',
    DATA_DIR: opts.storage.dataDir,
    HAVEN_SUBSCRIPTION_ALLOW_HTTP: 'true',
    HAVEN_SUBSCRIPTION_ALLOW_LOOPBACK: 'true',
    HAVEN_EVENT_POLL_MS: '100',
    HAVEN_DELIVERY_RETRY_BASE_MS: '50',
    HAVEN_DELIVERY_RETRY_MAX_MS: '500',
  };
  // The suite's DATABASE_URL names the admin database; the child gets the scratch one or none.
  delete env.DATABASE_URL;
  if (opts.storage.databaseUrl) env.DATABASE_URL = opts.storage.databaseUrl;
  return { ...env, ...opts.env };
}

/**
 * How long a child may take to become ready before the test gives up. A fresh PGlite directory is ready in a few
 * seconds on an idle machine, but on a loaded 2-vCPU machine (the whole suite, other jobs) starts of over a minute
 * were seen: a fixed 60 s timeout failed tests that passed alone. The wait itself ends on `server.ready`.
 */
export const CHILD_READY_DEADLINE_MS = 300_000;

/** One attempt: spawn and wait for `server.ready` (or an early exit). */
async function spawnOnce(opts: ChildServerOptions, name: string): Promise<{ server?: ChildServer; addressInUse: boolean }> {
  const port = await freePort();
  const child: ChildProcess = spawn(nodeBinary(), ['server/src/main.ts'], {
    cwd: REPO_ROOT,
    env: childEnv(opts, port),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const raw: string[] = [];
  let pending = '';
  child.stdout?.resume();
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      raw.push(line);
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log event (a Node warning): kept in `raw` for error messages only
      }
    }
  });
  let exit: number | NodeJS.Signals | null = null;
  // 'close', not 'exit': it comes after the child's stderr has been read to its end, so the last lines are kept.
  const exited = new Promise<void>((resolve) =>
    child.once('close', (code, signal) => {
      exit = code ?? signal ?? 'SIGKILL';
      resolve();
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const server: ChildServer = {
    name,
    pid: child.pid ?? 0,
    url,
    logs,
    readyAt: 0,
    async req(path, init = {}) {
      const headers = new Headers(init.headers);
      let body = init.body;
      if (init.json !== undefined) {
        body = JSON.stringify(init.json);
        if (!headers.has('content-type')) headers.set('content-type', 'application/fhir+json');
      }
      const res = await fetch(`${url}${path}`, { ...init, headers, body });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      return { status: res.status, body: parsed, text };
    },
    exit: () => exit,
    async kill() {
      if (exit !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
    async stop(graceMs = 30_000) {
      if (exit !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  const deadlineMs = opts.startTimeoutMs ?? CHILD_READY_DEADLINE_MS;
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    // `server.started` only says the port is bound (requests get 503 until ready); `server.ready` says it serves.
    const ready = logs.find((l) => l.event === 'server.ready');
    if (ready) return { server: { ...server, readyAt: Date.parse(String(ready.time)) }, addressInUse: false };
    if (exit !== null) {
      const tail = raw.slice(-10).join('\n');
      if (/EADDRINUSE/.test(tail)) return { addressInUse: true };
      throw new Error(`child server ${name} exited (${exit}) before it started:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  await server.kill();
  throw new Error(`child server ${name} was not ready within ${deadlineMs} ms:\n${raw.slice(-10).join('\n')}`);
}

/**
 * Starts `node server/src/main.ts` on a free loopback port and resolves once it logged `server.ready` (migrations
 * applied, Questionnaires installed, bots registered, dispatcher running, application serving). Another process can
 * take the port between the probe and the child's bind: that one case is retried on a new port.
 */
export async function startChildServer(opts: ChildServerOptions): Promise<ChildServer> {
  const name = opts.name ?? 'child';
  for (let attempt = 0; attempt < 3; attempt++) {
    const { server, addressInUse } = await spawnOnce(opts, name);
    if (server) return server;
    if (!addressInUse) break;
  }
  throw new Error(`child server ${name}: no free port after 3 attempts`);
}

/** The parsed log events of `server` named `event` (e.g. `bots.run`). */
export function logEvents(server: ChildServer, event: string): Record<string, unknown>[] {
  return server.logs.filter((l) => l.event === event);
}
