/**
 * {@link Db} on PGlite (PostgreSQL compiled to WASM) stored in a folder. PGlite runs on its own thread
 * (./pglite-worker.ts), so SQL executes in parallel with the HTTP, validation and JSON work of the main thread;
 * this module is the main thread's side. PGlite has one connection: its mutex serialises transactions against
 * other queries, as before it moved off the main thread.
 *
 * PGlite runs no autovacuum, so planner statistics would never be collected and lookups by key would
 * degrade into scans as tables grow. This wrapper runs ANALYZE after migrations and then again each time
 * the number of resource versions written since the last ANALYZE passes a threshold that grows with the
 * database (see ./analyze-schedule.ts).
 */
import { Worker } from 'node:worker_threads';
import { AnalyzeSchedule } from './analyze-schedule.ts';
import type { Db, Tx } from './db.ts';
import type { FromDbThread, QueryResult, SerializedDbError, ToDbThread } from './pglite-protocol.ts';

/** What a request to the database thread needs, without the id the connection assigns. */
type Request = ToDbThread extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

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

/**
 * The main thread's connection to the database thread. The thread keeps the process alive only while a
 * request is outstanding or a transaction is open, so an idle server or a finished CLI command can exit.
 */
class DbThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private readonly notifyHandlers = new Map<number, (payload: string) => void>();
  private nextId = 1;
  private openTxs = 0;
  private failure: Error | undefined;
  readonly ready: Promise<void>;

  constructor(dataDir: string | undefined) {
    this.worker = new Worker(new URL('./pglite-worker.ts', import.meta.url), { workerData: { dataDir } });
    let markReady!: () => void;
    let failStart!: (e: Error) => void;
    this.ready = new Promise<void>((resolve, reject) => ((markReady = resolve), (failStart = reject)));
    this.worker.on('message', (msg: FromDbThread) => {
      if ('ready' in msg) {
        markReady();
        this.updateRef();
      }
      else if ('notify' in msg) this.notifyHandlers.get(msg.notify)?.(msg.payload);
      else this.settle(msg);
    });
    this.worker.on('error', (err) => {
      failStart(err);
      this.fail(new Error(`embedded database thread failed: ${err.message}`));
    });
    this.worker.on('exit', (code) => this.fail(new Error(`embedded database thread exited (code ${code})`)));
  }

  private settle(msg: Extract<FromDbThread, { id: number }>): void {
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    this.updateRef();
    if (msg.ok) p.resolve(msg.value);
    else p.reject(toError(msg.error));
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private updateRef(): void {
    if (this.pending.size > 0 || this.openTxs > 0) this.worker.ref();
    else this.worker.unref();
  }

  /** Sends one request and resolves with the thread's reply. */
  call<T>(request: Request): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.updateRef();
      this.worker.postMessage({ ...request, id } as ToDbThread);
    });
  }

  async query<R>(sql: string, params: readonly unknown[] | undefined, tx?: number): Promise<{ rows: R[]; rowCount: number }> {
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
      await this.worker.terminate();
    }
  }
}

/** Opens (creating if needed) the embedded database in `dataDir`; `undefined` keeps it in memory. */
export async function openPgliteDb(dataDir: string | undefined): Promise<Db> {
  const thread = new DbThread(dataDir);
  await thread.ready;
  const schedule = new AnalyzeSchedule();
  let closed = false;
  const analyzeAfter = (delayMs: number): void => {
    // Not awaited: it queues behind PGlite's mutex and must not delay the write that made it due.
    const timer = setTimeout(() => {
      if (closed) return;
      thread.call({ op: 'exec', sql: 'ANALYZE' }).catch(() => undefined).finally(() => schedule.ran(Date.now()));
    }, delayMs);
    timer.unref();
  };
  return {
    kind: 'pglite',
    query: (sql, params) => thread.query(sql, params),
    transaction: (fn) => thread.transaction(fn),
    async exec(sql) {
      await thread.call({ op: 'exec', sql });
    },
    async analyze() {
      // Not recorded as a scheduled run: the first one due after start must not wait for the gap (a fresh
      // database needs statistics as soon as it has rows).
      await thread.call({ op: 'exec', sql: 'ANALYZE' });
    },
    noteWrites(count) {
      const delay = schedule.noteWrites(count, Date.now());
      if (delay !== undefined) analyzeAfter(delay);
    },
    async listen(channel, onNotify) {
      const listenerId = await thread.listen(channel, onNotify);
      return async () => {
        if (!closed) await thread.unlisten(listenerId);
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      await thread.close();
    },
  };
}
