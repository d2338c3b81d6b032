/**
 * One PGlite database session, driven by {@link ToDbSession} requests and answering with {@link FromDbSession}
 * messages. It runs on the embedded database's thread (./pglite-worker.ts) or on the main thread
 * (./pglite-db.ts, `thread: 'inline'`).
 *
 * Queries go to PostgreSQL as one wire-protocol exchange each (Parse, Bind, Describe, Execute, Sync in one
 * buffer, as `pg` sends them over a socket) and are decoded by `pg`'s own protocol parser and type parsers
 * (./pg-types.ts): one call into WASM per query instead of one per message, and rows shaped exactly as on a
 * PostgreSQL server. JSON columns are returned as text, for the receiver to parse (a string crosses threads as
 * one copy; a parsed object would be serialised on one side and rebuilt on the other).
 *
 * The database has one session. A transaction owns it from its first query to its `end`; requests of anyone else
 * wait in arrival order until then.
 */
import type { PGlite } from '@electric-sql/pglite';
import { serialize, type DatabaseError } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser.js';
import type {
  BackendMessage,
  CommandCompleteMessage,
  DataRowMessage,
  NotificationResponseMessage,
  RowDescriptionMessage,
} from 'pg-protocol/dist/messages.js';
import { encodeParam, parseTextValue, PLAN_CACHE_MODE } from './pg-types.ts';
import type { FromDbSession, QueryResult, SerializedDbError, ToDbSession } from './pglite-protocol.ts';

const JSON_OIDS = new Set([114, 3802]);

/** How many prepared statements a session keeps (Haven's SQL has a few hundred distinct shapes in use). */
const PREPARED_LIMIT = 500;

/** Row count as `pg` reports it: the number at the end of the command tag (`INSERT 0 5`, `UPDATE 3`, `SELECT 2`). */
function rowCountOf(tag: string | undefined): number {
  const m = tag ? /(\d+)$/.exec(tag) : null;
  return m ? Number(m[1]) : 0;
}

/** Keeps what callers look at (SQLSTATE `code`, `constraint`, `detail`...) across the thread boundary. */
function serializeError(err: unknown): SerializedDbError {
  if (!(err instanceof Error)) return { message: String(err) };
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries(err)) if (typeof v === 'string') fields[k] = v;
  return { ...fields, message: err.message, name: err.name };
}

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** A PGlite session serving requests in order (see the module comment). */
export class PgliteSession {
  /** LISTEN channel → listener ids of the requester. */
  private readonly listeners = new Map<string, Set<number>>();
  private readonly channelOf = new Map<number, string>();
  /** Requests not yet run, in arrival order. */
  private readonly queue: ToDbSession[] = [];
  /** The transaction that owns the session, if any. */
  private owner: number | undefined;
  private closing = false;
  private pumping = false;
  /** SQL text → name of its prepared statement, least recently used first. */
  private readonly prepared = new Map<string, string>();
  /** Names of statements dropped after an error, closed with the next query outside a transaction. */
  private stale: string[] = [];
  private nextStatement = 1;

  private readonly lite: PGlite;
  private readonly post: (msg: FromDbSession) => void;

  private constructor(lite: PGlite, post: (msg: FromDbSession) => void) {
    this.lite = lite;
    this.post = post;
  }

  /**
   * A session on `lite`. Prepared statements are planned afresh on every run (`plan_cache_mode`): a generic plan,
   * made for average values, could start a search or a range scan (events after a cursor) from the wrong index.
   * They still skip parsing and rewriting.
   */
  static async open(lite: PGlite, post: (msg: FromDbSession) => void): Promise<PgliteSession> {
    await lite.exec(`SET plan_cache_mode = ${PLAN_CACHE_MODE}`);
    return new PgliteSession(lite, post);
  }

  /** Queues a request; its answer is posted when it has run. */
  submit(msg: ToDbSession): void {
    if (this.closing) {
      this.post({ id: msg.id, ok: false, error: { message: 'the embedded database is closed' } });
      return;
    }
    this.queue.push(msg);
    void this.pump();
  }

  /**
   * Sends `message` to PostgreSQL and decodes the answer. Throws the first error PostgreSQL reported.
   * `execProtocolRawStream` hands over the raw answer without PGlite decoding it a second time.
   */
  private async exchange(message: Buffer): Promise<BackendMessage[]> {
    const chunks: Buffer[] = [];
    // The chunks are views into PostgreSQL's memory: copied before the next call reuses it.
    await this.lite.execProtocolRawStream(message, { syncToFs: false, onRawData: (chunk) => void chunks.push(Buffer.from(chunk)) });
    const messages: BackendMessage[] = [];
    const parser = new Parser();
    for (const chunk of chunks) parser.parse(chunk, (m) => messages.push(m));
    let error: DatabaseError | undefined;
    for (const m of messages) {
      if (m.name === 'notification') this.deliver(m as NotificationResponseMessage);
      else if (m.name === 'error' && !error) error = m as DatabaseError;
    }
    if (error) throw error;
    return messages;
  }

  private deliver(n: NotificationResponseMessage): void {
    for (const listenerId of this.listeners.get(n.channel) ?? []) this.post({ notify: listenerId, payload: n.payload });
  }

