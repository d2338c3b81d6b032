/**
 * {@link Db} on PGlite (PostgreSQL compiled to WASM) stored in a folder. The database session
 * (./pglite-session.ts) runs on the calling thread (`inline`, the default) or on a thread of its own
 * (`worker`, ./pglite-worker.ts); this module is the caller's side of either. There is one session: a transaction
 * owns it until it ends, and other queries wait.
 *
 * PGlite runs no autovacuum, so planner statistics would never be collected and lookups by key would
 * degrade into scans as tables grow. This wrapper runs ANALYZE after migrations and then again each time
 * the number of resource versions written since the last ANALYZE passes a threshold that grows with the
 * database (see ./analyze-schedule.ts).
 */
import { Worker } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import {
  AnalyzeSchedule,
  OWN_TABLES_SQL,
  TYPE_ROWS_SQL,
  runScheduledAnalyze,
  typeRowsOf,
  type MaintenanceListener,
} from './analyze-schedule.ts';
import type { Db, Tx } from './db.ts';
import type { FromDbSession, QueryResult, SerializedDbError, ToDbSession } from './pglite-protocol.ts';
import { PgliteSession } from './pglite-session.ts';
import { assertStorableParams } from './text-guard.ts';

/** What a request to the session needs, without the id the connection assigns. */
type Request = ToDbSession extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/** An Error carrying the database error's fields (SQLSTATE `code`, `constraint`...), as `pg` and PGlite throw. */
function toError(e: SerializedDbError): Error {
  const { message, name: _name, ...fields } = e;
  return Object.assign(new Error(message), fields);
}

function toRows<R>(res: QueryResult): { rows: R[]; rowCount: number } {
  for (const col of res.jsonColumns) {
    for (const row of res.rows) {
      const v = row[col];
      if (typeof v === 'string') row[col] = JSON.parse(v);
    }
  }
  return { rows: res.rows as R[], rowCount: res.rowCount };
}

/** How requests reach the session: a worker thread, or a session on this thread. */
interface Transport {
  send(msg: ToDbSession): void;
  /** Whether the transport should keep the process alive (work outstanding). */
  hold(active: boolean): void;
  /** Releases the transport after the session has closed. */
  release(): Promise<void>;
}

/** Runs the session on a worker thread (./pglite-worker.ts). */
function workerTransport(dataDir: string | undefined, onMessage: (msg: FromDbSession) => void, onFailure: (err: Error) => void): Transport {
  const worker = new Worker(new URL('./pglite-worker.ts', import.meta.url), { workerData: { dataDir } });
  worker.on('message', onMessage);
  worker.on('error', (err) => onFailure(new Error(`embedded database thread failed: ${err.message}`)));
  worker.on('exit', (code) => onFailure(new Error(`embedded database thread exited (code ${code})`)));
  return {
    send: (msg) => worker.postMessage(msg),
    hold: (active) => (active ? worker.ref() : worker.unref()),
    release: async () => void (await worker.terminate()),
  };
}

/** Runs the session on this thread. */
async function inlineTransport(dataDir: string | undefined, onMessage: (msg: FromDbSession) => void): Promise<Transport> {
  const session = await PgliteSession.open(await PGlite.create(dataDir), onMessage);
  return { send: (msg) => session.submit(msg), hold: () => undefined, release: async () => undefined };
}

/**
 * The connection to the database session. On a worker thread, the thread keeps the process alive only while a
 * request is outstanding or a transaction is open, so an idle server or a finished CLI command can exit.
 */
class DbConnection {
  private transport!: Transport;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private readonly notifyHandlers = new Map<number, (payload: string) => void>();
  private nextId = 1;
  private openTxs = 0;
  private failure: Error | undefined;
  private markReady!: () => void;
  private failStart!: (e: Error) => void;
  readonly ready: Promise<void>;

  constructor() {
    this.ready = new Promise<void>((resolve, reject) => {
      this.markReady = resolve;
      this.failStart = reject;
    });
  }

  /** Opens the session in `dataDir` (`undefined`: in memory) on a worker thread or on this thread. */
  static async open(dataDir: string | undefined, thread: EmbeddedThread): Promise<DbConnection> {
    const c = new DbConnection();
    const onMessage = (msg: FromDbSession): void => c.receive(msg);
    c.transport =
      thread === 'worker' ? workerTransport(dataDir, onMessage, (err) => c.fail(err)) : await inlineTransport(dataDir, onMessage);
    if (thread === 'inline') c.receive({ ready: true });
    await c.ready;
    return c;
  }

  private receive(msg: FromDbSession): void {
    if ('ready' in msg) {
      this.markReady();
      this.updateRef();
    } else if ('notify' in msg) this.notifyHandlers.get(msg.notify)?.(msg.payload);
    else this.settle(msg);
  }

