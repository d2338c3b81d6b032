/**
 * Messages between the embedded database's caller (./pglite-db.ts) and its session (./pglite-session.ts), on the
 * same thread or across to a worker thread (./pglite-worker.ts). Every request carries an id and gets exactly one
 * reply with that id.
 */

/**
 * A request to the session. `tx` names a transaction, numbered by the caller: its first query begins it, and `end`
 * commits or rolls it back.
 */
export type ToDbSession =
  | { op: 'query'; id: number; sql: string; params?: unknown[]; tx?: number }
  | { op: 'end'; id: number; tx: number; commit: boolean }
  | { op: 'exec'; id: number; sql: string }
  | { op: 'listen'; id: number; channel: string; listenerId: number }
  | { op: 'unlisten'; id: number; listenerId: number }
  | { op: 'close'; id: number };

/** A query's rows, with the names of the JSON columns whose values are still text. */
export interface QueryResult {
  rows: Record<string, unknown>[];
  rowCount: number;
  jsonColumns: string[];
}

/** A database error's fields (`message`, SQLSTATE `code`, `constraint`, `detail`...) as strings. */
export type SerializedDbError = Record<string, string> & { message: string };

/** A reply, a NOTIFY for a listener, or the first message once the database is open. */
export type FromDbSession =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: SerializedDbError }
  | { notify: number; payload: string }
  | { ready: true };