  /**
   * Runs one parameterised statement (extended protocol, text values). Statements are prepared by name the first
   * time their text is seen and kept (the {@link PREPARED_LIMIT} most recently used): later runs skip parsing and
   * rewriting, and are planned for their values. A statement that fails is dropped from the cache, so
   * one invalidated by a schema change (SQLSTATE 0A000) is prepared again, and retried once.
   */
  private async runQuery(sql: string, params: readonly unknown[] = [], retried = false): Promise<QueryResult> {
    let name = this.prepared.get(sql);
    const parts: Buffer[] = [];
    if (this.owner === undefined && this.stale.length > 0) {
      for (const old of this.stale) parts.push(serialize.close({ type: 'S', name: old }));
      this.stale = [];
    }
    if (name === undefined) {
      name = `haven_${this.nextStatement++}`;
      if (this.prepared.size >= PREPARED_LIMIT) {
        const [oldestSql, oldestName] = this.prepared.entries().next().value as [string, string];
        this.prepared.delete(oldestSql);
        parts.push(serialize.close({ type: 'S', name: oldestName }));
      }
      parts.push(serialize.parse({ name, text: sql }));
    } else {
      this.prepared.delete(sql); // re-inserted below: most recently used last
    }
    this.prepared.set(sql, name);
    parts.push(
      serialize.bind({ statement: name, values: params as unknown[], valueMapper: encodeParam }),
      serialize.describe({ type: 'P' }),
      serialize.execute({}),
      serialize.sync(),
    );
    let messages: BackendMessage[];
    try {
      messages = await this.exchange(Buffer.concat(parts));
    } catch (err) {
      // Dropped after any error: a Parse that failed left no statement, and one a schema change invalidated must go.
      if (this.prepared.get(sql) === name) {
        this.prepared.delete(sql);
        this.stale.push(name);
      }
      if (!retried && (err as { code?: string }).code === '0A000') return this.runQuery(sql, params, true);
      throw err;
    }
    const description = messages.find((m) => m.name === 'rowDescription') as RowDescriptionMessage | undefined;
    const fields = description?.fields ?? [];
    const rows: Record<string, unknown>[] = [];
    for (const m of messages) {
      if (m.name !== 'dataRow') continue;
      const values = (m as DataRowMessage).fields as (string | null)[];
      const row: Record<string, unknown> = {};
      for (let i = 0; i < fields.length; i++) {
        const f = fields[i]!;
        const v = values[i];
        row[f.name] = v === null || v === undefined || JSON_OIDS.has(f.dataTypeID) ? (v ?? null) : parseTextValue(f.dataTypeID, v);
      }
      rows.push(row);
    }
    const complete = messages.find((m) => m.name === 'commandComplete') as CommandCompleteMessage | undefined;
    return {
      rows,
      rowCount: rowCountOf(complete?.text),
      jsonColumns: fields.filter((f) => JSON_OIDS.has(f.dataTypeID)).map((f) => f.name),
    };
  }

  /** Runs a script of statements without parameters (simple protocol); returns the last command tag. */
  private async runScript(sql: string): Promise<string | undefined> {
    const messages = await this.exchange(serialize.query(sql));
    return (messages.filter((m) => m.name === 'commandComplete').at(-1) as CommandCompleteMessage | undefined)?.text;
  }

  /** Ends the owning transaction. A COMMIT of a transaction that had failed rolls back: that is an error too. */
  private async endTransaction(commit: boolean): Promise<void> {
    this.owner = undefined;
    const tag = await this.runScript(commit ? 'COMMIT' : 'ROLLBACK');
    if (commit && tag === 'ROLLBACK') {
      throw Object.assign(new Error('The transaction was rolled back instead of committed: a statement in it had failed'), {
        code: '25P02',
      });
    }
  }

  /** The request to run next: the owner's, else the oldest (any request when no transaction owns the session). */
  private nextRunnable(): number {
    if (this.owner === undefined) return this.queue.length > 0 ? 0 : -1;
    return this.queue.findIndex((m) => (m.op === 'query' || m.op === 'end') && m.tx === this.owner);
  }

  private async run(msg: ToDbSession): Promise<unknown> {
    switch (msg.op) {
      case 'query':
        if (msg.tx !== undefined && this.owner === undefined) {
          await this.runScript('BEGIN');
          this.owner = msg.tx;
        }
        return this.runQuery(msg.sql, msg.params);
      case 'end':
        if (this.owner !== msg.tx) return undefined; // no query ever began it: nothing to commit
        await this.endTransaction(msg.commit);
        return undefined;
      case 'exec':
        await this.runScript(msg.sql);
        return undefined;
      case 'listen': {
        const set = this.listeners.get(msg.channel) ?? new Set<number>();
        if (set.size === 0) await this.runScript(`LISTEN ${quoteIdent(msg.channel)}`);
        set.add(msg.listenerId);
        this.listeners.set(msg.channel, set);
        this.channelOf.set(msg.listenerId, msg.channel);
        return undefined;
      }
      case 'unlisten': {
        const channel = this.channelOf.get(msg.listenerId);
        this.channelOf.delete(msg.listenerId);
        const set = channel === undefined ? undefined : this.listeners.get(channel);
        if (channel !== undefined && set?.delete(msg.listenerId) && set.size === 0) {
          this.listeners.delete(channel);
          await this.runScript(`UNLISTEN ${quoteIdent(channel)}`);
        }
        return undefined;
      }
      case 'close':
        throw new Error('close is run by pump()');
    }
  }

  /** Runs every request that may run now, one at a time, in order. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let i = this.nextRunnable(); i >= 0 && !this.closing; i = this.nextRunnable()) {
        const msg = this.queue.splice(i, 1)[0]!;
        if (msg.op === 'close') {
          this.closing = true;
          await this.lite.close().then(
            () => this.post({ id: msg.id, ok: true, value: undefined }),
            (err: unknown) => this.post({ id: msg.id, ok: false, error: serializeError(err) }),
          );
          return;
        }
        try {
          this.post({ id: msg.id, ok: true, value: await this.run(msg) });
        } catch (err) {
          this.post({ id: msg.id, ok: false, error: serializeError(err) });
        }
      }
    } finally {
      this.pumping = false;
    }
  }
}
