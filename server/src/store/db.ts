/**
 * One SQL dialect (PostgreSQL) over two engines: a real server through `pg`, or PGlite embedded in DATA_DIR.
 * Everything above this module sees only {@link Db} and {@link Tx}.
 */

/**
 * Prefix (an SQL comment) for a statement whose best plan does not depend on its values: a lookup by primary key,
 * the single-version write. On PostgreSQL such a statement run outside a transaction goes to connections that plan
 * it once and reuse the plan (`plan_cache_mode = force_generic_plan`); planning took as long as running it (a write
 * was planned in ~1 ms and ran in ~1.5 ms). Every other statement is planned for its values on every run, because a
 * plan made for average values can start a search from the wrong index. Inside a transaction, and on embedded
 * storage (one session), the prefix changes nothing.
 */
export const FIXED_PLAN = '/* haven:fixed-plan */ ';

/** Anything that can run a parameterised query. Parameters are always bound, never interpolated. */
export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<{ rows: R[]; rowCount: number }>;
}

/** A query runner inside an open transaction. */
export interface Tx extends Queryable {
  readonly inTransaction: true;
}

/** A database handle. */
export interface Db extends Queryable {
  /** 'pg' for a PostgreSQL server, 'pglite' for the embedded engine. */
  readonly kind: 'pg' | 'pglite';
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** Executes a multi-statement script without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /**
   * Refreshes planner statistics now and keeps them fresh after writes when nothing else does (PGlite has
   * no autovacuum; PostgreSQL may run with it off). A no-op on a server with autovacuum on.
   */
  analyze(): Promise<void>;
  /**
   * Counts written resource versions (of `resourceType`, when known) for the statistics schedule
   * (./analyze-schedule.ts): when enough were written since the last ANALYZE, or one type grew, one runs in the
   * background.
   */
  noteWrites(count: number, resourceType?: string): void;
  /**
   * Calls `onNotify` with the payload of every NOTIFY on `channel` (from any process on the same database), until
   * the returned function is called. On a server connection loss it reconnects; notifications sent meanwhile are
   * lost, so listeners also poll.
   */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
