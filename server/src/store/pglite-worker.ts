/**
 * The embedded database's thread: PGlite (PostgreSQL compiled to WASM) runs here, off the server's main thread,
 * so SQL executes while the main thread parses requests, validates and serialises responses. The main thread
 * talks to it through ./pglite-thread.ts; the protocol is in ./pglite-protocol.ts.
 *
 * PGlite has one connection and a mutex: a transaction holds it from `begin` to `end`, and other queries queue
 * behind it, exactly as when PGlite ran on the main thread. JSON columns are sent back as text and parsed by the
 * main thread (a string crosses threads as one copy; a parsed object would be serialised here and rebuilt there).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { FromDbThread, QueryResult, SerializedDbError, ToDbThread } from './pglite-protocol.ts';

const JSON_OIDS = [114, 3802];
const port = parentPort;
if (!port) throw new Error('pglite-worker.ts runs as a worker thread');

const asText = (v: string): string => v;
const toNumber = (v: string): number => Number(v);

const lite = await PGlite.create((workerData as { dataDir?: string }).dataDir, {
  // Same JS shapes as pg-db.ts (int8 and numeric as numbers); json/jsonb as text, parsed on the main thread.
  parsers: { 20: toNumber, 1700: toNumber, 114: asText, 3802: asText },
});

/** A transaction held open until the main thread ends it. */
interface OpenTx {
  /** Resolves with PGlite's transaction once BEGIN has run; rejects when it could not begin. */
  readonly begun: Promise<Transaction>;
  readonly end: (commit: boolean) => void;
  /** Settles when the transaction has committed (or rolled back). */
  readonly done: Promise<void>;
}
const openTxs = new Map<number, OpenTx>();
const listeners = new Map<number, () => Promise<void>>();

/** Thrown inside PGlite's transaction callback to make it roll back; never leaves this module. */
const ROLLBACK = Symbol('rollback');

// PGlite reports affectedRows = 0 for a SELECT; rowCount must count returned rows there (as pg does), or
// `migrate` sees no applied migrations when it reopens an existing DATA_DIR and runs them again.
function toResult(res: { affectedRows?: number; rows: unknown[]; fields: { name: string; dataTypeID: number }[] }): QueryResult {
  const jsonColumns = res.fields.filter((f) => JSON_OIDS.includes(f.dataTypeID)).map((f) => f.name);
  return { rows: res.rows as Record<string, unknown>[], rowCount: Math.max(res.affectedRows ?? 0, res.rows.length), jsonColumns };
}

/** Keeps what callers look at (SQLSTATE `code`, `constraint`, `detail`...) across the thread boundary. */
function serializeError(err: unknown): SerializedDbError {
  if (!(err instanceof Error)) return { message: String(err) };
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries(err)) if (typeof v === 'string' || typeof v === 'number') fields[k] = String(v);
  return { ...fields, message: err.message, name: err.name };
}

function post(msg: FromDbThread): void {
  port!.postMessage(msg);
}

/**
 * The transaction `txId`, begun by the first query that names it: the main thread numbers its transactions and
 * sends no separate BEGIN, which saves a round trip per transaction.
 */
function started(txId: number): Promise<Transaction> {
  const open = openTxs.get(txId);
  if (open) return open.begun;
  let end!: (commit: boolean) => void;
  const ended = new Promise<boolean>((resolve) => (end = resolve));
  let begin!: (t: Transaction) => void;
  let failBegin!: (err: unknown) => void;
  const begun = new Promise<Transaction>((resolve, reject) => ((begin = resolve), (failBegin = reject)));
  const done = lite
    .transaction(async (t) => {
      begin(t);
      if (!(await ended)) throw ROLLBACK;
    })
    .then(
      () => undefined,
      (err: unknown) => {
        failBegin(err);
        if (err !== ROLLBACK) throw err;
      },
    );
  openTxs.set(txId, { begun, end, done });
  // Outcomes are reported to the query that began the transaction and to `end`; these keep them from being unhandled.
  begun.catch(() => undefined);
  done.catch(() => undefined);
  return begun;
}

async function handle(msg: ToDbThread): Promise<unknown> {
  switch (msg.op) {
    case 'query': {
      if (msg.tx === undefined) return toResult(await lite.query(msg.sql, msg.params));
      const t = await started(msg.tx);
      return toResult(await t.query(msg.sql, msg.params));
    }
    case 'end': {
      const tx = openTxs.get(msg.tx);
      if (!tx) return undefined; // no query ever began it: nothing to commit
      openTxs.delete(msg.tx);
      tx.end(msg.commit);
      await tx.done;
      return undefined;
    }
    case 'exec':
      await lite.exec(msg.sql);
      return undefined;
    case 'listen': {
      const channel = msg.channel;
      const listenerId = msg.listenerId;
      listeners.set(listenerId, await lite.listen(channel, (payload) => post({ notify: listenerId, payload })));
      return undefined;
    }
    case 'unlisten': {
      const stop = listeners.get(msg.listenerId);
      listeners.delete(msg.listenerId);
      if (stop) await stop();
      return undefined;
    }
    case 'close':
      await lite.close();
      return undefined;
  }
}

port.on('message', (msg: ToDbThread) => {
  handle(msg).then(
    (value) => post({ id: msg.id, ok: true, value }),
    (err: unknown) => post({ id: msg.id, ok: false, error: serializeError(err) }),
  );
});
post({ ready: true });