  private settle(msg: Extract<FromDbSession, { id: number }>): void {
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    this.updateRef();
    if (msg.ok) p.resolve(msg.value);
    else p.reject(toError(msg.error));
  }

  private fail(err: Error): void {
    this.failStart(err);
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private updateRef(): void {
    this.transport.hold(this.pending.size > 0 || this.openTxs > 0);
  }

  /** Sends one request and resolves with the session's reply. */
  call<T>(request: Request): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.updateRef();
      this.transport.send({ ...request, id } as ToDbSession);
    });
  }

  async query<R>(sql: string, params: readonly unknown[] | undefined, tx?: number): Promise<{ rows: R[]; rowCount: number }> {
    assertStorableParams(params);
    const res = await this.call<QueryResult>({ op: 'query', sql, params: params as unknown[] | undefined, tx });
    return toRows<R>(res);
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const txId = this.nextId++;
    this.openTxs++;
    try {
      const tx: Tx = { inTransaction: true, query: (sql, params) => this.query(sql, params, txId) };
      let result: T;
      try {
        result = await fn(tx);
      } catch (err) {
        await this.call({ op: 'end', tx: txId, commit: false }).catch(() => undefined);
        throw err;
      }
      await this.call({ op: 'end', tx: txId, commit: true });
      return result;
    } finally {
      this.openTxs--;
      this.updateRef();
    }
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<number> {
    const listenerId = this.nextId++;
    this.notifyHandlers.set(listenerId, onNotify);
    try {
      await this.call({ op: 'listen', channel, listenerId });
    } catch (err) {
      this.notifyHandlers.delete(listenerId);
      throw err;
    }
    return listenerId;
  }

  async unlisten(listenerId: number): Promise<void> {
    this.notifyHandlers.delete(listenerId);
    await this.call({ op: 'unlisten', listenerId });
  }

  async close(): Promise<void> {
    try {
      await this.call({ op: 'close' });
    } finally {
      await this.transport.release();
    }
  }
}

/**
 * Where the embedded database runs SQL: `inline`, on the calling thread (a query costs no thread hop), or `worker`,
 * on a thread of its own (SQL runs in parallel with the server's HTTP and validation work, but every query of a
 * transaction waits for the main thread's turn while the transaction holds the database). Measured on 2 cores:
 * `worker` serves plain reads and writes faster; `inline` keeps the bots' transactions fast (bench/README.md).
 */
export type EmbeddedThread = 'worker' | 'inline';

/**
 * Opens (creating if needed) the embedded database in `dataDir`; `undefined` keeps it in memory. `onMaintenance`
 * hears of every scheduled statistics/vacuum run (./analyze-schedule.ts).
 */
export async function openPgliteDb(
  dataDir: string | undefined,
  thread: EmbeddedThread = 'inline',
  onMaintenance?: MaintenanceListener,
): Promise<Db> {
  const connection = await DbConnection.open(dataDir, thread);
  const schedule = new AnalyzeSchedule();
  let ownTables: string[] = [];
  let closed = false;
  const typeRows = async (): Promise<Map<string, number>> =>
    typeRowsOf((await connection.query<{ resource_type: string; n: number }>(TYPE_ROWS_SQL, undefined)).rows);
  const analyzeAfter = (delayMs: number): void => {
    // Not awaited: it queues behind PGlite's mutex and must not delay the write that made it due.
    const timer = setTimeout(() => {
      if (closed) return;
      void runScheduledAnalyze(schedule, (sql) => connection.call({ op: 'exec', sql }), typeRows, ownTables, onMaintenance);
    }, delayMs);
    timer.unref();
  };
  return {
    kind: 'pglite',
    query: (sql, params) => connection.query(sql, params),
    transaction: (fn) => connection.transaction(fn),
    async exec(sql) {
      await connection.call({ op: 'exec', sql });
    },
    async analyze() {
      // Not recorded as a scheduled run: the first one due after start must not wait for the gap (a fresh
      // database needs statistics as soon as it has rows).
      await connection.call({ op: 'exec', sql: 'ANALYZE' });
      ownTables = (await connection.query<{ name: string }>(OWN_TABLES_SQL, undefined)).rows.map((r) => r.name);
      schedule.knowTypes(await typeRows());
    },
    noteWrites(count, resourceType) {
      const delayMs = schedule.noteWrites(count, Date.now(), resourceType);
      if (delayMs !== undefined) analyzeAfter(delayMs);
    },
    async listen(channel, onNotify) {
      const listenerId = await connection.listen(channel, onNotify);
      return async () => {
        if (!closed) await connection.unlisten(listenerId);
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      await connection.close();
    },
  };
}
